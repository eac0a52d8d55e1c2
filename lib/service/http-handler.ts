/**
 * The original's httpHandler, built in: each lifecycle event of its route (setup, teardown,
 * connectionFailed, connectionRestored, connected) that has a URL suffix is POSTed to url + suffix, with
 * the event as a JSON body, basic auth from the `auth` tuple and the `headers` dict.
 *
 * Events are born at the worst moment, while the network is changing, so nothing here waits: onEvent only
 * queues (the switch is never delayed); the HttpNotifier sends one request at a time, with a timeout, a new
 * connection per attempt (over whatever default route is current) and retries with doubling back-off,
 * keeping every event until it is delivered (unless maxRetry says otherwise), in the order they happened.
 *
 * HttpHandlers builds the handlers of every route of a properties file on ONE notifier: one queue for
 * all routes, so that "primaryconnectionfailed" is delivered before "fonaconnected" even when the two go
 * to the same receiver from different routes' handlers.
 */
import { FailoverEvent, LifecycleEventType } from '../engine/events';
import { Logger } from '../log/logger';
import { HttpNotifier } from '../notify/http-notifier';
import type { HandlerSpec } from '../properties/handler-specs';
import { HTTP_SUFFIX_KWARGS, HttpSettings } from '../properties/http-kwargs';

export interface HttpHandler {
  /** The route (uplink) whose events it posts. */
  readonly route: string;
  readonly settings: HttpSettings;
  /** Queues the POST for the event if it is one of this route's with a suffix; never waits. */
  onEvent(event: FailoverEvent): void;
  /** Gives queued events up to graceMs to go out (a shared notifier: everyone's), then stops. */
  stop(graceMs?: number): Promise<void>;
}

export interface HttpHandlerOptions {
  /** Only log what would be posted (the service's --dry-run). */
  dryRun?: boolean;
}

/** How long stop() waits for undelivered events by default: short, a stopping service should not hang. */
export const HTTP_STOP_GRACE_MS = 5_000;

/** The JSON body of a POST: the event as the failover-controller node's msg.payload has it. */
export interface HttpEventBody {
  event: LifecycleEventType;
  uplink: string;
  iface: string;
  from?: string | null;
  to?: string | null;
  duration?: number | null;
  /** ISO 8601. */
  time: string;
}

function isLifecycle(event: FailoverEvent): event is Extract<FailoverEvent, { type: LifecycleEventType }> {
  return Object.hasOwn(HTTP_SUFFIX_KWARGS, event.type);
}

export function eventBody(event: Extract<FailoverEvent, { type: LifecycleEventType }>): HttpEventBody {
  const { type, time, ...fields } = event;
  return { event: type, ...fields, time: new Date(time).toISOString() };
}

/**
 * The httpHandler of route `routeName`, from its spec (or any HttpSettings, e.g. parseHttpKwargs's); the
 * properties reader has checked them. Without `notifier` the handler has its own queue.
 */
export function createHttpHandler(
  settings: Readonly<HttpSettings>,
  routeName: string,
  logger: Logger,
  notifier?: HttpNotifier,
  options: HttpHandlerOptions = {},
): HttpHandler {
  const queue = notifier ?? new HttpNotifier({ logger });
  return {
    route: routeName,
    settings,
    onEvent(event) {
      if (event.type === 'noUplink' || event.uplink !== routeName || !isLifecycle(event)) return;
      const suffix = settings.suffixes[event.type];
      if (suffix === undefined) return;
      const url = settings.url + suffix;
      const label = `${routeName} ${event.type}`;
      if (options.dryRun) {
        logger.info(`DRY-RUN: would POST ${url} (${label})`);
        return;
      }
      queue.enqueue({
        url,
        body: eventBody(event),
        ...(settings.auth ? { auth: settings.auth } : {}),
        headers: settings.headers,
        label,
        timeoutMs: settings.timeoutMs,
        retryDelayMs: settings.retryDelayMs,
        maxRetry: settings.maxRetry,
      });
    },
    stop(graceMs = HTTP_STOP_GRACE_MS) {
      return queue.stop(graceMs);
    },
  };
}

/** The routes of a properties file, as far as the http handlers need them. */
export interface HttpRoutes {
  uplink: { name: string };
  handlers: readonly HandlerSpec[];
}

/**
 * Every httpHandler of a properties file, on one shared notifier. For the headless service:
 *
 *   const http = new HttpHandlers(properties.routes, { logger, dryRun });
 *   engine.on((event) => http.onEvent(event));
 *   ...
 *   await http.stop();
 */
export class HttpHandlers {
  readonly handlers: HttpHandler[] = [];
  private readonly notifier: HttpNotifier;

  constructor(routes: readonly HttpRoutes[], options: HttpHandlerOptions & { logger: Logger; notifier?: HttpNotifier }) {
    this.notifier = options.notifier ?? new HttpNotifier({ logger: options.logger });
    for (const route of routes) {
      for (const handler of route.handlers) {
        if (handler.kind !== 'http') continue;
        this.handlers.push(createHttpHandler(handler, route.uplink.name, options.logger, this.notifier, options));
      }
    }
  }

  /** Events waiting or in flight. */
  get pending(): number {
    return this.notifier.pending;
  }

  /** Queues the event's POSTs; never waits. */
  onEvent(event: FailoverEvent): void {
    for (const handler of this.handlers) handler.onEvent(event);
  }

  /** Resolves when everything queued so far has been delivered or dropped. */
  idle(): Promise<void> {
    return this.notifier.idle();
  }

  /** Gives undelivered events up to graceMs, then stops (what is left is logged as not delivered). */
  stop(graceMs = HTTP_STOP_GRACE_MS): Promise<void> {
    return this.notifier.stop(graceMs);
  }
}
