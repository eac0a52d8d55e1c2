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
import { FailoverEvent, SetupReason, UplinkHealth } from './events';
import { errorMessage } from '../errors';
import { LinkSource, LinkState } from '../linkwatch/link-watch';
import { Logger, silentLogger } from '../log/logger';
import { Probe, ProbeResult, allDown } from '../probes/probe';
import { UplinkConfig } from '../uplink/model';

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

export interface KernelRoute {
  dev: string;
  gateway: string | null;
}

/** `default via GW dev DEV` (or `default dev DEV`), as ip prints it; `none` for no route. */
export function describeRoute(route: KernelRoute | null): string {
  if (!route) return 'none';
  return route.gateway ? `default via ${route.gateway} dev ${route.dev}` : `default dev ${route.dev}`;
}

function routeIsOn(route: KernelRoute | null, uplink: UplinkConfig): boolean {
  return route !== null && route.dev === uplink.iface && (uplink.gateway === null || route.gateway === uplink.gateway);
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

type SwitchKind = 'start' | 'failover' | 'restore';

interface PendingSetup {
  target: UplinkRuntime;
  startedAt: number;
  timer: TimerHandle;
}

/** An uplink set up ahead of need: engaged, carrying no traffic, not awaited by a decision. */
interface PreparedSetup {
  reason: 'early' | 'standby';
  startedAt: number;
  /** The bounded wait for its interface (null once it is up). */
  timer: TimerHandle | null;
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
  /** The kernel's default route as last seen (`default via ... dev ...`, `none`); null before the first look or in dry run. */
  route: string | null;
  /** Uplinks set up ahead of need (prepare early or standby). */
  prepared: string[];
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
  private readonly prepareHoldMs: number;
  private readonly prepared = new Map<UplinkRuntime, PreparedSetup>();
  /** Releases early setups once the active uplink has stayed healthy for prepareHoldMs. */
  private releaseTimer: TimerHandle | null = null;
  private kernelRoute: KernelRoute | null | undefined = undefined;
  private routeCheck: Promise<void> | null = null;
  private routeCheckAgain = false;
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
  private readonly onRoute = (): void => this.checkRoute();

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
    this.prepareHoldMs = options.prepareHoldMs ?? 120_000;
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
      route: this.kernelRoute === undefined ? null : describeRoute(this.kernelRoute),
      prepared: [...this.prepared.keys()].map((u) => u.config.name),
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
    this.links.on('route', this.onRoute);
    const found = await this.readKernelRoute();
    for (const u of this.uplinks) {
      u.link = this.links.state(u.config.iface);
      if (u.config.targets.length === 0) u.health = u.link.up ? 'up' : 'down';
      // The kernel already routes through it (a restart, a redeploy): it keeps that trust until `down` bad rounds
      // say otherwise, so a restart during a short loss burst does not fail over. Only a missing or carrier-less
      // interface fails at once.
      else if (found && found.dev === u.config.iface && u.link.up) u.health = 'up';
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
    this.links.off('route', this.onRoute);
    if (this.retryTimer) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.releaseTimer) this.clock.clearTimeout(this.releaseTimer);
    this.releaseTimer = null;
    for (const u of this.uplinks) {
      if (u.roundTimer) this.clock.clearTimeout(u.roundTimer);
      u.roundTimer = null;
      u.abort?.abort();
    }
    await Promise.all(this.uplinks.map((u) => u.round ?? Promise.resolve()));
    if (this.switching) await this.switching;
    if (this.routeCheck) await this.routeCheck;
    if (this.pending) this.cancelPending();
    await this.leaveRoute();
    for (const u of [...this.prepared.keys()]) this.teardown(u);
    for (const u of this.uplinks) await this.routes.unpin(u.config).catch((e: unknown) => this.logger.error(String(e)));
  }

  /**
   * The default route at stop: on the best usable uplink once a decision was made. A stop before the first
   * verdict (or while a higher-priority uplink awaits its own) leaves the route as it was found, never on a
   * backup picked by default; a route someone else changed is put back.
   */
  private async leaveRoute(): Promise<void> {
    const active = this.active;
    if (!active) return;
    const best = this.uplinks.find((u) => this.usable(u)) ?? null;
    const undecided = best !== null && this.uplinks.slice(0, best.index).some((u) => u.health === 'unknown' && u.link.exists);
    if (best && best !== active && !undecided) {
      await this.finishMove(best, active, this.kindOfMove(best), true);
      return;
    }
    if (!this.usable(active) || !this.routes.readDefault) return;
    const found = await this.readKernelRoute();
    if (found !== undefined && !routeIsOn(found, active.config)) await this.restoreRoute(active, found);
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

  private setup(u: UplinkRuntime, reason?: SetupReason): void {
    u.engaged = true;
    this.emit({ ...this.base(u), type: 'setup', ...(reason ? { reason } : {}) });
  }

  /**
   * Emits teardown once per setup. A standby uplink stays set up while the engine runs, whichever uplink
   * carries traffic; `force` tears it down all the same (its setup failed, its interface vanished).
   */
  private teardown(u: UplinkRuntime, options: { reason?: SetupReason; force?: boolean } = {}): void {
    if (!u.engaged) return;
    if (u.config.prepare === 'standby' && this.running && !options.force) return;
    u.engaged = false;
    this.dropPrepared(u);
    this.emit({ ...this.base(u), type: 'teardown', ...(options.reason ? { reason: options.reason } : {}) });
  }

  // ---- setting up ahead of need ------------------------------------------------------------------

  /** Sets an uplink up before it is needed; bounded like any setup. */
  private prepare(u: UplinkRuntime, reason: 'early' | 'standby'): void {
    this.setup(u, reason);
    const entry: PreparedSetup = { reason, startedAt: this.clock.now(), timer: null };
    entry.timer = this.clock.setTimeout(() => this.preparedTimedOut(u), u.config.setupTimeout * 1000);
    this.prepared.set(u, entry);
  }

  private dropPrepared(u: UplinkRuntime): PreparedSetup | undefined {
    const entry = this.prepared.get(u);
    if (!entry) return undefined;
    if (entry.timer) this.clock.clearTimeout(entry.timer);
    this.prepared.delete(u);
    return entry;
  }

  private preparedTimedOut(u: UplinkRuntime): void {
    const entry = this.prepared.get(u);
    if (!entry) return;
    entry.timer = null;
    if (u.link.up) return;
    this.setupFailed(u, entry.startedAt);
  }

  /**
   * The active uplink had a bad round but is not down yet: set up, ahead of need, the uplink that would take over
   * if it failed, when that one asks for it (prepare=early), so power-on and dialling overlap detection.
   */
  private prepareNext(): void {
    if (this.releaseTimer) this.clock.clearTimeout(this.releaseTimer);
    this.releaseTimer = null;
    for (const u of this.uplinks) {
      if (u === this.active) continue;
      // A working uplink would take over (or one still awaiting its first verdict may): nothing to prepare.
      if (this.usable(u) || (u.health === 'unknown' && u.link.exists)) return;
      if (this.dormant(u)) {
        if (u.config.prepare === 'early' && !u.engaged && this.pending?.target !== u) this.prepare(u, 'early');
        return;
      }
    }
  }

  /** The active uplink is healthy again: release early setups once it has stayed so for the hold time. */
  private holdThenRelease(): void {
    if (this.releaseTimer || ![...this.prepared.values()].some((p) => p.reason === 'early')) return;
    this.releaseTimer = this.clock.setTimeout(() => {
      this.releaseTimer = null;
      for (const [u, p] of [...this.prepared]) if (p.reason === 'early') this.teardown(u, { reason: 'released' });
    }, this.prepareHoldMs);
  }

  /** Standby uplinks are set up whenever they are not (at start, after their interface vanished or a setup failed). */
  private keepStandby(): void {
    for (const u of this.uplinks) {
      if (u.config.prepare === 'standby' && !u.engaged && u !== this.active && this.pending?.target !== u && this.dormant(u)) {
        this.prepare(u, 'standby');
      }
    }
  }

  private async pin(u: UplinkRuntime): Promise<void> {
    try {
      await this.routes.pin(u.config);
    } catch (e) {
      this.logger.error(`could not pin probes of ${u.config.name} to ${u.config.iface}: ${errorMessage(e)}`);
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
    if (u === this.active && !this.paused) {
      if (!result.ok && u.health === 'up') this.prepareNext();
      else if (result.ok) this.holdThenRelease();
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
    const prepared = this.prepared.get(u);
    if (prepared?.timer && state.up) {
      this.clock.clearTimeout(prepared.timer);
      prepared.timer = null;
    }
    // A standby modem that dropped while another uplink carries traffic is set up again (keepStandby).
    if (u.config.prepare === 'standby' && was.exists && !state.exists && u !== this.active && this.pending?.target !== u) {
      this.teardown(u, { force: true });
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
      if (!candidate && (this.dormant(u) || this.pending?.target === u || this.prepared.has(u))) candidate = u;
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
    this.keepStandby();
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
    } else if (chosen && chosen !== this.active && this.dropPrepared(chosen)) {
      // Set up ahead of need: it takes over without a second setup.
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
        if (this.routeCheckAgain) this.checkRoute();
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
    // An uplink set up ahead of need is not set up twice; its wait counts from its own setup.
    const early = this.dropPrepared(target);
    if (!early) this.setup(target);
    const startedAt = early?.startedAt ?? this.clock.now();
    const timeoutMs = Math.max(0, startedAt + target.config.setupTimeout * 1000 - this.clock.now());
    this.emit({ ...this.base(target), type: 'waiting', timeoutMs });
    this.pending = {
      target,
      startedAt,
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
    this.setupFailed(p.target, p.startedAt);
  }

  /** A setup whose interface never came: report, tear down, and try again after the backoff. */
  private setupFailed(u: UplinkRuntime, startedAt: number): void {
    u.setupBackoffUntil = this.clock.now() + this.setupRetryMs;
    this.emit({ ...this.base(u), type: 'setupFailed', waitedMs: this.clock.now() - startedAt });
    this.teardown(u, { force: true });
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
      this.logger.error(`after the switch to ${target.config.name}: ${errorMessage(e)}`),
    );
    await Promise.race([work, bound]);
    if (timer) this.clock.clearTimeout(timer);
  }

  private async activateRoute(target: UplinkRuntime): Promise<void> {
    await this.routes.activate(target.config);
    if (this.routes.readDefault) this.kernelRoute = { dev: target.config.iface, gateway: target.config.gateway };
  }

  // ---- keeping the route -----------------------------------------------------------------------

  /** The kernel's default route; undefined when it cannot be read (dry run, or the read failed). */
  private async readKernelRoute(): Promise<KernelRoute | null | undefined> {
    if (!this.routes.readDefault) return undefined;
    try {
      this.kernelRoute = await this.routes.readDefault();
      return this.kernelRoute;
    } catch (e) {
      this.logger.warn(`could not read the default route: ${errorMessage(e)}`);
      return undefined;
    }
  }

  /** The main table's default route changed (any cause): one check at a time, the latest change always seen. */
  private checkRoute(): void {
    if (!this.running || !this.routes.readDefault) return;
    if (this.routeCheck || this.switching) {
      this.routeCheckAgain = true;
      return;
    }
    this.routeCheckAgain = false;
    this.routeCheck = this.compareRoute().finally(() => {
      this.routeCheck = null;
      if (this.routeCheckAgain) this.checkRoute();
    });
  }

  private async compareRoute(): Promise<void> {
    const found = await this.readKernelRoute();
    const active = this.active;
    // A switch, a setup or a dead active uplink is the engine's own business; pause leaves routes to the admin.
    if (found === undefined || !this.running || !active || this.switching || this.paused || !this.usable(active)) return;
    if (this.pending?.target === active || routeIsOn(found, active.config)) return;
    await this.restoreRoute(active, found);
  }

  /** Someone else changed the default route: put it back on the active uplink and say what was found. */
  private async restoreRoute(active: UplinkRuntime, found: KernelRoute | null): Promise<void> {
    let restored = false;
    try {
      await this.activateRoute(active);
      restored = true;
    } catch (e) {
      this.logger.error(`could not put the default route back on ${active.config.name}: ${errorMessage(e)}`);
    }
    this.emit({
      ...this.base(active),
      type: 'routeChanged',
      found: found === null ? null : describeRoute(found),
      expected: describeRoute({ dev: active.config.iface, gateway: active.config.gateway }),
      restored,
    });
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
      this.emit({ ...this.base(target), type: 'switchFailed', error: errorMessage(e) });
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
    } else if (from) {
      // Released now if it kept carrying traffic while the new one came up, or if the new one was set up early
      // (otherwise its teardown went out when the wait began, and this does nothing).
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
