/**
 * The failover state machine. Uplinks are in priority order (the first is the primary). It probes every
 * uplink that has targets, applies hysteresis (`down` bad rounds to fail, `up` good rounds to trust again),
 * reacts to link changes at once, and keeps the default route on the highest-priority usable uplink.
 * An uplink whose interface does not exist yet (ppp0 before dialling) is "dormant": choosing it emits
 * `setup` and waits, bounded, for the interface before its route is added.
 *
 * Events are plain data handed to listeners synchronously; nothing a listener does is awaited, so a slow
 * notification can never delay a switch.
 */
import { Clock, TimerHandle, systemClock } from './clock';
import { FailoverEvent, UplinkHealth } from './events';
import { LinkSource, LinkState } from '../linkwatch/link-watch';
import { Logger, silentLogger } from '../log/logger';
import { Probe, ProbeResult, allDown } from '../probes/probe';
import { UplinkConfig } from '../uplink/model';

/** What the engine needs from the route service. */
export interface RouteActions {
  activate(uplink: UplinkConfig): Promise<void>;
  pin(uplink: UplinkConfig): Promise<void>;
  unpin(uplink: UplinkConfig): Promise<void>;
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
}

type SwitchKind = 'start' | 'failover' | 'restore';

interface PendingSetup {
  target: UplinkRuntime;
  startedAt: number;
  timer: TimerHandle;
}

interface UplinkRuntime {
  readonly config: UplinkConfig;
  readonly index: number;
  health: UplinkHealth;
  goodStreak: number;
  badStreak: number;
  link: LinkState;
  lastResult: ProbeResult | null;
  roundTimer: TimerHandle | null;
  /** When the next round is due on the grid; null re-anchors the grid at the next start. */
  nextRoundAt: number | null;
  round: Promise<void> | null;
  abort: AbortController | null;
  /** When it stopped carrying traffic because it failed (for the restored event's duration). */
  lostAt: number | null;
  /** Setup timed out: not a candidate again before this time. */
  setupBackoffUntil: number;
  /** Set up and not yet torn down: teardown is emitted once per setup. */
  engaged: boolean;
}

export interface UplinkStatus {
  name: string;
  iface: string;
  health: UplinkHealth;
  link: 'up' | 'down' | 'absent';
  active: boolean;
  usable: boolean;
  lastResult: ProbeResult | null;
}

export interface EngineStatus {
  active: string | null;
  pending: string | null;
  paused: boolean;
  forced: string | null;
  uplinks: UplinkStatus[];
}

export type EngineListener = (event: FailoverEvent) => void;

export class FailoverEngine {
  private readonly uplinks: UplinkRuntime[];
  private readonly probe: Probe;
  private readonly routes: RouteActions;
  private readonly links: LinkSource;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly setupRetryMs: number;
  private readonly afterSwitch: EngineOptions['afterSwitch'];
  private readonly afterSwitchMs: number;
  private readonly listeners = new Set<EngineListener>();
  private active: UplinkRuntime | null = null;
  private pending: PendingSetup | null = null;
  private running = false;
  private switching: Promise<void> | null = null;
  private evaluateAgain = false;
  private paused = false;
  private forced: UplinkRuntime | null = null;
  private noUplinkReported = false;
  private retryTimer: TimerHandle | null = null;
  private readonly onLink = (state: LinkState): void => this.handleLink(state);

  constructor(options: EngineOptions) {
    this.uplinks = options.uplinks.map((config, index) => ({
      config,
      index,
      health: config.targets.length === 0 ? 'down' : 'unknown',
      goodStreak: 0,
      badStreak: 0,
      link: options.links.state(config.iface),
      lastResult: null,
      roundTimer: null,
      nextRoundAt: null,
      round: null,
      abort: null,
      lostAt: null,
      setupBackoffUntil: 0,
      engaged: false,
    }));
    this.probe = options.probe;
    this.routes = options.routes;
    this.links = options.links;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.setupRetryMs = options.setupRetryMs ?? 60_000;
    this.afterSwitch = options.afterSwitch;
    this.afterSwitchMs = options.afterSwitchMs ?? 3000;
  }

  on(listener: EngineListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get activeUplink(): string | null {
    return this.active?.config.name ?? null;
  }

  status(): EngineStatus {
    return {
      active: this.activeUplink,
      pending: this.pending?.target.config.name ?? null,
      paused: this.paused,
      forced: this.forced?.config.name ?? null,
      uplinks: this.uplinks.map((u) => ({
        name: u.config.name,
        iface: u.config.iface,
        health: u.health,
        link: u.link.up ? 'up' : u.link.exists ? 'down' : 'absent',
        active: u === this.active,
        usable: this.usable(u),
        lastResult: u.lastResult,
      })),
    };
  }

  /** Pins every present uplink and starts probing. The first decision follows the first probe rounds. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.links.on('change', this.onLink);
    for (const u of this.uplinks) {
      u.link = this.links.state(u.config.iface);
      if (u.config.targets.length === 0) u.health = u.link.up ? 'up' : 'down';
      if (u.link.exists) await this.pin(u);
    }
    for (const u of this.uplinks) {
      if (u.config.targets.length > 0) this.scheduleRound(u, 0);
    }
    this.evaluate();
  }

  /**
   * Stops probing, leaves the default route on the primary (or the best usable uplink) and removes the pins.
   * Lifecycle events for that last move are emitted like any other.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.links.off('change', this.onLink);
    if (this.retryTimer) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    for (const u of this.uplinks) {
      if (u.roundTimer) this.clock.clearTimeout(u.roundTimer);
      u.roundTimer = null;
      u.abort?.abort();
    }
    await Promise.all(this.uplinks.map((u) => u.round ?? Promise.resolve()));
    if (this.switching) await this.switching;
    if (this.pending) this.cancelPending();
    const best = this.uplinks.find((u) => this.usable(u)) ?? null;
    if (best && best !== this.active) await this.finishMove(best, this.active, this.kindOfMove(best), true);
    for (const u of this.uplinks) await this.routes.unpin(u.config).catch((e: unknown) => this.logger.error(String(e)));
  }

  /** Uses this uplink whatever the probes say (null: back to automatic). */
  force(name: string | null): void {
    this.forced = name === null ? null : this.byName(name);
    this.evaluate();
  }

  /** Keeps probing and reporting, but makes no switch until resume(). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.evaluate();
  }

  /** Probes every uplink now instead of at its next interval. */
  recheck(): void {
    for (const u of this.uplinks) {
      if (u.config.targets.length > 0) this.probeNow(u);
    }
  }

  private byName(name: string): UplinkRuntime {
    const u = this.uplinks.find((x) => x.config.name === name);
    if (!u) throw new Error(`unknown uplink "${name}" (known: ${this.uplinks.map((x) => x.config.name).join(', ')})`);
    return u;
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

  private base(u: UplinkRuntime): { time: number; uplink: string; iface: string } {
    return { time: this.clock.now(), uplink: u.config.name, iface: u.config.iface };
  }

  private setup(u: UplinkRuntime): void {
    u.engaged = true;
    this.emit({ ...this.base(u), type: 'setup' });
  }

  private teardown(u: UplinkRuntime): void {
    if (!u.engaged) return;
    u.engaged = false;
    this.emit({ ...this.base(u), type: 'teardown' });
  }

  private async pin(u: UplinkRuntime): Promise<void> {
    try {
      await this.routes.pin(u.config);
    } catch (e) {
      this.logger.error(`could not pin probes of ${u.config.name} to ${u.config.iface}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  // ---- probing ---------------------------------------------------------------------------------

  private scheduleRound(u: UplinkRuntime, delayMs: number): void {
    u.roundTimer = this.clock.setTimeout(() => {
      u.roundTimer = null;
      u.round = this.runRound(u).finally(() => {
        u.round = null;
      });
    }, Math.max(0, delayMs));
  }

  /** Starts a round now (unless one is running) and re-anchors the grid there. */
  private probeNow(u: UplinkRuntime): void {
    if (u.round || !this.running) return;
    if (u.roundTimer) this.clock.clearTimeout(u.roundTimer);
    u.nextRoundAt = null;
    this.scheduleRound(u, 0);
  }

  private async runRound(u: UplinkRuntime): Promise<void> {
    if (!this.running) return;
    // Rounds keep to a fixed grid (start + k x interval) so detection time does not drift with round overhead.
    const startedAt = u.nextRoundAt !== null && u.nextRoundAt <= this.clock.now() ? u.nextRoundAt : this.clock.now();
    let result: ProbeResult;
    if (!u.link.exists) {
      result = allDown(u.config);
    } else {
      u.abort = new AbortController();
      try {
        result = await this.probe.run(u.config, u.abort.signal);
      } catch (e) {
        this.logger.error(`probe of ${u.config.name} failed: ${String(e)}`);
        result = allDown(u.config);
      } finally {
        u.abort = null;
      }
    }
    if (!this.running) return;
    this.applyRound(u, result);
    const due = startedAt + u.config.probe.interval * 1000;
    const now = this.clock.now();
    u.nextRoundAt = due > now ? due : null;
    this.scheduleRound(u, due - now);
  }

  private applyRound(u: UplinkRuntime, result: ProbeResult): void {
    u.lastResult = result;
    const { probe } = u.config;
    if (result.ok) {
      u.goodStreak++;
      u.badStreak = 0;
    } else {
      u.badStreak++;
      u.goodStreak = 0;
    }
    const before = u.health;
    if (u.health === 'unknown') {
      // First round decides, so start-up does not wait for a whole hysteresis window.
      u.health = result.ok ? 'up' : 'down';
    } else if (u.health === 'up' && u.badStreak >= probe.down) {
      u.health = 'down';
    } else if (u.health === 'down' && u.goodStreak >= probe.up && u.link.up) {
      u.health = 'up';
    }
    this.emit({
      ...this.base(u),
      type: 'available',
      up: result.up,
      down: result.down,
      rtt: result.rtt,
      loss: result.loss,
      ok: result.ok,
      health: u.health,
    });
    // After a round the verdict is always up or down.
    const after = u.health;
    if (before !== after) {
      this.emit({ ...this.base(u), type: 'health', health: after, cause: 'probe' });
    }
    this.evaluate();
  }

  // ---- links -----------------------------------------------------------------------------------

  private handleLink(state: LinkState): void {
    const u = this.uplinks.find((x) => x.config.iface === state.iface);
    if (!u || !this.running) return;
    const was = u.link;
    u.link = state;
    if (state.exists && (!was.exists || (state.up && !was.up))) {
      // Routes through a vanished or downed device are gone; put the pin (and active route) back.
      // A pending setup of this uplink adds the route itself when it completes.
      const reactivate = u === this.active && this.pending?.target !== u;
      void this.pin(u).then(() => {
        if (reactivate && u === this.active && this.running) return this.activateRoute(u).catch(() => undefined);
      });
    }
    if (u.config.targets.length === 0) {
      const health: UplinkHealth = state.up ? 'up' : 'down';
      if (health !== u.health) {
        u.health = health;
        this.emit({ ...this.base(u), type: 'health', health, cause: 'link' });
      }
    } else if (!state.up && was.up && u.health !== 'down') {
      // Carrier lost or device gone: no need to wait for probes to notice.
      u.health = 'down';
      u.goodStreak = 0;
      u.badStreak = u.config.probe.down;
      this.emit({ ...this.base(u), type: 'health', health: 'down', cause: 'link' });
    } else if (!state.up) {
      u.goodStreak = 0;
    }
    if (state.exists && !was.exists && u.config.targets.length > 0) {
      // A device that (re)appears, like a freshly dialled ppp0, is judged afresh by its first round.
      u.health = 'unknown';
      u.goodStreak = 0;
      u.badStreak = 0;
    }
    // Link back: probe straight away rather than at the next interval.
    if (state.up && !was.up && u.config.targets.length > 0) this.probeNow(u);
    this.evaluate();
  }

  // ---- decisions -------------------------------------------------------------------------------

  private usable(u: UplinkRuntime): boolean {
    if (!u.link.up) return false;
    return u.config.targets.length === 0 || u.health === 'up';
  }

  private dormant(u: UplinkRuntime): boolean {
    return !u.link.exists && this.clock.now() >= u.setupBackoffUntil;
  }

  /**
   * What the uplinks' states call for: `chosen`, the first usable uplink in priority order (it should
   * carry traffic now), and `candidate`, a dormant uplink of higher priority than `chosen` worth setting up
   * (dialling) meanwhile. `undefined`: no decision yet, a higher-priority uplink awaits its first verdict.
   */
  private plan(): { chosen: UplinkRuntime | null; candidate: UplinkRuntime | null } | undefined {
    const forced = this.forced;
    if (forced) {
      return forced.link.exists ? { chosen: forced, candidate: null } : { chosen: null, candidate: this.dormant(forced) ? forced : null };
    }
    let candidate: UplinkRuntime | null = null;
    for (const u of this.uplinks) {
      if (this.usable(u)) return { chosen: u, candidate };
      if (u.health === 'unknown' && u.link.exists) return undefined;
      // An uplink being set up stays the candidate while its interface appears but is not up yet.
      if (!candidate && (this.dormant(u) || this.pending?.target === u)) candidate = u;
    }
    return { chosen: null, candidate };
  }

  private kindOfMove(target: UplinkRuntime): SwitchKind {
    if (!this.active || this.active === target) return 'start';
    return target.index < this.active.index ? 'restore' : 'failover';
  }

  private evaluate(): void {
    if (!this.running || this.paused) return;
    if (this.switching) {
      this.evaluateAgain = true;
      return;
    }
    const plan = this.plan();
    if (plan === undefined) return;
    const { chosen, candidate } = plan;
    if (this.active && !this.usable(this.active) && this.active.lostAt === null) this.active.lostAt = this.clock.now();

    // A pending setup either completed (its uplink is now the one to use), is still wanted, or is dropped.
    const pending = this.pending;
    let alreadySetUp = false;
    if (pending && pending.target === chosen) {
      this.clock.clearTimeout(pending.timer);
      this.pending = null;
      alreadySetUp = true;
    } else if (pending && pending.target !== candidate) {
      this.cancelPending();
    }

    // The active uplink can be "chosen" again after a re-setup (its ppp0 vanished and came back).
    if (chosen && (chosen !== this.active || alreadySetUp)) {
      // setup (and the teardown of a dead old uplink) went out when a dormant uplink's wait began.
      this.runSwitch(this.finishMove(chosen, this.active, this.kindOfMove(chosen), !alreadySetUp));
      return;
    }
    if (candidate && !this.pending) this.beginSetup(candidate);
    if (!chosen && !candidate) {
      if (!this.noUplinkReported) {
        this.noUplinkReported = true;
        this.emit({ type: 'noUplink', time: this.clock.now(), active: this.activeUplink });
      }
    } else {
      this.noUplinkReported = false;
    }
  }

  /**
   * Runs a move; decisions asked for meanwhile are taken after it. A successful move is followed by one
   * more decision (a dormant uplink may now be worth dialling); a failed one waits for the next round or
   * link event, so a persistent failure cannot spin.
   */
  private runSwitch(work: Promise<boolean>): void {
    this.switching = work
      .then(
        (moved) => {
          if (moved) this.evaluateAgain = true;
        },
        (e: unknown) => this.logger.error(`switch failed: ${String(e)}`),
      )
      .finally(() => {
        this.switching = null;
        if (this.evaluateAgain) {
          this.evaluateAgain = false;
          this.evaluate();
        }
      });
  }

  /**
   * Asks for a dormant uplink to be brought up (power the modem, dial) and waits, bounded, for its
   * interface; the move happens in evaluate() once it is usable. A dead active uplink is torn down first,
   * as the original did; a working one keeps carrying traffic until the new one takes over.
   */
  private beginSetup(target: UplinkRuntime): void {
    const from = this.active;
    if (from && from !== target && !this.usable(from)) this.teardown(from);
    this.setup(target);
    const timeoutMs = target.config.setupTimeout * 1000;
    this.emit({ ...this.base(target), type: 'waiting', timeoutMs });
    this.pending = {
      target,
      startedAt: this.clock.now(),
      timer: this.clock.setTimeout(() => this.setupTimedOut(), timeoutMs),
    };
  }

  private cancelPending(): void {
    const p = this.pending;
    if (!p) return;
    this.clock.clearTimeout(p.timer);
    this.pending = null;
    this.teardown(p.target);
  }

  private setupTimedOut(): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    p.target.setupBackoffUntil = this.clock.now() + this.setupRetryMs;
    this.emit({ ...this.base(p.target), type: 'setupFailed', waitedMs: this.clock.now() - p.startedAt });
    this.teardown(p.target);
    if (this.retryTimer) this.clock.clearTimeout(this.retryTimer);
    // Nothing else may trigger a decision while everything is down: come back when the backoff ends.
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = null;
      this.evaluate();
    }, this.setupRetryMs + 1);
    this.evaluate();
  }

  /** The afterSwitch work, bounded: a hung helper tool must not hold the events back for long. */
  private async runAfterSwitch(from: UplinkRuntime | null, target: UplinkRuntime): Promise<void> {
    if (!this.afterSwitch) return;
    let timer: TimerHandle | null = null;
    const bound = new Promise<void>((resolve) => {
      timer = this.clock.setTimeout(() => {
        this.logger.warn(`work after the switch to ${target.config.name} took over ${this.afterSwitchMs} ms; sending its events now`);
        resolve();
      }, this.afterSwitchMs);
    });
    const work = this.afterSwitch(from?.config ?? null, target.config).catch((e: unknown) =>
      this.logger.error(`after the switch to ${target.config.name}: ${e instanceof Error ? e.message : String(e)}`),
    );
    await Promise.race([work, bound]);
    if (timer) this.clock.clearTimeout(timer);
  }

  private async activateRoute(target: UplinkRuntime): Promise<void> {
    await this.routes.activate(target.config);
  }

  /**
   * Puts the default route on target and emits the lifecycle in the original's order:
   * failover: teardown(old), setup(new), connectionFailed(old), connected(new);
   * restore: teardown(old), setup(new), connectionRestored(new).
   * `announceSetup` is false when teardown/setup were already emitted while the target was dormant.
   */
  private async finishMove(target: UplinkRuntime, previous: UplinkRuntime | null, kind: SwitchKind, announceSetup: boolean): Promise<boolean> {
    const from = previous === target ? null : previous;
    try {
      await this.activateRoute(target);
    } catch (e) {
      this.emit({ ...this.base(target), type: 'switchFailed', error: e instanceof Error ? e.message : String(e) });
      if (!announceSetup) this.teardown(target);
      return false;
    }
    await this.runAfterSwitch(from, target);
    const now = this.clock.now();
    if (from && from.lostAt === null && !this.usable(from)) from.lostAt = now;
    this.active = target;
    const fromUsable = from !== null && this.usable(from);
    if (announceSetup) {
      if (from) this.teardown(from);
      this.setup(target);
    } else if (from && fromUsable) {
      // The old uplink kept carrying traffic while the new one came up; release it now.
      this.teardown(from);
    }
    if (kind === 'restore') {
      this.emit({
        ...this.base(target),
        type: 'connectionRestored',
        from: from?.config.name ?? null,
        duration: target.lostAt === null ? null : now - target.lostAt,
      });
    } else {
      // A forced move away from a working uplink is not a failure of it.
      if (from && !fromUsable) this.emit({ ...this.base(from), type: 'connectionFailed', to: target.config.name });
      this.emit({ ...this.base(target), type: 'connected', from: from?.config.name ?? null });
    }
    target.lostAt = null;
    return true;
  }
}
