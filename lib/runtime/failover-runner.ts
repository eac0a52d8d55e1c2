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
import { FailoverEvent } from '../engine/events';
import { LinkWatch } from '../linkwatch/link-watch';
import { Logger } from '../log/logger';
import { MeteringEvent, UplinkUsage, UsageMeter, UsageMeterOptions } from '../metering/usage-meter';
import { MixedProbe } from '../probes/mixed-probe';
import { ContinuousIcmpProbe } from '../probes/fping';
import { Probe } from '../probes/probe';
import { VerdictBoard } from '../probes/verdicts';
import { UplinkConfig } from '../uplink/model';

export interface FailoverRunnerOptions {
  /** In priority order; the first is the primary. */
  uplinks: readonly UplinkConfig[];
  /** One owner's route actions (RouteService.forOwner), so pins shared with other owners stay theirs too. */
  routes: RouteActions;
  logger: Logger;
  /**
   * The ICMP prober of the uplinks' targets (default: one long-lived fping per uplink; a ping process per echo
   * without fping). The uplinks' checks (TCP, HTTP, DNS) run beside it in the same rounds; an uplink without
   * checks gets this probe's rounds as they are.
   */
  probe?: Probe;
  /** Where the verdicts of the uplinks' flow checks (the user's own) are handed in; absent: flow checks are left out. */
  verdicts?: VerdictBoard;
  /** Poll period of the link watch's sysfs safety net (ms). */
  linkPollMs?: number;
  /** After an uplink's setup timed out, wait this long before setting it up again (ms). */
  setupRetryMs?: number;
  clock?: Clock;
  /** Resets the connections of the uplink that was left after every switch (absent: left alone). */
  connections?: ConnectionReset;
  /** Puts the active uplink's DNS servers first after every switch, and restores on stop (absent: DNS untouched). */
  dns?: DnsManager;
  /**
   * Where the data use of metered uplinks is kept, and how often it is read and reported (see UsageMeter).
   * Absent: counted in memory only. Nothing is read or written when no uplink is metered.
   */
  metering?: Pick<UsageMeterOptions, 'file' | 'statisticsRoot' | 'sampleMs' | 'reportMs' | 'saveMs'>;
}

/** What a runner's listeners hear: the engine's events and, for metered uplinks, usage and budget events. */
export type RunnerEvent = FailoverEvent | MeteringEvent;

export class FailoverRunner {
  readonly engine: FailoverEngine;
  readonly links: LinkWatch;
  private starting: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private readonly dns: DnsManager | undefined;
  private readonly probe: Probe;
  /** Null when no uplink is metered. */
  private readonly meter: UsageMeter | null;

  constructor(options: FailoverRunnerOptions) {
    const { connections, dns, uplinks } = options;
    this.dns = dns;
    // Closing the mixed probe closes the ICMP prober (a long-lived one ends its processes).
    this.probe = new MixedProbe({ icmp: options.probe ?? new ContinuousIcmpProbe({ logger: options.logger }), verdicts: options.verdicts });
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
    const meter = new UsageMeter({ ...options.metering, uplinks, logger: options.logger, clock: options.clock });
    this.meter = meter.metering ? meter : null;
    // The lifecycle says which uplink carries traffic: connected (a failover, or the first choice) or restored.
    this.engine.on((event) => {
      if (event.type === 'connected' || event.type === 'connectionRestored') this.meter?.activeChanged(event.uplink);
    });
  }

  /** Listens to the engine's events and the metering events; returns the function that stops listening. */
  on(listener: (event: RunnerEvent) => void): () => void {
    const offEngine = this.engine.on(listener);
    const offMeter = this.meter?.on(listener);
    return () => {
      offEngine();
      offMeter?.();
    };
  }

  /** The data use of every metered uplink (empty when none is metered). */
  usage(): UplinkUsage[] {
    return this.meter?.status() ?? [];
  }

  /** Starts the link watch, then the engine (pins, first probe rounds). Once only; a stopped runner stays stopped. */
  start(): Promise<void> {
    this.starting ??= this.stopping ? Promise.resolve() : this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    await this.links.start();
    if (this.stopping) return;
    // Counters read before the first switch, which opens a session.
    await this.meter?.start();
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
    // The engine's last move can take a while; a stop signal that also ended `ip monitor` is no failure of it.
    this.links.prepareStop();
    await this.starting?.catch(() => undefined);
    try {
      await this.engine.stop();
    } finally {
      try {
        await this.dns?.restore();
        await this.probe.close?.();
        await this.links.stop();
      } finally {
        // After the engine's last move, so its last switch is counted; the counters are written when this resolves.
        await this.meter?.stop();
      }
    }
  }
}
