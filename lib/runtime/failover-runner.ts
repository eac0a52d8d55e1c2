/**
 * The wiring every front end shares: a link watch on the uplinks' interfaces, ICMP probes (fping, or another
 * Probe) and the failover engine, over one route owner's actions. The headless service and the Node-RED
 * failover-controller each run one.
 *
 * start() and stop() may be called in any order, more than once, and concurrently: stop() waits for a
 * start in progress before it stops, so nothing started can outlive a stop (a redeploy in the middle of
 * start-up leaves no pin, timer or `ip monitor` behind).
 */
import { ConnectionReset } from '../connections/connection-reset';
import { DnsManager } from '../dns/dns-manager';
import { Clock } from '../engine/clock';
import { FailoverEngine, RouteActions } from '../engine/engine';
import { LinkWatch } from '../linkwatch/link-watch';
import { Logger } from '../log/logger';
import { ContinuousIcmpProbe } from '../probes/fping';
import { Probe } from '../probes/probe';
import { UplinkConfig } from '../uplink/model';

export interface FailoverRunnerOptions {
  /** In priority order; the first is the primary. */
  uplinks: readonly UplinkConfig[];
  /** One owner's route actions (RouteService.forOwner), so pins shared with other owners stay theirs too. */
  routes: RouteActions;
  logger: Logger;
  /** Default: ICMP echo through one long-lived fping per uplink (a ping process per echo without fping). */
  probe?: Probe;
  /** Poll period of the link watch's sysfs safety net (ms). */
  linkPollMs?: number;
  /** After an uplink's setup timed out, wait this long before setting it up again (ms). */
  setupRetryMs?: number;
  clock?: Clock;
  /** Resets the connections of the uplink that was left after every switch (absent: left alone). */
  connections?: ConnectionReset;
  /** Puts the active uplink's DNS servers first after every switch, and restores on stop (absent: DNS untouched). */
  dns?: DnsManager;
}

export class FailoverRunner {
  readonly engine: FailoverEngine;
  readonly links: LinkWatch;
  private starting: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private readonly dns: DnsManager | undefined;
  private readonly probe: Probe;

  constructor(options: FailoverRunnerOptions) {
    const { connections, dns, uplinks } = options;
    this.dns = dns;
    this.probe = options.probe ?? new ContinuousIcmpProbe({ logger: options.logger });
    this.links = new LinkWatch(
      options.uplinks.map((u) => u.iface),
      { logger: options.logger, pollMs: options.linkPollMs },
    );
    this.engine = new FailoverEngine({
      uplinks: options.uplinks,
      probe: this.probe,
      links: this.links,
      routes: options.routes,
      logger: options.logger,
      clock: options.clock,
      setupRetryMs: options.setupRetryMs,
      // Names first (a client that reconnects at once resolves through the new uplink), then the resets.
      afterSwitch:
        connections || dns
          ? async (from, to) => {
              await dns?.apply(to, uplinks);
              if (connections && from && from.iface !== to.iface) await connections.afterSwitch(from, to);
            }
          : undefined,
    });
  }

  /** Starts the link watch, then the engine (pins, first probe rounds). Once only; a stopped runner stays stopped. */
  start(): Promise<void> {
    this.starting ??= this.stopping ? Promise.resolve() : this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    await this.links.start();
    if (this.stopping) return;
    await this.engine.start();
  }

  /**
   * Stops the engine (it leaves the default route on the best usable uplink and removes its pins), then
   * the link watch (its `ip monitor` has exited when this resolves).
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    await this.starting?.catch(() => undefined);
    try {
      await this.engine.stop();
    } finally {
      await this.dns?.restore();
      await this.probe.close?.();
      await this.links.stop();
    }
  }
}
