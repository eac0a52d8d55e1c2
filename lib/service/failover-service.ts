/**
 * The headless service: one properties file's uplinks on its own route service, run by the same
 * FailoverRunner (link watch, ICMP probes, engine) as the Node-RED failover-controller, with the
 * original's handlers mapped onto engine events.
 */
import { ConnectionReset } from '../connections/connection-reset';
import { DnsManager } from '../dns/dns-manager';
import { FailoverEngine } from '../engine/engine';
import { FailoverEvent } from '../engine/events';
import { describeWindow } from '../engine/quality';
import { reapOrphanedMonitors } from '../linkwatch/link-watch';
import { Logger } from '../log/logger';
import { CommandRunner, ProcessRunner } from '../process/runner';
import { Probe } from '../probes/probe';
import { ServiceProperties } from '../properties/ifacefailover-properties';
import { RouteService } from '../routes/route-service';
import { FailoverRunner } from '../runtime/failover-runner';
import { FonaHandler } from './fona-handler';
import { HttpHandlers } from './http-handler';
import { logHandlerLine } from './log-handler';

export interface FailoverServiceOptions {
  logger: Logger;
  dryRun?: boolean;
  runner?: CommandRunner;
  probe?: Probe;
  /** Poll period of the link watch's sysfs safety net (ms). */
  linkPollMs?: number;
  /** How long stop() waits for handler work in flight (power off, hang up), ms (default 20 s). */
  handlerStopTimeoutMs?: number;
}

export class FailoverService {
  readonly engine: FailoverEngine;
  readonly routes: RouteService;
  private readonly runner: FailoverRunner;
  private readonly logger: Logger;
  private readonly fonaHandlers: FonaHandler[] = [];
  private readonly http: HttpHandlers;
  private readonly handlerStopTimeoutMs: number;
  private starting: Promise<void> | undefined;

  constructor(
    private readonly properties: ServiceProperties,
    options: FailoverServiceOptions,
  ) {
    this.logger = options.logger;
    const runner = options.runner ?? new ProcessRunner();
    this.routes = new RouteService({ runner, logger: this.logger, pinMode: properties.pinMode, dryRun: options.dryRun });
    const logger = this.logger;
    const own = this.routes.forOwner('service');
    this.runner = new FailoverRunner({
      uplinks: properties.routes.map((r) => r.uplink),
      probe: options.probe,
      linkPollMs: options.linkPollMs,
      logger: this.logger,
      connections: properties.resetConnections ? new ConnectionReset({ runner, logger: this.logger, dryRun: options.dryRun }) : undefined,
      dns: properties.dnsMethod === 'off' ? undefined : new DnsManager({ runner, logger: this.logger, dryRun: options.dryRun, method: properties.dnsMethod }),
      routes: {
        ...own,
        async activate(uplink) {
          logger.info(`Adding route ${uplink.iface}`);
          return own.activate(uplink);
        },
      },
    });
    this.engine = this.runner.engine;
    this.handlerStopTimeoutMs = options.handlerStopTimeoutMs ?? 20_000;
    for (const route of properties.routes) {
      for (const handler of route.handlers) {
        if (handler.kind !== 'fona') continue;
        this.fonaHandlers.push(
          new FonaHandler({ uplink: route.uplink, settings: handler.settings, links: this.runner.links, logger: this.logger, dryRun: options.dryRun }),
        );
      }
    }
    this.engine.on((event) => this.onEvent(event));
    // Handlers only queue their work: nothing they do delays a switch.
    for (const fona of this.fonaHandlers) this.engine.on((event) => fona.onEvent(event));
    this.http = new HttpHandlers(properties.routes, { logger: this.logger, dryRun: options.dryRun });
    this.engine.on((event) => this.http.onEvent(event));
  }

  async start(): Promise<void> {
    for (const warning of this.properties.warnings) this.logger.warn(warning);
    // Before the sweep below changes routes: a killed run's monitor would die on that output, unseen.
    await reapOrphanedMonitors(this.logger);
    const stale = await this.routes.removeStale();
    if (stale > 0) this.logger.info(`Removed ${stale} rule(s)/table(s) left by an earlier run`);
    for (const fona of this.fonaHandlers) fona.start();
    this.starting = this.runner.start();
    await this.starting;
  }

  async stop(): Promise<void> {
    await this.starting?.catch(() => undefined);
    // The engine's last move may tear the modem down (hang up, power off): that work runs, bounded, while
    // the link watch it relies on still runs; the runner's stop then finds the engine stopped.
    await this.engine.stop();
    await Promise.all([...this.fonaHandlers.map((fona) => fona.stop(this.handlerStopTimeoutMs)), this.http.stop()]);
    await this.runner.stop();
  }

  private onEvent(event: FailoverEvent): void {
    if (event.type === 'noUplink') {
      this.logger.error(`No uplink is available; keeping the default route on ${event.active ?? 'none'}`);
      return;
    }
    const route = this.properties.routes.find((r) => r.uplink.name === event.uplink);
    switch (event.type) {
      case 'waiting':
        this.logger.info(`Waiting up to ${event.timeoutMs / 1000} s for ${event.iface} to come up`);
        break;
      case 'setupFailed':
        this.logger.error(`${event.iface} of ${event.uplink} did not come up within ${Math.round(event.waitedMs / 1000)} s`);
        break;
      case 'switchFailed':
        this.logger.error(`Could not move the default route to ${event.uplink}: ${event.error}`);
        break;
      case 'health':
        if (event.window && (event.health === 'degraded' || event.cause === 'quality')) this.logger.warn(`${event.uplink} is ${event.health} (${event.cause}): ${describeWindow(event.window)}`);
        else this.logger.debug(`${event.uplink} is ${event.health} (${event.cause})`);
        break;
      case 'routeChanged':
        if (event.restored) this.logger.warn(`The default route was changed behind our back (found: ${event.found ?? 'none'}); put back: ${event.expected}`);
        else this.logger.error(`The default route was changed behind our back (found: ${event.found ?? 'none'}) and could not be put back on ${event.uplink}`);
        break;
      case 'setup':
        if (event.reason === 'early') this.logger.info(`Preparing ${event.uplink} early: the active uplink is suspect`);
        else if (event.reason === 'standby') this.logger.info(`Bringing up ${event.uplink} on standby`);
        break;
      case 'teardown':
        if (event.reason === 'released') this.logger.info(`Releasing ${event.uplink}: the active uplink stayed healthy`);
        break;
      default:
        break;
    }
    for (const handler of route?.handlers ?? []) {
      if (handler.kind !== 'log') continue;
      const line = logHandlerLine(event, handler.name);
      if (line) this.logger.info(line);
    }
  }
}

