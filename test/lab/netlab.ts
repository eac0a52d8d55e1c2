/**
 * Network lab for integration tests and benchmarks (Linux, root only).
 *
 * Builds a small, fully isolated set of network namespaces:
 *
 *                 eth0 192.0.2.2/28 ──── lan0 192.0.2.1/28   [r1]  wan0 .33/30 ── to-r1      .34/30 ┐
 *   [dut]        wlan0 192.0.2.18/28 ─── lan0 192.0.2.17/28  [r2]  wan0 .37/30 ── to-r2      .38/30 ├ [inet] lo: 203.0.113.1..N/32
 *                wwan0 198.51.100.66/30 ─ lan0 198.51.100.65/30 [carrier] wan0 .41/30 ── to-carrier .42/30 ┘
 *                 ppp0 198.51.100.2/30 ═(socat UDP over wwan0)═ ppp0 198.51.100.1/30 [carrier]
 *
 * (transit /30s are in 192.0.2.32/27). Every address is in a documentation range and lives only inside
 * namespaces the lab creates. The host's own interfaces and routes are never touched: veth pairs are created
 * with both ends directly inside lab namespaces.
 *
 * IPv6 (PLAN6): every link also has a /64 of 2001:db8::/32 (2001:db8:1::/64 on eth0, :2:: wlan0, :3:: wwan0,
 * :4:: ppp0, :11::-:13:: the transits), the targets 2001:db8:113::1..N are on inet's lo, the routers forward.
 * IPv6 is on only on the interfaces the lab configures (new interfaces start with it off) and quiet there: fixed
 * link-local addresses (fe80::1 router side, fe80::2 the other; none generated: addr_gen_mode=1), no DAD (nodad,
 * accept_dad=0), no RA/SLAAC/router solicitations;
 * addresses are kept on admin down (keep_addr_on_down), as IPv4's are.
 *
 * The dut starts with connected routes only (no default route). ppp0 does not exist until `pppUp()`.
 * rp_filter is loose (2) in the dut, ip_forward=1 in the routers.
 *
 * Faults are applied in the router namespaces (nftables table `inet iff`, forward hook: IPv4 and IPv6) or by
 * taking the router-side veth end down, so the dut sees exactly what a real device would see. Latency (no
 * netem/tc qdiscs on every kernel) is a userspace relay in the router: `latency()` below (IPv4 only).
 *
 * Cleanup: `destroy()` (idempotent). Labs that are still alive when the process exits, or gets SIGINT/SIGTERM,
 * are torn down by handlers registered here; `removeStaleLabs()` sweeps namespaces left by crashed runs.
 */
import { spawn as spawnChild, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { execa } from 'execa';
import { sleep } from '../support/wait';

// ───────────────────────────── types ─────────────────────────────

export type UplinkId = 'eth0' | 'wlan0' | 'ppp0';
export type NsRole = 'dut' | 'r1' | 'r2' | 'carrier' | 'inet';

export interface LabOptions {
  /** Number of target addresses 203.0.113.1..N in `inet` (1..254, default 16). */
  targets?: number;
  /** Create r2 and the dut's wlan0 (default true). */
  wlan?: boolean;
  /** Create the carrier namespace, the dut's wwan0 underlay and the carrier side of ppp0 (default true). */
  carrier?: boolean;
  /**
   * Namespace name prefix; names are `${prefix}${role}`. Default `iff<pid>-<counter>-`, which lets
   * `removeStaleLabs()` tell labs of live processes from leftovers of crashed ones. Custom prefixes should
   * start with `iff` so the sweeper finds them.
   */
  prefix?: string;
}

export interface ExecOptions {
  /** Throw on non-zero exit / timeout (default true). */
  reject?: boolean;
  /** Kill the command after this many ms (SIGKILL). */
  timeoutMs?: number;
  /** Written to the command's stdin. */
  input?: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code; -1 when the command was killed by a signal or timed out. */
  exitCode: number;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Keep the Node event loop alive while the process runs (default true). */
  keepAlive?: boolean;
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RouteInfo {
  dev: string;
  gateway?: string;
  /** Routing table; `main` unless the route came from another table. */
  table?: string;
  metric?: number;
  protocol?: string;
  prefsrc?: string;
}

export interface LinkState {
  exists: boolean;
  /** e.g. 'UP', 'DOWN', 'UNKNOWN' (tun devices), 'LOWERLAYERDOWN' */
  operstate?: string;
  flags: string[];
  /** IPv4 addresses as `a.b.c.d/len` */
  addresses: string[];
}

export interface PingOptions {
  target: string;
  /** Bind to this dut interface (`ping -I dev`). */
  dev?: string;
  count?: number;
  /** Seconds between packets (default 0.2; below 0.2 needs root, which the lab has anyway). */
  intervalSec?: number;
  /** Per-reply wait in seconds (`-W`, default 1). */
  waitSec?: number;
  /** Namespace (role or name) to ping from (default dut). */
  from?: string;
}

/** An address family, as `ip -4` / `ip -6`. */
export type IpFamily = 4 | 6;

/** Latency added by an uplink's router to what the dut sends through it (`latency()`). */
export interface LatencyOptions {
  /** Mean delay in ms (0 with jitter 0 removes the relay). */
  delayMs: number;
  /** Each packet is held delayMs ± up to jitterMs (uniform, never below 0); default 0. */
  jitterMs?: number;
}

export interface PingResult {
  transmitted: number;
  received: number;
  /** 0..100 */
  lossPct: number;
  exitCode: number;
  output: string;
}

export class LabError extends Error {
  constructor(
    message: string,
    readonly stderr = '',
  ) {
    super(stderr ? `${message}: ${stderr.trim()}` : message);
    this.name = 'LabError';
  }
}

// ───────────────────────────── addressing plan ─────────────────────────────

/** The lab's fixed addressing plan (all documentation ranges). */
export const PLAN = {
  dut: {
    eth0: '192.0.2.2/28',
    wlan0: '192.0.2.18/28',
    wwan0: '198.51.100.66/30',
    ppp0: '198.51.100.2/30',
  },
  r1: { lan0: '192.0.2.1/28', wan0: '192.0.2.33/30' },
  r2: { lan0: '192.0.2.17/28', wan0: '192.0.2.37/30' },
  carrier: { lan0: '198.51.100.65/30', wan0: '192.0.2.41/30', ppp0: '198.51.100.1/30' },
  inet: { r1: '192.0.2.34/30', r2: '192.0.2.38/30', carrier: '192.0.2.42/30' },
  /** UDP port of the socat tunnel carrying ppp0 (both ends). */
  pppUdpPort: 5000,
  /** Peer address of the dut's ppp0 (carrier side). */
  pppPeer: '198.51.100.1',
} as const;

const GATEWAYS = { eth0: '192.0.2.1', wlan0: '192.0.2.17' } as const;

/** The lab's IPv6 plan: a /64 per link, the same shape as PLAN. */
export const PLAN6 = {
  dut: { eth0: '2001:db8:1::2/64', wlan0: '2001:db8:2::2/64', wwan0: '2001:db8:3::2/64', ppp0: '2001:db8:4::2/64' },
  r1: { lan0: '2001:db8:1::1/64', wan0: '2001:db8:11::1/64' },
  r2: { lan0: '2001:db8:2::1/64', wan0: '2001:db8:12::1/64' },
  carrier: { lan0: '2001:db8:3::1/64', wan0: '2001:db8:13::1/64', ppp0: '2001:db8:4::1/64' },
  inet: { r1: '2001:db8:11::2/64', r2: '2001:db8:12::2/64', carrier: '2001:db8:13::2/64' },
} as const;

const GATEWAYS6 = { eth0: '2001:db8:1::1', wlan0: '2001:db8:2::1' } as const;
/** The fixed link-local addresses of every lab link: the router's (the dut's gateway) and the other end's. */
export const LINK_LOCAL6 = { router: 'fe80::1', host: 'fe80::2' } as const;

/**
 * Sysctls that turn IPv6 on, quietly, on exactly these interfaces (and lo); interfaces made later start
 * with it off. `forward`: a router.
 */
function ipv6Sysctls(ifaces: readonly string[], forward: boolean): string[] {
  const quiet = (scope: string): string[] =>
    ['accept_ra=0', 'autoconf=0', 'accept_dad=0', 'router_solicitations=0', 'keep_addr_on_down=1'].map((kv) => `net.ipv6.conf.${scope}.${kv}`);
  return [
    'net.ipv6.conf.all.disable_ipv6=1',
    'net.ipv6.conf.default.disable_ipv6=1',
    ...quiet('all'),
    ...quiet('default'),
    'net.ipv6.conf.default.addr_gen_mode=1',
    ...(forward ? ['net.ipv6.conf.all.forwarding=1'] : []),
    'net.ipv6.conf.lo.disable_ipv6=0',
    ...ifaces.flatMap((i) => [...quiet(i), `net.ipv6.conf.${i}.addr_gen_mode=1`, `net.ipv6.conf.${i}.disable_ipv6=0`]),
  ];
}

/**
 * `addr add` lines of an interface's IPv6 addresses, without duplicate address detection: its global address
 * and a fixed link-local one (fe80::1 on the router's side of a link, fe80::2 on the other), which a router
 * needs to ask for a neighbour of a packet it forwards, and which a link-local gateway names.
 */
const addr6 = (cidr: string, dev: string, side: 'router' | 'host'): string[] => [
  `addr add ${cidr} dev ${dev} nodad`,
  `addr add ${side === 'router' ? LINK_LOCAL6.router : LINK_LOCAL6.host}/64 dev ${dev} nodad`,
];

const UPLINKS = {
  eth0: { router: 'r1', routerIf: 'lan0' },
  wlan0: { router: 'r2', routerIf: 'lan0' },
  ppp0: { router: 'carrier', routerIf: 'ppp0' },
} as const satisfies Record<UplinkId, { router: NsRole; routerIf: string }>;

const NFT_TABLE = 'iff';

/**
 * The latency relay in a router namespace: a socat TUN device `lat0` whose packets go one UDP datagram each to
 * the relay script on the namespace's own loopback and come back after the delay; the policy rule sends what
 * the router receives from the dut into `lat0`, and what re-enters from `lat0` is forwarded by the main table.
 */
const RELAY = {
  script: join(__dirname, 'latency-relay.js'),
  tun: 'lat0',
  /** Policy rule priority and routing table in the router namespace. */
  table: 77,
  relayPort: 5101,
  socatPort: 5102,
  /** Packets held at once; more are dropped (netem's default limit). */
  maxQueue: 1000,
} as const;
const NETNS_ETC = '/etc/netns';
const NS_NAME_RE = /^[A-Za-z0-9_.-]+$/;
const OUR_NAME_RE = /^iff(\d+)-(\d+)-/;

const ip4 = (cidr: string): string => cidr.split('/')[0] ?? cidr;
const ip6 = ip4;

// ───────────────────────────── helpers ─────────────────────────────

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string, intervalMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new LabError(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

async function runIp(args: string[], input?: string): Promise<string> {
  const r = await execa('ip', args, { reject: false, input, stripFinalNewline: false });
  if (r.failed) throw new LabError(`ip ${args.join(' ')} failed (exit ${String(r.exitCode)})`, String(r.stderr));
  return String(r.stdout);
}

function parseJsonArray(text: string): unknown[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const parsed: unknown = JSON.parse(trimmed);
  return Array.isArray(parsed) ? (parsed as unknown[]) : [];
}

type JsonObject = Record<string, unknown>;
const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (o: JsonObject, k: string): string | undefined => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
const num = (o: JsonObject, k: string): number | undefined => (typeof o[k] === 'number' ? (o[k] as number) : undefined);

function toRouteInfo(o: JsonObject): RouteInfo {
  const info: RouteInfo = { dev: str(o, 'dev') ?? '' };
  const gateway = str(o, 'gateway');
  if (gateway !== undefined) info.gateway = gateway;
  info.table = str(o, 'table') ?? 'main';
  const metric = num(o, 'metric');
  if (metric !== undefined) info.metric = metric;
  const protocol = str(o, 'protocol');
  if (protocol !== undefined) info.protocol = protocol;
  const prefsrc = str(o, 'prefsrc');
  if (prefsrc !== undefined) info.prefsrc = prefsrc;
  return info;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

function killPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

/** True if a process with this pid exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function parsePids(text: string): number[] {
  return text
    .split('\n')
    .map((l) => Number.parseInt(l.trim(), 10))
    .filter((n) => Number.isInteger(n) && n > 0 && n !== process.pid);
}

function listNamespacesSync(): string[] {
  try {
    return parseNetnsList(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  } catch {
    return [];
  }
}

function parseNetnsList(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

/** Synchronous last-resort teardown of namespaces: kill everything inside, then delete. */
function deleteNamespacesSync(names: string[]): void {
  if (names.length === 0) return;
  for (const name of names) {
    try {
      const out = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      for (const pid of parsePids(out)) killPid(pid, 'SIGKILL');
    } catch {
      /* namespace already gone */
    }
  }
  try {
    execFileSync('ip', ['-force', '-batch', '-'], {
      input: names.map((n) => `netns del ${n}\n`).join(''),
      stdio: ['pipe', 'ignore', 'ignore'],
    });
  } catch {
    /* some did not exist */
  }
}

async function deleteNamespaces(names: string[]): Promise<void> {
  if (names.length === 0) return;
  await Promise.all(
    names.map(async (name) => {
      const r = await execa('ip', ['netns', 'pids', name], { reject: false });
      if (!r.failed) for (const pid of parsePids(String(r.stdout))) killPid(pid, 'SIGKILL');
    }),
  );
  await execa('ip', ['-force', '-batch', '-'], { input: names.map((n) => `netns del ${n}\n`).join(''), reject: false });
}

// ───────────────────────────── tracked processes ─────────────────────────────

const OUTPUT_CAP = 1 << 20;

/**
 * A process started inside a lab namespace, in its own process group. The lab stops it on `destroy()`.
 * Output is collected (last 1 MiB per stream) and available via `output` / `waitFor()`.
 */
export class LabProcess {
  readonly pid: number;
  readonly exited: Promise<ProcessExit>;
  private out = '';
  private err = '';
  private exitInfo: ProcessExit | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly child: ChildProcess,
    readonly ns: string,
    readonly argv: readonly string[],
  ) {
    this.exited = new Promise<ProcessExit>((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
        this.notify();
      });
      child.once('error', () => {
        if (child.pid === undefined) {
          this.exitInfo = { code: null, signal: null };
          resolve(this.exitInfo);
          this.notify();
        }
      });
    });
    if (child.pid === undefined) throw new LabError(`could not spawn ${argv.join(' ')}`);
    this.pid = child.pid;
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => {
      this.out = (this.out + d).slice(-OUTPUT_CAP);
      this.notify();
    });
    child.stderr?.on('data', (d: string) => {
      this.err = (this.err + d).slice(-OUTPUT_CAP);
      this.notify();
    });
    child.stdin?.on('error', () => {
      /* EPIPE after exit */
    });
  }

  get stdout(): Readable | null {
    return this.child.stdout;
  }
  get stderr(): Readable | null {
    return this.child.stderr;
  }
  get stdin(): Writable | null {
    return this.child.stdin;
  }
  /** Collected output so far. */
  get output(): { stdout: string; stderr: string } {
    return { stdout: this.out, stderr: this.err };
  }
  get running(): boolean {
    return this.exitInfo === undefined;
  }
  get exitStatus(): ProcessExit | undefined {
    return this.exitInfo;
  }

  /** Resolves with the first match of `pattern` in the collected output; rejects on exit or timeout. */
  waitFor(pattern: RegExp, opts: { timeoutMs?: number; stream?: 'stdout' | 'stderr' | 'both' } = {}): Promise<RegExpMatchArray> {
    const { timeoutMs = 10_000, stream = 'both' } = opts;
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const text = stream === 'stdout' ? this.out : stream === 'stderr' ? this.err : `${this.out}\n${this.err}`;
        const m = text.match(pattern);
        if (m) {
          done();
          resolve(m);
          return true;
        }
        if (this.exitInfo) {
          done();
          reject(new LabError(`process ${this.argv.join(' ')} exited (${JSON.stringify(this.exitInfo)}) before output matched ${String(pattern)}`, this.err.slice(-2000)));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new LabError(`timed out after ${timeoutMs} ms waiting for ${String(pattern)} from ${this.argv.join(' ')}`));
      }, timeoutMs);
      const listener = (): void => {
        check();
      };
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      if (!check()) this.listeners.add(listener);
    });
  }

  /** ChildProcess-style: signal the whole process group (does not wait; use stop() for that). */
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.exitInfo) return false;
    killGroup(this.pid, signal);
    return true;
  }

  /** Send a signal to the whole process group. */
  signal(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.exitInfo) return;
    killGroup(this.pid, signal);
  }

  /**
   * Stop the process group: `signal` (default SIGTERM), then SIGKILL after `graceMs` (default 1500).
   * Resolves once Node has reaped the process (no zombie), after a final SIGKILL to group stragglers.
   */
  async stop(opts: { signal?: NodeJS.Signals; graceMs?: number } = {}): Promise<ProcessExit> {
    const { signal = 'SIGTERM', graceMs = 1500 } = opts;
    if (!this.exitInfo) {
      killGroup(this.pid, signal);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        this.exited.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), graceMs);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) killGroup(this.pid, 'SIGKILL');
    }
    const exit = await this.exited;
    killGroup(this.pid, 'SIGKILL');
    return exit;
  }

  /** Used by the synchronous exit handler. */
  killNow(): void {
    if (!this.exitInfo) killGroup(this.pid, 'SIGKILL');
  }

  /** Let Node exit even if this process still runs (the exit handler then kills it). */
  unref(): void {
    this.child.unref();
    for (const s of [this.child.stdout, this.child.stdin, this.child.stderr]) {
      (s as unknown as { unref?: () => void } | null)?.unref?.();
    }
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }
}

// ───────────────────────────── cleanup registry ─────────────────────────────

const liveLabs = new Set<NetLab>();
let handlersInstalled = false;
let signalCleanupRunning = false;

function onExit(): void {
  for (const lab of [...liveLabs]) lab.destroySync();
}

function onSignal(signal: NodeJS.Signals): void {
  if (signalCleanupRunning) {
    // second signal: no more waiting
    onExit();
    reraise(signal);
    return;
  }
  signalCleanupRunning = true;
  const labs = [...liveLabs];
  // A bound on the cleanup, not a wait for it.
  const timeout = sleep(3000);
  void Promise.race([Promise.allSettled(labs.map((l) => l.destroy())), timeout]).then(() => {
    onExit();
    reraise(signal);
  });
}

const sigintHandler = (): void => onSignal('SIGINT');
const sigtermHandler = (): void => onSignal('SIGTERM');
const sighupHandler = (): void => onSignal('SIGHUP');

function reraise(signal: NodeJS.Signals): void {
  uninstallHandlers();
  // If nobody else handles the signal, let its default action terminate the process as it would have.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  signalCleanupRunning = false;
  process.on('exit', onExit);
  process.on('SIGINT', sigintHandler);
  process.on('SIGTERM', sigtermHandler);
  process.on('SIGHUP', sighupHandler);
}

function uninstallHandlers(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  process.removeListener('exit', onExit);
  process.removeListener('SIGINT', sigintHandler);
  process.removeListener('SIGTERM', sigtermHandler);
  process.removeListener('SIGHUP', sighupHandler);
}

let labCounter = 0;

// ───────────────────────────── the lab ─────────────────────────────

interface FaultState {
  cut: boolean;
  lossPct: number;
  /** pullCable('ppp0') took ppp0 down; restore('ppp0') dials again. */
  pppPulled: boolean;
  /** latency() is on: the relay and its socat TUN in the router namespace. */
  latency?: { relay: LabProcess; socat?: LabProcess; holdMs: number };
}

export class NetLab {
  readonly ns: { dut: string; r1: string; r2?: string; carrier?: string; inet: string };
  readonly targets: string[];
  /** IPv6 targets 2001:db8:113::1..N on inet's lo (as many as `targets`). */
  readonly targets6: string[];
  readonly gateways = GATEWAYS;
  readonly gateways6 = GATEWAYS6;
  readonly prefix: string;
  readonly options: Readonly<Required<Omit<LabOptions, 'prefix'>>>;

  private readonly processes = new Set<LabProcess>();
  private carrierSocat: LabProcess | undefined;
  private pppSocat: LabProcess | undefined;
  private readonly faults: Record<UplinkId, FaultState> = {
    eth0: { cut: false, lossPct: 0, pppPulled: false },
    wlan0: { cut: false, lossPct: 0, pppPulled: false },
    ppp0: { cut: false, lossPct: 0, pppPulled: false },
  };
  /** Namespaces this lab created (or tried to): what destroy() deletes. */
  private owned: string[] = [];
  private destroying: Promise<void> | undefined;
  private destroyed = false;

  private constructor(opts: LabOptions) {
    const targets = opts.targets ?? 16;
    if (!Number.isInteger(targets) || targets < 1 || targets > 254) throw new LabError(`targets must be 1..254, got ${targets}`);
    this.options = { targets, wlan: opts.wlan ?? true, carrier: opts.carrier ?? true };
    this.prefix = opts.prefix ?? `iff${process.pid}-${labCounter++}-`;
    if (!NS_NAME_RE.test(this.prefix)) throw new LabError(`invalid prefix ${JSON.stringify(this.prefix)}`);
    this.ns = {
      dut: `${this.prefix}dut`,
      r1: `${this.prefix}r1`,
      ...(this.options.wlan ? { r2: `${this.prefix}r2` } : {}),
      ...(this.options.carrier ? { carrier: `${this.prefix}carrier` } : {}),
      inet: `${this.prefix}inet`,
    };
    this.targets = Array.from({ length: targets }, (_, i) => `203.0.113.${i + 1}`);
    this.targets6 = Array.from({ length: targets }, (_, i) => `2001:db8:113::${(i + 1).toString(16)}`);
  }

  /** Build the lab. On failure everything created so far is removed and the error rethrown. */
  static async create(opts: LabOptions = {}): Promise<NetLab> {
    const lab = new NetLab(opts);
    liveLabs.add(lab);
    installHandlers();
    try {
      await lab.build();
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  /** All namespace names of this lab. */
  get namespaces(): string[] {
    return Object.values(this.ns).filter((n): n is string => typeof n === 'string');
  }

  /** Map a role ('dut', 'r1', ...) or a full namespace name of this lab to the namespace name. */
  nsName(nsOrRole: string): string {
    const byRole = (this.ns as Record<string, string | undefined>)[nsOrRole];
    if (byRole !== undefined) return byRole;
    if (this.namespaces.includes(nsOrRole)) return nsOrRole;
    throw new LabError(`unknown namespace ${JSON.stringify(nsOrRole)} (not part of this lab)`);
  }

  // ───── building ─────

  private async build(): Promise<void> {
    const { dut, r1, r2, carrier, inet } = this.ns;
    // Never adopt (and later delete) a namespace this lab did not create.
    const existing = new Set(parseNetnsList(await runIp(['netns', 'list'])));
    const clash = this.namespaces.filter((n) => existing.has(n));
    if (clash.length > 0) throw new LabError(`namespace already exists: ${clash.join(', ')}`);
    this.owned = this.namespaces;
    this.createResolverFile();
    const host: string[] = this.namespaces.map((n) => `netns add ${n}`);
    const veth = (a: string, nsA: string, b: string, nsB: string): string => `link add ${a} netns ${nsA} type veth peer name ${b} netns ${nsB}`;
    host.push(veth('eth0', dut, 'lan0', r1), veth('wan0', r1, 'to-r1', inet));
    if (r2) host.push(veth('wlan0', dut, 'lan0', r2), veth('wan0', r2, 'to-r2', inet));
    if (carrier) host.push(veth('wwan0', dut, 'lan0', carrier), veth('wan0', carrier, 'to-carrier', inet));
    await runIp(['-batch', '-'], host.map((l) => `${l}\n`).join(''));

    const router = ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0', ...ipv6Sysctls(['lan0', 'wan0'], true)];
    const inetWan = (cidr: string): string => ip4(cidr);

    const plans: Array<{ ns: string; sysctl: string[]; batch: string[] }> = [
      {
        ns: dut,
        sysctl: [
          'net.ipv4.conf.all.rp_filter=2',
          'net.ipv4.conf.default.rp_filter=2',
          ...ipv6Sysctls(['eth0', ...(r2 ? ['wlan0'] : []), ...(carrier ? ['wwan0'] : [])], false),
        ],
        batch: [
          'link set dev lo up',
          `addr add ${PLAN.dut.eth0} dev eth0`,
          ...addr6(PLAN6.dut.eth0, 'eth0', 'host'),
          'link set dev eth0 up',
          ...(r2 ? [`addr add ${PLAN.dut.wlan0} dev wlan0`, ...addr6(PLAN6.dut.wlan0, 'wlan0', 'host'), 'link set dev wlan0 up'] : []),
          ...(carrier ? [`addr add ${PLAN.dut.wwan0} dev wwan0`, ...addr6(PLAN6.dut.wwan0, 'wwan0', 'host'), 'link set dev wwan0 up'] : []),
        ],
      },
      {
        ns: r1,
        sysctl: router,
        batch: [
          'link set dev lo up',
          `addr add ${PLAN.r1.lan0} dev lan0`,
          `addr add ${PLAN.r1.wan0} dev wan0`,
          ...addr6(PLAN6.r1.lan0, 'lan0', 'router'),
          ...addr6(PLAN6.r1.wan0, 'wan0', 'router'),
          'link set dev lan0 up',
          'link set dev wan0 up',
          `route add default via ${inetWan(PLAN.inet.r1)} dev wan0`,
          `route add ::/0 via ${ip6(PLAN6.inet.r1)} dev wan0`,
        ],
      },
    ];
    if (r2)
      plans.push({
        ns: r2,
        sysctl: router,
        batch: [
          'link set dev lo up',
          `addr add ${PLAN.r2.lan0} dev lan0`,
          `addr add ${PLAN.r2.wan0} dev wan0`,
          ...addr6(PLAN6.r2.lan0, 'lan0', 'router'),
          ...addr6(PLAN6.r2.wan0, 'wan0', 'router'),
          'link set dev lan0 up',
          'link set dev wan0 up',
          `route add default via ${inetWan(PLAN.inet.r2)} dev wan0`,
          `route add ::/0 via ${ip6(PLAN6.inet.r2)} dev wan0`,
        ],
      });
    if (carrier)
      plans.push({
        ns: carrier,
        sysctl: router,
        batch: [
          'link set dev lo up',
          `addr add ${PLAN.carrier.lan0} dev lan0`,
          `addr add ${PLAN.carrier.wan0} dev wan0`,
          ...addr6(PLAN6.carrier.lan0, 'lan0', 'router'),
          ...addr6(PLAN6.carrier.wan0, 'wan0', 'router'),
          'link set dev lan0 up',
          'link set dev wan0 up',
          `route add default via ${inetWan(PLAN.inet.carrier)} dev wan0`,
          `route add ::/0 via ${ip6(PLAN6.inet.carrier)} dev wan0`,
        ],
      });
    plans.push({
      ns: inet,
      sysctl: [
        'net.ipv4.conf.all.rp_filter=0',
        'net.ipv4.conf.default.rp_filter=0',
        ...ipv6Sysctls(['to-r1', ...(r2 ? ['to-r2'] : []), ...(carrier ? ['to-carrier'] : [])], true),
      ],
      batch: [
        'link set dev lo up',
        // no dummy driver in every kernel (not in this one): targets live on lo
        ...this.targets.map((t) => `addr add ${t}/32 dev lo`),
        ...this.targets6.map((t) => `addr add ${t}/128 dev lo nodad`),
        `addr add ${PLAN.inet.r1} dev to-r1`,
        ...addr6(PLAN6.inet.r1, 'to-r1', 'host'),
        'link set dev to-r1 up',
        'route add 192.0.2.0/28 via 192.0.2.33 dev to-r1',
        `route add 2001:db8:1::/64 via ${ip6(PLAN6.r1.wan0)} dev to-r1`,
        ...(r2
          ? [
              `addr add ${PLAN.inet.r2} dev to-r2`,
              ...addr6(PLAN6.inet.r2, 'to-r2', 'host'),
              'link set dev to-r2 up',
              'route add 192.0.2.16/28 via 192.0.2.37 dev to-r2',
              `route add 2001:db8:2::/64 via ${ip6(PLAN6.r2.wan0)} dev to-r2`,
            ]
          : []),
        ...(carrier
          ? [
              `addr add ${PLAN.inet.carrier} dev to-carrier`,
              ...addr6(PLAN6.inet.carrier, 'to-carrier', 'host'),
              'link set dev to-carrier up',
              'route add 198.51.100.0/30 via 192.0.2.41 dev to-carrier',
              `route add 2001:db8:3::/64 via ${ip6(PLAN6.carrier.wan0)} dev to-carrier`,
              `route add 2001:db8:4::/64 via ${ip6(PLAN6.carrier.wan0)} dev to-carrier`,
            ]
          : []),
      ],
    });

    await Promise.all(
      plans.map(async (p) => {
        await this.exec(p.ns, 'sysctl', ['-q', '-w', ...p.sysctl]);
        await runIp(['-n', p.ns, '-batch', '-'], p.batch.map((l) => `${l}\n`).join(''));
      }),
    );

    if (carrier) {
      // The ISP side of ppp0: always there, like a carrier's PPP concentrator. UDP-DATAGRAM (unconnected
      // sendto) so ICMP port-unreachable while the dut side is down does not kill it.
      const { pppUdpPort: port } = PLAN;
      this.carrierSocat = this.spawnInternal(carrier, 'socat', [
        `UDP-DATAGRAM:${ip4(PLAN.dut.wwan0)}:${port},bind=${ip4(PLAN.carrier.lan0)}:${port}`,
        `TUN:${PLAN.carrier.ppp0},tun-name=ppp0,iff-up,iff-no-pi`,
      ]);
      await this.waitLink(carrier, 'ppp0', true, 5000, this.carrierSocat);
      await this.addPppAddress6(carrier, PLAN6.carrier.ppp0, 'router');
    }
  }

  // ───── running things ─────

  /** Run `ip netns exec NS cmd ...args` (no shell). `ns` is a role ('dut') or a namespace name of this lab. */
  async exec(ns: string, cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const name = this.nsName(ns);
    const r = await execa('ip', ['netns', 'exec', name, cmd, ...args], {
      reject: false,
      input: opts.input,
      timeout: opts.timeoutMs,
      killSignal: 'SIGKILL',
    });
    const result: ExecResult = { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
    if (r.failed && opts.reject !== false) {
      const why = r.timedOut ? 'timed out' : `exit ${result.exitCode}${r.signal ? ` (${r.signal})` : ''}`;
      throw new LabError(`[${ns}] ${cmd} ${args.join(' ')}: ${why}`, result.stderr);
    }
    return result;
  }

  /**
   * Start a long-running process in a namespace (own process group; stdin/stdout/stderr piped).
   * The lab stops it (SIGTERM, then SIGKILL) on destroy().
   */
  spawn(ns: string, cmd: string, args: string[], opts: SpawnOptions = {}): LabProcess {
    if (this.destroyed || this.destroying) throw new LabError('lab is destroyed');
    const p = this.spawnRaw(this.nsName(ns), cmd, args, opts);
    if (opts.keepAlive === false) p.unref();
    return p;
  }

  private spawnInternal(ns: string, cmd: string, args: string[]): LabProcess {
    const p = this.spawnRaw(ns, cmd, args, {});
    p.unref();
    return p;
  }

  private spawnRaw(ns: string, cmd: string, args: string[], opts: SpawnOptions): LabProcess {
    const argv = ['netns', 'exec', ns, cmd, ...args];
    const child = spawnChild('ip', argv, {
      detached: true, // own process group, so the group can be killed as a whole
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    const p = new LabProcess(child, ns, [cmd, ...args]);
    this.processes.add(p);
    void p.exited.then(() => this.processes.delete(p));
    return p;
  }

  // ───── inspection (dut) ─────

  /** Default routes of the dut, `main` table by default; `'all'` lists every table (policy tables too). */
  async defaultRoutes(table = 'main', family: IpFamily = 4): Promise<RouteInfo[]> {
    const out = await runIp(['-n', this.ns.dut, `-${family}`, '-j', 'route', 'show', 'table', table]);
    return parseJsonArray(out)
      .filter(isObject)
      .filter((r) => r['dst'] === 'default' && (r['type'] === undefined || r['type'] === 'unicast'))
      .map(toRouteInfo);
  }

  /** `ip route get` in the dut. Throws LabError (e.g. "Network is unreachable") when there is no route. */
  async routeGet(dst: string, opts: { oif?: string; from?: string; mark?: number } = {}): Promise<RouteInfo> {
    const args = ['-n', this.ns.dut, '-j', 'route', 'get', dst];
    if (opts.oif !== undefined) args.push('oif', opts.oif);
    if (opts.from !== undefined) args.push('from', opts.from);
    if (opts.mark !== undefined) args.push('mark', String(opts.mark));
    const first = parseJsonArray(await runIp(args))[0];
    if (!isObject(first)) throw new LabError(`ip route get ${dst}: unexpected output`);
    return toRouteInfo(first);
  }

  /** Raw `ip -j rule show` of the dut (IPv4 by default). */
  async rules(family: IpFamily = 4): Promise<unknown[]> {
    return parseJsonArray(await runIp(['-n', this.ns.dut, `-${family}`, '-j', 'rule', 'show']));
  }

  /** Raw `ip -j route show table all` of the dut (IPv4 by default, includes the local table). */
  async tables(family: IpFamily = 4): Promise<unknown[]> {
    return parseJsonArray(await runIp(['-n', this.ns.dut, `-${family}`, '-j', 'route', 'show', 'table', 'all']));
  }

  /** State of an interface (default in the dut). `exists: false` when there is no such device. */
  async linkState(dev: string, ns = 'dut'): Promise<LinkState> {
    const r = await execa('ip', ['-n', this.nsName(ns), '-j', 'addr', 'show', 'dev', dev], { reject: false });
    if (r.failed) return { exists: false, flags: [], addresses: [] };
    const o = parseJsonArray(String(r.stdout))[0];
    if (!isObject(o)) return { exists: false, flags: [], addresses: [] };
    const flags = Array.isArray(o['flags']) ? o['flags'].filter((f): f is string => typeof f === 'string') : [];
    const addrInfo = Array.isArray(o['addr_info']) ? o['addr_info'].filter(isObject) : [];
    const addresses = addrInfo.filter((a) => a['family'] === 'inet').map((a) => `${String(a['local'])}/${String(a['prefixlen'])}`);
    const state: LinkState = { exists: true, flags, addresses };
    const operstate = str(o, 'operstate');
    if (operstate !== undefined) state.operstate = operstate;
    return state;
  }

  /** Run `ping -n -q` (from the dut by default) and parse the summary. Never throws for lost packets. */
  async ping(opts: PingOptions): Promise<PingResult> {
    const r = await this.runPing(opts, ['-q']);
    const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
    const transmitted = m ? Number(m[1]) : 0;
    const received = m ? Number(m[2]) : 0;
    const lossPct = transmitted > 0 ? (100 * (transmitted - received)) / transmitted : 100;
    return { transmitted, received, lossPct, exitCode: r.exitCode, output: `${r.stdout}${r.stderr}` };
  }

  /** Round-trip times in ms of the echoes that were answered (`ping` without -q; options as ping()). */
  async rtts(opts: PingOptions): Promise<number[]> {
    const r = await this.runPing(opts, []);
    return [...r.stdout.matchAll(/ time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  }

  private runPing(opts: PingOptions, extra: string[]): Promise<ExecResult> {
    const { target, dev, count = 1, intervalSec = 0.2, waitSec = 1, from = 'dut' } = opts;
    const args = ['-n', ...extra, '-c', String(count), '-i', String(intervalSec), '-W', String(waitSec)];
    if (dev !== undefined) args.push('-I', dev);
    args.push(target);
    const timeoutMs = Math.ceil((count * intervalSec + waitSec + 5) * 1000);
    return this.exec(from, 'ping', args, { reject: false, timeoutMs });
  }

  // ───── faults ─────

  /** The router keeps the link up but forwards nothing (both directions). */
  async cutUpstream(id: UplinkId): Promise<void> {
    this.faults[id].cut = true;
    await this.applyNft(id);
  }

  /** Carrier loss seen by the dut: router-side veth end down (dut: NO-CARRIER, operstate DOWN). For ppp0: pppDown(). */
  async pullCable(id: UplinkId): Promise<void> {
    if (id === 'ppp0') {
      this.requireCarrier();
      if (this.pppSocat) {
        await this.pppDown();
        this.faults.ppp0.pppPulled = true;
      }
      return;
    }
    const routerNs = this.routerNs(id);
    await runIp(['-n', routerNs, 'link', 'set', 'dev', UPLINKS[id].routerIf, 'down']);
    await this.waitLink(this.ns.dut, id, false, 3000);
  }

  /** Random loss of `percent` % of packets forwarded dut→inet by the uplink's router (0 removes it). */
  async setLoss(id: UplinkId, percent: number): Promise<void> {
    if (!Number.isFinite(percent) || percent < 0 || percent > 100) throw new LabError(`loss percent must be 0..100, got ${percent}`);
    this.faults[id].lossPct = Math.round(percent);
    await this.applyNft(id);
  }

  /**
   * Hold every packet the uplink's router receives from the dut for delayMs ± jitterMs before forwarding it
   * (the dut→internet direction, so an RTT through this uplink grows by delayMs); `{ delayMs: 0 }` removes it.
   * A userspace relay (socat TUN + latency-relay.js) in the router namespace, at most 1000 packets held, no
   * reordering guarantee with jitter (as netem). Changing the figures of a running relay drops nothing.
   */
  async latency(id: UplinkId, opts: LatencyOptions): Promise<void> {
    const { delayMs, jitterMs = 0 } = opts;
    for (const [name, v] of [
      ['delayMs', delayMs],
      ['jitterMs', jitterMs],
    ] as const) {
      if (!Number.isInteger(v) || v < 0 || v > 60_000) throw new LabError(`${name} must be an integer 0..60000, got ${v}`);
    }
    const ns = this.routerNs(id);
    const f = this.faults[id];
    if (delayMs === 0 && jitterMs === 0) {
      await this.removeLatency(id);
      return;
    }
    if (f.latency?.relay.running && f.latency.socat?.running) {
      f.latency.relay.stdin?.write(`${JSON.stringify({ delayMs, jitterMs })}\n`);
      f.latency.holdMs = delayMs + jitterMs;
      await f.latency.relay.waitFor(new RegExp(`set delay=${delayMs} jitter=${jitterMs}\n`), { stream: 'stdout', timeoutMs: 5000 });
      return;
    }
    await this.removeLatency(id);
    const { tun, table, relayPort, socatPort, maxQueue } = RELAY;
    const relay = this.spawnInternal(ns, process.execPath, [RELAY.script, ...[relayPort, socatPort, delayMs, jitterMs, maxQueue].map(String)]);
    f.latency = { relay, holdMs: delayMs + jitterMs };
    try {
      await relay.waitFor(/^ready$/m, { stream: 'stdout', timeoutMs: 10_000 });
      const socat = this.spawnInternal(ns, 'socat', [`TUN,tun-name=${tun},iff-up,iff-no-pi`, `UDP-DATAGRAM:127.0.0.1:${relayPort},bind=127.0.0.1:${socatPort}`]);
      f.latency.socat = socat;
      await waitUntil(
        async () => {
          if (!socat.running) throw new LabError(`socat for ${tun} in ${ns} exited (${JSON.stringify(socat.exitStatus)})`, socat.output.stderr);
          const s = await this.linkState(tun, ns);
          return s.flags.includes('UP') && s.flags.includes('LOWER_UP');
        },
        5000,
        `${tun} in ${ns}`,
      );
      await runIp(['-n', ns, '-batch', '-'], `route replace default dev ${tun} table ${table}\nrule add iif ${UPLINKS[id].routerIf} lookup ${table} priority ${table}\n`);
    } catch (err) {
      await this.removeLatency(id);
      throw err;
    }
  }

  /** Undo every fault on the uplink: nft rules and latency removed, link up again; ppp0 redialled if pullCable took it down. */
  async restore(id: UplinkId): Promise<void> {
    const f = this.faults[id];
    f.cut = false;
    f.lossPct = 0;
    await this.applyNft(id);
    await this.removeLatency(id);
    if (id === 'ppp0') {
      if (f.pppPulled) {
        f.pppPulled = false;
        await this.pppUp();
      }
      return;
    }
    await runIp(['-n', this.routerNs(id), 'link', 'set', 'dev', UPLINKS[id].routerIf, 'up']);
    await this.waitLink(this.ns.dut, id, true, 3000);
  }

  /** restore() every uplink the lab has. */
  async healAll(): Promise<void> {
    await Promise.all(this.uplinks().map((id) => this.restore(id)));
  }

  /** Uplinks present in this lab. */
  uplinks(): UplinkId[] {
    return ['eth0', ...(this.ns.r2 ? (['wlan0'] as const) : []), ...(this.ns.carrier ? (['ppp0'] as const) : [])];
  }

  // ───── ppp0 ─────

  /** Bring ppp0 up in the dut (socat TUN over UDP on wwan0); resolves when ppp0 is UP with its address. */
  async pppUp(): Promise<void> {
    const carrier = this.requireCarrier();
    if (this.pppSocat?.running) return;
    if (!this.carrierSocat?.running) throw new LabError(`carrier-side socat is not running in ${carrier}`);
    const { pppUdpPort: port } = PLAN;
    this.faults.ppp0.pppPulled = false;
    this.pppSocat = this.spawnInternal(this.ns.dut, 'socat', [
      `UDP-DATAGRAM:${ip4(PLAN.carrier.lan0)}:${port},bind=${ip4(PLAN.dut.wwan0)}:${port}`,
      `TUN:${PLAN.dut.ppp0},tun-name=ppp0,iff-up,iff-no-pi,iff-pointopoint`,
    ]);
    try {
      await this.waitLink(this.ns.dut, 'ppp0', true, 5000, this.pppSocat);
      await this.addPppAddress6(this.ns.dut, PLAN6.dut.ppp0, 'host');
    } catch (err) {
      await this.pppSocat.stop();
      this.pppSocat = undefined;
      throw err;
    }
  }

  /** Take ppp0 away like `poff`: the dut-side socat is stopped (and reaped), ppp0 vanishes. */
  async pppDown(): Promise<void> {
    this.requireCarrier();
    this.faults.ppp0.pppPulled = false;
    const p = this.pppSocat;
    this.pppSocat = undefined;
    if (!p) return;
    await p.stop({ graceMs: 1000 });
    await waitUntil(async () => !(await this.linkState('ppp0')).exists, 3000, 'ppp0 to vanish');
  }

  /** Whether the dut-side ppp0 (socat) is running. */
  get pppIsUp(): boolean {
    return this.pppSocat?.running ?? false;
  }

  // ───── teardown ─────

  /** Stop spawned processes (process groups), kill anything left in the namespaces, delete them. Idempotent. */
  destroy(): Promise<void> {
    this.destroying ??= this.doDestroy();
    return this.destroying;
  }

  private async doDestroy(): Promise<void> {
    try {
      await Promise.allSettled([...this.processes].map((p) => p.stop({ graceMs: 1000 })));
      await deleteNamespaces(this.owned);
    } finally {
      this.removeResolverFile();
      this.destroyed = true;
      this.forget();
    }
  }

  /** Synchronous teardown for exit handlers. */
  destroySync(): void {
    if (this.destroyed) return;
    for (const p of this.processes) p.killNow();
    deleteNamespacesSync(this.owned);
    this.removeResolverFile();
    this.destroyed = true;
    this.forget();
  }

  private forget(): void {
    liveLabs.delete(this);
    if (liveLabs.size === 0 && !signalCleanupRunning) uninstallHandlers();
  }

  // ───── internals ─────

  /**
   * The device's own resolver file: `ip netns exec` bind-mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf
   * when it exists, so a service in the device that manages DNS (failover.dns, the controller's DNS option)
   * writes this file and never the host's.
   */
  private createResolverFile(): void {
    const dir = join(NETNS_ETC, this.ns.dut);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'resolv.conf'), `# resolver file of the lab device ${this.ns.dut} (the host's is never touched)\n`);
  }

  private removeResolverFile(): void {
    rmSync(join(NETNS_ETC, this.ns.dut), { recursive: true, force: true });
    try {
      rmdirSync(NETNS_ETC); // only if no other lab (or anyone else) uses it
    } catch {
      // not empty, or gone
    }
  }

  /** ppp0 (made by socat after the build) gets IPv6, quietly, and its address (as IPCP and IPV6CP would). */
  private async addPppAddress6(ns: string, cidr: string, side: 'router' | 'host'): Promise<void> {
    const quiet = ['accept_ra=0', 'autoconf=0', 'accept_dad=0', 'router_solicitations=0', 'addr_gen_mode=1', 'disable_ipv6=0'];
    await this.exec(ns, 'sysctl', ['-q', '-w', ...quiet.map((kv) => `net.ipv6.conf.ppp0.${kv}`)]);
    await runIp(['-n', ns, '-batch', '-'], addr6(cidr, 'ppp0', side).map((l) => `${l}\n`).join(''));
  }

  private requireCarrier(): string {
    if (!this.ns.carrier) throw new LabError('this lab was created with carrier: false (no ppp0)');
    return this.ns.carrier;
  }

  private routerNs(id: UplinkId): string {
    const ns = this.ns[UPLINKS[id].router];
    if (!ns) throw new LabError(`uplink ${id} is not part of this lab`);
    return ns;
  }

  /** Policy rule out first (new packets bypass the relay), then the relay sends what it holds, then the TUN goes. */
  private async removeLatency(id: UplinkId): Promise<void> {
    const f = this.faults[id];
    const on = f.latency;
    if (!on) return;
    f.latency = undefined;
    const ns = this.routerNs(id);
    await execa('ip', ['-n', ns, '-force', '-batch', '-'], { input: `rule del priority ${RELAY.table}\nroute flush table ${RELAY.table}\n`, reject: false });
    await on.relay.stop({ graceMs: on.holdMs + 1000 });
    await on.socat?.stop({ graceMs: 1000 });
  }

  private async applyNft(id: UplinkId): Promise<void> {
    const ns = this.routerNs(id);
    const f = this.faults[id];
    // "add table; delete table" makes the delete succeed whether or not the table existed (nft 1.0.6 has no `destroy`).
    // The inet family: one table for IPv4 and IPv6.
    const lines = [`add table inet ${NFT_TABLE}`, `delete table inet ${NFT_TABLE}`];
    if (f.cut || f.lossPct > 0) {
      lines.push(`add table inet ${NFT_TABLE}`, `add chain inet ${NFT_TABLE} forward { type filter hook forward priority 0; policy accept; }`);
      if (f.cut) lines.push(`add rule inet ${NFT_TABLE} forward counter drop`);
      if (f.lossPct > 0) {
        const match = f.lossPct >= 100 ? '' : ` numgen random mod 100 < ${f.lossPct}`;
        lines.push(`add rule inet ${NFT_TABLE} forward iifname "${UPLINKS[id].routerIf}"${match} counter drop`);
      }
    }
    await this.exec(ns, 'nft', ['-f', '-'], { input: lines.join('\n') + '\n' });
  }

  /** Wait until `dev` in `ns` is up with carrier (up=true) or has no carrier / is gone (up=false). */
  private async waitLink(ns: string, dev: string, up: boolean, timeoutMs: number, proc?: LabProcess): Promise<void> {
    await waitUntil(
      async () => {
        if (proc && !proc.running) {
          throw new LabError(`${proc.argv.join(' ')} exited (${JSON.stringify(proc.exitStatus)}) while waiting for ${dev}`, proc.output.stderr);
        }
        const s = await this.linkState(dev, ns);
        if (!up) return !s.exists || s.operstate === 'DOWN' || s.operstate === 'LOWERLAYERDOWN' || !s.flags.includes('LOWER_UP');
        return s.exists && s.flags.includes('UP') && s.flags.includes('LOWER_UP') && s.operstate !== 'DOWN' && s.addresses.length > 0;
      },
      timeoutMs,
      `${dev} in ${ns} to be ${up ? 'up' : 'down'}`,
    );
  }
}

// ───────────────────────────── module functions ─────────────────────────────

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Which of these tools are not on PATH (each is run once with a harmless argument). */
function absent(tools: readonly (readonly [string, string])[]): string[] {
  const missing: string[] = [];
  for (const [tool, arg] of tools) {
    try {
      execFileSync(tool, [arg], { stdio: 'ignore' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') missing.push(tool);
    }
  }
  return missing;
}

/** Tools the lab needs that are not on PATH (empty when the lab can run). */
export function missingTools(): string[] {
  return absent([
    ['ip', '-V'],
    ['socat', '-V'],
    ['nft', '--version'],
    ['ping', '-V'],
  ]);
}

/**
 * Delete leftover lab namespaces (names matching `prefixPattern`, default: starting with `iff`), killing any
 * process still inside them first. Namespaces named by the default scheme `iff<pid>-<n>-<role>` are kept while
 * process <pid> is alive (labs of concurrent test processes, or this process's own live labs) unless
 * `includeLive` is set. Returns the names deleted.
 */
export async function removeStaleLabs(prefixPattern: RegExp | string = /^iff/, opts: { includeLive?: boolean } = {}): Promise<string[]> {
  const r = await execa('ip', ['netns', 'list'], { reject: false });
  if (r.failed) return [];
  const matches = (n: string): boolean => (typeof prefixPattern === 'string' ? n.startsWith(prefixPattern) : prefixPattern.test(n));
  const ownLive = new Set([...liveLabs].flatMap((l) => l.namespaces));
  const stale = parseNetnsList(String(r.stdout)).filter((name) => {
    if (!matches(name)) return false;
    if (opts.includeLive) return true;
    if (ownLive.has(name)) return false;
    const m = OUR_NAME_RE.exec(name);
    if (m) {
      const pid = Number(m[1]);
      if (pid === process.pid || pidAlive(pid)) return false;
    }
    return true;
  });
  await deleteNamespaces(stale);
  return stale;
}

/** Synchronous variant of the namespace listing, for diagnostics (`ip netns list` names). */
export function listNamespaces(): string[] {
  return listNamespacesSync();
}

/**
 * CI (IFF_REQUIRE_LAB=1, set by .ci/run) must never pass by skipping the network lab: every lab test module
 * imports this one, so a missing root or tool fails the run here, as IFF_REQUIRE_BROWSER and IFF_REQUIRE_NR5 do
 * for theirs. dnsmasq (DNS per ISP), mosquitto and mosquitto_sub (the upstream broker) and conntrack are the lab's services;
 * openssl makes the certificate of the https check's test.
 * fping is the service's prober (without it the service falls back to a ping per echo, which CI must not test instead).
 * setpriv and unshare (util-linux) run the build as another user in sudo-build.test.ts.
 */
export function labRequirementProblem(): string | null {
  if (!isRoot()) return 'not root (network namespaces need root)';
  const missing = [
    ...missingTools(),
    ...absent([
      ['dnsmasq', '--version'],
      ['mosquitto', '-h'],
      ['mosquitto_sub', '--help'],
      ['conntrack', '--version'],
      ['openssl', 'version'],
      ['fping', '-v'],
      // the sudo-then-user build test (sudo-build.test.ts): another user, a private mount namespace
      ['setpriv', '--version'],
      ['unshare', '--version'],
    ]),
  ];
  return missing.length > 0 ? `missing ${missing.join(', ')}` : null;
}

if (process.env['IFF_REQUIRE_LAB'] === '1') {
  const problem = labRequirementProblem();
  if (problem) throw new Error(`IFF_REQUIRE_LAB=1 but the network-lab tests would be skipped: ${problem}`);
}
