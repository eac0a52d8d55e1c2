/**
 * Watches the carrier and operational state of the uplinks' interfaces, so a pulled cable or a
 * vanished ppp0 reaches the engine within milliseconds instead of after several probe rounds, and the
 * main table's default route, so a route someone else changed is noticed at once.
 * `ip monitor link route` says *that* something changed (iproute2 6.1 prints text only); sysfs and
 * `ip route` say *what* is true now.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Logger, silentLogger } from '../log/logger';
import { LiveChild } from '../process/spawn';

export interface LinkState {
  iface: string;
  /** The interface exists. */
  exists: boolean;
  /** Administratively up (IFF_UP). */
  adminUp: boolean;
  /** Carrier present (null when the kernel cannot say, e.g. the interface is down). */
  carrier: boolean | null;
  /** /sys/class/net/IFACE/operstate: up, down, unknown, lowerlayerdown, dormant ... */
  operstate: string;
  /** Usable for traffic: exists, admin up, carrier, operstate up or unknown (TUN/ppp report unknown). */
  up: boolean;
}

export interface LinkSource {
  state(iface: string): LinkState;
  /** Reads every watched interface again now; changes are emitted before it resolves. */
  refreshAll?(): Promise<void>;
  on(event: 'change', listener: (state: LinkState) => void): this;
  /** The main table's default route changed (by anyone): no payload, read the route to see what it is. */
  on(event: 'route', listener: () => void): this;
  off(event: 'change', listener: (state: LinkState) => void): this;
  off(event: 'route', listener: () => void): this;
}

const IFF_UP = 0x1;

export function absentLink(iface: string): LinkState {
  return { iface, exists: false, adminUp: false, carrier: null, operstate: 'absent', up: false };
}

async function readSysfs(root: string, iface: string, file: string): Promise<string | null> {
  try {
    return (await readFile(join(root, iface, file), 'utf8')).trim();
  } catch {
    return null;
  }
}

/** Reads one interface's state from sysfs (root is /sys/class/net unless a test points elsewhere). */
export async function readLinkState(iface: string, root = '/sys/class/net'): Promise<LinkState> {
  const operstate = await readSysfs(root, iface, 'operstate');
  if (operstate === null) return absentLink(iface);
  const flags = Number.parseInt((await readSysfs(root, iface, 'flags')) ?? '0', 16);
  const carrierText = await readSysfs(root, iface, 'carrier');
  const carrier = carrierText === null ? null : carrierText === '1';
  const adminUp = (flags & IFF_UP) !== 0;
  const up = adminUp && carrier === true && (operstate === 'up' || operstate === 'unknown');
  return { iface, exists: true, adminUp, carrier, operstate, up };
}

/** Whether one line of `ip monitor route` text output is about the main table's default route. */
export function isDefaultRouteLine(line: string): boolean {
  return /^(?:Deleted\s+)?default\s/.test(line) && !/\stable\s/.test(line);
}

/** Interface name from one line of `ip monitor link` / `ip link` text output. */
export function parseMonitorLine(line: string): string | null {
  const m = /^(?:Deleted\s+)?(?:link\/\S+\s+)?\d+:\s+([^:@\s]+)[@:]/.exec(line.trim());
  return m ? m[1] : null;
}

export interface LinkWatchOptions {
  sysfsRoot?: string;
  logger?: Logger;
  /** Safety net for missed events (ms, default 5000; 0 disables). The monitor's lines are what count; a poll wakes the process for every interface's files. */
  pollMs?: number;
  /** Command that prints one line per link or route change (default: ip monitor link route). */
  monitorCommand?: [string, ...string[]];
  /**
   * A second re-read this long after the last monitor line for an interface (ms, default 50; 0 disables).
   * The kernel announces a deleted link before it removes the device from sysfs, so the re-read a "Deleted"
   * line starts can still find the device; without this second look the watch would keep it as "exists, down".
   */
  settleMs?: number;
}

export class LinkWatch extends EventEmitter implements LinkSource {
  private readonly states = new Map<string, LinkState>();
  /** Per interface: how many re-reads have started, and the newest one, so a re-read overtaken by a newer one is dropped. */
  private readonly reads = new Map<string, number>();
  private readonly newestRead = new Map<string, Promise<LinkState>>();
  private readonly root: string;
  private readonly logger: Logger;
  private readonly pollMs: number;
  private readonly settleMs: number;
  private readonly settleTimers = new Map<string, NodeJS.Timeout>();
  private readonly monitorCommand: [string, ...string[]];
  private monitor: LiveChild | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The owner is stopping (stop() follows): a monitor that exits now is not restarted, nor warned about. */
  private stopping = false;

  constructor(
    private readonly ifaces: readonly string[],
    options: LinkWatchOptions = {},
  ) {
    super();
    this.root = options.sysfsRoot ?? '/sys/class/net';
    this.logger = options.logger ?? silentLogger;
    this.pollMs = options.pollMs ?? 5000;
    this.settleMs = options.settleMs ?? 50;
    this.monitorCommand = options.monitorCommand ?? ['ip', 'monitor', 'link', 'route'];
    for (const i of ifaces) this.states.set(i, absentLink(i));
  }

  state(iface: string): LinkState {
    return this.states.get(iface) ?? absentLink(iface);
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.stopping = false;
    await reapOrphanedMonitors(this.logger);
    this.startMonitor();
    await this.refreshAll(false);
    if (this.pollMs > 0) {
      this.pollTimer = setInterval(() => void this.refreshAll(true), this.pollMs);
    }
  }

  /**
   * Says that stop() is coming: the owner's stop has begun (a stop signal, a redeploy) and may take a while (the
   * engine's last move, a modem's teardown) before it calls stop(). The same stop signal to the process group
   * also ends `ip monitor`: from now on that is expected, so the monitor is not restarted and no warning is
   * logged. States are still read (poll, refresh) until stop().
   */
  prepareStop(): void {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    for (const timer of this.settleTimers.values()) clearTimeout(timer);
    this.settleTimers.clear();
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.pollTimer = undefined;
    this.restartTimer = undefined;
    const monitor = this.monitor;
    this.monitor = undefined;
    if (monitor) await monitor.stop();
  }

  /** Re-reads every watched interface; emits 'change' for those that differ. */
  async refreshAll(emit = true): Promise<void> {
    await Promise.all(this.ifaces.map((i) => this.refresh(i, emit)));
  }

  /** Re-reads one interface; emits 'change' if it differs. Resolves with the state once the newest re-read is applied. */
  refresh(iface: string, emit = true): Promise<LinkState> {
    const read = (this.reads.get(iface) ?? 0) + 1;
    this.reads.set(iface, read);
    const result = this.readAndApply(iface, read, emit);
    this.newestRead.set(iface, result);
    return result;
  }

  private async readAndApply(iface: string, read: number, emit: boolean): Promise<LinkState> {
    const next = await readLinkState(iface, this.root);
    // Reading sysfs takes several async steps, so re-reads started by back-to-back monitor lines can finish out
    // of order (ppp0 vanishing prints "state DOWN" then "Deleted": the first re-read, with more files to read,
    // finished last and left a stale "exists, down" behind). A later re-read saw at least as much as this one:
    // its result is the one that counts.
    if (this.reads.get(iface) !== read) return this.newestRead.get(iface) ?? this.state(iface);
    const prev = this.states.get(iface);
    this.states.set(iface, next);
    if (emit && !this.stopped && (!prev || !sameState(prev, next))) this.emit('change', next);
    return next;
  }

  private startMonitor(): void {
    const [cmd, ...args] = this.monitorCommand;
    const child = new LiveChild(cmd, args, {
      stderr: 'ignore',
      // The mark lets the next start find this monitor if we are killed without a chance to end it.
      env: { [MONITOR_MARK]: ownMark() },
    });
    this.monitor = child;
    if (child.stdout) {
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        if (isDefaultRouteLine(line)) {
          if (!this.stopped) this.emit('route');
          return;
        }
        const iface = parseMonitorLine(line);
        if (iface && this.states.has(iface)) {
          void this.refresh(iface);
          this.settleLater(iface);
        }
      });
    }
    void child.exited.then((result) => {
      if (this.stopped || this.monitor !== child) return;
      const how = String(result.code ?? result.signal ?? result.spawnError ?? 'unknown');
      if (this.stopping) {
        this.logger.debug(`link monitor ended (${how}) while stopping; not restarted`);
        return;
      }
      // The monitor died on its own: keep watching by polling, and restart it after a pause. A signal to the
      // whole process group (systemd's stop, `timeout`) reaches the monitor first: our own stop follows within
      // the pause, so the warning waits for it and is only logged if we are still running.
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        if (this.stopped || this.stopping) return;
        this.logger.warn(`link monitor exited (${how}); restarted`);
        this.startMonitor();
      }, 1000);
    });
  }

  /** (Re)arms the second look at `iface`, settleMs after the latest monitor line about it. */
  private settleLater(iface: string): void {
    if (this.settleMs <= 0 || this.stopped) return;
    const pending = this.settleTimers.get(iface);
    if (pending) clearTimeout(pending);
    this.settleTimers.set(
      iface,
      setTimeout(() => {
        this.settleTimers.delete(iface);
        if (!this.stopped) void this.refresh(iface);
      }, this.settleMs),
    );
  }
}

function sameState(a: LinkState, b: LinkState): boolean {
  return a.exists === b.exists && a.up === b.up && a.carrier === b.carrier && a.operstate === b.operstate && a.adminUp === b.adminUp;
}

/** Environment variable that marks our `ip monitor` children with their parent's pid and start time. */
export const MONITOR_MARK = 'IFACEFAILOVER_MONITOR_OF';

/** `pid:starttime` of a process (start time in clock ticks since boot, /proc/PID/stat field 22), or null. */
function markOf(stat: string, pid: number | string): string {
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return `${pid}:${fields[19] ?? ''}`;
}

async function processMark(pid: string): Promise<string | null> {
  try {
    return markOf(await readFile(`/proc/${pid}/stat`, 'utf8'), pid);
  } catch {
    return null;
  }
}

let ownMarkText: string | undefined;
/** Read once, synchronously (a few bytes of /proc), so the very first monitor already carries the right mark. */
function ownMark(): string {
  if (ownMarkText === undefined) {
    try {
      ownMarkText = markOf(readFileSync('/proc/self/stat', 'utf8'), process.pid);
    } catch {
      ownMarkText = `${process.pid}:`;
    }
  }
  return ownMarkText;
}

/**
 * Ends `ip monitor` children of an earlier run that was killed (SIGKILL, OOM) before it could end them: they
 * would otherwise live on until their next write. A monitor is an orphan when the process its mark names is
 * gone (or is another process reusing the pid). Resolves with how many were ended.
 */
export async function reapOrphanedMonitors(logger: Logger = silentLogger, procRoot = '/proc'): Promise<number> {
  let pids: string[];
  try {
    pids = (await readdir(procRoot)).filter((name) => /^\d+$/.test(name));
  } catch {
    return 0;
  }
  let ended = 0;
  for (const pid of pids) {
    let environ: string;
    try {
      environ = await readFile(join(procRoot, pid, 'environ'), 'latin1');
    } catch {
      continue;
    }
    const entry = environ.split('\0').find((e) => e.startsWith(`${MONITOR_MARK}=`));
    if (!entry) continue;
    const mark = entry.slice(MONITOR_MARK.length + 1);
    const parent = mark.split(':')[0];
    if (!/^\d+$/.test(parent) || (await processMark(parent)) === mark) continue;
    try {
      process.kill(Number(pid), 'SIGTERM');
      ended++;
      logger.info(`ended link monitor ${pid} left by an earlier run (pid ${parent})`);
    } catch {
      // Gone meanwhile.
    }
  }
  return ended;
}
