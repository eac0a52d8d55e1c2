/**
 * The failover engine's decisions as a pure function: `decide(state, input)` returns the next state and the
 * effects to run, in order. It does no I/O, reads no clock (the time comes with each input) and awaits
 * nothing: every slow step (a route change, a probe round, the work after a switch, reading the kernel's
 * route, pinning) is an effect whose outcome comes back as another input. engine.ts is the shell that runs
 * the effects; this file is where the state machine can be read, and tested from tables.
 *
 * Uplinks are in priority order (the first is the primary). Hysteresis: `down` bad rounds fail a healthy
 * uplink, `up` good rounds make a failed one trusted again; the first round after start decides at once.
 * An uplink whose interface does not exist yet (ppp0 before dialling) is "dormant": choosing it emits `setup`
 * and waits, bounded, for the interface before its route is added.
 */
import type { LinkState } from '../linkwatch/link-watch';
import { ProbeResult, allDown } from '../probes/probe';
import { probeCount, uplinkFamilies, type UplinkConfig } from '../uplink/model';
import { FailoverEvent, Reachability, SetupReason, UplinkHealth } from './events';
import { Quality, WindowSample, figures, judge, sampleOf, slide } from './quality';
import { roundIntervalMs } from './round-interval';

// ---- routes --------------------------------------------------------------------------------------

export interface KernelRoute {
  dev: string;
  gateway: string | null;
}

/** `default via GW dev DEV` (or `default dev DEV`), as ip prints it; `none` for no route. */
export function describeRoute(route: KernelRoute | null): string {
  if (!route) return 'none';
  return route.gateway ? `default via ${route.gateway} dev ${route.dev}` : `default dev ${route.dev}`;
}

/**
 * Whether the kernel's (IPv4) default route is the uplink's. Route keeping reads IPv4 only: an uplink that
 * carries no IPv4 has no route there to keep (its IPv6 default is set on each switch, not watched), so it
 * counts as on; otherwise every route change would "restore" it and report someone else's change.
 */
export function routeIsOn(route: KernelRoute | null, uplink: UplinkConfig): boolean {
  if (!uplinkFamilies(uplink).v4) return true;
  return route !== null && route.dev === uplink.iface && (uplink.gateway === null || route.gateway === uplink.gateway);
}

// ---- state ---------------------------------------------------------------------------------------

export interface DecisionSettings {
  /** After an uplink's setup timed out, wait this long before setting it up again (ms). */
  setupRetryMs: number;
  /** How long the active uplink must stay healthy after being suspect before early setups are released (ms). */
  prepareHoldMs: number;
  /** The route service can read the kernel's default route (not in dry run): the route is ours to keep. */
  keepsKernelRoute: boolean;
}

export interface UplinkState {
  readonly config: UplinkConfig;
  /** Whether its targets answer (after hysteresis); how well is `quality`. */
  health: Reachability;
  /** Judged over `window` while it answers; reset when it stops answering. */
  quality: Quality;
  window: WindowSample[];
  goodStreak: number;
  badStreak: number;
  link: LinkState;
  lastResult: ProbeResult | null;
  /** When its round timer fires; null: none set. */
  roundAt: number | null;
  /** When the next round is due on the grid; null re-anchors the grid at the next round. */
  nextRoundAt: number | null;
  /** A probe round in flight, and the grid time it counts from; null: none. */
  probing: { startedAt: number } | null;
  /** When it stopped carrying traffic because it failed (for the restored event's duration). */
  lostAt: number | null;
  /** Setup timed out: not a candidate again before this time. */
  setupBackoffUntil: number;
  /** Set up and not yet torn down: teardown is emitted once per setup. */
  engaged: boolean;
}

/** The setup a decision awaits: the uplink to move to once its interface is up. */
export interface PendingSetup {
  uplink: string;
  startedAt: number;
  /** When the wait runs out (its timer). */
  deadline: number;
}

/** An uplink set up ahead of need: engaged, carrying no traffic, not awaited by a decision. */
export interface PreparedSetup {
  uplink: string;
  reason: 'early' | 'standby';
  startedAt: number;
  /** When the bounded wait for its interface runs out; null once the interface is up. */
  deadline: number | null;
}

export type SwitchKind = 'start' | 'failover' | 'restore';

/** A move of the default route in progress: the route change, then the work after it, then the events. */
export interface SwitchInFlight {
  to: string;
  /** The active uplink when the move began (it may be `to` itself, after a re-setup). */
  previous: string | null;
  kind: SwitchKind;
  /** false when setup (and the old uplink's teardown) went out already, while the target was dormant. */
  announceSetup: boolean;
  step: 'activating' | 'afterSwitch';
}

/** A check of the kernel's default route after it changed: reading it, or putting it back. */
export type RouteCheck = { step: 'reading' } | { step: 'restoring'; uplink: string; found: KernelRoute | null };

/**
 * Where the engine is in its life. Start pins the present uplinks one at a time before the first round; stop
 * waits for work in flight (draining), leaves the default route (moving to the best uplink, or reading the
 * route and restoring it), then unpins the uplinks one at a time.
 */
export type Phase =
  | { name: 'stopped' }
  | { name: 'starting'; toPin: string[] }
  | { name: 'running' }
  | { name: 'stopping'; step: 'draining' | 'moving' | 'reading' }
  | { name: 'stopping'; step: 'restoring'; found: KernelRoute | null }
  | { name: 'stopping'; step: 'unpinning'; toUnpin: string[] };

export interface EngineState {
  readonly settings: DecisionSettings;
  phase: Phase;
  uplinks: UplinkState[];
  active: string | null;
  pending: PendingSetup | null;
  /** In the order they were set up (teardowns at release and stop go out in this order). */
  prepared: PreparedSetup[];
  forced: string | null;
  paused: boolean;
  noUplinkReported: boolean;
  /** When the timer that decides again after a setup backoff fires; null: none set. */
  retryAt: number | null;
  /** When early setups are released if the active uplink stays healthy until then; null: no hold running. */
  releaseAt: number | null;
  /** The kernel's default route as last seen; undefined before the first look or when it cannot be read. */
  kernelRoute: KernelRoute | null | undefined;
  switching: SwitchInFlight | null;
  /** A decision was asked for during a switch: take it when the switch is over. */
  evaluateAgain: boolean;
  routeCheck: RouteCheck | null;
  /** The route changed again during a check or a switch: check once more after it. */
  routeCheckAgain: boolean;
}

/** The state before start: uplinks without targets or checks count as down, the others await their first round. */
export function initialState(uplinks: readonly UplinkConfig[], links: readonly LinkState[], settings: DecisionSettings): EngineState {
  return {
    settings,
    phase: { name: 'stopped' },
    uplinks: uplinks.map((config, index) => ({
      config,
      health: probeCount(config) === 0 ? 'down' : 'unknown',
      quality: 'good',
      window: [],
      goodStreak: 0,
      badStreak: 0,
      link: links[index],
      lastResult: null,
      roundAt: null,
      nextRoundAt: null,
      probing: null,
      lostAt: null,
      setupBackoffUntil: 0,
      engaged: false,
    })),
    active: null,
    pending: null,
    prepared: [],
    forced: null,
    paused: false,
    noUplinkReported: false,
    retryAt: null,
    releaseAt: null,
    kernelRoute: undefined,
    switching: null,
    evaluateAgain: false,
    routeCheck: null,
    routeCheckAgain: false,
  };
}

/** Its link is up and (when it has targets or checks) its probes answer. */
export function reachable(u: UplinkState): boolean {
  if (!u.link.up) return false;
  return probeCount(u.config) === 0 || u.health === 'up';
}

/** Set to hand its traffic on: degraded, with onDegraded=failover. It stays a last resort. */
function avoided(u: UplinkState): boolean {
  return u.quality === 'degraded' && u.config.quality.onDegraded === 'failover';
}

/** Should carry traffic if it comes first: reachable and not avoided for its quality. */
export function usable(u: UplinkState): boolean {
  return reachable(u) && !avoided(u);
}

/** The health users see: `degraded` is an answering uplink over a quality threshold. */
export function reportedHealth(u: UplinkState): UplinkHealth {
  return u.health === 'up' && u.quality === 'degraded' ? 'degraded' : u.health;
}

// ---- inputs and effects --------------------------------------------------------------------------

export type TimerId =
  | { timer: 'round'; uplink: string }
  /** The bounded wait for the interface of an uplink set up ahead of need. */
  | { timer: 'prepared'; uplink: string }
  /** The bounded wait for the interface of the setup a decision awaits. */
  | { timer: 'pending' }
  /** A setup backoff is over: decide again (nothing else may trigger a decision while everything is down). */
  | { timer: 'retry' }
  /** The active uplink stayed healthy for the hold time: release early setups. */
  | { timer: 'release' };

/** One key per timer, for the shell's table of handles. */
export function timerKey(id: TimerId): string {
  return id.timer === 'round' || id.timer === 'prepared' ? `${id.timer}:${id.uplink}` : id.timer;
}

/** Why an uplink is pinned: at start (one after the other), or because its device (re)appeared or came up. */
export type PinReason = 'start' | 'relink' | 'relinkActive';
/** Why a default route is added: a switch, the active uplink's device came back, or someone else changed the route. */
export type ActivatePurpose = 'switch' | 'relink' | 'restore' | 'restoreAtStop';
export type RouteReadPurpose = 'check' | 'stop';

/** What happens to the engine: calls, link and route notices, timers, and the outcomes of its effects. Each carries the time. */
export type EngineInput = { now: number } & (
  | { type: 'start'; kernelRoute: KernelRoute | null | undefined; links: readonly LinkState[] }
  | { type: 'pinned'; uplink: string; reason: PinReason }
  | { type: 'stop' }
  | { type: 'unpinned'; uplink: string }
  | { type: 'link'; state: LinkState }
  | { type: 'timer'; id: TimerId }
  | { type: 'round'; uplink: string; result: ProbeResult }
  /** The outcome of an `activate` effect: error is null when the route is in place. */
  | { type: 'activated'; uplink: string; purpose: ActivatePurpose; error: string | null }
  /** The work after a switch is done (or ran out of time). */
  | { type: 'switched' }
  /** The main table's default route changed (by anyone). */
  | { type: 'routeChange' }
  /** The outcome of a `readRoute` effect; undefined when the route could not be read. */
  | { type: 'routeSeen'; purpose: RouteReadPurpose; route: KernelRoute | null | undefined }
  | { type: 'force'; uplink: string | null }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'recheck' }
);

/**
 * What the shell does, in order. Effects that "report" start slow work and feed its outcome back as the
 * named input; the shell never waits for them before running the next effect.
 */
export type EngineEffect =
  | { type: 'emit'; event: FailoverEvent }
  | { type: 'log'; level: 'warn' | 'error'; message: string }
  /** Replaces a timer of the same id. */
  | { type: 'setTimer'; id: TimerId; at: number }
  | { type: 'clearTimer'; id: TimerId }
  /** Runs a probe round (reports `round`). */
  | { type: 'probe'; uplink: string }
  /** Cuts short the round in flight (at stop); it still reports `round`. */
  | { type: 'abortProbe'; uplink: string }
  /** Reports `pinned` (a failure is logged and reported all the same). */
  | { type: 'pin'; uplink: string; reason: PinReason }
  /** Reports `unpinned` (a failure is logged). */
  | { type: 'unpin'; uplink: string }
  /** Puts the default route on the uplink (reports `activated`). */
  | { type: 'activate'; uplink: string; purpose: ActivatePurpose }
  /** The work that follows a route change before its events go out (reports `switched`). */
  | { type: 'afterSwitch'; from: string | null; to: string }
  /** Reads the kernel's default route (reports `routeSeen`). */
  | { type: 'readRoute'; purpose: RouteReadPurpose }
  /** The start() call is done: pins set, rounds scheduled, first decision taken. */
  | { type: 'started' }
  /** The stop() call is done: route left, setups torn down, pins removed. */
  | { type: 'stopped' };

export interface Decision {
  state: EngineState;
  effects: EngineEffect[];
}

/** The next state and the effects to run; `state` is left as it was. */
export function decide(state: EngineState, input: EngineInput): Decision {
  const step = new Step(cloneState(state), input.now);
  step.apply(input);
  return { state: step.state, effects: step.effects };
}

function cloneState(s: EngineState): EngineState {
  const phase = s.phase;
  return {
    ...s,
    phase:
      phase.name === 'starting'
        ? { ...phase, toPin: [...phase.toPin] }
        : phase.name === 'stopping' && phase.step === 'unpinning'
          ? { ...phase, toUnpin: [...phase.toUnpin] }
          : { ...phase },
    uplinks: s.uplinks.map((u) => ({ ...u })),
    pending: s.pending && { ...s.pending },
    prepared: s.prepared.map((p) => ({ ...p })),
    switching: s.switching && { ...s.switching },
    routeCheck: s.routeCheck && { ...s.routeCheck },
  };
}

// ---- the decisions -------------------------------------------------------------------------------

/** One decision: works on its own copy of the state and collects effects. */
class Step {
  readonly effects: EngineEffect[] = [];

  constructor(
    readonly state: EngineState,
    private readonly now: number,
  ) {}

  apply(input: EngineInput): void {
    const s = this.state;
    switch (input.type) {
      case 'start':
        this.start(input.kernelRoute, input.links);
        break;
      case 'pinned':
        this.pinned(input.uplink, input.reason);
        break;
      case 'stop':
        this.stop();
        break;
      case 'unpinned':
        this.unpinned(input.uplink);
        break;
      case 'link':
        this.link(input.state);
        break;
      case 'timer':
        this.timer(input.id);
        break;
      case 'round':
        this.roundDone(this.uplink(input.uplink), input.result);
        break;
      case 'activated':
        this.activated(this.uplink(input.uplink), input.purpose, input.error);
        break;
      case 'switched':
        this.switched();
        break;
      case 'routeChange':
        this.checkRoute();
        break;
      case 'routeSeen':
        this.routeSeen(input.purpose, input.route);
        break;
      case 'force':
        s.forced = input.uplink === null ? null : this.uplink(input.uplink).config.name;
        this.evaluate();
        break;
      case 'pause':
        s.paused = true;
        break;
      case 'resume':
        s.paused = false;
        this.evaluate();
        break;
      case 'recheck':
        for (const u of s.uplinks) if (probeCount(u.config) > 0) this.probeNow(u);
        break;
    }
    this.continueStop();
  }

  // ---- helpers -----------------------------------------------------------------------------------

  private get running(): boolean {
    return this.state.phase.name === 'starting' || this.state.phase.name === 'running';
  }

  private uplink(name: string): UplinkState {
    const u = this.state.uplinks.find((x) => x.config.name === name);
    if (!u) throw new Error(`unknown uplink "${name}"`);
    return u;
  }

  private named(name: string | null): UplinkState | null {
    return name === null ? null : this.uplink(name);
  }

  private get active(): UplinkState | null {
    return this.named(this.state.active);
  }

  private isPending(u: UplinkState): boolean {
    return this.state.pending?.uplink === u.config.name;
  }

  private preparedOf(u: UplinkState): PreparedSetup | undefined {
    return this.state.prepared.find((p) => p.uplink === u.config.name);
  }

  private dormant(u: UplinkState): boolean {
    return !u.link.exists && this.now >= u.setupBackoffUntil;
  }

  private emit(event: FailoverEvent): void {
    this.effects.push({ type: 'emit', event });
  }

  private base(u: UplinkState): { time: number; uplink: string; iface: string } {
    return { time: this.now, uplink: u.config.name, iface: u.config.iface };
  }

  private setTimer(id: TimerId, at: number): void {
    this.effects.push({ type: 'setTimer', id, at });
  }

  private clearTimer(id: TimerId): void {
    this.effects.push({ type: 'clearTimer', id });
  }

  // ---- start and stop ----------------------------------------------------------------------------

  private start(found: KernelRoute | null | undefined, links: readonly LinkState[]): void {
    const s = this.state;
    if (s.phase.name !== 'stopped') return;
    if (found !== undefined) s.kernelRoute = found;
    const toPin: string[] = [];
    for (const u of s.uplinks) {
      u.link = links.find((l) => l.iface === u.config.iface) ?? u.link;
      if (probeCount(u.config) === 0) u.health = u.link.up ? 'up' : 'down';
      // The kernel already routes through it (a restart, a redeploy): it keeps that trust until `down` bad rounds
      // say otherwise, so a restart during a short loss burst does not fail over. Only a missing or carrier-less
      // interface fails at once.
      else if (found && found.dev === u.config.iface && u.link.up) u.health = 'up';
      if (u.link.exists) toPin.push(u.config.name);
    }
    s.phase = { name: 'starting', toPin };
    this.pinNextOrBegin();
  }

  /** Pins the present uplinks one at a time; then the first rounds are scheduled and the first decision taken. */
  private pinNextOrBegin(): void {
    const s = this.state;
    if (s.phase.name !== 'starting') return;
    const next = s.phase.toPin[0];
    if (next !== undefined) {
      this.effects.push({ type: 'pin', uplink: next, reason: 'start' });
      return;
    }
    s.phase = { name: 'running' };
    for (const u of s.uplinks) if (probeCount(u.config) > 0) this.scheduleRound(u, this.now);
    this.evaluate();
    this.effects.push({ type: 'started' });
  }

  private pinned(name: string, reason: PinReason): void {
    const s = this.state;
    if (reason === 'start') {
      if (s.phase.name === 'starting' && s.phase.toPin[0] === name) s.phase.toPin = s.phase.toPin.slice(1);
      this.pinNextOrBegin();
    } else if (reason === 'relinkActive' && s.active === name && this.running) {
      this.effects.push({ type: 'activate', uplink: name, purpose: 'relink' });
    }
  }

  /** Stops probing at once; the rest waits until the rounds, the switch and the route check in flight are over. */
  private stop(): void {
    const s = this.state;
    if (!this.running) return;
    // A stop that overtakes start's pins still ends the start() call.
    if (s.phase.name === 'starting') this.effects.push({ type: 'started' });
    s.phase = { name: 'stopping', step: 'draining' };
    if (s.retryAt !== null) this.clearTimer({ timer: 'retry' });
    s.retryAt = null;
    if (s.releaseAt !== null) this.clearTimer({ timer: 'release' });
    s.releaseAt = null;
    for (const u of s.uplinks) {
      if (u.roundAt !== null) this.clearTimer({ timer: 'round', uplink: u.config.name });
      u.roundAt = null;
      if (u.probing) this.effects.push({ type: 'abortProbe', uplink: u.config.name });
    }
  }

  private continueStop(): void {
    const s = this.state;
    if (s.phase.name !== 'stopping' || s.phase.step !== 'draining') return;
    if (s.uplinks.some((u) => u.probing) || s.switching || s.routeCheck) return;
    this.leaveRoute();
  }

  /**
   * The default route at stop: on the best usable uplink once a decision was made. A stop before the first
   * verdict (or while a higher-priority uplink awaits its own) leaves the route as it was found, never on a
   * backup picked by default; a route someone else changed is put back.
   */
  private leaveRoute(): void {
    const s = this.state;
    if (s.pending) this.cancelPending();
    const active = this.active;
    if (!active) return this.finishStop();
    const bestIndex = s.uplinks.findIndex((u) => usable(u));
    const best = bestIndex >= 0 ? s.uplinks[bestIndex] : null;
    const undecided = best !== null && s.uplinks.slice(0, bestIndex).some((u) => u.health === 'unknown' && u.link.exists);
    if (best && best !== active && !undecided) {
      s.phase = { name: 'stopping', step: 'moving' };
      this.beginSwitch(best, active, this.kindOfMove(best), true);
      return;
    }
    if (!reachable(active) || !s.settings.keepsKernelRoute) return this.finishStop();
    s.phase = { name: 'stopping', step: 'reading' };
    this.effects.push({ type: 'readRoute', purpose: 'stop' });
  }

  private finishStop(): void {
    const s = this.state;
    for (const p of [...s.prepared]) this.teardown(this.uplink(p.uplink));
    s.phase = { name: 'stopping', step: 'unpinning', toUnpin: s.uplinks.map((u) => u.config.name) };
    this.unpinNextOrEnd();
  }

  private unpinNextOrEnd(): void {
    const s = this.state;
    if (s.phase.name !== 'stopping' || s.phase.step !== 'unpinning') return;
    const next = s.phase.toUnpin[0];
    if (next !== undefined) {
      this.effects.push({ type: 'unpin', uplink: next });
      return;
    }
    s.phase = { name: 'stopped' };
    this.effects.push({ type: 'stopped' });
  }

  private unpinned(name: string): void {
    const phase = this.state.phase;
    if (phase.name === 'stopping' && phase.step === 'unpinning' && phase.toUnpin[0] === name) phase.toUnpin = phase.toUnpin.slice(1);
    this.unpinNextOrEnd();
  }

  // ---- setup and teardown ------------------------------------------------------------------------

  private setup(u: UplinkState, reason?: SetupReason): void {
    u.engaged = true;
    this.emit({ ...this.base(u), type: 'setup', ...(reason ? { reason } : {}) });
  }

  /**
   * Emits teardown once per setup. A standby uplink stays set up while the engine runs, whichever uplink
   * carries traffic; `force` tears it down all the same (its setup failed, its interface vanished).
   */
  private teardown(u: UplinkState, options: { reason?: SetupReason; force?: boolean } = {}): void {
    if (!u.engaged) return;
    if (u.config.prepare === 'standby' && this.running && !options.force) return;
    u.engaged = false;
    this.dropPrepared(u);
    this.emit({ ...this.base(u), type: 'teardown', ...(options.reason ? { reason: options.reason } : {}) });
  }

  /** Sets an uplink up before it is needed; bounded like any setup. */
  private prepare(u: UplinkState, reason: 'early' | 'standby'): void {
    this.setup(u, reason);
    const deadline = this.now + u.config.setupTimeout * 1000;
    this.setTimer({ timer: 'prepared', uplink: u.config.name }, deadline);
    this.state.prepared.push({ uplink: u.config.name, reason, startedAt: this.now, deadline });
  }

  private dropPrepared(u: UplinkState): PreparedSetup | undefined {
    const entry = this.preparedOf(u);
    if (!entry) return undefined;
    if (entry.deadline !== null) this.clearTimer({ timer: 'prepared', uplink: u.config.name });
    this.state.prepared = this.state.prepared.filter((p) => p !== entry);
    return entry;
  }

  private preparedTimedOut(u: UplinkState): void {
    const entry = this.preparedOf(u);
    if (!entry) return;
    entry.deadline = null;
    if (u.link.up) return;
    this.setupFailed(u, entry.startedAt);
  }

  /**
   * The active uplink had a bad round but is not down yet: set up, ahead of need, the uplink that would take over
   * if it failed, when that one asks for it (prepare=early), so power-on and dialling overlap detection.
   */
  private prepareNext(): void {
    const s = this.state;
    if (s.releaseAt !== null) this.clearTimer({ timer: 'release' });
    s.releaseAt = null;
    for (const u of s.uplinks) {
      if (u.config.name === s.active) continue;
      // A working uplink would take over (or one still awaiting its first verdict may): nothing to prepare.
      if (usable(u) || (u.health === 'unknown' && u.link.exists)) return;
      if (this.dormant(u)) {
        if (u.config.prepare === 'early' && !u.engaged && !this.isPending(u)) this.prepare(u, 'early');
        return;
      }
    }
  }

  /** The active uplink is healthy again: release early setups once it has stayed so for the hold time. */
  private holdThenRelease(): void {
    const s = this.state;
    if (s.releaseAt !== null || !s.prepared.some((p) => p.reason === 'early')) return;
    s.releaseAt = this.now + s.settings.prepareHoldMs;
    this.setTimer({ timer: 'release' }, s.releaseAt);
  }

  private release(): void {
    this.state.releaseAt = null;
    for (const p of [...this.state.prepared]) if (p.reason === 'early') this.teardown(this.uplink(p.uplink), { reason: 'released' });
  }

  /** Standby uplinks are set up whenever they are not (at start, after their interface vanished or a setup failed). */
  private keepStandby(): void {
    for (const u of this.state.uplinks) {
      if (u.config.prepare === 'standby' && !u.engaged && u.config.name !== this.state.active && !this.isPending(u) && this.dormant(u)) {
        this.prepare(u, 'standby');
      }
    }
  }

  /**
   * Asks for a dormant uplink to be brought up (power the modem, dial) and waits, bounded, for its
   * interface; the move happens in evaluate() once it is usable. A dead active uplink is torn down first,
   * as the original did; a working one keeps carrying traffic until the new one takes over.
   */
  private beginSetup(target: UplinkState): void {
    const from = this.active;
    if (from && from !== target && !reachable(from)) this.teardown(from);
    // An uplink set up ahead of need is not set up twice; its wait counts from its own setup.
    const early = this.dropPrepared(target);
    if (!early) this.setup(target);
    const startedAt = early?.startedAt ?? this.now;
    const timeoutMs = Math.max(0, startedAt + target.config.setupTimeout * 1000 - this.now);
    this.emit({ ...this.base(target), type: 'waiting', timeoutMs });
    this.state.pending = { uplink: target.config.name, startedAt, deadline: this.now + timeoutMs };
    this.setTimer({ timer: 'pending' }, this.state.pending.deadline);
  }

  private cancelPending(): void {
    const p = this.state.pending;
    if (!p) return;
    this.clearTimer({ timer: 'pending' });
    this.state.pending = null;
    this.teardown(this.uplink(p.uplink));
  }

  private setupTimedOut(): void {
    const p = this.state.pending;
    if (!p) return;
    this.state.pending = null;
    this.setupFailed(this.uplink(p.uplink), p.startedAt);
  }

  /** A setup whose interface never came: report, tear down, and try again after the backoff. */
  private setupFailed(u: UplinkState, startedAt: number): void {
    const s = this.state;
    u.setupBackoffUntil = this.now + s.settings.setupRetryMs;
    this.emit({ ...this.base(u), type: 'setupFailed', waitedMs: this.now - startedAt });
    this.teardown(u, { force: true });
    // Nothing else may trigger a decision while everything is down: come back when the backoff ends. Not once
    // stopping (a setup can time out while stop waits for a round): that timer would outlive the engine.
    if (this.running) {
      s.retryAt = this.now + s.settings.setupRetryMs + 1;
      this.setTimer({ timer: 'retry' }, s.retryAt);
    }
    this.evaluate();
  }

  // ---- timers ------------------------------------------------------------------------------------

  private timer(id: TimerId): void {
    switch (id.timer) {
      case 'round': {
        const u = this.uplink(id.uplink);
        u.roundAt = null;
        this.startRound(u);
        break;
      }
      case 'prepared':
        this.preparedTimedOut(this.uplink(id.uplink));
        break;
      case 'pending':
        this.setupTimedOut();
        break;
      case 'retry':
        this.state.retryAt = null;
        this.evaluate();
        break;
      case 'release':
        this.release();
        break;
    }
  }

  // ---- probing -----------------------------------------------------------------------------------

  private scheduleRound(u: UplinkState, at: number): void {
    u.roundAt = Math.max(this.now, at);
    this.setTimer({ timer: 'round', uplink: u.config.name }, u.roundAt);
  }

  /** Starts a round now (unless one is running) and re-anchors the grid there. */
  private probeNow(u: UplinkState): void {
    if (u.probing || !this.running) return;
    u.nextRoundAt = null;
    this.scheduleRound(u, this.now);
  }

  private startRound(u: UplinkState): void {
    if (!this.running) return;
    // Rounds keep to a fixed grid (start + k x interval) so detection time does not drift with round overhead.
    const startedAt = u.nextRoundAt !== null && u.nextRoundAt <= this.now ? u.nextRoundAt : this.now;
    if (!u.link.exists) {
      this.finishRound(u, allDown(u.config), startedAt);
      return;
    }
    u.probing = { startedAt };
    this.effects.push({ type: 'probe', uplink: u.config.name });
  }

  private roundDone(u: UplinkState, result: ProbeResult): void {
    const startedAt = u.probing?.startedAt ?? this.now;
    u.probing = null;
    if (!this.running) return;
    this.finishRound(u, result, startedAt);
  }

  private finishRound(u: UplinkState, result: ProbeResult, startedAt: number): void {
    this.applyRound(u, result);
    const due = startedAt + roundIntervalMs(u.config, u.config.name === this.state.active);
    u.nextRoundAt = due > this.now ? due : null;
    this.scheduleRound(u, due);
  }

  private applyRound(u: UplinkState, result: ProbeResult): void {
    u.lastResult = result;
    const { probe } = u.config;
    if (result.ok) {
      u.goodStreak++;
      u.badStreak = 0;
    } else {
      u.badStreak++;
      u.goodStreak = 0;
    }
    // A cut the prober saw within the round counts as `down` bad rounds at once.
    if (result.cut && !result.ok) u.badStreak = Math.max(u.badStreak, probe.down);
    const before = u.health;
    if (u.health === 'unknown') {
      // First round decides, so start-up does not wait for a whole hysteresis window.
      u.health = result.ok ? 'up' : 'down';
    } else if (u.health === 'up' && u.badStreak >= probe.down) {
      u.health = 'down';
    } else if (u.health === 'down' && u.goodStreak >= probe.up && u.link.up) {
      u.health = 'up';
    }
    const qualityBefore = u.quality;
    const judged = this.judgeQuality(u, result);
    this.emit({
      ...this.base(u),
      type: 'available',
      up: result.up,
      down: result.down,
      rtt: result.rtt,
      loss: result.loss,
      ok: result.ok,
      health: reportedHealth(u),
      window: figures(u.window, u.config.quality),
    });
    // After a round the verdict is always up or down.
    const after = u.health;
    if (before !== after) this.emit({ ...this.base(u), type: 'health', health: after, cause: 'probe' });
    else if (u.quality !== qualityBefore) {
      this.emit({
        ...this.base(u),
        type: 'health',
        health: after === 'up' && u.quality === 'degraded' ? 'degraded' : after,
        cause: judged ?? 'quality',
        window: figures(u.window, u.config.quality),
      });
    }
    if (u.config.name === this.state.active && !this.state.paused) {
      if (!result.ok && u.health === 'up') this.prepareNext();
      else if (result.ok) this.holdThenRelease();
    }
    this.evaluate();
  }

  /**
   * Slides the quality window over the round and judges it; returns what made the uplink degraded, if that
   * happened now. Only an answering uplink has a quality: one that stops answering starts afresh when back.
   */
  private judgeQuality(u: UplinkState, result: ProbeResult): 'latency' | 'loss' | null {
    if (u.health !== 'up') {
      u.window = [];
      u.quality = 'good';
      return null;
    }
    u.window = slide(u.window, sampleOf(result, this.now), u.config.quality);
    // A bad round is the reachability hysteresis' business: a cut is `down` after `down` rounds, not first
    // `degraded` for the loss of its first bad rounds. Quality changes on rounds that were answered.
    if (!result.ok) return null;
    const verdict = judge(u.quality, u.window, u.config.quality);
    u.quality = verdict.quality;
    return verdict.cause;
  }

  // ---- links -------------------------------------------------------------------------------------

  private link(state: LinkState): void {
    const s = this.state;
    const u = s.uplinks.find((x) => x.config.iface === state.iface);
    if (!u || !this.running) return;
    const was = u.link;
    u.link = state;
    if (state.exists && (!was.exists || (state.up && !was.up))) {
      // Routes through a vanished or downed device are gone; put the pin (and active route) back.
      // A pending setup of this uplink adds the route itself when it completes.
      const reactivate = u.config.name === s.active && !this.isPending(u);
      this.effects.push({ type: 'pin', uplink: u.config.name, reason: reactivate ? 'relinkActive' : 'relink' });
    }
    if (probeCount(u.config) === 0) {
      const health: Reachability = state.up ? 'up' : 'down';
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
    const prepared = this.preparedOf(u);
    if (prepared && prepared.deadline !== null && state.up) {
      this.clearTimer({ timer: 'prepared', uplink: u.config.name });
      prepared.deadline = null;
    }
    // A standby modem that dropped while another uplink carries traffic is set up again (keepStandby).
    if (u.config.prepare === 'standby' && was.exists && !state.exists && u.config.name !== s.active && !this.isPending(u)) {
      this.teardown(u, { force: true });
    }
    if (state.exists && !was.exists && probeCount(u.config) > 0) {
      // A device that (re)appears, like a freshly dialled ppp0, is judged afresh by its first round.
      u.health = 'unknown';
      u.goodStreak = 0;
      u.badStreak = 0;
    }
    // Link back: probe straight away rather than at the next interval.
    if (state.up && !was.up && probeCount(u.config) > 0) this.probeNow(u);
    this.evaluate();
  }

  // ---- decisions ---------------------------------------------------------------------------------

  /**
   * What the uplinks' states call for: `chosen`, the first usable uplink in priority order (it should
   * carry traffic now), and `candidate`, a dormant uplink of higher priority than `chosen` worth setting up
   * (dialling) meanwhile. `undefined`: no decision yet, a higher-priority uplink awaits its first verdict.
   */
  private plan(): { chosen: UplinkState | null; candidate: UplinkState | null } | undefined {
    const forced = this.named(this.state.forced);
    if (forced) {
      return forced.link.exists ? { chosen: forced, candidate: null } : { chosen: null, candidate: this.dormant(forced) ? forced : null };
    }
    let candidate: UplinkState | null = null;
    for (const u of this.state.uplinks) {
      if (usable(u)) return { chosen: u, candidate };
      if (u.health === 'unknown' && u.link.exists) return undefined;
      // An uplink being set up stays the candidate while its interface appears but is not up yet.
      if (!candidate && (this.dormant(u) || this.isPending(u) || this.preparedOf(u))) candidate = u;
    }
    // Nothing better: a degraded uplink still beats none.
    return { chosen: this.state.uplinks.find(reachable) ?? null, candidate };
  }

  private kindOfMove(target: UplinkState): SwitchKind {
    const active = this.active;
    if (!active || active === target) return 'start';
    return this.state.uplinks.indexOf(target) < this.state.uplinks.indexOf(active) ? 'restore' : 'failover';
  }

  private evaluate(): void {
    const s = this.state;
    if (!this.running || s.paused) return;
    if (s.switching) {
      s.evaluateAgain = true;
      return;
    }
    this.keepStandby();
    const plan = this.plan();
    if (plan === undefined) return;
    const { chosen, candidate } = plan;
    const active = this.active;
    if (active && !usable(active) && active.lostAt === null) active.lostAt = this.now;

    // A pending setup either completed (its uplink is now the one to use), is still wanted, or is dropped.
    const pending = s.pending;
    let alreadySetUp = false;
    if (pending && chosen && pending.uplink === chosen.config.name) {
      this.clearTimer({ timer: 'pending' });
      s.pending = null;
      alreadySetUp = true;
    } else if (chosen && chosen !== active && this.dropPrepared(chosen)) {
      // Set up ahead of need: it takes over without a second setup.
      alreadySetUp = true;
    } else if (pending && pending.uplink !== candidate?.config.name) {
      this.cancelPending();
    }

    // The active uplink can be "chosen" again after a re-setup (its ppp0 vanished and came back).
    if (chosen && (chosen !== active || alreadySetUp)) {
      // setup (and the teardown of a dead old uplink) went out when a dormant uplink's wait began.
      this.beginSwitch(chosen, active, this.kindOfMove(chosen), !alreadySetUp);
      return;
    }
    if (candidate && !s.pending) this.beginSetup(candidate);
    if (!chosen && !candidate) {
      if (!s.noUplinkReported) {
        s.noUplinkReported = true;
        this.emit({ type: 'noUplink', time: this.now, active: s.active });
      }
    } else {
      s.noUplinkReported = false;
    }
  }

  // ---- switching ---------------------------------------------------------------------------------

  /**
   * Moves the default route: the route change, then the work after it, then (in switched()) the events.
   * Decisions asked for meanwhile are taken after it.
   */
  private beginSwitch(target: UplinkState, previous: UplinkState | null, kind: SwitchKind, announceSetup: boolean): void {
    this.state.switching = { to: target.config.name, previous: previous?.config.name ?? null, kind, announceSetup, step: 'activating' };
    this.effects.push({ type: 'activate', uplink: target.config.name, purpose: 'switch' });
  }

  private activated(u: UplinkState, purpose: ActivatePurpose, error: string | null): void {
    const s = this.state;
    if (error === null && s.settings.keepsKernelRoute) s.kernelRoute = { dev: u.config.iface, gateway: u.config.gateway };
    switch (purpose) {
      case 'switch':
        this.switchActivated(u, error);
        break;
      case 'relink':
        // Best effort: the next link event or route check tries again.
        break;
      case 'restore':
        if (s.routeCheck?.step === 'restoring') {
          this.routeRestored(u, s.routeCheck.found, error);
          this.routeCheckDone();
        }
        break;
      case 'restoreAtStop':
        if (s.phase.name === 'stopping' && s.phase.step === 'restoring') {
          this.routeRestored(u, s.phase.found, error);
          this.finishStop();
        }
        break;
    }
  }

  private switchActivated(target: UplinkState, error: string | null): void {
    const sw = this.state.switching;
    if (!sw || sw.to !== target.config.name || sw.step !== 'activating') return;
    if (error !== null) {
      this.emit({ ...this.base(target), type: 'switchFailed', error });
      if (!sw.announceSetup) this.teardown(target);
      this.switchDone(false);
      return;
    }
    sw.step = 'afterSwitch';
    this.effects.push({ type: 'afterSwitch', from: sw.previous === sw.to ? null : sw.previous, to: sw.to });
  }

  /**
   * The route is on the target and the work after it is done: emit the lifecycle in the original's order:
   * failover: teardown(old), setup(new), connectionFailed(old), connected(new);
   * restore: teardown(old), setup(new), connectionRestored(new).
   */
  private switched(): void {
    const s = this.state;
    const sw = s.switching;
    if (!sw || sw.step !== 'afterSwitch') return;
    const target = this.uplink(sw.to);
    const from = sw.previous === sw.to ? null : this.named(sw.previous);
    if (from && from.lostAt === null && !usable(from)) from.lostAt = this.now;
    s.active = target.config.name;
    const fromUsable = from !== null && usable(from);
    if (sw.announceSetup) {
      if (from) this.teardown(from);
      this.setup(target);
    } else if (from) {
      // Released now if it kept carrying traffic while the new one came up, or if the new one was set up early
      // (otherwise its teardown went out when the wait began, and this does nothing).
      this.teardown(from);
    }
    if (sw.kind === 'restore') {
      this.emit({
        ...this.base(target),
        type: 'connectionRestored',
        from: from?.config.name ?? null,
        duration: target.lostAt === null ? null : this.now - target.lostAt,
      });
    } else {
      // A forced move away from a working uplink is not a failure of it.
      if (from && !fromUsable) this.emit({ ...this.base(from), type: 'connectionFailed', to: target.config.name });
      this.emit({ ...this.base(target), type: 'connected', from: from?.config.name ?? null });
    }
    target.lostAt = null;
    // A metered uplink leaves its idle rate at once when it starts carrying traffic.
    if (target.config.metered && sw.previous !== sw.to) this.probeNow(target);
    this.switchDone(true);
  }

  /**
   * A successful move is followed by one more decision (a dormant uplink may now be worth dialling); a failed
   * one waits for the next round or link event, so a persistent failure cannot spin.
   */
  private switchDone(moved: boolean): void {
    const s = this.state;
    s.switching = null;
    if (s.phase.name === 'stopping' && s.phase.step === 'moving') {
      this.finishStop();
      return;
    }
    if (moved) s.evaluateAgain = true;
    if (s.routeCheckAgain) this.checkRoute();
    if (s.evaluateAgain) {
      s.evaluateAgain = false;
      this.evaluate();
    }
  }

  // ---- keeping the route -------------------------------------------------------------------------

  /** The main table's default route changed (any cause): one check at a time, the latest change always seen. */
  private checkRoute(): void {
    const s = this.state;
    if (!this.running || !s.settings.keepsKernelRoute) return;
    if (s.routeCheck || s.switching) {
      s.routeCheckAgain = true;
      return;
    }
    s.routeCheckAgain = false;
    s.routeCheck = { step: 'reading' };
    this.effects.push({ type: 'readRoute', purpose: 'check' });
  }

  private routeSeen(purpose: RouteReadPurpose, found: KernelRoute | null | undefined): void {
    const s = this.state;
    if (found !== undefined) s.kernelRoute = found;
    if (purpose === 'stop') {
      const active = this.active;
      if (s.phase.name !== 'stopping' || s.phase.step !== 'reading') return;
      if (found !== undefined && active && !routeIsOn(found, active.config)) {
        s.phase = { name: 'stopping', step: 'restoring', found };
        this.effects.push({ type: 'activate', uplink: active.config.name, purpose: 'restoreAtStop' });
      } else {
        this.finishStop();
      }
      return;
    }
    if (s.routeCheck?.step !== 'reading') return;
    const active = this.active;
    // A switch, a setup or a dead active uplink is the engine's own business; pause leaves routes to the admin.
    if (found === undefined || !this.running || !active || s.switching || s.paused || !reachable(active) || this.isPending(active) || routeIsOn(found, active.config)) {
      this.routeCheckDone();
      return;
    }
    s.routeCheck = { step: 'restoring', uplink: active.config.name, found };
    this.effects.push({ type: 'activate', uplink: active.config.name, purpose: 'restore' });
  }

  /** Someone else changed the default route: it was put back on the active uplink (or not); say what was found. */
  private routeRestored(active: UplinkState, found: KernelRoute | null, error: string | null): void {
    if (error !== null) this.effects.push({ type: 'log', level: 'error', message: `could not put the default route back on ${active.config.name}: ${error}` });
    this.emit({
      ...this.base(active),
      type: 'routeChanged',
      found: found === null ? null : describeRoute(found),
      expected: describeRoute({ dev: active.config.iface, gateway: active.config.gateway }),
      restored: error === null,
    });
  }

  private routeCheckDone(): void {
    this.state.routeCheck = null;
    if (this.state.routeCheckAgain) this.checkRoute();
  }
}
