/**
 * Delivers event notifications over HTTP the way the original's httpHandler meant to, without its flaws:
 * enqueue() returns at once (a notification never delays a switch), requests have a timeout, failures are
 * retried with exponential back-off, nothing is lost while no uplink works, and delivery keeps the order
 * in which events happened (one request in flight; the head of the queue is retried until it goes).
 */
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
}

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
  private readonly fetchFn: typeof fetch;
  private inFlight: Promise<void> | null = null;
  private abort: AbortController | null = null;
  private retryTimer: TimerHandle | null = null;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(options: HttpNotifierOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retryDelayMs = options.retryDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.maxRetry = options.maxRetry ?? 0;
    this.maxQueue = options.maxQueue ?? 1000;
    this.fetchFn = options.fetch ?? fetch;
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

  /** Gives the queue up to graceMs to drain, then stops retrying and aborts the request in flight. */
  async stop(graceMs = 0): Promise<void> {
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
    const of = this.maxRetry > 0 ? ` of ${this.maxRetry}` : '';
    this.logger.info(`Attempting POST request ${item.attempts}${of}${n.label ? ` (${n.label})` : ''}`);
    let error: string | null = null;
    this.abort = new AbortController();
    const timer = this.clock.setTimeout(() => this.abort?.abort(), this.timeoutMs);
    try {
      const headers: Record<string, string> = { 'content-type': 'application/json', ...n.headers };
      if (n.auth) headers.authorization = `Basic ${Buffer.from(`${n.auth.user}:${n.auth.password}`).toString('base64')}`;
      const res = await this.fetchFn(n.url, {
        method: 'POST',
        headers,
        body: n.body === undefined ? undefined : JSON.stringify(n.body),
        signal: this.abort.signal,
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status < 200 || res.status >= 300) error = `HTTP ${res.status}`;
      else this.logger.debug(`POST ${n.url} ${res.status}`);
    } catch (e) {
      error = this.abort.signal.aborted && !this.stopped ? `no answer within ${this.timeoutMs} ms` : describeFetchError(e);
    } finally {
      this.clock.clearTimeout(timer);
      this.abort = null;
    }
    if (this.stopped) return;
    if (error === null) {
      this.queue.shift();
    } else {
      this.logger.error(`POST ${n.url}: ${error}`);
      if (this.maxRetry > 0 && item.attempts >= this.maxRetry) {
        this.queue.shift();
        this.logger.error(`giving up on ${n.label ?? n.url} after ${item.attempts} attempts`);
      } else {
        const delay = Math.min(this.maxDelayMs, this.retryDelayMs * 2 ** (item.attempts - 1));
        this.retryTimer = this.clock.setTimeout(() => {
          this.retryTimer = null;
          this.pump();
        }, delay);
      }
    }
  }
}

function describeFetchError(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as Error & { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? e.message;
  }
  return String(e);
}
