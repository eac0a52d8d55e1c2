/**
 * What a `route-verifier` node does: probes one uplink when a message arrives and, with an interval, on
 * its own timer; output 1 when the round is good, output 2 when it is not.
 *
 * While deployed it pins its uplink through the process-wide RouteService (a routing table + ip rule, or
 * /32 host routes), so its probes leave by that uplink whatever the default route is; close lets go.
 * Rounds never overlap: messages that arrive during a round wait for the next one, and waiting messages
 * that ask for the same targets share it (each still gets its own output message).
 *
 * A message with topic `verdict` is a result from the user's own check (any flow: an http request node and
 * a function, say): it is sent on at once as if a round had given it, without probing or touching a route.
 */
import { Clock, TimerHandle, systemClock } from '../../lib/engine/clock';
import { describeIssue, errorMessage, quoteValue } from '../../lib/errors';
import type { LinkState } from '../../lib/linkwatch/link-watch';
import { Probe, ProbeResult, allDown } from '../../lib/probes/probe';
import { isBlank, readSetting } from '../../lib/settings/check';
import { SETTING_RULES } from '../../lib/settings/rules';
import { displayNameProblem, probeCount, UplinkConfig } from '../../lib/uplink/model';
import { Done, NodeController, Send, Translate } from '../shared/controller';
import { asError, InputError } from '../shared/errors';
import type { Node, NodeDef, NodeMessage, ProbeRoundPayload } from '../shared/red';
import { lookupUplink } from '../shared/uplink-def';

export interface RouteVerifierDef extends NodeDef {
  uplink: string;
  /** Seconds between rounds of its own; 0 (or empty) = only when a message arrives. */
  interval: string | number;
  /** Targets override ('' = the uplink's targets), read as `targetsType`. */
  targets: string;
  targetsType: string;
  /** Pin the uplink while deployed (absent in flows from before the option: true). */
  pin?: boolean;
}

/** What pinning needs of the shared RouteService. */
export interface PinRoutes {
  pin(uplink: UplinkConfig, owner: string): Promise<void>;
  unpin(uplink: UplinkConfig, owner: string): Promise<void>;
}

export interface VerifierServices {
  translate: Translate;
  /** RED.nodes.getNode */
  getNode(id: string): unknown;
  /** RED.util.evaluateNodeProperty for this node, as a promise. */
  evaluate(value: string, type: string, msg: NodeMessage): Promise<unknown>;
  /** The process's shared route service; asked for only when the node pins its uplink. */
  routes(): PinRoutes;
  probe: Probe;
  /** The interface's state (sysfs). */
  readLink(iface: string): Promise<LinkState>;
  /** Times the repeat interval and the close wait (default: the system clock; tests pass a fake one). */
  clock?: Clock;
}

/** One message waiting for a round: its own targets, and where its answer goes. */
interface Request {
  msg: NodeMessage;
  /** Effective targets (the override, or the uplink's). */
  targets: string[];
  send: Send;
  done: Done;
  /** Made by the node's own timer (a fresh message). */
  timer: boolean;
}

const NS = 'route-verifier';
/** How long close waits for a round in flight before it lets go of the pin anyway. */
const CLOSE_WAIT_MS = 10_000;

function payloadOf(uplink: UplinkConfig, result: ProbeResult): ProbeRoundPayload {
  return {
    uplink: uplink.name,
    iface: uplink.iface,
    up: [...result.up],
    down: [...result.down],
    rtt: result.rtt,
    loss: result.loss,
    ok: result.ok,
  };
}

/** Seconds from the editor (blank: 0, only when a message arrives); null when not usable. */
function parseInterval(value: string | number | undefined): number | null {
  if (isBlank(value)) return 0;
  return readSetting(SETTING_RULES.verifier.interval, value).value ?? null;
}

/** The topic of a message that carries the user's own verdict instead of asking for a round. */
export const VERDICT_TOPIC = 'verdict';
/** A verdict's target name when it gives none. */
const DEFAULT_VERDICT_CHECK = 'flow';

/** A verdict as given: its answer, the time it took (ms) and the name of the user's check. */
interface Verdict {
  ok: boolean;
  rtt: number | null;
  check: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Entries in a comma-separated list, counted without splitting it. */
function entryCount(text: string): number {
  let n = 1;
  for (let i = text.indexOf(','); i !== -1; i = text.indexOf(',', i + 1)) n++;
  return n;
}

export class VerifierController extends NodeController {
  private readonly uplink: UplinkConfig | null = null;
  private readonly intervalMs: number = 0;
  private readonly routes: PinRoutes | null = null;
  /** Why the node cannot verify (no uplink, a bad interval): every message fails with it. */
  private readonly problem: { text: string; status: string } | null = null;
  private pending: Request[] = [];
  private running: Promise<void> | null = null;
  private closing = false;
  private abort: AbortController | null = null;
  private timer: TimerHandle | null = null;
  private timerWaiting = false;
  /** The last uplink (with its effective targets) pinned, for unpin. */
  private pinned: UplinkConfig | null = null;
  private readonly clock: Clock;

  constructor(
    node: Node,
    private readonly def: RouteVerifierDef,
    private readonly services: VerifierServices,
  ) {
    super(node, NS, services.translate);
    this.clock = services.clock ?? systemClock;
    const found = lookupUplink((id) => services.getNode(id), def.uplink);
    const interval = parseInterval(def.interval);
    if (!found.uplink) {
      this.problem = { text: this.t('errors.uplink', { problem: found.problem }), status: this.t('status.noUplink') };
    } else if (interval === null) {
      this.problem = { text: this.t('errors.interval', { value: String(def.interval) }), status: this.t('status.invalid') };
    } else {
      this.uplink = found.uplink;
      this.intervalMs = interval * 1000;
      this.routes = def.pin !== false ? services.routes() : null;
    }
  }

  override start(): void {
    if (this.problem) {
      this.badge.error(this.problem.status);
      this.node.error(this.problem.text);
      return;
    }
    if (this.routes && this.uplink) void this.pinIfPresent(this.uplink);
    if (this.intervalMs > 0) this.schedule(0);
  }

  /** An input message: evaluate its targets now, then wait for a round; a verdict is sent on at once. */
  protected async handle(msg: NodeMessage, send: Send): Promise<void> {
    if (this.problem) throw new Error(this.problem.text);
    if (msg.topic === VERDICT_TOPIC) {
      this.sendVerdict(msg, this.verdictOf(msg.payload), send);
      return;
    }
    const targets = await this.targetsFor(msg);
    await new Promise<void>((resolve, reject) => {
      this.enqueue({ msg, targets, send, done: (err) => (err ? reject(err) : resolve()), timer: false });
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.abort?.abort();
    // Messages still waiting will not get a round: they are finished without output.
    for (const r of this.pending.splice(0)) r.done();
    if (this.running) {
      // Node-RED gives up on a close after 15 s; an attempt can wait up to the uplink's timeout (<= 60 s).
      let timer: TimerHandle | undefined;
      const ended = await Promise.race([
        this.running.then(() => true),
        new Promise<boolean>((resolve) => {
          timer = this.clock.setTimeout(() => resolve(false), CLOSE_WAIT_MS);
        }),
      ]);
      if (timer) this.clock.clearTimeout(timer);
      if (!ended) this.node.warn(this.t('errors.closeWait', { seconds: CLOSE_WAIT_MS / 1000 }));
    }
    if (this.routes && this.pinned) {
      try {
        await this.routes.unpin(this.pinned, this.node.id);
      } catch (e) {
        this.node.warn(this.t('errors.unpin', { iface: this.pinned.iface, error: errorMessage(e) }));
      }
    }
    this.badge.clear();
  }

  // ───── timer ─────

  /** Rounds of its own on a fixed grid: tick k at start + k x interval. */
  private schedule(delayMs: number): void {
    if (this.closing) return;
    const due = this.clock.now() + delayMs;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.tick();
      this.schedule(Math.max(0, due + this.intervalMs - this.clock.now()));
    }, delayMs);
  }

  private tick(): void {
    // A tick while an earlier tick still waits for its round adds nothing: that round serves both.
    if (this.timerWaiting) return;
    const msg: NodeMessage = {};
    // No input to finish: a failure is logged against the fresh message (Catch nodes see it too).
    const report: Done = (err) => {
      if (err) this.node.error(err.message, msg);
    };
    this.timerWaiting = true;
    this.targetsFor(msg).then(
      (targets) => this.enqueue({ msg, targets, send: (m) => this.node.send(m), done: report, timer: true }),
      (e: unknown) => {
        this.timerWaiting = false;
        this.fail(e, report);
      },
    );
  }

  // ───── rounds ─────

  private enqueue(request: Request): void {
    if (this.closing) {
      if (request.timer) this.timerWaiting = false;
      request.done();
      return;
    }
    this.pending.push(request);
    this.kick();
  }

  private kick(): void {
    if (this.running || this.closing || this.pending.length === 0) return;
    this.running = this.drain()
      .catch((e: unknown) => this.node.error(errorMessage(e)))
      .finally(() => {
        this.running = null;
        this.kick();
      });
  }

  /** Runs rounds until nobody waits: everyone waiting with the same targets shares one round. */
  private async drain(): Promise<void> {
    while (this.pending.length > 0 && !this.closing) {
      const groups = new Map<string, Request[]>();
      for (const r of this.pending.splice(0)) {
        const key = r.targets.join(',');
        const group = groups.get(key);
        if (group) group.push(r);
        else groups.set(key, [r]);
      }
      for (const group of groups.values()) {
        if (this.closing) {
          for (const r of group) r.done();
          continue;
        }
        await this.serve(group);
      }
    }
  }

  private async serve(group: Request[]): Promise<void> {
    if (!this.uplink) return;
    const uplink: UplinkConfig = { ...this.uplink, targets: group[0].targets };
    for (const r of group) if (r.timer) this.timerWaiting = false;
    this.badge.working(this.t('status.probing'));
    let result: ProbeResult;
    try {
      result = await this.round(uplink);
    } catch (e) {
      if (this.closing) {
        for (const r of group) r.done();
        return;
      }
      // One badge for the round; every message that shared it fails with the same error.
      this.badge.error(this.t('status.error'));
      const err = asError(e);
      for (const r of group) r.done(err);
      return;
    }
    if (this.closing) {
      // Closing: the round was allowed to end, but nothing is sent from a node being stopped.
      for (const r of group) r.done();
      return;
    }
    this.showResult(uplink, result);
    for (const r of group) {
      r.msg.payload = payloadOf(uplink, result);
      r.send(result.ok ? [r.msg, null] : [null, r.msg]);
      r.done();
    }
  }

  /** One round: a missing or downed interface is all down without a packet; otherwise pin, then probe. */
  private async round(uplink: UplinkConfig): Promise<ProbeResult> {
    const link = await this.services.readLink(uplink.iface);
    if (!link.up) return allDown(uplink);
    // Re-pinned every round (idempotent): the table route vanishes with ppp0 and must come back with it.
    if (this.routes) await this.pin(uplink);
    if (probeCount(uplink) === 0) {
      // No targets or checks: trusted while the interface is up, as everywhere else in the package.
      return { up: [], down: [], rtt: null, loss: 0, targets: [], ok: true };
    }
    this.abort = new AbortController();
    try {
      return await this.services.probe.run(uplink, this.abort.signal);
    } finally {
      this.abort = null;
    }
  }

  private async pin(uplink: UplinkConfig): Promise<void> {
    if (!this.routes) return;
    this.pinned = uplink;
    try {
      await this.routes.pin(uplink, this.node.id);
    } catch (e) {
      throw new Error(this.t('errors.pin', { iface: uplink.iface, error: errorMessage(e) }));
    }
  }

  /**
   * At deploy: pin at once if the interface is there and administratively up (carrier may still be on its
   * way); otherwise the first round that finds it up pins it.
   */
  private async pinIfPresent(uplink: UplinkConfig): Promise<void> {
    const link = await this.services.readLink(uplink.iface);
    if (!link.exists || !link.adminUp || this.closing) return;
    try {
      await this.pin(uplink);
    } catch (e) {
      this.badge.error(this.t('status.pinFailed'));
      this.node.error(errorMessage(e));
    }
  }

  private showResult(uplink: UplinkConfig, result: ProbeResult): void {
    const total = probeCount(uplink);
    if (!result.ok) {
      this.badge.error(this.t('status.down', { up: result.up.length, total }));
    } else if (total === 0 || result.rtt === null) {
      this.badge.ok(this.t('status.linkUp'));
    } else {
      this.badge.ok(this.t('status.up', { up: result.up.length, total, rtt: Math.round(result.rtt * 10) / 10 }));
    }
  }

  // ───── verdicts ─────

  /** A bad verdict: the message fails with the reason, the badge says error, nothing is sent. */
  private badVerdict(problem: string): InputError {
    return new InputError(this.t('errors.verdict', { problem }), { kind: 'error', text: this.t('status.error') });
  }

  /** payload true | false, or {ok, rtt?, check?, uplink?}; anything else fails naming what is wrong. */
  private verdictOf(payload: unknown): Verdict {
    if (typeof payload === 'boolean') return { ok: payload, rtt: null, check: DEFAULT_VERDICT_CHECK };
    if (!isRecord(payload)) throw this.badVerdict(`payload is ${quoteValue(payload)}, not true, false or {ok, rtt, check}`);
    const { ok, rtt, check, uplink } = payload;
    if (typeof ok !== 'boolean') throw this.badVerdict(`payload.ok is ${quoteValue(ok)}, not true or false`);
    if (rtt !== undefined && rtt !== null && !(typeof rtt === 'number' && Number.isFinite(rtt) && rtt >= 0)) {
      throw this.badVerdict(`payload.rtt is ${quoteValue(rtt)}, not a number of milliseconds (or null)`);
    }
    if (check !== undefined && (typeof check !== 'string' || displayNameProblem(check) !== undefined)) {
      const why = typeof check === 'string' ? (displayNameProblem(check) ?? '') : 'must be a string';
      throw this.badVerdict(`payload.check ${why}`);
    }
    if (uplink !== undefined && uplink !== this.uplink?.name) {
      throw this.badVerdict(`payload.uplink is ${quoteValue(uplink)}, but this node verifies "${this.uplink?.name ?? ''}"`);
    }
    return { ok, rtt: typeof rtt === 'number' ? rtt : null, check: check ?? DEFAULT_VERDICT_CHECK };
  }

  /** The output of a round that had one target, the user's check, with the verdict's answer. */
  private sendVerdict(msg: NodeMessage, verdict: Verdict, send: Send): void {
    if (!this.uplink || this.closing) return;
    const target = verdict.check;
    const result: ProbeResult = {
      up: verdict.ok ? [target] : [],
      down: verdict.ok ? [] : [target],
      rtt: verdict.ok ? verdict.rtt : null,
      loss: verdict.ok ? 0 : 1,
      targets: [{ target, alive: verdict.ok, rtt: verdict.ok ? verdict.rtt : null, sent: 1, lost: verdict.ok ? 0 : 1 }],
      ok: verdict.ok,
    };
    const shown: UplinkConfig = { ...this.uplink, targets: [target], checks: [] };
    this.showResult(shown, result);
    msg.payload = payloadOf(this.uplink, result);
    send(verdict.ok ? [msg, null] : [null, msg]);
  }

  // ───── targets ─────

  /** A bad targets list: the message fails with the reason, the badge says error. */
  private badTargets(problem: string): InputError {
    return new InputError(this.t('errors.targets', { problem }), { kind: 'error', text: this.t('status.error') });
  }

  /** The targets for one message: the override when it gives any, else the uplink's. Validated. */
  private async targetsFor(msg: NodeMessage): Promise<string[]> {
    const uplink = this.uplink;
    if (!uplink) throw new Error(this.problem?.text);
    const value = this.def.targets;
    if (value === undefined || value === null || value === '') return uplink.targets;
    let raw: unknown;
    try {
      raw = await this.services.evaluate(value, this.def.targetsType || 'str', msg);
    } catch (e) {
      throw this.badTargets(errorMessage(e));
    }
    if (raw === undefined || raw === null || raw === '' || (Array.isArray(raw) && raw.length === 0)) return uplink.targets;
    return this.validTargets(raw);
  }

  /**
   * The rules of lib/settings for a targets list (IPv4 or IPv6, no duplicates, at most so many); a bad entry is
   * named. Reliability stays the uplink's, applied to however many targets there are (the probe caps it).
   */
  private validTargets(raw: unknown): string[] {
    if (typeof raw !== 'string' && !Array.isArray(raw)) throw this.badTargets(`${typeof raw} is not a list of IPv4 or IPv6 addresses`);
    const rule = SETTING_RULES.verifier.targets;
    // Counted before any entry is looked at: a huge list costs nothing but this count.
    const count = typeof raw === 'string' ? entryCount(raw) : raw.length;
    if (count > rule.max) throw this.badTargets(`${count} targets: at most ${rule.max} per uplink`);
    const read = readSetting(rule, raw);
    if (read.issues.length > 0) {
      throw this.badTargets(read.issues.map((i) => describeIssue({ field: 'targets', value: 'entry' in i ? i.entry : raw, message: i.message })).join('; '));
    }
    return read.value ?? [];
  }
}
