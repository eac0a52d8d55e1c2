/**
 * Delivers event notifications over HTTP the way the original's httpHandler meant to, without its flaws:
 * enqueue() returns at once (a notification never delays a switch), requests have a timeout, failures are
 * retried with exponential back-off, nothing is lost while no uplink works, and delivery keeps the order
 * in which events happened (one request in flight; the head of the queue is retried until it goes).
 *
 * Every attempt opens a new connection (like the original's requests.post without a session): a request
 * never rides a kept-alive socket that was opened over the uplink that has just died, so the attempt after
 * a switch goes out over the new default route. Redirects are not followed.
 *
 * Outcomes: 2xx delivers; no answer (refused, unreachable, timeout) and 408, 425, 429 and 5xx are retried;
 * any other status (3xx, 4xx) is the receiver's final word on that request: it is logged and dropped,
 * so that one misaddressed notification cannot hold up the ones behind it forever.
 */
import type { IncomingMessage } from 'node:http';
import { httpModule, httpsModule } from '../net/lazy-http';
import { Clock, TimerHandle, systemClock } from '../engine/clock';
import { Logger, silentLogger } from '../log/logger';

export interface HttpNotification {
  url: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Basic auth, as the original's `'auth': ('user', 'password')`. */
  auth?: { user: string; password: string };
  headers?: Record<string, string>;
  /** For log lines, e.g. "primaryconnectionfailed". */
  label?: string;
  /** Per-notification overrides of the notifier's options of the same name. */
  timeoutMs?: number;
  retryDelayMs?: number;
  maxRetry?: number;
}

/** Sends one POST and resolves with the response's status code (rejects when there is no response). */
export type HttpTransport = (
  url: string,
  init: { headers: Record<string, string>; body: string | undefined; signal: AbortSignal },
) => Promise<number>;

export interface HttpNotifierOptions {
  logger?: Logger;
  clock?: Clock;
  /** Per request (default 10 s). */
  timeoutMs?: number;
  /** First retry delay (default 500 ms, the original's retryDelay), doubled up to maxDelayMs. */
  retryDelayMs?: number;
  maxDelayMs?: number;
  /** Attempts per notification before it is dropped; 0 = never give up (default). */
  maxRetry?: number;
  /** Oldest notifications are dropped beyond this many waiting (default 1000). */
  maxQueue?: number;
  /** How requests are sent (default: node:http / node:https, a new connection per attempt). */
  transport?: HttpTransport;
  /** Sends through this fetch instead of the transport (tests). */
  fetch?: typeof fetch;
}

interface Queued {
  notification: HttpNotification;
  attempts: number;
}

export class HttpNotifier {
  private readonly queue: Queued[] = [];
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly timeoutMs: number;
  private readonly retryDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxRetry: number;
  private readonly maxQueue: number;
  private readonly transport: HttpTransport;
  private inFlight: Promise<void> | null = null;
  private abort: AbortController | null = null;
  private retryTimer: TimerHandle | null = null;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];
  private stopping: Promise<void> | null = null;

  constructor(options: HttpNotifierOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retryDelayMs = options.retryDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.maxRetry = options.maxRetry ?? 0;
    this.maxQueue = options.maxQueue ?? 1000;
    const fetchFn = options.fetch;
    this.transport = fetchFn ? fetchTransport(fetchFn) : (options.transport ?? freshConnectionPost);
  }

  /** Notifications waiting or in flight. */
  get pending(): number {
    return this.queue.length;
  }

  /** Queues a notification; never waits. */
  enqueue(notification: HttpNotification): void {
    if (this.stopped) return;
    if (this.queue.length >= this.maxQueue) {
      const dropped = this.queue.splice(this.inFlight ? 1 : 0, 1)[0];
      this.logger.error(`notification queue full (${this.maxQueue}); dropped ${dropped?.notification.label ?? dropped?.notification.url}`);
    }
    this.queue.push({ notification, attempts: 0 });
    this.pump();
  }

  /** Resolves when the queue is empty (for a bounded flush on stop). */
  idle(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Gives the queue up to graceMs to drain, then stops retrying and aborts the request in flight.
   * Later calls return the first call's promise.
   */
  stop(graceMs = 0): Promise<void> {
    this.stopping ??= this.doStop(graceMs);
    return this.stopping;
  }

  private async doStop(graceMs: number): Promise<void> {
    if (graceMs > 0 && this.queue.length > 0) {
      let timer: TimerHandle | undefined;
      await Promise.race([this.idle(), new Promise<void>((r) => (timer = this.clock.setTimeout(r, graceMs)))]);
      if (timer) this.clock.clearTimeout(timer);
    }
    this.stopped = true;
    if (this.retryTimer) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.abort?.abort();
    await this.inFlight;
    if (this.queue.length > 0) this.logger.warn(`${this.queue.length} notification(s) not delivered before stop`);
  }

  private pump(): void {
    if (this.inFlight || this.retryTimer || this.stopped) return;
    const head = this.queue[0];
    if (!head) {
      for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    this.inFlight = this.attempt(head).finally(() => {
      this.inFlight = null;
      this.pump();
    });
  }

  private async attempt(item: Queued): Promise<void> {
    item.attempts++;
    const n = item.notification;
    const maxRetry = n.maxRetry ?? this.maxRetry;
    const timeoutMs = n.timeoutMs ?? this.timeoutMs;
    const of = maxRetry > 0 ? ` of ${maxRetry}` : '';
    this.logger.info(`Attempting POST request ${item.attempts}${of}${n.label ? ` (${n.label})` : ''}`);
    let error: string | null = null;
    let final = false;
    const abort = new AbortController();
    this.abort = abort;
    const timer = this.clock.setTimeout(() => abort.abort(), timeoutMs);
    try {
      const headers: Record<string, string> = { 'content-type': 'application/json', ...n.headers };
      if (n.auth) headers.authorization = `Basic ${Buffer.from(`${n.auth.user}:${n.auth.password}`).toString('base64')}`;
      const status = await this.transport(n.url, {
        headers,
        body: n.body === undefined ? undefined : JSON.stringify(n.body),
        signal: abort.signal,
      });
      if (status < 200 || status >= 300) {
        error = `HTTP ${status}`;
        final = !isRetriedStatus(status);
      } else {
        this.logger.debug(`POST ${n.url} ${status}`);
      }
    } catch (e) {
      error = abort.signal.aborted && !this.stopped ? `no answer within ${timeoutMs} ms` : describeFetchError(e);
    } finally {
      this.clock.clearTimeout(timer);
      this.abort = null;
    }
    if (this.stopped) return;
    if (error === null) {
      this.queue.shift();
    } else if (final) {
      this.queue.shift();
      const why = error.startsWith('HTTP 3') ? 'redirects are not followed: use the final URL' : 'the same request would fail again';
      this.logger.error(`POST ${n.url}: ${error}; dropping ${n.label ?? 'the notification'} (${why})`);
    } else {
      this.logger.error(`POST ${n.url}: ${error}`);
      if (maxRetry > 0 && item.attempts >= maxRetry) {
        this.queue.shift();
        this.logger.error(`giving up on ${n.label ?? n.url} after ${item.attempts} attempts`);
      } else {
        const delay = Math.min(this.maxDelayMs, (n.retryDelayMs ?? this.retryDelayMs) * 2 ** (item.attempts - 1));
        this.retryTimer = this.clock.setTimeout(() => {
          this.retryTimer = null;
          this.pump();
        }, delay);
      }
    }
  }
}

/** Statuses worth repeating the same request for: the receiver is busy, starting or failing for now. */
const isRetriedStatus = (status: number): boolean => status >= 500 || status === 408 || status === 425 || status === 429;

/**
 * The default transport: a POST over a new connection (no keep-alive agent), aborted by the signal.
 * Resolves with the status once the response has been read.
 */
export const freshConnectionPost: HttpTransport = (url, init) =>
  new Promise<number>((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      reject(new Error(`invalid URL ${JSON.stringify(url)}`));
      return;
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      reject(new Error(`not an http(s) URL: ${url}`));
      return;
    }
    const send = target.protocol === 'https:' ? httpsModule().request : httpModule().request;
    const headers: Record<string, string> = { ...init.headers };
    if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
    const req = send(target, { method: 'POST', headers, agent: false, signal: init.signal }, (res: IncomingMessage) => {
      res.on('error', reject);
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.resume();
    });
    req.on('error', reject);
    req.end(init.body);
  });

function fetchTransport(fetchFn: typeof fetch): HttpTransport {
  return async (url, init) => {
    const res = await fetchFn(url, { method: 'POST', ...init });
    await res.arrayBuffer().catch(() => undefined);
    return res.status;
  };
}

function describeFetchError(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code && code !== 'ABORT_ERR') return code;
    const cause = (e as Error & { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? e.message;
  }
  return String(e);
}
