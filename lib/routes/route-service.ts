/**
 * Everything this package does to the kernel's routing, on iproute2:
 * - the default route of the main table, swapped with `ip route replace` so there is never a moment without one;
 * - probe pins, so a probe bound to an uplink leaves by that uplink whatever the main table says:
 *   policy mode (default): a routing table per uplink plus `ip rule` (oif IFACE, from ADDR), user traffic untouched;
 *   host-route mode (the original's way, opt-in): /32 routes to each target (and each check's host) via the uplink.
 * Checks (TCP, HTTP, DNS) bind to the uplink's address, so in policy mode the `from ADDR` rule carries them.
 * It remembers what it installed and removes exactly that on cleanup.
 */
import type { RouteActions } from '../engine/engine';
import { CommandRunner } from '../process/runner';
import { Logger } from '../log/logger';
import { PinMode, UplinkConfig } from '../uplink/model';

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

interface IpRouteJson {
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

/** What one uplink's pin consists of, so cleanup removes exactly that. */
interface PinRecord {
  /** Routing table id, also the priority of its rules. */
  table: number;
  /** Who asked for it; the pin goes when the last owner lets go. */
  owners: Set<string>;
  /** Arguments that select each rule we added (after `ip rule del`). */
  rules: string[][];
  hostRoutes: string[];
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

  private nexthop(uplink: UplinkConfig): string[] {
    return uplink.gateway ? ['via', uplink.gateway, 'dev', uplink.iface] : ['dev', uplink.iface];
  }

  /**
   * Points the main table's default route at the uplink, atomically. One command and nothing else on
   * this path: callers that want to report the replaced route call readDefault() first.
   */
  async activate(uplink: UplinkConfig): Promise<void> {
    await this.change(['-4', 'route', 'replace', 'default', ...this.nexthop(uplink)]);
  }

  /** IPv4 addresses on the interface (empty if it does not exist). */
  async addressesOf(iface: string): Promise<string[]> {
    const r = await this.runner.run(this.ip, ['-4', '-j', 'addr', 'show', 'dev', iface], { reject: false });
    if (r.exitCode !== 0) return [];
    const links = parseJson<IpAddrJson[]>(r.stdout, []);
    return links.flatMap((l) => (l.addr_info ?? []).filter((a) => a.family === 'inet' && a.local).map((a) => a.local as string));
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
    if (mode === 'policy') {
      await this.change(['-4', 'route', 'replace', 'default', ...this.nexthop(uplink), 'table', String(table)]);
      record.rules.push(['oif', uplink.iface, 'lookup', String(table), 'priority', String(table)]);
      for (const addr of await this.addressesOf(uplink.iface)) {
        record.rules.push(['from', addr, 'lookup', String(table), 'priority', String(table)]);
      }
      // Rules are not idempotent in the kernel: drop ours that are no longer wanted, add the missing ones.
      const wanted = new Set(record.rules.map((r) => r.join(' ')));
      for (const rule of old?.rules ?? []) {
        if (!wanted.has(rule.join(' '))) await this.change(['-4', 'rule', 'del', ...rule], { ignoreFailure: true });
      }
      const present = new Set((old?.rules ?? []).map((r) => r.join(' ')));
      for (const rule of record.rules) {
        if (!present.has(rule.join(' '))) await this.change(['-4', 'rule', 'add', ...rule]);
      }
    } else {
      for (const target of probedHosts(uplink)) {
        await this.change(['-4', 'route', 'replace', `${target}/32`, ...this.nexthop(uplink)]);
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
    for (const rule of record.rules) await this.change(['-4', 'rule', 'del', ...rule], { ignoreFailure: true });
    if (record.rules.length > 0) await this.change(['-4', 'route', 'flush', 'table', String(record.table)], { ignoreFailure: true });
    for (const target of record.hostRoutes) {
      await this.change(['-4', 'route', 'del', `${target}/32`, 'dev', iface], { ignoreFailure: true });
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
    const rules = parseJson<IpRuleJson[]>(await this.read(['-4', '-j', 'rule', 'show']), []);
    let removed = 0;
    for (const rule of rules) {
      const p = rule.priority ?? -1;
      if (p >= this.tableBase && p < this.tableBase + TABLE_RANGE) {
        await this.change(['-4', 'rule', 'del', 'priority', String(p)], { ignoreFailure: true });
        removed++;
      }
    }
    const routes = parseJson<IpRouteJson[]>(await this.read(['-4', '-j', 'route', 'show', 'table', 'all']), []);
    const tables = new Set<number>();
    for (const r of routes) {
      const t = Number(r.table);
      if (Number.isInteger(t) && t >= this.tableBase && t < this.tableBase + TABLE_RANGE) tables.add(t);
    }
    for (const t of tables) {
      await this.change(['-4', 'route', 'flush', 'table', String(t)], { ignoreFailure: true });
      removed++;
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
