/**
 * ICMP echo probing without a process per echo: one long-lived `fping -l` (fping 5.x, Debian package
 * `fping`) per uplink, bound to the uplink's interface with `-I` (like `ping -I`, so the route service's
 * pins keep it on that uplink), printing one line per echo. fping tells its replies from other programs'
 * pings by its own ICMP identifier and sequence numbers.
 *
 * The child starts at the first round of an uplink and is kept across rounds; it is replaced when the
 * uplink's interface, targets or probe settings change, restarted (with a growing pause) when it exits or
 * falls silent, and stopped when the uplink has not been probed for a few intervals (the engine does not
 * probe an absent interface). close() stops every child and resolves once they have exited.
 *
 * Rounds: a round takes every outcome since the previous round ended (so each echo counts in exactly one
 * round and the loss figures are not biased by when rounds end) and those that follow, until every target
 * has a reply or has used up its `retries + 1` chances, or until a deadline just inside the interval. A
 * target without any outcome in the round keeps its most recent state.
 *
 * Profiles:
 * - standard: each target gets an echo every interval / (retries + 1), each waited for `timeout`.
 * - fast: about 40 echoes a second across the targets (each at most every 50 ms), waited for at most 0.3 s;
 *   a round stays open to its deadline and ends at once with `cut` when a run of losses across all targets
 *   with no reply for long enough says the uplink is cut (see cutRunLength).
 */
import { Logger, silentLogger } from '../log/logger';
import { ManagedChild } from '../process/command';
import { UplinkConfig } from '../uplink/model';
import { EchoOutcome, parseFpingLine } from './fping-output';
import { IcmpProbe } from './icmp';
import { Probe, ProbeResult, TargetResult, summarise } from './probe';

/** Fast profile: echoes a second across all targets, the shortest period per target, the longest wait for a reply. */
export const FAST_ECHOES_PER_SECOND = 40;
export const FAST_MIN_PERIOD_MS = 50;
export const FAST_MAX_TIMEOUT_MS = 300;
/** fping reuses an echo's sequence number after 10 s: a longer wait could take another echo's reply. */
const MAX_TIMEOUT_MS = 10_000;
/** fping's smallest period per target for a user that is not root. */
const MIN_PERIOD_MS = 10;

/** What a fast uplink must survive without a false cut: this loss rate, for this long, but with this chance. */
const SAFE_LOSS = 0.4;
const SAFE_SECONDS = 600;
const FALSE_CUT_CHANCE = 0.01;

/**
 * How many losses in a row (with no reply between them, across all targets) make a cut, at this echo rate.
 * With random loss p, a run of N losses starts at a given echo with chance (1 - p) p^N (a reply, then N
 * losses); R echoes a second give R x 600 such starts in 10 minutes, so a false cut in 10 minutes has a
 * chance below R x 600 x (1 - p) x p^N. N is the smallest run that keeps it under 1 % at p = 0.4: at 40
 * echoes/s that is 16 (0.6 %; at 20 % loss 1e-7), 0.4 s of echoes, so a cut is seen about 0.4 s + the
 * 0.3 s wait for the last reply after it happens. One target (20 echoes/s at most) needs 15 losses, 0.75 s.
 */
export function cutRunLength(echoesPerSecond: number): number {
  const starts = echoesPerSecond * SAFE_SECONDS * (1 - SAFE_LOSS);
  return Math.max(1, Math.ceil(Math.log(FALSE_CUT_CHANCE / starts) / Math.log(SAFE_LOSS)));
}

/** How one uplink is probed; a change of `key` replaces its fping. */
export interface FpingPlan {
  key: string;
  args: string[];
  targets: string[];
  periodMs: number;
  timeoutMs: number;
  intervalMs: number;
  /** Chances per target per round (standard); a target with this many losses and no reply is settled. */
  chances: number;
  /** Fast profile: the run of losses and the silence (ms since the last reply) that make a cut. */
  cut: { run: number; silenceMs: number } | null;
}

export function fpingPlan(uplink: UplinkConfig): FpingPlan {
  const { probe } = uplink;
  const targets = [...new Set(uplink.targets)];
  const intervalMs = probe.interval * 1000;
  let periodMs: number;
  let timeoutMs = Math.min(probe.timeout * 1000, MAX_TIMEOUT_MS);
  let cut: FpingPlan['cut'] = null;
  if (probe.profile === 'fast') {
    periodMs = Math.max(FAST_MIN_PERIOD_MS, (targets.length * 1000) / FAST_ECHOES_PER_SECOND);
    timeoutMs = Math.min(timeoutMs, FAST_MAX_TIMEOUT_MS);
    // fping 5.1 keeps 1 + timeout/period echoes in flight per target: a whole number of periods leaves the
    // most room for an echo sent late.
    if (timeoutMs > periodMs) timeoutMs = Math.floor(timeoutMs / periodMs) * periodMs;
    const rate = (targets.length * 1000) / periodMs;
    const run = Math.max(cutRunLength(rate), targets.length);
    // The losses must also span real time: no reply for the wait plus half the run's sending time.
    cut = { run, silenceMs: Math.round(timeoutMs + ((run - 1) * 1000) / rate / 2) };
  } else {
    periodMs = Math.max(MIN_PERIOD_MS, intervalMs / (probe.retries + 1));
  }
  periodMs = Math.round(periodMs * 10) / 10;
  timeoutMs = Math.round(timeoutMs);
  // fping 5.1 takes a timeout longer than the period in loop mode (echoes overlap); each is still waited for.
  const args = ['-l', '-D', '-p', String(periodMs), '-t', String(timeoutMs), '-I', uplink.iface, ...targets];
  return {
    key: args.join(' '),
    args,
    targets,
    periodMs,
    timeoutMs,
    intervalMs,
    chances: probe.retries + 1,
    cut,
  };
}

export interface ContinuousIcmpProbeOptions {
  logger?: Logger;
  /** The command (and leading arguments) that runs fping; default ['fping']. Tests run a fake, or fping in a namespace. */
  command?: readonly string[];
  /** Used instead while fping is not installed; default IcmpProbe (a ping process per echo). */
  fallback?: Probe;
  /** First pause before restarting an fping that exited (doubles per failure in a row, up to 10 s). */
  restartMs?: number;
  /** SIGTERM, then SIGKILL after this long (ms). */
  killGraceMs?: number;
}

interface Tally {
  sent: number;
  lost: number;
  rtts: number[];
}

interface OpenRound {
  uplink: UplinkConfig;
  signal: AbortSignal | undefined;
  tallies: Map<string, Tally>;
  finish: (result: ProbeResult | null) => void;
}

const MAX_RESTART_MS = 10_000;
/**
 * Rounds this far apart (or more) gain nothing from a stream kept between them: they are probed one-shot (a
 * ping per echo). That covers long intervals (a recheck must not wait for the stream's next echo, minutes
 * away) and a metered uplink probed every idleInterval while it carries no traffic (a stream would keep
 * sending at its normal rate in between).
 */
export const STREAM_MAX_INTERVAL_MS = 5000;

/** How long a stream is kept without a round before it is stopped; also the gap that makes a round one-shot. */
export function streamIdleMs(plan: { intervalMs: number }): number {
  return Math.max(3 * plan.intervalMs, 1000);
}
/** Standard profile: how long after a cycle's expected last echo its batch is read (scheduling, RTT jitter). */
const BATCH_MARGIN_MS = 15;
/** After fping ended by a stop signal, the pause that lets a stop of the whole service come first. */
const STOP_SIGNAL_PAUSE_MS = 2000;

export class ContinuousIcmpProbe implements Probe {
  private readonly logger: Logger;
  private readonly command: readonly string[];
  private readonly restartMs: number;
  private readonly killGraceMs: number;
  private readonly fallbackProbe: Probe;
  private readonly probers = new Map<string, UplinkProber>();
  /** Probers being stopped (replaced, idle): close() waits for them too. */
  private readonly stopping = new Set<Promise<void>>();
  private usingFallback = false;
  private closed = false;
  /** When each uplink's last round was asked for (ms). */
  private readonly lastRunAt = new Map<string, number>();

  constructor(options: ContinuousIcmpProbeOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.command = options.command ?? ['fping'];
    this.restartMs = options.restartMs ?? 500;
    this.killGraceMs = options.killGraceMs ?? 2000;
    this.fallbackProbe = options.fallback ?? new IcmpProbe();
  }

  run(uplink: UplinkConfig, signal?: AbortSignal): Promise<ProbeResult> {
    if (this.usingFallback) return this.fallbackProbe.run(uplink, signal);
    if (this.closed || uplink.targets.length === 0 || signal?.aborted) return Promise.resolve(unanswered(uplink));
    const plan = fpingPlan(uplink);
    let prober = this.probers.get(uplink.name);
    const now = Date.now();
    const previous = this.lastRunAt.get(uplink.name);
    this.lastRunAt.set(uplink.name, now);
    // A metered uplink starts idle (probed every idleInterval): its stream waits for two rounds close together.
    const apart = previous === undefined ? uplink.metered !== undefined : now - previous >= streamIdleMs(plan);
    const sparse = plan.cut === null && (plan.intervalMs > STREAM_MAX_INTERVAL_MS || (!prober && apart));
    if (sparse) {
      if (prober) this.retire(prober);
      return this.fallbackProbe.run(uplink, signal);
    }
    if (prober && prober.plan.key !== plan.key) {
      this.logger.info(`probe settings of ${uplink.name} changed; restarting its fping`);
      this.retire(prober);
      prober = undefined;
    }
    if (!prober) {
      prober = new UplinkProber(uplink.name, plan, {
        logger: this.logger,
        command: this.command,
        restartMs: this.restartMs,
        killGraceMs: this.killGraceMs,
        onIdle: (p) => this.retire(p),
        onMissing: (p) => this.switchToFallback(p),
      });
      this.probers.set(uplink.name, prober);
    }
    return prober.round(uplink, signal);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const prober of [...this.probers.values()]) this.retire(prober);
    while (this.stopping.size > 0) await Promise.all([...this.stopping]);
    await this.fallbackProbe.close?.();
  }

  /** The number of fping children running now (for tests and status). */
  get children(): number {
    return [...this.probers.values()].filter((p) => p.running).length;
  }

  /** The pids of the fping children running now. */
  pids(): number[] {
    return [...this.probers.values()].map((p) => p.pid).filter((pid): pid is number => pid !== undefined);
  }

  private retire(prober: UplinkProber): void {
    if (this.probers.get(prober.name) === prober) this.probers.delete(prober.name);
    const done = prober.stop().finally(() => this.stopping.delete(done));
    this.stopping.add(done);
  }

  private switchToFallback(prober: UplinkProber): void {
    if (!this.usingFallback) {
      this.usingFallback = true;
      this.logger.warn(
        `${this.command.join(' ')} was not found: install the Debian package fping (apt-get install fping) for probing ` +
          'without a process per echo; probing with one ping process per echo meanwhile',
      );
    }
    const open = prober.takeRounds();
    this.retire(prober);
    for (const [uplink, round] of open) {
      this.fallbackProbe.run(uplink, round.signal).then(round.finish, () => round.finish(unanswered(uplink)));
    }
    for (const other of [...this.probers.values()]) this.switchToFallback(other);
  }
}

/** A round without outcomes: every target unanswered, nothing sent. */
function unanswered(uplink: UplinkConfig): ProbeResult {
  return summarise(
    uplink,
    uplink.targets.map((target) => ({ target, alive: false, rtt: null, sent: 0, lost: 0 })),
  );
}

interface ProberContext {
  logger: Logger;
  command: readonly string[];
  restartMs: number;
  killGraceMs: number;
  onIdle(prober: UplinkProber): void;
  onMissing(prober: UplinkProber): void;
}

/** One uplink's fping, its outcomes and its rounds. */
class UplinkProber {
  private child: ManagedChild | null = null;
  private launched = false;
  private stopped = false;
  private stopDone: Promise<void> | null = null;
  /** Failures in a row (exits, silences); 0 once fping reports again. */
  private failures = 0;
  private lastOutputAt = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private idleTimer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private silenceCheck: NodeJS.Immediate | null = null;
  private readonly rounds = new Set<OpenRound>();
  /** Outcomes since the previous round ended, for the next round. */
  private pending: EchoOutcome[] = [];
  /** Each target's most recent outcome. */
  private readonly latest = new Map<string, { alive: boolean; at: number }>();
  /** Recently seen sequence numbers per target: a duplicate reply is not a second outcome. */
  private readonly seen = new Map<string, Set<number>>();
  // Fast profile: the run of losses since the last reply, the targets in it, and that reply's time.
  private lossRun = 0;
  private readonly lostTargets = new Set<string>();
  private lastReplyAt = 0;
  private cut = false;
  /** Standard profile: when the last round was settled by a line (the arrival of its last needed echo). */
  private lastSettledAt = 0;
  private releaseTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly name: string,
    readonly plan: FpingPlan,
    private readonly ctx: ProberContext,
  ) {}

  get running(): boolean {
    return this.child?.running ?? false;
  }

  get pid(): number | undefined {
    return this.child?.running ? this.child.pid : undefined;
  }

  round(uplink: UplinkConfig, signal: AbortSignal | undefined): Promise<ProbeResult> {
    this.clearIdle();
    // Started once here; after that only the restart timer starts fping again (its pause is kept).
    if (!this.launched && !this.stopped) this.start();
    // Standard rounds read fping's output only while one is open: the echoes since the previous round
    // wait in the pipe and come in one batch (a wake-up per round, not one per echo).
    this.releaseOutputForRound();
    return new Promise<ProbeResult>((resolve) => {
      const deadline = setTimeout(() => {
        finish(null);
        // A round that ran to its deadline is where a standard fping's silence shows (see silenceLimitMs).
        if (!this.plan.cut) this.checkSilence();
      }, this.deadlineMs());
      const onAbort = (): void => finish(null);
      const round: OpenRound = {
        uplink,
        signal,
        tallies: new Map(),
        finish: (result) => finish(result),
      };
      let done = false;
      const finish = (result: ProbeResult | null): void => {
        if (done) return;
        done = true;
        this.rounds.delete(round);
        clearTimeout(deadline);
        signal?.removeEventListener('abort', onAbort);
        resolve(result ?? this.result(round));
        if (this.rounds.size === 0) {
          if (this.releaseTimer) clearTimeout(this.releaseTimer);
          this.releaseTimer = null;
          this.holdOutput();
          this.armIdle();
        }
      };
      this.rounds.add(round);
      signal?.addEventListener('abort', onAbort, { once: true });
      const since = Date.now() - this.plan.intervalMs;
      for (const outcome of this.pending) if (outcome.at >= since) this.tally(round, outcome);
      this.pending = [];
      if (this.cut || this.settled(round)) finish(null);
    });
  }

  /** The open rounds (at a switch to the fallback probe), no longer answered here. */
  takeRounds(): [UplinkConfig, OpenRound][] {
    const open = [...this.rounds].map((r): [UplinkConfig, OpenRound] => [r.uplink, r]);
    this.rounds.clear();
    return open;
  }

  /** Ends the open rounds with what they have, stops fping and every timer; resolves once fping has exited. */
  stop(): Promise<void> {
    this.stopDone ??= this.doStop();
    return this.stopDone;
  }

  private async doStop(): Promise<void> {
    this.stopped = true;
    for (const round of [...this.rounds]) round.finish(null);
    this.clearIdle();
    if (this.releaseTimer) clearTimeout(this.releaseTimer);
    this.releaseTimer = null;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    if (this.silenceCheck) clearImmediate(this.silenceCheck);
    this.silenceCheck = null;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const child = this.child;
    this.child = null;
    if (child) await child.stop(this.ctx.killGraceMs);
  }

  // ---- the child ---------------------------------------------------------------------------------

  private start(): void {
    this.launched = true;
    const [command, ...lead] = this.ctx.command;
    let said = '';
    const child = new ManagedChild(command, [...lead, ...this.plan.args], {
      onLine: (line, stream) => {
        if (stream === 'stderr') said = line.trim().slice(0, 200);
        else if (this.child === child) this.line(line);
      },
    });
    this.child = child;
    this.lastOutputAt = Date.now();
    if (this.rounds.size === 0) this.holdOutput();

    void child.exited.then((exit) => {
      if (this.child !== child || this.stopped) return;
      this.child = null;
      if (exit.spawnError === 'ENOENT') {
        this.ctx.onMissing(this);
        return;
      }
      const how = exit.spawnError ?? (exit.code !== null ? `exit ${exit.code}` : `signal ${exit.signal ?? 'unknown'}`);
      const signalled = exit.signal === 'SIGTERM' || exit.signal === 'SIGINT' || exit.signal === 'SIGHUP';
      this.failed(`fping of ${this.name} (${this.plan.args[this.plan.args.indexOf('-I') + 1]}) ended (${how}${said ? `: ${said}` : ''})`, signalled ? 'signal' : 'exit');
    });
    // The fast profile watches for silence all the time; a standard one at the end of a round that found nothing.
    if (this.plan.cut) this.watchdog ??= setInterval(() => this.checkSilence(), this.silenceLimitMs() / 2);
  }

  /**
   * Standard profile: rounds and fping's cycle have the same period, so the echoes that settled the last
   * round come again one period later, a little after this round starts (fping started with the first round).
   * Reading them the moment each arrives wakes the process once per echo; waiting until they all should be
   * there reads them in one go, and the round settles no later than it would have. An echo later than that is
   * read as it comes.
   */
  private releaseOutputForRound(): void {
    if (this.releaseTimer) return;
    const wait = this.lastSettledAt + this.plan.periodMs + BATCH_MARGIN_MS - Date.now();
    if (this.plan.cut || this.lastSettledAt === 0 || wait <= 0 || wait >= this.deadlineMs()) {
      this.child?.releaseOutput();
      return;
    }
    this.releaseTimer = setTimeout(() => {
      this.releaseTimer = null;
      this.child?.releaseOutput();
    }, wait);
  }

  /** Standard profile: fping's output stays in the pipe between rounds (see round()). */
  private holdOutput(): void {
    if (!this.plan.cut) this.child?.holdOutput();
  }

  /**
   * fping prints a line per echo; none for this long means it cannot send (an interface that went away and came
   * back has a new index) or has stopped reporting: fping 5.1 in loop mode at 50 ms periods now and then stops
   * reporting timeouts soon after replies turn into losses (seen in the lab, with or without this service). The
   * fast profile cannot wait long; the run of losses carries over to the new fping.
   */
  private silenceLimitMs(): number {
    return this.plan.timeoutMs + 2 * this.plan.periodMs + (this.plan.cut ? 500 : 2000);
  }

  private checkSilence(): void {
    // After the poll phase: output that waited behind a busy event loop is read before silence is judged.
    this.silenceCheck ??= setImmediate(() => {
      this.silenceCheck = null;
      this.judgeSilence();
    });
  }

  private judgeSilence(): void {
    const child = this.child;
    if (!child || this.stopped || Date.now() - this.lastOutputAt < this.silenceLimitMs()) return;
    this.child = null;
    void child.stop(this.ctx.killGraceMs);
    this.failed(`fping of ${this.name} reported nothing for ${this.silenceLimitMs()} ms`, 'silence');
  }

  /** Logged once per run of failures, then restarted after a pause that grows with each failure. */
  /**
   * Logged once per run of failures, then restarted after a pause that grows with each failure. The log waits
   * for the restart: a stop signal to the whole process group (systemd, `timeout`) reaches fping first, and the
   * service's own stop follows within the pause, so that is no failure to report.
   */
  private failed(why: string, how: 'exit' | 'signal' | 'silence'): void {
    const first = this.failures === 0;
    let pause = Math.min(this.ctx.restartMs * 2 ** this.failures, MAX_RESTART_MS);
    if (how === 'signal') pause = Math.max(pause, STOP_SIGNAL_PAUSE_MS);
    // A first silence is no crash loop: the new fping starts at once (a cut may be under way).
    if (how === 'silence' && first) pause = 0;
    this.failures++;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.stopped || this.child) return;
      if (first) this.ctx.logger.warn(`${why}; restarting it`);
      else this.ctx.logger.debug(`${why}; restarting it (pause ${pause} ms)`);
      this.start();
    }, pause);
    this.timers.add(timer);
  }

  // ---- outcomes ----------------------------------------------------------------------------------

  private line(text: string): void {
    const parsed = parseFpingLine(text);
    if (!parsed) return;
    const target = this.plan.targets.find((t) => t === parsed.target || t.toLowerCase() === parsed.target.toLowerCase());
    if (target === undefined) return;
    const outcome = { ...parsed, target };
    this.lastOutputAt = Date.now();
    if (this.failures > 0) {
      this.ctx.logger.info(`fping of ${this.name} reports again`);
      this.failures = 0;
    }
    let seen = this.seen.get(target);
    if (!seen) this.seen.set(target, (seen = new Set()));
    if (seen.has(outcome.seq)) return;
    seen.add(outcome.seq);
    if (seen.size > 512) seen.delete(seen.values().next().value as number);
    this.latest.set(target, { alive: outcome.rtt !== null, at: outcome.at });
    if (this.plan.cut) this.watchCut(outcome);
    if (this.rounds.size === 0) {
      this.pending.push(outcome);
      if (this.pending.length > 4096) this.pending.shift();
      return;
    }
    for (const round of [...this.rounds]) {
      this.tally(round, outcome);
      if (this.cut || this.settled(round)) {
        this.lastSettledAt = Date.now();
        round.finish(null);
      }
    }
  }

  private watchCut(outcome: EchoOutcome): void {
    const rule = this.plan.cut!;
    if (outcome.rtt !== null) {
      this.lossRun = 0;
      this.lostTargets.clear();
      this.lastReplyAt = outcome.at;
      if (this.cut) this.ctx.logger.info(`${this.name} answers again`);
      this.cut = false;
      return;
    }
    this.lossRun++;
    this.lostTargets.add(outcome.target);
    if (this.lastReplyAt === 0) this.lastReplyAt = outcome.at - this.plan.timeoutMs;
    const silence = outcome.at - this.lastReplyAt;
    if (!this.cut && this.lossRun >= rule.run && this.lostTargets.size === this.plan.targets.length && silence >= rule.silenceMs) {
      this.cut = true;
      this.ctx.logger.info(`${this.name} is cut: ${this.lossRun} echoes lost in a row on every target, no reply for ${silence} ms`);
    }
  }

  private tally(round: OpenRound, outcome: EchoOutcome): void {
    let t = round.tallies.get(outcome.target);
    if (!t) round.tallies.set(outcome.target, (t = { sent: 0, lost: 0, rtts: [] }));
    t.sent++;
    if (outcome.rtt === null) t.lost++;
    else t.rtts.push(outcome.rtt);
  }

  /** Standard rounds end once each target has answered or used up its chances; fast ones run to the deadline. */
  private settled(round: OpenRound): boolean {
    if (this.plan.cut) return false;
    return this.plan.targets.every((target) => {
      const t = round.tallies.get(target);
      return t !== undefined && (t.rtts.length > 0 || t.lost >= this.plan.chances);
    });
  }

  private result(round: OpenRound): ProbeResult {
    const now = Date.now();
    // A target's last state counts for a round without outcomes, but not forever (fping may have gone quiet).
    const freshMs = 3 * this.plan.intervalMs + this.plan.timeoutMs + this.plan.periodMs;
    const targets = round.uplink.targets.map((target): TargetResult => {
      const t = round.tallies.get(target);
      if (t) {
        const rtt = t.rtts.length ? Math.round((t.rtts.reduce((a, b) => a + b, 0) / t.rtts.length) * 1000) / 1000 : null;
        return { target, alive: !this.cut && t.rtts.length > 0, rtt, sent: t.sent, lost: t.lost };
      }
      const last = this.latest.get(target);
      const alive = !this.cut && last !== undefined && last.alive && now - last.at <= freshMs;
      return { target, alive, rtt: null, sent: 0, lost: 0 };
    });
    const result = summarise(round.uplink, targets);
    return this.cut ? { ...result, ok: false, cut: true } : result;
  }

  // ---- timing ------------------------------------------------------------------------------------

  /** Just inside the interval, so the engine's next round never waits for this one. */
  private deadlineMs(): number {
    return Math.max(1, this.plan.intervalMs - Math.min(50, this.plan.intervalMs / 10));
  }

  private armIdle(): void {
    this.clearIdle();
    if (this.stopped) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.rounds.size === 0) this.ctx.onIdle(this);
    }, streamIdleMs(this.plan));
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }
}
