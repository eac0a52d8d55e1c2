/**
 * One RouteService per Node-RED process (and per dry-run flag), shared by every node, so pins of an
 * uplink used by a controller and a verifier are one pin with two owners, and tables never collide.
 * It logs through the runtime's log (redLogger), not through whichever node happened to create it.
 */
import { Logger } from '../../lib/log/logger';
import { ProcessRunner } from '../../lib/process/runner';
import { RouteService } from '../../lib/routes/route-service';

const services = new Map<string, RouteService>();

export function sharedRouteService(options: { dryRun: boolean; tableBase?: number; logger: Logger }): RouteService {
  const key = `${options.dryRun}:${options.tableBase ?? ''}`;
  let service = services.get(key);
  if (!service) {
    const logger = options.logger;
    service = new RouteService({ runner: new ProcessRunner(), logger, dryRun: options.dryRun, tableBase: options.tableBase });
    services.set(key, service);
    // A Node-RED that crashed left its rules and tables behind; sweep once, before the first pin (the
    // service runs its changes in order).
    if (!options.dryRun) {
      void service.removeStale().then(
        (n) => n > 0 && logger.info(`removed ${n} rule(s)/table(s) left by an earlier run`),
        (e: unknown) => logger.warn(`could not sweep old rules: ${String(e)}`),
      );
    }
  }
  return service;
}

/** A core Logger over the runtime's log, for things shared by many nodes. */
export function redLogger(RED: { log: { debug(m: string): void; info(m: string): void; warn(m: string): void; error(m: string): void } }): Logger {
  const tag = (m: string) => `[ifacefailover] ${m}`;
  return {
    debug: (m) => RED.log.debug(tag(m)),
    info: (m) => RED.log.info(tag(m)),
    warn: (m) => RED.log.warn(tag(m)),
    error: (m) => RED.log.error(tag(m)),
  };
}

/** A core Logger that writes through a Node-RED node's log. */
export function nodeLogger(node: { log(m: string): void; warn(m: string): void; error(m: string): void; debug(m: string): void }): Logger {
  return {
    debug: (m) => node.debug(m),
    info: (m) => node.log(m),
    warn: (m) => node.warn(m),
    error: (m) => node.error(m),
  };
}
