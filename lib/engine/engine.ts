/**
 * The failover engine: the shell around the state machine in decide.ts. It turns what happens (a call,
 * a link or route notice, a timer, the end of a probe round or of a route change) into inputs, takes the
 * decision, and runs its effects in order: events to listeners, timers on the injected clock, probe rounds,
 * route changes and pins. Slow effects are started, not awaited; their outcomes come back as inputs.
 *
 * Events are plain data handed to listeners synchronously; nothing a listener does is awaited, so a slow
 * notification can never delay a switch.
 */
import { Clock, TimerHandle, systemClock } from './clock';
import {
  ActivatePurpose,
  EngineEffect,
  EngineInput,
  EngineState,
  KernelRoute,
  PinReason,
  RouteReadPurpose,
  TimerId,
  decide,
  describeRoute,
  initialState,
  timerKey,
  usable,
  reportedHealth,
} from './decide';
import { FailoverEvent, UplinkHealth } from './events';
import { WindowFigures, figures } from './quality';
import { errorMessage } from '../errors';
import { LinkSource, LinkState } from '../linkwatch/link-watch';
import { Logger, silentLogger } from '../log/logger';
import { Probe, ProbeResult, allDown } from '../probes/probe';
import { UplinkConfig } from '../uplink/model';

export { describeRoute };
export type { KernelRoute };

/** What the engine needs from the route service. */
export interface RouteActions {
  activate(uplink: UplinkConfig): Promise<void>;
  pin(uplink: UplinkConfig): Promise<void>;
  unpin(uplink: UplinkConfig): Promise<void>;
  /**
   * The kernel's default route now (absent in dry run: the route is not ours to keep). With it the engine
   * adopts an uplink that already carries traffic at start, and puts the route back when someone else changes it.
   */
  readDefault?(): Promise<KernelRoute | null>;
}

export interface EngineOptions {
  uplinks: readonly UplinkConfig[];
  probe: Probe;
  routes: RouteActions;
  links: LinkSource;
  clock?: Clock;
  logger?: Logger;
  /** After an uplink's setup timed out, wait this long before setting it up again (ms). */
  setupRetryMs?: number;
  /**
   * Work that follows a route change before its events go out (DNS, resetting the old uplink's connections),
   * so a listener that sends over the network already goes through the new uplink. Bounded by afterSwitchMs.
   */
  afterSwitch?: (from: UplinkConfig | null, to: UplinkConfig) => Promise<void>;
  /** Longest wait for afterSwitch before the events go out anyway (ms, default 3000). */
  afterSwitchMs?: number;
  /**
   * How long the active uplink must stay healthy after being suspect before an uplink set up early for it is
   * released (ms, default 120 s): a modem is never cycled on every blip.
   */
  prepareHoldMs?: number;
}

export interface UplinkStatus {
  name: string;
  iface: string;
  health: UplinkHealth;
  link: 'up' | 'down' | 'absent';
  active: boolean;
  usable: boolean;
  lastResult: ProbeResult | null;
  /** Loss and latency over the quality window. */
  window: WindowFigures;
}

export interface EngineStatus {
  active: string | null;
  pending: string | null;
  paused: boolean;
  forced: string | null;
  /** The kernel's default route as last seen (`default via ... dev ...`, `none`); null before the first look or in dry run. */
  route: string | null;
  /** Uplinks set up ahead of need (prepare early or standby). */
  prepared: string[];
  uplinks: UplinkStatus[];
}

export type EngineListener = (event: FailoverEvent) => void;

/** An input as the shell hands it over; the time is added when it is fed. */
type Untimed<T> = T extends unknown ? Omit<T, 'now'> : never;

/** A promise for work that may also throw before it returns one. */
function attempt<T>(work: () => Promise<T>): Promise<T> {
  try {
    return work();
  } catch (e) {
    return Promise.reject(e);
  }
}

export class FailoverEngine {
  private state: EngineState;
  private readonly configs: ReadonlyMap<string, UplinkConfig>;
  private readonly probe: Probe;
  private readonly routes: RouteActions;
  private readonly links: LinkSource;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly afterSwitch: EngineOptions['afterSwitch'];
  private readonly afterSwitchMs: number;
  private readonly listeners = new Set<EngineListener>();
  private readonly timers = new Map<string, TimerHandle>();
  private readonly probeAborts = new Map<string, AbortController>();
  /** Inputs fed while effects run (a listener that calls force()): decided in turn, after those effects. */
  private readonly inbox: EngineInput[] = [];
  private deciding = false;
  /** start() and stop() take turns: a stop asked for during start waits for it. */
  private lifecycle: Promise<void> = Promise.resolve();
  private whenStarted: (() => void) | null = null;
  private whenStopped: (() => void) | null = null;
  private readonly onLink = (state: LinkState): void => this.feed({ type: 'link', state });
  private readonly onRoute = (): void => this.feed({ type: 'routeChange' });

  constructor(options: EngineOptions) {
    const configs = new Map(options.uplinks.map((u) => [u.name, u]));
    // The state names uplinks; validateUplinks already refuses two with one name.
    if (configs.size !== options.uplinks.length) throw new Error('two uplinks have the same name');
    this.configs = configs;
    this.state = initialState(
      options.uplinks,
      options.uplinks.map((u) => options.links.state(u.iface)),
      {
        setupRetryMs: options.setupRetryMs ?? 60_000,
        prepareHoldMs: options.prepareHoldMs ?? 120_000,
        keepsKernelRoute: options.routes.readDefault !== undefined,
      },
    );
    this.probe = options.probe;
    this.routes = options.routes;
    this.links = options.links;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.afterSwitch = options.afterSwitch;
    this.afterSwitchMs = options.afterSwitchMs ?? 3000;
  }

  on(listener: EngineListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get activeUplink(): string | null {
    return this.state.active;
  }

  status(): EngineStatus {
    const s = this.state;
    return {
      active: s.active,
      pending: s.pending?.uplink ?? null,
      paused: s.paused,
      forced: s.forced,
      route: s.kernelRoute === undefined ? null : describeRoute(s.kernelRoute),
      prepared: s.prepared.map((p) => p.uplink),
      uplinks: s.uplinks.map((u) => ({
        name: u.config.name,
        iface: u.config.iface,
        health: reportedHealth(u),
        link: u.link.up ? 'up' : u.link.exists ? 'down' : 'absent',
        active: u.config.name === s.active,
        usable: usable(u),
        lastResult: u.lastResult,
        window: figures(u.window, u.config.quality),
      })),
    };
  }

  /** Pins every present uplink and starts probing. The first decision follows the first probe rounds. */
  start(): Promise<void> {
    return this.inTurn(() => this.begin());
  }

  /**
   * Stops probing, leaves the default route on the primary (or the best usable uplink) and removes the pins.
   * Lifecycle events for that last move are emitted like any other.
   */
  stop(): Promise<void> {
    return this.inTurn(() => this.end());
  }

  /** Uses this uplink whatever the probes say (null: back to automatic). */
  force(name: string | null): void {
    if (name !== null && !this.configs.has(name)) {
      throw new Error(`unknown uplink "${name}" (known: ${[...this.configs.keys()].join(', ')})`);
    }
    this.feed({ type: 'force', uplink: name });
  }

  /** Keeps probing and reporting, but makes no switch until resume(). */
  pause(): void {
    this.feed({ type: 'pause' });
  }

  resume(): void {
    this.feed({ type: 'resume' });
  }

  /** Probes every uplink now instead of at its next interval. */
  recheck(): void {
    this.feed({ type: 'recheck' });
  }

  // ---- start and stop --------------------------------------------------------------------------

  private inTurn(work: () => Promise<void>): Promise<void> {
    const turn = this.lifecycle.then(work);
    this.lifecycle = turn.catch(() => undefined);
    return turn;
  }

  private async begin(): Promise<void> {
    if (this.state.phase.name !== 'stopped') return;
    const kernelRoute = await this.readKernelRoute();
    // Listening from here on: the link states read below are the start's, later changes come as inputs.
    this.links.on('change', this.onLink);
    this.links.on('route', this.onRoute);
    const started = new Promise<void>((resolve) => (this.whenStarted = resolve));
    const links = [...this.configs.values()].map((u) => this.links.state(u.iface));
    this.feed({ type: 'start', kernelRoute, links });
    await started;
  }

  private async end(): Promise<void> {
    if (this.state.phase.name === 'stopped') return;
    this.links.off('change', this.onLink);
    this.links.off('route', this.onRoute);
    const stopped = new Promise<void>((resolve) => (this.whenStopped = resolve));
    this.feed({ type: 'stop' });
    await stopped;
  }

  // ---- deciding and running effects ------------------------------------------------------------

  private feed(input: Untimed<EngineInput>): void {
    this.inbox.push({ ...input, now: this.clock.now() });
    if (this.deciding) return;
    this.deciding = true;
    try {
      for (let next = this.inbox.shift(); next; next = this.inbox.shift()) {
        const { state, effects } = decide(this.state, next);
        this.state = state;
        this.run(effects);
      }
    } finally {
      this.deciding = false;
    }
  }

  private run(effects: readonly EngineEffect[]): void {
    for (const effect of effects) {
      switch (effect.type) {
        case 'emit':
          this.emit(effect.event);
          break;
        case 'log':
          this.logger[effect.level](effect.message);
          break;
        case 'setTimer':
          this.setTimer(effect.id, effect.at);
          break;
        case 'clearTimer':
          this.clearTimer(effect.id);
          break;
        case 'probe':
          this.runProbe(effect.uplink);
          break;
        case 'abortProbe':
          this.probeAborts.get(effect.uplink)?.abort();
          break;
        case 'pin':
          this.pin(effect.uplink, effect.reason);
          break;
        case 'unpin':
          this.unpin(effect.uplink);
          break;
        case 'activate':
          this.activate(effect.uplink, effect.purpose);
          break;
        case 'afterSwitch':
          void this.runAfterSwitch(effect.from, effect.to).then(() => this.feed({ type: 'switched' }));
          break;
        case 'readRoute':
          this.readRoute(effect.purpose);
          break;
        case 'started':
          this.whenStarted?.();
          this.whenStarted = null;
          break;
        case 'stopped':
          this.whenStopped?.();
          this.whenStopped = null;
          break;
        default: {
          const unknown: never = effect;
          throw new Error(`unknown effect ${JSON.stringify(unknown)}`);
        }
      }
    }
  }

  private config(name: string): UplinkConfig {
    const config = this.configs.get(name);
    if (!config) throw new Error(`unknown uplink "${name}"`);
    return config;
  }

  private emit(event: FailoverEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (e) {
        this.logger.error(`event listener failed on ${event.type}: ${String(e)}`);
      }
    }
  }

  private setTimer(id: TimerId, at: number): void {
    const key = timerKey(id);
    this.clearTimer(id);
    const handle = this.clock.setTimeout(
      () => {
        if (this.timers.get(key) === handle) this.timers.delete(key);
        this.feed({ type: 'timer', id });
      },
      Math.max(0, at - this.clock.now()),
    );
    this.timers.set(key, handle);
  }

  private clearTimer(id: TimerId): void {
    const key = timerKey(id);
    const handle = this.timers.get(key);
    if (!handle) return;
    this.clock.clearTimeout(handle);
    this.timers.delete(key);
  }

  private runProbe(name: string): void {
    const config = this.config(name);
    const abort = new AbortController();
    this.probeAborts.set(name, abort);
    const roundOver = (result: ProbeResult): void => {
      if (this.probeAborts.get(name) === abort) this.probeAborts.delete(name);
      this.feed({ type: 'round', uplink: name, result });
    };
    void attempt(() => this.probe.run(config, abort.signal)).then(roundOver, (e: unknown) => {
      this.logger.error(`probe of ${name} failed: ${String(e)}`);
      roundOver(allDown(config));
    });
  }

  private pin(name: string, reason: PinReason): void {
    const config = this.config(name);
    void attempt(() => this.routes.pin(config))
      .catch((e: unknown) => this.logger.error(`could not pin probes of ${name} to ${config.iface}: ${errorMessage(e)}`))
      .then(() => this.feed({ type: 'pinned', uplink: name, reason }));
  }

  private unpin(name: string): void {
    void attempt(() => this.routes.unpin(this.config(name)))
      .catch((e: unknown) => this.logger.error(String(e)))
      .then(() => this.feed({ type: 'unpinned', uplink: name }));
  }

  private activate(name: string, purpose: ActivatePurpose): void {
    void attempt(() => this.routes.activate(this.config(name)))
      .then(
        () => null,
        (e: unknown) => errorMessage(e),
      )
      .then((error) => this.feed({ type: 'activated', uplink: name, purpose, error }));
  }

  /** The afterSwitch work, bounded: a hung helper tool must not hold the events back for long. */
  private async runAfterSwitch(from: string | null, to: string): Promise<void> {
    const afterSwitch = this.afterSwitch;
    if (!afterSwitch) return;
    let timer: TimerHandle | null = null;
    const bound = new Promise<void>((resolve) => {
      timer = this.clock.setTimeout(() => {
        this.logger.warn(`work after the switch to ${to} took over ${this.afterSwitchMs} ms; sending its events now`);
        resolve();
      }, this.afterSwitchMs);
    });
    const work = attempt(() => afterSwitch(from === null ? null : this.config(from), this.config(to))).catch((e: unknown) =>
      this.logger.error(`after the switch to ${to}: ${errorMessage(e)}`),
    );
    await Promise.race([work, bound]);
    if (timer) this.clock.clearTimeout(timer);
  }

  private readRoute(purpose: RouteReadPurpose): void {
    // A default route that went with its device (ppp0 hung up) is not someone else's change: the links are
    // looked at first, so their news reaches the engine before the route's and nothing dead is put back.
    const links = purpose === 'check' && this.links.refreshAll ? this.links.refreshAll().catch(() => undefined) : Promise.resolve();
    void links
      .then(() => this.readKernelRoute())
      .then((route) => this.feed({ type: 'routeSeen', purpose, route }));
  }

  /** The kernel's default route; undefined when it cannot be read (dry run, or the read failed). */
  private readKernelRoute(): Promise<KernelRoute | null | undefined> {
    const read = this.routes.readDefault?.bind(this.routes);
    if (!read) return Promise.resolve(undefined);
    return attempt(read).catch((e: unknown) => {
      this.logger.warn(`could not read the default route: ${errorMessage(e)}`);
      return undefined;
    });
  }
}
