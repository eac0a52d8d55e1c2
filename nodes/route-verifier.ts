/**
 * `route-verifier`: probes one uplink (ICMP through its interface) when a message arrives and, with an
 * interval, on its own timer. Output 1 when the round is good, output 2 when it is not.
 *
 * While deployed it pins its uplink through the process-wide RouteService (a routing table + ip rule, or
 * /32 host routes), so its probes leave by that uplink whatever the default route is; close lets go.
 * Rounds never overlap: messages that arrive during a round wait for the next one, and waiting messages
 * that ask for the same targets share it (each still gets its own output message).
 */
import { ConfigError, describeIssue } from '../lib/errors';
import { readLinkState } from '../lib/linkwatch/link-watch';
import { IcmpProbe } from '../lib/probes/icmp';
import { Probe, ProbeResult, allDown } from '../lib/probes/probe';
import { RouteService } from '../lib/routes/route-service';
import { UplinkConfig, validateUplinks } from '../lib/uplink/model';
import { errorText } from './shared/errors';
import type { Node, NodeAPI, NodeDef, NodeMessage, ProbeRoundPayload } from './shared/red';
import { redLogger, sharedRouteService } from './shared/route-services';
import { StatusBadge } from './shared/status';
import { lookupUplink } from './shared/uplink-def';

interface RouteVerifierDef extends NodeDef {
  uplink: string;
  /** Seconds between rounds of its own; 0 (or empty) = only when a message arrives. */
  interval: string | number;
  /** Targets override ('' = the uplink's targets), read as `targetsType`. */
  targets: string;
  targetsType: string;
  /** Pin the uplink while deployed (absent in flows from before the option: true). */
  pin?: boolean;
}


type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;
type Done = (err?: Error) => void;

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

const MAX_INTERVAL = 86_400;
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

/**
 * Owns the rounds, the timer and the pin of one verifier node. The node function below only wires
 * Node-RED's events to it.
 */
class VerifierController {
  private readonly badge: StatusBadge;
  private readonly probe: Probe = new IcmpProbe();
  private pending: Request[] = [];
  private running: Promise<void> | null = null;
  private closing = false;
  private abort: AbortController | null = null;
  private timer: NodeJS.Timeout | null = null;
  private timerWaiting = false;
  /** The last uplink (with its effective targets) pinned, for unpin. */
  private pinned: UplinkConfig | null = null;

  constructor(
    private readonly RED: NodeAPI,
    private readonly node: Node,
    private readonly def: RouteVerifierDef,
    private readonly uplink: UplinkConfig,
    private readonly routes: RouteService | null,
    private readonly intervalMs: number,
  ) {
    this.badge = new StatusBadge(node);
  }

  start(): void {
    if (this.routes) void this.pinIfPresent(this.uplink);
    if (this.intervalMs > 0) this.schedule(0);
  }

  /** An input message: evaluate its targets now, then wait for a round. */
  input(msg: NodeMessage, send: Send, done: Done): void {
    this.targetsFor(msg).then(
      (targets) => this.enqueue({ msg, targets, send, done, timer: false }),
      (e: unknown) => {
        this.badge.error(this.RED._('route-verifier.status.error'));
        done(e instanceof Error ? e : new Error(String(e)));
      },
    );
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.abort?.abort();
    // Messages still waiting will not get a round: they are finished without output.
    for (const r of this.pending.splice(0)) r.done();
    if (this.running) {
      // Node-RED gives up on a close after 15 s; an attempt can wait up to the uplink's timeout (<= 60 s).
      let timer: NodeJS.Timeout | undefined;
      const ended = await Promise.race([
        this.running.then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), CLOSE_WAIT_MS);
        }),
      ]);
      clearTimeout(timer);
      if (!ended) this.node.warn(this.RED._('route-verifier.errors.closeWait', { seconds: CLOSE_WAIT_MS / 1000 }));
    }
    if (this.routes && this.pinned) {
      try {
        await this.routes.unpin(this.pinned, this.node.id);
      } catch (e) {
        this.node.warn(this.RED._('route-verifier.errors.unpin', { iface: this.pinned.iface, error: errorText(e) }));
      }
    }
    this.badge.clear();
  }

  // ───── timer ─────

  /** Rounds of its own on a fixed grid: tick k at start + k x interval. */
  private schedule(delayMs: number): void {
    if (this.closing) return;
    const due = Date.now() + delayMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.tick();
      this.schedule(Math.max(0, due + this.intervalMs - Date.now()));
    }, delayMs);
  }

  private tick(): void {
    // A tick while an earlier tick still waits for its round adds nothing: that round serves both.
    if (this.timerWaiting) return;
    const msg: NodeMessage = {};
    const report: Done = (err) => {
      if (err) this.node.error(err.message, msg);
    };
    this.timerWaiting = true;
    this.targetsFor(msg).then(
      (targets) => this.enqueue({ msg, targets, send: (m) => this.node.send(m), done: report, timer: true }),
      (e: unknown) => {
        this.timerWaiting = false;
        this.badge.error(this.RED._('route-verifier.status.error'));
        report(e instanceof Error ? e : new Error(String(e)));
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
      .catch((e: unknown) => this.node.error(errorText(e)))
      .finally(() => {
      this.running = null;
      this.kick();
    });
  }

  /** Runs rounds until nobody waits: everyone waiting with the same targets shares one round. */
  private async drain(): Promise<void> {
    while (this.pending.length > 0 && !this.closing) {
      const batch = this.pending.splice(0);
      const groups = new Map<string, Request[]>();
      for (const r of batch) {
        const key = r.targets.join(',');
        groups.set(key, [...(groups.get(key) ?? []), r]);
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
    const uplink: UplinkConfig = { ...this.uplink, targets: group[0].targets };
    for (const r of group) if (r.timer) this.timerWaiting = false;
    this.badge.working(this.RED._('route-verifier.status.probing'));
    let result: ProbeResult;
    try {
      result = await this.round(uplink);
    } catch (e) {
      if (this.closing) {
        for (const r of group) r.done();
        return;
      }
      this.badge.error(this.RED._('route-verifier.status.error'));
      const err = e instanceof Error ? e : new Error(String(e));
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
    const link = await readLinkState(uplink.iface);
    if (!link.up) return allDown(uplink);
    // Re-pinned every round (idempotent): the table route vanishes with ppp0 and must come back with it.
    if (this.routes) await this.pin(uplink);
    if (uplink.targets.length === 0) {
      // No targets: trusted while the interface is up, as everywhere else in the package.
      return { up: [], down: [], rtt: null, loss: 0, targets: [], ok: true };
    }
    this.abort = new AbortController();
    try {
      return await this.probe.run(uplink, this.abort.signal);
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
      throw new Error(this.RED._('route-verifier.errors.pin', { iface: uplink.iface, error: errorText(e) }));
    }
  }

  /**
   * At deploy: pin at once if the interface is there and administratively up (carrier may still be on its
   * way); otherwise the first round that finds it up pins it.
   */
  private async pinIfPresent(uplink: UplinkConfig): Promise<void> {
    const link = await readLinkState(uplink.iface);
    if (!link.exists || !link.adminUp || this.closing) return;
    try {
      await this.pin(uplink);
    } catch (e) {
      this.badge.error(this.RED._('route-verifier.status.pinFailed'));
      this.node.error(errorText(e));
    }
  }

  private showResult(uplink: UplinkConfig, result: ProbeResult): void {
    const total = uplink.targets.length;
    if (!result.ok) {
      this.badge.error(this.RED._('route-verifier.status.down', { up: result.up.length, total }));
    } else if (total === 0 || result.rtt === null) {
      this.badge.ok(this.RED._('route-verifier.status.linkUp'));
    } else {
      this.badge.ok(this.RED._('route-verifier.status.up', { up: result.up.length, total, rtt: Math.round(result.rtt * 10) / 10 }));
    }
  }

  // ───── targets ─────

  /** The targets for one message: the override when it gives any, else the uplink's. Validated. */
  private async targetsFor(msg: NodeMessage): Promise<string[]> {
    const value = this.def.targets;
    if (value === undefined || value === null || value === '') return this.uplink.targets;
    const type = this.def.targetsType || 'str';
    const raw = await new Promise<unknown>((resolve, reject) => {
      this.RED.util.evaluateNodeProperty(value, type, this.node, msg, (err, result: unknown) => (err ? reject(err) : resolve(result)));
    }).catch((e: unknown) => {
      throw new Error(this.RED._('route-verifier.errors.targets', { problem: errorText(e) }));
    });
    if (raw === undefined || raw === null || raw === '' || (Array.isArray(raw) && raw.length === 0)) return this.uplink.targets;
    return validTargets(this.RED, this.uplink, raw);
  }
}

/** The core's rules for a targets list (IPv4, no duplicates); a bad entry is named in the error. */
function validTargets(RED: NodeAPI, uplink: UplinkConfig, raw: unknown): string[] {
  if (typeof raw !== 'string' && !Array.isArray(raw)) {
    throw new Error(RED._('route-verifier.errors.targets', { problem: `${typeof raw} is not a list of IPv4 addresses` }));
  }
  try {
    // Reliability is the uplink's, applied to however many targets there are (the probe caps it).
    const [checked] = validateUplinks([{ ...uplink, targets: raw, probe: { ...uplink.probe, reliability: 1 } }]);
    return checked.targets;
  } catch (e) {
    const problem = e instanceof ConfigError ? e.issues.map((i) => describeIssue({ ...i, uplink: undefined })).join('; ') : errorText(e);
    throw new Error(RED._('route-verifier.errors.targets', { problem }));
  }
}

/** Seconds from the editor; null when not usable. */
function parseInterval(value: string | number | undefined): number | null {
  if (value === undefined || value === null || value === '') return 0;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n) || n < 0 || n > MAX_INTERVAL) return null;
  return n;
}

export = function register(RED: NodeAPI): void {
  function RouteVerifierNode(this: Node, def: RouteVerifierDef): void {
    RED.nodes.createNode(this, def);
    setUp(this, def);
  }

  function setUp(node: Node, def: RouteVerifierDef): void {
    const badge = new StatusBadge(node);
    const found = lookupUplink((id) => RED.nodes.getNode(id), def.uplink);
    const interval = parseInterval(def.interval);
    let controller: VerifierController | null = null;
    let problem: string | null = null;

    if (!found.uplink) {
      problem = RED._('route-verifier.errors.uplink', { problem: found.problem });
      badge.error(RED._('route-verifier.status.noUplink'));
      node.error(problem);
    } else if (interval === null) {
      problem = RED._('route-verifier.errors.interval', { value: String(def.interval) });
      badge.error(RED._('route-verifier.status.invalid'));
      node.error(problem);
    } else {
      const pin = def.pin !== false;
      const routes = pin ? sharedRouteService({ dryRun: false, logger: redLogger(RED) }) : null;
      controller = new VerifierController(RED, node, def, found.uplink, routes, interval * 1000);
      controller.start();
    }

    node.on('input', (msg, send, done) => {
      if (!controller) {
        done(new Error(problem ?? RED._('route-verifier.errors.uplink', { problem: '' })));
        return;
      }
      controller.input(msg, send, done);
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      if (!controller) {
        badge.clear();
        done();
        return;
      }
      controller.close().then(done, (e: unknown) => {
        node.warn(errorText(e));
        done();
      });
    });
  }

  RED.nodes.registerType('route-verifier', RouteVerifierNode);
};
