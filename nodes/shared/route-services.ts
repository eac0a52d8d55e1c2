/**
 * One RouteService per Node-RED process (and per dry-run flag), shared by every node, so pins of an
 * uplink used by a controller and a verifier are one pin with two owners, and tables never collide.
 */
import { Logger } from '../../lib/log/logger';
import { ExecaRunner } from '../../lib/process/runner';
import { RouteService } from '../../lib/routes/route-service';

const services = new Map<string, RouteService>();

export function sharedRouteService(options: { dryRun: boolean; tableBase?: number; logger: Logger }): RouteService {
  const key = `${options.dryRun}:${options.tableBase ?? ''}`;
  let service = services.get(key);
  if (!service) {
    service = new RouteService({ runner: new ExecaRunner(), logger: options.logger, dryRun: options.dryRun, tableBase: options.tableBase });
    services.set(key, service);
  }
  return service;
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
