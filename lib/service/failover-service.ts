/**
 * The headless service: one properties file's uplinks, the real route service, link watch and ICMP
 * probes, with the original's handlers mapped onto engine events. This is also what a Node-RED
 * controller does, minus the messages.
 */
import { FailoverEngine } from '../engine/engine';
import { FailoverEvent } from '../engine/events';
import { LinkWatch } from '../linkwatch/link-watch';
import { Logger } from '../log/logger';
import { CommandRunner, ExecaRunner } from '../process/runner';
import { IcmpProbe } from '../probes/icmp';
import { Probe } from '../probes/probe';
import { ServiceProperties } from '../properties/ifacefailover-properties';
import { RouteService } from '../routes/route-service';
import { UplinkConfig } from '../uplink/model';
import { logHandlerLine } from './log-handler';

export interface FailoverServiceOptions {
  logger: Logger;
  dryRun?: boolean;
  runner?: CommandRunner;
  probe?: Probe;
  /** Poll period of the link watch's sysfs safety net (ms). */
  linkPollMs?: number;
}

export class FailoverService {
  readonly engine: FailoverEngine;
  readonly routes: RouteService;
  private readonly links: LinkWatch;
  private readonly logger: Logger;
  private readonly uplinks: UplinkConfig[];

  constructor(
    private readonly properties: ServiceProperties,
    options: FailoverServiceOptions,
  ) {
    this.logger = options.logger;
    this.uplinks = properties.routes.map((r) => r.uplink);
    const runner = options.runner ?? new ExecaRunner();
    this.routes = new RouteService({ runner, logger: this.logger, pinMode: properties.pinMode, dryRun: options.dryRun });
    this.links = new LinkWatch(
      this.uplinks.map((u) => u.iface),
      { logger: this.logger, pollMs: options.linkPollMs },
    );
    const logger = this.logger;
    const own = this.routes.forOwner('service');
    this.engine = new FailoverEngine({
      uplinks: this.uplinks,
      probe: options.probe ?? new IcmpProbe(),
      links: this.links,
      logger: this.logger,
      routes: {
        ...own,
        async activate(uplink) {
          logger.info(`Adding route ${uplink.iface}`);
          return own.activate(uplink);
        },
      },
    });
    this.engine.on((event) => this.onEvent(event));
  }

  async start(): Promise<void> {
    for (const warning of this.properties.warnings) this.logger.warn(warning);
    for (const route of this.properties.routes) {
      for (const handler of route.handlers) {
        if (handler.kind === 'http' || handler.kind === 'fona') {
          this.logger.warn(`route ${route.uplink.name}: the ${handler.kind} handler (${handler.path}) is not built in yet and is ignored`);
        }
      }
    }
    const stale = await this.routes.removeStale();
    if (stale > 0) this.logger.info(`Removed ${stale} rule(s)/table(s) left by an earlier run`);
    await this.links.start();
    await this.engine.start();
  }

  async stop(): Promise<void> {
    await this.engine.stop();
    await this.links.stop();
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
        this.logger.debug(`${event.uplink} is ${event.health} (${event.cause})`);
        break;
      default:
        break;
    }
    for (const handler of route?.handlers ?? []) {
      if (handler.kind !== 'log') continue;
      const name = typeof handler.kwargs.name === 'string' ? handler.kwargs.name : event.uplink;
      const line = logHandlerLine(event, name);
      if (line) this.logger.info(line);
    }
  }
}
