/**
 * The three ways servers are put in place: openresolv's resolvconf, systemd-resolved's resolvectl, and
 * resolv.conf itself. Each remembers what it did so restore() undoes exactly that. Methods throw on
 * failure; the manager turns that into one warning.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../errors';
import { Logger } from '../log/logger';
import { CommandRunner } from '../process/runner';
import { UplinkConfig } from '../uplink/model';
import { GLIBC_MAXNS, HEADER_PREFIX, ResolvConfBackupFile, ResolvConfFile, buildResolvConf } from './resolv-conf';

/** One server and the uplink it belongs to. */
export interface DnsServer {
  address: string;
  uplink: string;
}

export interface MethodResult {
  /** The servers that took effect, in order (the file method writes only glibc's three). */
  used: DnsServer[];
  changed: boolean;
}

export interface DnsApplier {
  /** How the log names it: "via /etc/resolv.conf", "via resolvconf", ... */
  readonly label: string;
  apply(active: UplinkConfig, servers: readonly DnsServer[], uplinks: readonly UplinkConfig[]): Promise<MethodResult>;
  restore(): Promise<void>;
}

export interface MethodContext {
  runner: CommandRunner;
  logger: Logger;
  dryRun: boolean;
  timeoutMs: number;
}

function header(active: UplinkConfig): string {
  return `${HEADER_PREFIX} ${active.name} is active`;
}

function shellWord(arg: string): string {
  return arg === '' ? "''" : arg;
}

/** Runs a command, or logs it in a dry run. */
async function run(ctx: MethodContext, command: string, args: string[], input?: string): Promise<void> {
  if (ctx.dryRun) {
    const stdin = input === undefined ? '' : ` <<< ${JSON.stringify(input)}`;
    ctx.logger.info(`DRY-RUN: ${[command, ...args].map(shellWord).join(' ')}${stdin}`);
    return;
  }
  await ctx.runner.run(command, args, { timeoutMs: ctx.timeoutMs, ...(input === undefined ? {} : { input }) });
}

/**
 * openresolv: one record holding every server in our order, exclusive (-x) so the other records
 * (a DHCP client's eth0.dhcp, ...) cannot put theirs first, metric 0 for tools that list by metric.
 */
export class ResolvconfMethod implements DnsApplier {
  static readonly RECORD = 'ifacefailover';
  readonly label: string;
  private last: string | undefined;

  constructor(
    private readonly ctx: MethodContext,
    private readonly command = 'resolvconf',
  ) {
    this.label = `via ${command}`;
  }

  async apply(active: UplinkConfig, servers: readonly DnsServer[]): Promise<MethodResult> {
    const content = [header(active), ...servers.map((s) => `nameserver ${s.address}`)].join('\n') + '\n';
    if (content === this.last) return { used: [...servers], changed: false };
    await run(this.ctx, this.command, ['-m', '0', '-x', '-a', ResolvconfMethod.RECORD], content);
    this.last = content;
    return { used: [...servers], changed: true };
  }

  async restore(): Promise<void> {
    if (this.last === undefined) return;
    // -f: no error if the record is already gone.
    await run(this.ctx, this.command, ['-f', '-d', ResolvconfMethod.RECORD]);
    this.last = undefined;
  }
}

/**
 * systemd-resolved: the active link gets the servers, the catch-all routing domain `~.` and the default
 * route, so every lookup goes to it; the other uplinks' links lose the default route. What we set on a
 * link is reverted when it stops being active, and on restore.
 */
export class ResolvectlMethod implements DnsApplier {
  readonly label: string;
  /** Links we changed at all (reverted on restore). */
  private readonly touched = new Set<string>();
  /** The link we made the catch-all. */
  private routed: string | undefined;
  private last: string | undefined;

  constructor(
    private readonly ctx: MethodContext,
    private readonly command = 'resolvectl',
    private readonly sysClassNet = '/sys/class/net',
  ) {
    this.label = `via ${command}`;
  }

  private async exists(iface: string): Promise<boolean> {
    return access(join(this.sysClassNet, iface)).then(
      () => true,
      () => false,
    );
  }

  async apply(active: UplinkConfig, servers: readonly DnsServer[], uplinks: readonly UplinkConfig[]): Promise<MethodResult> {
    const others = [...new Set(uplinks.map((u) => u.iface))].filter((i) => i !== active.iface);
    const present = (await Promise.all(others.map(async (i) => ((await this.exists(i)) ? i : null)))).filter((i): i is string => i !== null);
    const key = JSON.stringify([active.iface, servers.map((s) => s.address), present]);
    if (key === this.last) return { used: [...servers], changed: false };
    // The new link first, so lookups always have somewhere to go.
    await this.resolvectl(['dns', active.iface, ...servers.map((s) => s.address)], active.iface);
    await this.resolvectl(['domain', active.iface, '~.'], active.iface);
    await this.resolvectl(['default-route', active.iface, 'true'], active.iface);
    const previous = this.routed;
    this.routed = active.iface;
    for (const iface of present) {
      if (iface === previous) await this.resolvectl(['revert', iface], iface);
      await this.resolvectl(['default-route', iface, 'false'], iface);
    }
    this.last = key;
    return { used: [...servers], changed: true };
  }

  private async resolvectl(args: string[], iface: string): Promise<void> {
    this.touched.add(iface);
    await run(this.ctx, this.command, args);
  }

  async restore(): Promise<void> {
    const failures: string[] = [];
    for (const iface of this.touched) {
      // A link that has gone (ppp0 hung up) took its settings with it.
      if (!(await this.exists(iface))) continue;
      await run(this.ctx, this.command, ['revert', iface]).catch((e: unknown) => failures.push(errorMessage(e)));
    }
    this.touched.clear();
    this.routed = undefined;
    this.last = undefined;
    if (failures.length > 0) throw new Error(failures.join('; '));
  }
}

/**
 * resolv.conf itself. The original is kept in memory and in a backup file (so the next start undoes a
 * crash); someone else's rewrite while we run (a DHCP renewal) becomes the new original.
 */
export class FileMethod implements DnsApplier {
  readonly label: string;
  /** undefined: not captured yet; null: there was no file. */
  private original: string | null | undefined;
  private written: string | undefined;
  private recovered = false;

  constructor(
    private readonly ctx: MethodContext,
    private readonly file: ResolvConfFile,
    private readonly backup: ResolvConfBackupFile,
  ) {
    this.label = `via ${file.path}`;
  }

  /** Once, before anything else: a backup left by a run that did not stop cleanly is put back. */
  async recover(): Promise<void> {
    if (this.recovered) return;
    this.recovered = true;
    const saved = await this.backup.read();
    if (!saved || saved.path !== this.file.path) return;
    if (this.ctx.dryRun) {
      this.ctx.logger.info(`DRY-RUN: put back ${this.file.path} as it was before an earlier run that did not stop cleanly`);
    } else {
      await this.file.write(saved.content);
      this.ctx.logger.info(`DNS: put back ${this.file.path} as it was before an earlier run that did not stop cleanly`);
    }
    // Still the original: the backup stays until our own restore.
    this.original = saved.content;
  }

  private async capture(current: string | null): Promise<void> {
    const foreign = current !== null && current !== this.written && !current.startsWith(HEADER_PREFIX);
    if (this.original !== undefined && !(this.written !== undefined && foreign)) return;
    this.original = current;
    if (!this.ctx.dryRun) await this.backup.save({ path: this.file.path, content: current });
  }

  async apply(active: UplinkConfig, servers: readonly DnsServer[]): Promise<MethodResult> {
    await this.recover();
    const current = await this.file.read();
    await this.capture(current);
    const used = servers.slice(0, GLIBC_MAXNS);
    const content = buildResolvConf(this.original ?? null, used.map((s) => s.address), active.name);
    this.written = content;
    if (current === content) return { used, changed: false };
    if (this.ctx.dryRun) {
      this.ctx.logger.info(`DRY-RUN: write ${this.file.path}: ${content.trimEnd().split('\n').join(' | ')}`);
    } else {
      await this.file.write(content);
    }
    return { used, changed: true };
  }

  async restore(): Promise<void> {
    const original = this.original;
    if (original === undefined) return;
    const current = await this.file.read();
    // Rewritten by someone else since our last write: theirs is newer than the original.
    const foreign = current !== original && current !== this.written && !(current ?? '').startsWith(HEADER_PREFIX);
    if (this.ctx.dryRun) {
      this.ctx.logger.info(`DRY-RUN: put back the original ${this.file.path}`);
    } else {
      if (!foreign) await this.file.write(original);
      await this.backup.remove();
    }
    this.original = undefined;
    this.written = undefined;
  }
}
