/**
 * DNS that follows the active uplink: each uplink's servers (configured, or learnt from pppd's usepeerdns
 * file or a DHCP lease), the active uplink's first, applied the way the system expects (openresolv's
 * resolvconf, systemd-resolved's resolvectl, or /etc/resolv.conf itself, kept and restored on stop).
 */
import { access, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../errors';
import { Logger } from '../log/logger';
import { CommandRunner } from '../process/runner';
import { UplinkConfig } from '../uplink/model';
import { DnsApplier, DnsServer, FileMethod, MethodContext, ResolvconfMethod, ResolvectlMethod } from './dns-methods';
import { DnsSourceOptions, learnServers } from './dns-sources';
import { RESOLV_CONF, ResolvConfBackupFile, ResolvConfFile, STATE_DIR } from './resolv-conf';

export type { DnsServer } from './dns-methods';

/** How the servers are applied: found out (auto), one way by name, or not at all (off). */
export type DnsMethod = 'auto' | 'resolvconf' | 'resolvectl' | 'file' | 'off';
export const DNS_METHODS: readonly DnsMethod[] = ['auto', 'resolvconf', 'resolvectl', 'file', 'off'];

export interface DnsManagerOptions {
  runner: CommandRunner;
  logger: Logger;
  /** Default auto: resolvconf (openresolv) if present, resolvectl if systemd-resolved runs, else the file. */
  method?: DnsMethod;
  /** Log what would be written instead of writing it. */
  dryRun?: boolean;
  /** The file the file method writes (default /etc/resolv.conf). */
  resolvConfPath?: string;
  /** Where the file method keeps the original while ours is in place (default /run/ifacefailover). */
  stateDir?: string;
  /** Mount table, to tell a bind-mounted resolv.conf (default /proc/self/mountinfo). */
  mountInfoPath?: string;
  /** systemd-resolved's runtime directory, present while it runs (default /run/systemd/resolve). */
  resolvedDir?: string;
  /** Network interfaces (default /sys/class/net). */
  sysClassNet?: string;
  /** Where learnt servers are read (pppd's file, leases, dhcpcd). */
  sources?: Omit<DnsSourceOptions, 'runner' | 'sysClassNet'>;
  resolvconfCommand?: string;
  resolvectlCommand?: string;
  /**
   * Names the backup file (default: this process's network namespace). A service started with
   * `ip netns exec` sees another resolv.conf than the host: its backup must never be put back on the host's.
   */
  namespaceId?: string;
  /** Per command (default 5 s). */
  timeoutMs?: number;
}

/** The active uplink's servers first, then the other uplinks' in priority order; each server once. */
export function orderServers(active: UplinkConfig, uplinks: readonly UplinkConfig[], serversOf: ReadonlyMap<string, readonly string[]>): DnsServer[] {
  const order = [active, ...uplinks.filter((u) => u.name !== active.name)];
  const out: DnsServer[] = [];
  for (const uplink of order) {
    for (const address of serversOf.get(uplink.name) ?? []) {
      if (!out.some((s) => s.address === address)) out.push({ address, uplink: uplink.name });
    }
  }
  return out;
}

type Concrete = Exclude<DnsMethod, 'auto' | 'off'>;

function message(err: unknown): string {
  return errorMessage(err).replace(/\s*\n\s*/g, ' ').trim();
}

export class DnsManager {
  private readonly ctx: MethodContext;
  private chosen: Concrete | undefined;
  private applier: DnsApplier | undefined;
  /** One apply or restore at a time, in call order. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly options: DnsManagerOptions) {
    this.ctx = { runner: options.runner, logger: options.logger, dryRun: options.dryRun ?? false, timeoutMs: options.timeoutMs ?? 5000 };
  }

  /** Puts `active`'s servers first, then the other uplinks' (in priority order). Never throws. */
  apply(active: UplinkConfig, uplinks: readonly UplinkConfig[]): Promise<void> {
    return this.enqueue(() => this.doApply(active, uplinks), `could not apply ${active.name}'s servers`);
  }

  /** Puts back what was there before the first apply(). Never throws. */
  restore(): Promise<void> {
    return this.enqueue(async () => {
      await this.applier?.restore();
    }, 'could not put the original back');
  }

  /** The method in use (auto resolved on the first apply), for diagnostics and tests. */
  get method(): DnsMethod | undefined {
    return this.options.method === 'off' ? 'off' : this.chosen;
  }

  private enqueue(work: () => Promise<void>, what: string): Promise<void> {
    const next = this.queue.then(work).catch((err: unknown) => this.options.logger.warn(`DNS: ${what}: ${message(err)}`));
    this.queue = next;
    return next;
  }

  private async doApply(active: UplinkConfig, uplinks: readonly UplinkConfig[]): Promise<void> {
    if (this.options.method === 'off') return;
    const all = uplinks.some((u) => u.name === active.name) ? uplinks : [active, ...uplinks];
    const servers = orderServers(active, all, await this.serversByUplink(all));
    const applier = await this.getApplier();
    // A crashed run's original goes back before anything else, even when there is nothing to write now.
    if (applier instanceof FileMethod) await applier.recover();
    if (servers.length === 0) {
      this.options.logger.debug('DNS: no uplink has a server (configured or learnt); left as it is');
      return;
    }
    const { used, changed } = await applier.apply(active, servers, all);
    const list = used.map((s) => `${s.address} (${s.uplink})`).join(', ');
    const left = servers.length - used.length;
    const notes = [left > 0 ? `${left} more left out: glibc reads ${used.length}` : '', changed ? '' : 'unchanged'].filter(Boolean);
    this.options.logger.info(`DNS: ${list} ${applier.label}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`);
  }

  /** Configured servers, else learnt ones, per uplink (read in parallel: this runs between a switch and its events). */
  private async serversByUplink(uplinks: readonly UplinkConfig[]): Promise<Map<string, string[]>> {
    const entries = await Promise.all(
      uplinks.map(async (u): Promise<[string, string[]]> => {
        if (u.dns.length > 0) return [u.name, u.dns];
        const learnt = await learnServers(u.iface, {
          ...this.options.sources,
          runner: this.options.runner,
          sysClassNet: this.options.sysClassNet,
        }).catch(() => null);
        if (learnt) this.options.logger.debug(`DNS: ${u.name} (${u.iface}) learnt ${learnt.servers.join(', ')} from ${learnt.source}`);
        return [u.name, learnt?.servers ?? []];
      }),
    );
    return new Map(entries);
  }

  private async getApplier(): Promise<DnsApplier> {
    if (this.applier) return this.applier;
    const method = this.options.method === undefined || this.options.method === 'auto' ? await this.detect() : (this.options.method as Concrete);
    this.chosen = method;
    const o = this.options;
    switch (method) {
      case 'resolvconf':
        this.applier = new ResolvconfMethod(this.ctx, o.resolvconfCommand);
        break;
      case 'resolvectl':
        this.applier = new ResolvectlMethod(this.ctx, o.resolvectlCommand, o.sysClassNet);
        break;
      case 'file': {
        const file = new ResolvConfFile({ path: o.resolvConfPath ?? RESOLV_CONF, mountInfoPath: o.mountInfoPath });
        const backup = new ResolvConfBackupFile(join(o.stateDir ?? STATE_DIR, `resolv.conf.${await this.namespaceId()}.json`));
        this.applier = new FileMethod(this.ctx, file, backup);
        break;
      }
    }
    return this.applier;
  }

  /** openresolv first (it owns resolv.conf where installed), then systemd-resolved, else the file. */
  private async detect(): Promise<Concrete> {
    const { runner, logger } = this.options;
    const resolvconf = this.options.resolvconfCommand ?? 'resolvconf';
    // Debian's other resolvconf and systemd's resolvconf link do not call themselves openresolv.
    const version = await runner.run(resolvconf, ['--version'], { reject: false, timeoutMs: 3000 }).catch(() => null);
    if (version && version.exitCode === 0 && /openresolv/i.test(`${version.stdout}\n${version.stderr}`)) {
      logger.debug(`DNS: ${resolvconf} is openresolv: using it`);
      return 'resolvconf';
    }
    const resolvedDir = this.options.resolvedDir ?? '/run/systemd/resolve';
    const resolvedRuns = await access(resolvedDir).then(
      () => true,
      () => false,
    );
    if (resolvedRuns) {
      const resolvectl = this.options.resolvectlCommand ?? 'resolvectl';
      const r = await runner.run(resolvectl, ['--version'], { reject: false, timeoutMs: 3000 }).catch(() => null);
      if (r && r.exitCode === 0) {
        logger.debug(`DNS: systemd-resolved runs: using ${resolvectl}`);
        return 'resolvectl';
      }
    }
    logger.debug(`DNS: neither openresolv nor systemd-resolved: writing ${this.options.resolvConfPath ?? RESOLV_CONF}`);
    return 'file';
  }

  private async namespaceId(): Promise<string> {
    if (this.options.namespaceId !== undefined) return this.options.namespaceId;
    const link = await readlink('/proc/self/ns/net').catch(() => '');
    return /\[(\d+)\]/.exec(link)?.[1] ?? 'default';
  }
}
