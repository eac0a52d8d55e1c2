/**
 * Everything this package does to the kernel's routing, on iproute2:
 * - the default route of the main table, swapped with `ip route replace` so there is never a moment without one;
 *   `0.0.0.0/0` and `::/0` alike, for each family the uplink carries (uplinkFamilies in lib/uplink/model.ts);
 * - probe pins, so a probe bound to an uplink leaves by that uplink whatever the main table says:
 *   policy mode (default): a routing table per uplink plus `ip rule` (oif IFACE, from ADDR), user traffic untouched;
 *   host-route mode (the original's way, opt-in): /32 (/128) routes to each target (and each check's host) via the uplink;
 *   per family: IPv6 pins are `ip -6` tables, rules and routes with the same numbers.
 * Checks (TCP, HTTP, DNS) bind to the uplink's address, so in policy mode the `from ADDR` rule carries them.
 * It remembers what it installed and removes exactly that on cleanup.
 */
import type { RouteActions } from '../engine/engine';
import { CommandRunner } from '../process/runner';
import { Logger } from '../log/logger';
import { isIPv6 } from '../settings/check';
import { PinMode, UplinkConfig, uplinkFamilies } from '../uplink/model';

export interface DefaultRoute {
  dev: string;
  gateway: string | null;
  metric: number;
}

export interface RouteServiceOptions {
  runner: CommandRunner;
  logger: Logger;
  pinMode?: PinMode;
  /** Log mutating commands instead of running them. */
  dryRun?: boolean;
  /** First routing table id and rule priority used for pins; each pinned interface gets the next free one. */
  tableBase?: number;
  /** Path of the ip binary (default: `ip` on PATH). */
  ipCommand?: string;
}

export const DEFAULT_TABLE_BASE = 4200;
/** How many tables/priorities from the base belong to us; stale ones in this range are removed at start. */
export const TABLE_RANGE = 64;

/** An `ip` family option. */
type Family = '-4' | '-6';

interface IpRouteJson {
  type?: string;
  dst?: string;
  gateway?: string;
  dev?: string;
  metric?: number;
  table?: string;
}

interface IpRuleJson {
  priority?: number;
  table?: string;
}

interface IpAddrJson {
  ifname?: string;
  addr_info?: { family?: string; local?: string; scope?: string }[];
}

/** One rule we added: its family and the arguments that select it (after `ip rule del`). */
interface PinRule {
  family: Family;
  args: string[];
}

/** What one uplink's pin consists of, so cleanup removes exactly that. */
interface PinRecord {
  /** Routing table id (the same number in both families), also the priority of its rules. */
  table: number;
  /** Who asked for it; the pin goes when the last owner lets go. */
  owners: Set<string>;
  rules: PinRule[];
  /** Targets with a host route (/32 or /128 by their family). */
  hostRoutes: string[];
}

const ruleKey = (rule: PinRule): string => `${rule.family} ${rule.args.join(' ')}`;
const familyOf = (address: string): Family => (isIPv6(address) ? '-6' : '-4');
const hostPrefix = (address: string): string => (isIPv6(address) ? `${address}/128` : `${address}/32`);

/** The families an uplink's routes are set in, as `ip` options. */
function familiesOf(uplink: UplinkConfig): Family[] {
  const f = uplinkFamilies(uplink);
  return [...(f.v4 ? (['-4'] as const) : []), ...(f.v6 ? (['-6'] as const) : [])];
}

export class RouteService {
  readonly pinMode: PinMode;
  readonly dryRun: boolean;
  private readonly runner: CommandRunner;
  private readonly logger: Logger;
  private readonly tableBase: number;
  private readonly ip: string;
  /** Pins by interface name. */
  private readonly pins = new Map<string, PinRecord>();
  /** Interfaces of the uplinks we were given (activated or pinned): whose stray default routes are ours to remove. */
  private readonly ourIfaces = new Set<string>();
  /** Families some uplink we were given carries: a family none of them carries is never read or touched. */
  private readonly familiesInUse = new Set<Family>();
  private queue: Promise<void> = Promise.resolve();

  constructor(options: RouteServiceOptions) {
    this.runner = options.runner;
    this.logger = options.logger;
    this.pinMode = options.pinMode ?? 'policy';
    this.dryRun = options.dryRun ?? false;
    this.tableBase = options.tableBase ?? DEFAULT_TABLE_BASE;
    this.ip = options.ipCommand ?? 'ip';
  }

  private async read(args: string[]): Promise<string> {
    return (await this.runner.run(this.ip, args)).stdout;
  }

  /** A read that may fail (IPv6 on a kernel without it): empty output then. */
  private async readIfAny(args: string[]): Promise<string> {
    const r = await this.runner.run(this.ip, args, { reject: false });
    if (r.exitCode !== 0) this.logger.debug(`${this.ip} ${args.join(' ')}: ${r.stderr.trim()}`);
    return r.exitCode === 0 ? r.stdout : '';
  }

  /** Runs a command that changes the kernel's state, or only logs it in dry-run mode. */
  private async change(args: string[], options: { ignoreFailure?: boolean } = {}): Promise<void> {
    if (this.dryRun) {
      this.logger.info(`DRY-RUN: ${this.ip} ${args.join(' ')}`);
      return;
    }
    if (options.ignoreFailure) {
      const r = await this.runner.run(this.ip, args, { reject: false });
      if (r.exitCode !== 0) this.logger.debug(`${this.ip} ${args.join(' ')}: ${r.stderr.trim()}`);
      return;
    }
    await this.runner.run(this.ip, args);
  }

  /** The main table's default route with the lowest metric, or null if there is none. */
  async readDefault(): Promise<DefaultRoute | null> {
    const routes = parseJson<IpRouteJson[]>(await this.read(['-4', '-j', 'route', 'show', 'default']), []);
    const candidates = routes
      .filter((r) => r.dev)
      .map((r) => ({ dev: r.dev as string, gateway: r.gateway ?? null, metric: r.metric ?? 0 }))
      .sort((a, b) => a.metric - b.metric);
    return candidates[0] ?? null;
  }

  private nexthop(uplink: UplinkConfig, family: Family): string[] {
    const gateway = family === '-4' ? uplink.gateway : uplink.gateway6;
    return gateway ? ['via', gateway, 'dev', uplink.iface] : ['dev', uplink.iface];
  }

  /**
   * Points the main table's default route of each family the uplink carries at it, atomically (`replace`),
   * and only then removes the other family's default routes from our other uplinks' interfaces: after a
   * failover from a dual-stack uplink to an IPv4-only one, IPv6 must not keep flowing into the dead one.
   * The active uplink's own routes of a family it does not carry (an IPv6 default learnt from RA) stay, and so
   * does a family none of our uplinks carries: with IPv4-only uplinks this is one command, as before IPv6.
   * Callers that want to report the replaced route call readDefault() first.
   */
  async activate(uplink: UplinkConfig): Promise<void> {
    const families = this.remember(uplink);
    // Both families at once: a dual-stack switch takes no longer than an IPv4 one.
    await Promise.all(families.map((family) => this.change([family, 'route', 'replace', 'default', ...this.nexthop(uplink, family)])));
    for (const family of this.familiesInUse) {
      if (!families.includes(family)) await this.removeDefaults(family, uplink.iface);
    }
  }

  /** Notes the uplink's interface and families as ours; returns its families. */
  private remember(uplink: UplinkConfig): Family[] {
    const families = familiesOf(uplink);
    this.ourIfaces.add(uplink.iface);
    for (const family of families) this.familiesInUse.add(family);
    return families;
  }

  /** Removes the main table's default routes of `family` that leave by one of our interfaces other than `except`. */
  private async removeDefaults(family: Family, except: string): Promise<void> {
    const routes = parseJson<IpRouteJson[]>(await this.readIfAny([family, '-j', 'route', 'show', 'default']), []);
    for (const r of routes) {
      if (!r.dev || r.dev === except || !this.ourIfaces.has(r.dev) || (r.type !== undefined && r.type !== 'unicast')) continue;
      const via = r.gateway ? ['via', r.gateway] : [];
      const metric = r.metric !== undefined ? ['metric', String(r.metric)] : [];
      await this.change([family, 'route', 'del', 'default', ...via, 'dev', r.dev, ...metric], { ignoreFailure: true });
    }
  }

  /**
   * Addresses on the interface (empty if it does not exist): IPv4, or IPv6 of global scope (a link-local
   * source already leaves by its own link).
   */
  async addressesOf(iface: string, family: Family = '-4'): Promise<string[]> {
    const r = await this.runner.run(this.ip, [family, '-j', 'addr', 'show', 'dev', iface], { reject: false });
    if (r.exitCode !== 0) return [];
    const links = parseJson<IpAddrJson[]>(r.stdout, []);
    const wanted = (a: { family?: string; local?: string; scope?: string }): boolean =>
      family === '-4' ? a.family === 'inet' : a.family === 'inet6' && a.scope === 'global';
    return links.flatMap((l) => (l.addr_info ?? []).filter((a) => wanted(a) && a.local).map((a) => a.local as string));
  }

  /**
   * Makes probes bound to this uplink leave by it, on behalf of `owner` (a controller, a verifier node,
   * the headless service). Several owners share one pin; it is removed when the last one lets go.
   * Idempotent: call again when the interface (re)appears or its address changes; ppp0 routes vanish
   * with the device.
   */
  pin(uplink: UplinkConfig, owner = 'default'): Promise<void> {
    return this.serialised(() => this.installPin(uplink, owner));
  }

  /** Lets go of `owner`'s claim on the uplink's pin; removes the pin when no owner is left. */
  unpin(uplink: UplinkConfig, owner = 'default'): Promise<void> {
    return this.serialised(async () => {
      const record = this.pins.get(uplink.iface);
      if (!record) return;
      record.owners.delete(owner);
      if (record.owners.size > 0) return;
      this.pins.delete(uplink.iface);
      await this.removePin(uplink.iface, record);
    });
  }

  /**
   * The route actions of one owner, for the engine. In dry run the kernel's route is not ours to keep, so the
   * engine gets no readDefault (it neither adopts nor restores a route it never set).
   */
  forOwner(owner: string): RouteActions {
    return {
      activate: (u) => this.activate(u),
      pin: (u) => this.pin(u, owner),
      unpin: (u) => this.unpin(u, owner),
      ...(this.dryRun ? {} : { readDefault: () => this.readDefault() }),
    };
  }

  /** The table (and rule priority) of an interface's pin, if it is pinned. */
  tableOf(iface: string): number | undefined {
    return this.pins.get(iface)?.table;
  }

  private serialised<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private allocateTable(): number {
    const used = new Set([...this.pins.values()].map((r) => r.table));
    for (let t = this.tableBase; t < this.tableBase + TABLE_RANGE; t++) if (!used.has(t)) return t;
    throw new Error(`more than ${TABLE_RANGE} pinned uplinks`);
  }

  private async installPin(uplink: UplinkConfig, owner: string): Promise<void> {
    const old = this.pins.get(uplink.iface);
    const table = old?.table ?? this.allocateTable();
    const mode = uplink.pinMode ?? this.pinMode;
    const record: PinRecord = { table, owners: new Set([...(old?.owners ?? []), owner]), rules: [], hostRoutes: [] };
    // Claim the table before the first await so a concurrent pin of another interface cannot take it.
    this.pins.set(uplink.iface, { ...record, rules: old?.rules ?? [], hostRoutes: old?.hostRoutes ?? [] });
    const families = this.remember(uplink);
    if (mode === 'policy') {
      const t = String(table);
      for (const family of families) {
        await this.change([family, 'route', 'replace', 'default', ...this.nexthop(uplink, family), 'table', t]);
        record.rules.push({ family, args: ['oif', uplink.iface, 'lookup', t, 'priority', t] });
        for (const addr of await this.addressesOf(uplink.iface, family)) {
          record.rules.push({ family, args: ['from', addr, 'lookup', t, 'priority', t] });
        }
      }
      // Rules are not idempotent in the kernel: drop ours that are no longer wanted, add the missing ones.
      const wanted = new Set(record.rules.map(ruleKey));
      for (const rule of old?.rules ?? []) {
        if (!wanted.has(ruleKey(rule))) await this.change([rule.family, 'rule', 'del', ...rule.args], { ignoreFailure: true });
      }
      const present = new Set((old?.rules ?? []).map(ruleKey));
      for (const rule of record.rules) {
        if (!present.has(ruleKey(rule))) await this.change([rule.family, 'rule', 'add', ...rule.args]);
      }
    } else {
      for (const target of probedHosts(uplink)) {
        const family = familyOf(target);
        await this.change([family, 'route', 'replace', hostPrefix(target), ...this.nexthop(uplink, family)]);
        record.hostRoutes.push(target);
      }
      // Another owner's targets, or this owner's old ones: keep what an owner may still probe.
      for (const target of old?.hostRoutes ?? []) {
        if (!record.hostRoutes.includes(target)) record.hostRoutes.push(target);
      }
    }
    this.pins.set(uplink.iface, record);
  }

  private async removePin(iface: string, record: PinRecord): Promise<void> {
    for (const rule of record.rules) await this.change([rule.family, 'rule', 'del', ...rule.args], { ignoreFailure: true });
    for (const family of new Set(record.rules.map((r) => r.family))) {
      await this.change([family, 'route', 'flush', 'table', String(record.table)], { ignoreFailure: true });
    }
    for (const target of record.hostRoutes) {
      await this.change([familyOf(target), 'route', 'del', hostPrefix(target), 'dev', iface], { ignoreFailure: true });
    }
  }

  /**
   * Removes rules and tables in our range left by a run that crashed before cleaning up,
   * so a restart never stacks duplicate rules.
   */
  removeStale(): Promise<number> {
    return this.serialised(() => this.removeStaleNow());
  }

  private async removeStaleNow(): Promise<number> {
    let removed = 0;
    for (const family of ['-4', '-6'] as const) {
      // IPv4 must be readable; IPv6 may be absent from the kernel (then it has nothing of ours).
      const read = (args: string[]): Promise<string> => (family === '-4' ? this.read(args) : this.readIfAny(args));
      const rules = parseJson<IpRuleJson[]>(await read([family, '-j', 'rule', 'show']), []);
      for (const rule of rules) {
        const p = rule.priority ?? -1;
        if (p >= this.tableBase && p < this.tableBase + TABLE_RANGE) {
          await this.change([family, 'rule', 'del', 'priority', String(p)], { ignoreFailure: true });
          removed++;
        }
      }
      const routes = parseJson<IpRouteJson[]>(await read([family, '-j', 'route', 'show', 'table', 'all']), []);
      const tables = new Set<number>();
      for (const r of routes) {
        const t = Number(r.table);
        if (Number.isInteger(t) && t >= this.tableBase && t < this.tableBase + TABLE_RANGE) tables.add(t);
      }
      for (const t of tables) {
        await this.change([family, 'route', 'flush', 'table', String(t)], { ignoreFailure: true });
        removed++;
      }
    }
    return removed;
  }
}

/** The addresses an uplink's probes go to: its ICMP targets and its checks' hosts, each once. */
export function probedHosts(uplink: Pick<UplinkConfig, 'targets' | 'checks'>): string[] {
  return [...new Set([...uplink.targets, ...uplink.checks.flatMap((c) => (c.kind === 'flow' ? [] : [c.host]))])];
}

function parseJson<T>(text: string, fallback: T): T {
  if (!text.trim()) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}
