/**
 * After the default route leaves an uplink, connections opened through it keep its source address and hang
 * until their keep-alive gives up. This resets them (kernel socket destroy) so their owners reconnect at
 * once through the new uplink, and flushes the old uplink's NAT state for forwarded LAN traffic.
 *
 * Tools (iproute2's `ip` and `ss`, conntrack-tools' `conntrack`) run through the CommandRunner with an
 * argument array and a timeout each. What is reset:
 *   ss -K -H -n -t -u src ADDR [and not dst NET]...
 * where NET are the old uplink's own subnets (a LAN broker keeps its connection), 127.0.0.0/8 and every
 * local address of this host. ss's default state set (every connected state but TIME-WAIT) also catches a
 * connect() still waiting in SYN-SENT through the old uplink; unconnected UDP sockets (servers) are never
 * in it.
 */
import { errorMessage } from '../errors';
import { Logger } from '../log/logger';
import { CommandRunner } from '../process/runner';
import { UplinkConfig } from '../uplink/model';

export interface ConnectionResetOptions {
  runner: CommandRunner;
  logger: Logger;
  /** Log what would be reset instead of resetting it (only the address lookup runs). */
  dryRun?: boolean;
  /** Paths of the tools (default: on PATH). */
  ssCommand?: string;
  conntrackCommand?: string;
  ipCommand?: string;
  /**
   * Longest run of one command (ms, default 1500). The engine holds the switch's events back for this work
   * (at most 3 s in all), so a hung tool must give up early.
   */
  commandTimeoutMs?: number;
}

export interface ResetSummary {
  /** Sockets destroyed. */
  reset: number;
  /** Conntrack entries deleted, or null when the conntrack tool is absent (or failed: then a warning says why). */
  conntrack: number | null;
  /** False when the kernel cannot destroy sockets (CONFIG_INET_DIAG_DESTROY off). */
  supported: boolean;
}

export const DEFAULT_RESET_COMMAND_TIMEOUT_MS = 1500;

const LOOPBACK_NETWORK = '127.0.0.0/8';

/** One IPv4 address of an interface, from `ip -4 -j addr show`. */
export interface InterfaceAddress {
  iface: string;
  local: string;
  prefixlen: number;
  /** The far end of a point-to-point link (ppp0), when the kernel lists one. */
  peer?: string;
}

/** One socket line of `ss -H -n`: protocol (when ss prints it) and both endpoints as ss prints them. */
interface SocketLine {
  proto: string;
  local: string;
  peer: string;
}

interface ToolOutcome {
  stdout: string;
  stderr: string;
  exitCode: number;
  /** The program is not installed (ENOENT, or exit 127 from a wrapper). */
  absent: boolean;
}

interface IpAddrJson {
  ifname?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number; address?: string }[];
}

export class ConnectionReset {
  private readonly runner: CommandRunner;
  private readonly logger: Logger;
  private readonly dryRun: boolean;
  private readonly ss: string;
  private readonly conntrackTool: string;
  private readonly ip: string;
  private readonly timeoutMs: number;
  /** Cleared for good once the kernel is seen to keep a socket ss -K was asked to destroy. */
  private supported = true;
  /** Set once the kernel is seen to destroy a TCP socket: the before/after check is no longer needed. */
  private destroyConfirmed = false;
  private warnedUnsupported = false;
  private notedUdpUnsupported = false;
  private conntrackAbsent = false;
  /**
   * Addresses each interface had when last seen: a ppp0 that vanished takes its address along, but not the
   * sockets bound to it, and those still need resetting.
   */
  private readonly lastKnown = new Map<string, InterfaceAddress[]>();

  constructor(options: ConnectionResetOptions) {
    this.runner = options.runner;
    this.logger = options.logger;
    this.dryRun = options.dryRun ?? false;
    this.ss = options.ssCommand ?? 'ss';
    this.conntrackTool = options.conntrackCommand ?? 'conntrack';
    this.ip = options.ipCommand ?? 'ip';
    this.timeoutMs = options.commandTimeoutMs ?? DEFAULT_RESET_COMMAND_TIMEOUT_MS;
  }

  /**
   * The default route moved from `from` to `to`: resets sockets whose local address is one of `from`'s and
   * whose peer is not on `from`'s own subnets or this host (those keep working). Never throws.
   */
  async afterSwitch(from: UplinkConfig, to: UplinkConfig): Promise<ResetSummary> {
    try {
      return await this.resetAfterSwitch(from, to);
    } catch (e) {
      this.logger.warn(`Could not reset the connections of ${from.iface} after the switch to ${to.iface}: ${errorMessage(e)}`);
      return { reset: 0, conntrack: null, supported: this.supported };
    }
  }

  private async resetAfterSwitch(from: UplinkConfig, to: UplinkConfig): Promise<ResetSummary> {
    const all = await this.readAddresses();
    const sources = this.sourcesOf(from.iface, all);
    const toAddresses = all.filter((a) => a.iface === to.iface);
    if (toAddresses.length > 0) this.lastKnown.set(to.iface, toAddresses);
    if (sources.length === 0) {
      this.logger.debug(`${from.iface} has no IPv4 address: no connection of it to reset`);
      return { reset: 0, conntrack: this.conntrackAbsent ? null : 0, supported: this.supported };
    }
    const filter = socketFilter(sources, all);
    const sourceList = unique(sources.map((a) => a.local));
    if (this.dryRun) {
      this.logger.info(`DRY-RUN: ${this.ss} ${killArgs(filter).join(' ')}`);
      for (const address of sourceList) this.logger.info(`DRY-RUN: ${this.conntrackTool} ${conntrackArgs(address).join(' ')}`);
      return { reset: 0, conntrack: null, supported: this.supported };
    }

    const problems: string[] = [];
    // Independent of each other: run side by side, the engine is waiting to send the switch's events.
    const [reset, conntrack] = await Promise.all([
      this.destroySockets(filter).catch((e: unknown) => {
        problems.push(errorMessage(e));
        return 0;
      }),
      this.flushConntrack(sourceList).catch((e: unknown) => {
        problems.push(errorMessage(e));
        return null;
      }),
    ]);
    const nat = conntrack ? `; deleted ${conntrack} NAT entr${conntrack === 1 ? 'y' : 'ies'}` : '';
    this.logger.info(`Reset ${reset} connection(s) of ${from.iface} (${sourceList.join(', ')}) so they reconnect through ${to.iface}${nat}`);
    if (problems.length > 0) {
      this.logger.warn(`Resetting the connections of ${from.iface} after the switch to ${to.iface}: ${problems.join('; ')}`);
    }
    return { reset, conntrack, supported: this.supported };
  }

  /** The old uplink's addresses now, else the ones it had when last seen (unless another interface has them now). */
  private sourcesOf(iface: string, all: readonly InterfaceAddress[]): InterfaceAddress[] {
    const current = all.filter((a) => a.iface === iface);
    if (current.length > 0) {
      this.lastKnown.set(iface, current);
      return current;
    }
    const localNow = new Set(all.map((a) => a.local));
    return (this.lastKnown.get(iface) ?? []).filter((a) => !localNow.has(a.local));
  }

  /** Every IPv4 address of this host, with its interface and prefix (one `ip` call). */
  private async readAddresses(): Promise<InterfaceAddress[]> {
    const args = ['-4', '-j', 'addr', 'show'];
    const r = await this.exec(this.ip, args);
    if (r.exitCode !== 0) throw new Error(describeFailure(this.ip, args, r));
    let links: IpAddrJson[];
    try {
      links = JSON.parse(r.stdout || '[]') as IpAddrJson[];
    } catch {
      throw new Error(`${this.ip} ${args.join(' ')} printed no JSON`);
    }
    const addresses: InterfaceAddress[] = [];
    for (const link of Array.isArray(links) ? links : []) {
      for (const a of link.addr_info ?? []) {
        if (a.family !== 'inet' || !link.ifname || !a.local || parseIpv4(a.local) === null) continue;
        const prefixlen = typeof a.prefixlen === 'number' && a.prefixlen >= 0 && a.prefixlen <= 32 ? a.prefixlen : 32;
        const peer = a.address && a.address !== a.local && parseIpv4(a.address) !== null ? a.address : undefined;
        addresses.push({ iface: link.ifname, local: a.local, prefixlen, ...(peer ? { peer } : {}) });
      }
    }
    return addresses;
  }

  /**
   * ss -K, and until the kernel has shown it can destroy sockets, a look at the established ones before and
   * after: ss -K silently skips what the kernel refuses (EOPNOTSUPP without CONFIG_INET_DIAG_DESTROY), so
   * sockets still there afterwards are the only sign. Returns how many sockets were destroyed.
   */
  private async destroySockets(filter: readonly string[]): Promise<number> {
    const check = !this.destroyConfirmed;
    const before = check ? await this.listSockets(filter) : [];
    const args = killArgs(filter);
    const r = await this.exec(this.ss, args);
    if (r.absent) throw new Error(`${this.ss} (iproute2) was not found: connections are left to their keep-alive`);
    // Any other refusal (EPERM without CAP_NET_ADMIN) makes ss fall back to /proc, which lists without destroying.
    if (r.exitCode !== 0 || /SOCK_DESTROY/.test(r.stderr)) throw new Error(describeFailure(this.ss, args, r));
    // Without udp_diag ss reads UDP sockets from /proc: it prints them but cannot destroy them.
    const printed = parseSocketLines(r.stdout).filter((s) => !(this.notedUdpUnsupported && s.proto === 'udp'));
    if (before.length === 0) return printed.length;

    const after = new Set((await this.listSockets(filter)).map(socketKey));
    const kept = before.filter((s) => after.has(socketKey(s)));
    const keptTcp = kept.filter((s) => s.proto !== 'udp');
    if (keptTcp.length > 0) {
      this.supported = false;
      if (!this.warnedUnsupported) {
        this.warnedUnsupported = true;
        this.logger.warn(
          'This kernel cannot destroy sockets (CONFIG_INET_DIAG_DESTROY is not set): after a switch, connections ' +
            'opened through the old uplink are not reset and recover only when their keep-alive gives up ' +
            '(MQTT: 1.5 x keep-alive). Use a kernel with CONFIG_INET_DIAG_DESTROY=y for instant reconnects.',
        );
      }
    } else if (kept.length > 0) {
      if (!this.notedUdpUnsupported) {
        this.notedUdpUnsupported = true;
        this.logger.debug('This kernel cannot destroy UDP sockets (no udp_diag): connected UDP sockets are left as they are');
      }
    } else if (before.some((s) => s.proto !== 'udp')) {
      this.destroyConfirmed = true;
    }
    const keptKeys = new Set(kept.map(socketKey));
    return printed.filter((s) => !keptKeys.has(socketKey(s))).length;
  }

  private async listSockets(filter: readonly string[]): Promise<SocketLine[]> {
    const args = listArgs(filter);
    const r = await this.exec(this.ss, args);
    if (r.absent) throw new Error(`${this.ss} (iproute2) was not found: connections are left to their keep-alive`);
    if (r.exitCode !== 0) throw new Error(describeFailure(this.ss, args, r));
    return parseSocketLines(r.stdout);
  }

  /**
   * Deletes the NAT entries of LAN traffic masqueraded behind the old uplink's addresses (the reply goes to
   * that address), so the LAN's next packets are masqueraded afresh behind the new uplink. Only source-NAT
   * entries: this device's own flows, like the kept LAN-broker connection, keep their state.
   * Returns the entries deleted, or null when conntrack is not installed.
   */
  private async flushConntrack(addresses: readonly string[]): Promise<number | null> {
    if (this.conntrackAbsent) return null;
    let deleted = 0;
    for (const address of addresses) {
      const args = conntrackArgs(address);
      const r = await this.exec(this.conntrackTool, args);
      if (r.absent) {
        this.conntrackAbsent = true;
        this.logger.debug(`${this.conntrackTool} is not installed: NAT entries of forwarded LAN traffic are left to expire`);
        return null;
      }
      const m = /(\d+) flow entries have been deleted/.exec(`${r.stderr}\n${r.stdout}`);
      // Exit 1 with "0 flow entries have been deleted" just means there were none.
      if (!m && r.exitCode !== 0) throw new Error(describeFailure(this.conntrackTool, args, r));
      deleted += m ? Number(m[1]) : 0;
    }
    return deleted;
  }

  /** Runs a tool without throwing for its exit status; a missing program is reported as `absent`. */
  private async exec(command: string, args: readonly string[]): Promise<ToolOutcome> {
    try {
      const r = await this.runner.run(command, args, { reject: false, timeoutMs: this.timeoutMs });
      // ProcessRunner reports a spawn failure as exit -1 with Node's message, which names the errno.
      const absent = r.exitCode === 127 || (r.exitCode === -1 && /\bENOENT\b/.test(r.stderr));
      return { ...r, absent };
    } catch (e) {
      if ((e as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return { stdout: '', stderr: errorMessage(e), exitCode: -1, absent: true };
      throw e;
    }
  }
}

// ---- commands ----------------------------------------------------------------------------------

/** `ss` arguments that destroy the matching sockets (ss's default states: every connected one but TIME-WAIT). */
export function killArgs(filter: readonly string[]): string[] {
  return ['-K', '-H', '-n', '-t', '-u', ...filter];
}

/** `ss` arguments that list the matching established sockets (the before/after check). */
export function listArgs(filter: readonly string[]): string[] {
  return ['-H', '-n', '-t', '-u', 'state', 'established', ...filter];
}

export function conntrackArgs(address: string): string[] {
  return ['-D', '--src-nat', '--reply-dst', address];
}

/**
 * The ss filter expression, one token per argument: local address one of `sources`, peer not on their
 * connected subnets, loopback, or any local address of this host.
 */
export function socketFilter(sources: readonly InterfaceAddress[], all: readonly InterfaceAddress[]): string[] {
  const locals = unique(sources.map((a) => a.local));
  const selected = locals.length === 1 ? ['src', locals[0]] : ['(', ...locals.flatMap((a, i) => (i === 0 ? ['src', a] : ['or', 'src', a])), ')'];
  const kept = unique([...sources.flatMap(connectedNetworks), LOOPBACK_NETWORK]);
  // A local address already inside a kept network would only lengthen the expression.
  for (const a of unique(all.map((x) => x.local))) {
    if (!kept.some((network) => inNetwork(a, network))) kept.push(a);
  }
  return [...selected, ...kept.flatMap((network) => ['and', 'not', 'dst', network])];
}

/** The subnets an address reaches directly (its own prefix; a point-to-point peer's), as ss host filters. */
function connectedNetworks(a: InterfaceAddress): string[] {
  const networks: string[] = [];
  if (a.prefixlen < 32) networks.push(networkOf(a.local, a.prefixlen));
  if (a.peer) networks.push(a.prefixlen < 32 ? networkOf(a.peer, a.prefixlen) : a.peer);
  return networks;
}

// ---- parsing -----------------------------------------------------------------------------------

/** `addr:port` as ss prints it: `192.0.2.2:41234`, `192.0.2.2%eth0:68`, `[::ffff:192.0.2.2]:41234`, `0.0.0.0:*`. */
const ENDPOINT = /^\S+:(\d+|\*)$/;

function parseSocketLines(text: string): SocketLine[] {
  const sockets: SocketLine[] = [];
  for (const line of text.split('\n')) {
    const tokens = line.trim().split(/\s+/).filter(Boolean);
    const endpoints = tokens.filter((t) => ENDPOINT.test(t));
    if (endpoints.length < 2) continue;
    // With -t and -u together ss prints the protocol (Netid) first.
    const proto = tokens[0] === 'tcp' || tokens[0] === 'udp' ? tokens[0] : '';
    sockets.push({ proto, local: endpoints[endpoints.length - 2], peer: endpoints[endpoints.length - 1] });
  }
  return sockets;
}

function socketKey(s: SocketLine): string {
  return `${s.proto} ${s.local} ${s.peer}`;
}

// ---- IPv4 arithmetic ----------------------------------------------------------------------------

function parseIpv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return null;
    value = value * 256 + Number(part);
  }
  return value;
}

function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

function networkOf(address: string, prefixlen: number): string {
  const value = parseIpv4(address) ?? 0;
  const size = 2 ** (32 - prefixlen);
  return `${formatIpv4(Math.floor(value / size) * size)}/${prefixlen}`;
}

/** Whether `address` is inside `network` (`a.b.c.d/len`, or a bare address). */
function inNetwork(address: string, network: string): boolean {
  const [base, len] = network.split('/');
  const prefixlen = len === undefined ? 32 : Number(len);
  const a = parseIpv4(address);
  const b = parseIpv4(base);
  if (a === null || b === null) return false;
  const size = 2 ** (32 - prefixlen);
  return Math.floor(a / size) === Math.floor(b / size);
}

// ---- small helpers ------------------------------------------------------------------------------

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

function describeFailure(command: string, args: readonly string[], r: ToolOutcome): string {
  const output = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(0, 3).join(' ');
  const how = r.exitCode === -1 ? 'did not run to the end' : `exit ${r.exitCode}`;
  return `${command} ${args.join(' ')} failed (${how})${output ? `: ${output}` : ''}`;
}
