/**
 * What a `failover-controller` node does, apart from registering with Node-RED: builds its uplinks from
 * the uplink config nodes (in priority order), runs a FailoverRunner (link watch, probes, engine) on the
 * process's shared route service, turns engine events into messages on its two outputs and into its
 * status badge, obeys the input commands, and stops everything on close.
 */
import { ConnectionReset } from '../../lib/connections/connection-reset';
import { DnsManager, DnsMethod } from '../../lib/dns/dns-manager';
import { EngineStatus, RouteActions } from '../../lib/engine/engine';
import { ProcessRunner } from '../../lib/process/runner';
import { FailoverEvent } from '../../lib/engine/events';
import type { WindowFigures } from '../../lib/engine/quality';
import { MeteringEvent, UplinkUsage, formatBytes } from '../../lib/metering/usage-meter';
import { SETTING_RULES, SettingsReader } from '../../lib/settings/rules';
import { Logger } from '../../lib/log/logger';
import { Probe } from '../../lib/probes/probe';
import { VerdictBoard } from '../../lib/probes/verdicts';
import { FailoverRunner, RunnerEvent } from '../../lib/runtime/failover-runner';
import { displayNameProblem, UplinkConfig, validateUplinks } from '../../lib/uplink/model';
import { NodeController, Send, Translate } from '../shared/controller';
import { quoteValue } from '../../lib/errors';
import { errorMessage } from '../shared/errors';
import type { Node, NodeDef, NodeMessage, NodeMessageInFlow, ProbeRoundPayload } from '../shared/red';
import { nodeLogger } from '../shared/route-services';
import type { BadgeKind } from '../shared/status';
import { lookupUplink } from '../shared/uplink-def';

/** The node's properties as the editor stores them. */
export interface ControllerNodeDef extends NodeDef {
  /** Ids of uplink config nodes, highest priority first. */
  uplinks?: unknown;
  dryRun?: boolean | string;
  /** Seconds before an uplink whose setup timed out is set up again. */
  setupRetry?: number | string;
  /** Reset the connections of the uplink that was left after every switch (default true). */
  resetConnections?: boolean | string;
  /** How DNS follows the active uplink (default auto). */
  dns?: string;
  /** Where the data use of metered uplinks is kept (blank: the services' default file, under Node-RED's userDir). */
  usageFile?: string;
  /** Seconds between usage events while a metered uplink carries traffic. */
  usageReport?: number | string;
}

/** What the controller needs from its surroundings; the node file passes the real ones, tests their own. */
export interface ControllerServices {
  translate: Translate;
  /** RED.nodes.getNode */
  getNode(id: string): unknown;
  /** The process's route service for this dry-run flag (sharedRouteService). */
  routes(options: { dryRun: boolean; logger: Logger }): {
    forOwner(owner: string): RouteActions;
  };
  /** Capabilities missing for changing routes and pinging (missingNetCapabilities). */
  missingCapabilities(): Promise<string[]>;
  /** Default: the runner's (one long-lived fping per uplink). */
  probe?: Probe;
  /** Poll period of the link watch's safety net (ms). */
  linkPollMs?: number;
  /** The default file of this node's usage counters (metered uplinks); absent: kept in memory only. */
  usageFile?(nodeId: string): string;
  /**
   * Calls the listener after every deploy with the ids of the nodes it changed or removed (RED.events
   * 'flows:started'); returns the function that stops listening.
   */
  watchDeploys?(listener: (changedIds: readonly string[]) => void): () => void;
}

export const COMMANDS = ['status', 'force', 'auto', 'pause', 'resume', 'recheck'] as const;
/** The topic of a message that carries the verdict of a flow check (not a command: its payload is the data). */
export const VERDICT_TOPIC = 'verdict';
export type Command = (typeof COMMANDS)[number];

export const DEFAULT_SETUP_RETRY_S = 60;
export const DEFAULT_USAGE_REPORT_S = 60;

interface ControllerConfig {
  uplinks: UplinkConfig[];
  dryRun: boolean;
  setupRetryMs: number;
  resetConnections: boolean;
  dnsMethod: DnsMethod;
  /** '' for the services' default. */
  usageFile: string;
  usageReportMs: number;
}

const NS = 'failover-controller';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The editor stores an array of config ids; a single id (hand-written flow) is accepted too. */
function uplinkIds(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string' && v !== '');
  if (typeof value === 'string' && value !== '') return [value];
  return [];
}

/** Reads and checks the node's properties; a sentence saying what is wrong if they cannot be used. */
export function controllerConfig(def: ControllerNodeDef, getNode: (id: string) => unknown): ControllerConfig | { problem: string } {
  const ids = uplinkIds(def.uplinks);
  if (ids.length === 0) return { problem: 'no uplink is selected' };
  const found: UplinkConfig[] = [];
  const problems: string[] = [];
  ids.forEach((id, i) => {
    const r = lookupUplink(getNode, id);
    if (r.uplink) found.push(r.uplink);
    else problems.push(`uplink ${i + 1}: ${r.problem}`);
  });
  const settings = new SettingsReader();
  const retry = settings.read('setupRetry', SETTING_RULES.controller.setupRetry, def.setupRetry, DEFAULT_SETUP_RETRY_S);
  const dnsMethod = settings.read('dns', SETTING_RULES.controller.dns, def.dns, 'auto');
  const usageFile = settings.read('usageFile', SETTING_RULES.controller.usageFile, def.usageFile, '');
  const usageReport = settings.read('usageReport', SETTING_RULES.controller.usageReport, def.usageReport, DEFAULT_USAGE_REPORT_S);
  problems.push(...settings.problems);
  if (problems.length > 0) return { problem: problems.join('; ') };
  let uplinks: UplinkConfig[];
  try {
    // Each uplink is valid on its own; this adds the rules across them (a name or an interface used twice).
    uplinks = validateUplinks(found);
  } catch (e) {
    return { problem: errorMessage(e).split('\n').join('; ') };
  }
  return {
    uplinks,
    dryRun: def.dryRun === true || def.dryRun === 'true',
    setupRetryMs: retry * 1000,
    // Flows from before this option reset connections too: only an explicit false turns it off.
    resetConnections: def.resetConnections !== false && def.resetConnections !== 'false',
    dnsMethod,
    usageFile,
    usageReportMs: usageReport * 1000,
  };
}

/** Output 1 payload: one lifecycle event or notice. */
export interface EventPayload {
  event: string;
  uplink: string | null;
  iface: string | null;
  active: string | null;
  /** ISO 8601 */
  time: string;
  [field: string]: unknown;
}

/** Output 2 payload: one probe round of one uplink. */
export interface AvailablePayload extends ProbeRoundPayload {
  health: string;
  /** Loss and latency over the uplink's quality window. */
  window: WindowFigures;
  active: string | null;
}

type AvailableEvent = Extract<FailoverEvent, { type: 'available' }>;
type NoticeEvent = Exclude<FailoverEvent, { type: 'available' }> | MeteringEvent;

export function eventMessage(event: NoticeEvent, active: string | null): NodeMessage {
  const { type, time, ...fields } = event;
  const payload: EventPayload = { event: type, uplink: null, iface: null, ...fields, active, time: new Date(time).toISOString() };
  return { topic: type, payload };
}

export function availableMessage(event: AvailableEvent, active: string | null): NodeMessage {
  const payload: AvailablePayload = {
    uplink: event.uplink,
    iface: event.iface,
    up: event.up,
    down: event.down,
    rtt: event.rtt,
    loss: event.loss,
    ok: event.ok,
    health: event.health,
    window: event.window,
    active,
  };
  return { topic: 'available', payload };
}

/**
 * The status command's answer; a metered uplink's entry carries its data use (`usage`). `onBackupMs`: how long
 * the default route has been off the first uplink (`backupSince`: when it left), null while the first carries it.
 */
export function statusPayload(status: EngineStatus, now: Date, usage: readonly UplinkUsage[] = [], backupSince: number | null = null): EventPayload {
  const active = status.uplinks.find((u) => u.active);
  const uplinks = status.uplinks.map((u) => {
    const used = usage.find((x) => x.uplink === u.name);
    return used ? { ...u, usage: used } : u;
  });
  const onBackupMs = backupSince === null ? null : Math.max(0, now.getTime() - backupSince);
  return { event: 'status', uplink: active?.name ?? null, iface: active?.iface ?? null, ...status, uplinks, onBackupMs, time: now.toISOString() };
}

/** The command a message carries: msg.payload (a string, or {command}) or else msg.topic. */
function commandOf(msg: NodeMessageInFlow): string | undefined {
  const { payload } = msg;
  if (typeof payload === 'string' && payload.trim() !== '') return payload.trim();
  if (isRecord(payload) && typeof payload.command === 'string') return payload.command.trim();
  if (typeof msg.topic === 'string' && msg.topic.trim() !== '') return msg.topic.trim();
  return undefined;
}

/** The uplink named by a force command: msg.uplink, or msg.payload.uplink. */
function uplinkOf(msg: NodeMessageInFlow): string | undefined {
  const fromMsg = (msg as NodeMessageInFlow & { uplink?: unknown }).uplink;
  if (typeof fromMsg === 'string' && fromMsg.trim() !== '') return fromMsg.trim();
  if (isRecord(msg.payload) && typeof msg.payload.uplink === 'string' && msg.payload.uplink.trim() !== '') return msg.payload.uplink.trim();
  return undefined;
}

/** A verdict of a flow check, checked against the uplinks: what to record. */
interface FlowVerdict {
  uplink: string;
  check: string;
  ok: boolean;
  rtt: number | null;
}

/**
 * payload {uplink, ok, check?, rtt?}: `uplink` names one of the controller's uplinks with a flow check, `check`
 * names that check (may be left out when the uplink has one), `ok` is a boolean, `rtt` ms or null. A sentence
 * saying what is wrong otherwise.
 */
export function readFlowVerdict(payload: unknown, uplinks: readonly UplinkConfig[]): FlowVerdict | { problem: string } {
  if (!isRecord(payload)) return { problem: `payload is ${quoteValue(payload)}, not {uplink, ok, check, rtt}` };
  const { uplink, ok, check, rtt } = payload;
  const withFlow = uplinks.filter((u) => u.checks.some((c) => c.kind === 'flow'));
  const found = uplinks.find((u) => u.name === uplink);
  if (!found) return { problem: `payload.uplink is ${quoteValue(uplink)}, not one of ${uplinks.map((u) => u.name).join(', ')}` };
  const names = found.checks.flatMap((c) => (c.kind === 'flow' ? [c.name] : []));
  if (names.length === 0) {
    return { problem: `uplink "${found.name}" has no flow check (flow://NAME)${withFlow.length ? `; these do: ${withFlow.map((u) => u.name).join(', ')}` : ''}` };
  }
  if (typeof ok !== 'boolean') return { problem: `payload.ok is ${quoteValue(ok)}, not true or false` };
  if (rtt !== undefined && rtt !== null && !(typeof rtt === 'number' && Number.isFinite(rtt) && rtt >= 0)) {
    return { problem: `payload.rtt is ${quoteValue(rtt)}, not a number of milliseconds (or null)` };
  }
  if (check === undefined && names.length > 1) return { problem: `payload.check is missing: uplink "${found.name}" has flow checks ${names.join(', ')}` };
  const name = check === undefined ? names[0] : check;
  if (typeof name !== 'string' || displayNameProblem(name) !== undefined || !names.includes(name)) {
    return { problem: `payload.check is ${quoteValue(check)}, not a flow check of uplink "${found.name}" (${names.join(', ')})` };
  }
  return { uplink: found.name, check: name, ok, rtt: typeof rtt === 'number' ? rtt : null };
}

export class FailoverController extends NodeController {
  /** Verdicts of the uplinks' flow checks, handed in by `verdict` messages; read by the probe every round. */
  private readonly verdicts = new VerdictBoard();
  private config: ControllerConfig | { problem: string };
  private runner: FailoverRunner | null = null;
  private unsubscribe: (() => void) | null = null;
  /** Why there is no engine (invalid configuration, missing capabilities, failed start). */
  private problem: string | null = null;
  private ready: Promise<void> = Promise.resolve();
  private closing: Promise<void> | null = null;
  /** The engine reported that no uplink works (cleared by the next successful move or setup). */
  private noUplink = false;
  private lastBadge = '';
  private badgeTimer: NodeJS.Immediate | null = null;
  private stopWatchingDeploys: (() => void) | null = null;
  private deploysSeen = 0;
  /** When the default route last moved from the first uplink to another (epoch ms); null while on the first. */
  private backupSince: number | null = null;

  constructor(
    node: Node,
    private readonly def: ControllerNodeDef,
    private readonly services: ControllerServices,
  ) {
    super(node, NS, services.translate);
    this.config = controllerConfig(def, (id) => services.getNode(id));
  }

  /** Starts the engine in the background; input and close wait for it. */
  override start(): void {
    this.stopWatchingDeploys = this.services.watchDeploys?.((ids) => this.onDeploy(ids)) ?? null;
    this.ready = this.begin().catch((e: unknown) => this.stopped('failed', errorMessage(e)));
  }

  private async begin(): Promise<void> {
    const config = this.config;
    if ('problem' in config) {
      this.stopped('invalid', config.problem);
      return;
    }
    this.setBadge('working', this.t('status.starting'));
    if (!config.dryRun) {
      const missing = await this.services.missingCapabilities();
      if (this.closing) return;
      if (missing.length > 0) {
        this.stopped('capabilities', missing.join(' and '));
        return;
      }
    }
    const logger = nodeLogger(this.node);
    const commands = new ProcessRunner();
    const runner = new FailoverRunner({
      connections: config.resetConnections ? new ConnectionReset({ runner: commands, logger, dryRun: config.dryRun }) : undefined,
      dns: config.dnsMethod === 'off' ? undefined : new DnsManager({ runner: commands, logger, dryRun: config.dryRun, method: config.dnsMethod }),
      uplinks: config.uplinks,
      routes: this.services.routes({ dryRun: config.dryRun, logger }).forOwner(this.node.id),
      logger,
      probe: this.services.probe,
      verdicts: this.verdicts,
      linkPollMs: this.services.linkPollMs,
      setupRetryMs: config.setupRetryMs,
      metering: { file: config.usageFile || this.services.usageFile?.(this.node.id), reportMs: config.usageReportMs },
    });
    this.runner = runner;
    this.unsubscribe = runner.on((event) => this.onEvent(event));
    await runner.start();
    this.updateBadge();
  }

  /** No engine: a red ring with the reason and one error in the log (input commands then fail with it too). */
  private stopped(kind: 'invalid' | 'capabilities' | 'failed', detail: string): void {
    if (kind === 'capabilities') {
      this.problem = this.t('errors.capabilities', { capabilities: detail });
      this.setBadge('error', this.t('status.capabilities', { capabilities: detail }));
    } else {
      this.problem = this.t(`errors.${kind}`, { problem: detail });
      this.setBadge('error', this.t(`status.${kind}`, { problem: detail }));
    }
    this.node.error(this.problem);
  }

  /**
   * Node-RED restarts a node when a config node it references changes, but it does not see references
   * inside an array: after a "modified nodes" deploy that changed one of our uplinks, this node is still
   * running with the old settings. So it restarts its engine itself, with the redeployed uplinks.
   */
  private onDeploy(changedIds: readonly string[]): void {
    // The first deploy seen is the one that created this node.
    if (this.deploysSeen++ === 0 || this.closing) return;
    const mine = new Set(uplinkIds(this.def.uplinks));
    if (!changedIds.some((id) => mine.has(id))) return;
    const previous = this.ready;
    this.ready = (async () => {
      await previous;
      if (this.closing) return;
      await this.stopRunner();
      this.config = controllerConfig(this.def, (id) => this.services.getNode(id));
      this.problem = null;
      this.noUplink = false;
      await this.begin();
    })().catch((e: unknown) => this.stopped('failed', errorMessage(e)));
  }

  // ---- events -----------------------------------------------------------------------------------

  private onEvent(event: RunnerEvent): void {
    const runner = this.runner;
    if (!runner) return;
    const active = runner.engine.activeUplink;
    if (event.type === 'available') {
      this.node.send([null, availableMessage(event, active)]);
    } else {
      if (event.type === 'connected' || event.type === 'connectionRestored') {
        const first = this.runnerUplinks()[0]?.name;
        if (event.uplink === first) this.backupSince = null;
        else this.backupSince ??= event.time;
      }
      if (event.type === 'noUplink') this.noUplink = true;
      else if (event.type === 'connected' || event.type === 'connectionRestored' || event.type === 'waiting') this.noUplink = false;
      this.node.send([eventMessage(event, active), null]);
    }
    this.scheduleBadge();
  }

  /**
   * The engine emits before it finishes the step (a setup goes out before the wait is recorded), and one
   * decision emits several events: the badge follows once the step is done, after the current callbacks.
   */
  private scheduleBadge(): void {
    if (this.badgeTimer || this.closing) return;
    this.badgeTimer = setImmediate(() => {
      this.badgeTimer = null;
      this.updateBadge();
    });
  }

  /** Green: the primary carries traffic; yellow: a backup does; blue: waiting; red: nothing works; grey: paused. */
  private updateBadge(): void {
    const runner = this.runner;
    if (!runner || this.closing) return;
    const s = runner.engine.status();
    const index = s.uplinks.findIndex((u) => u.active);
    const active = index >= 0 ? s.uplinks[index] : undefined;
    const pending = s.uplinks.find((u) => u.name === s.pending);
    if (s.paused) {
      this.setBadge('inactive', this.t('status.paused', { uplink: active?.name ?? '-' }));
    } else if (pending) {
      this.setBadge('working', this.t('status.waiting', { uplink: pending.name, iface: pending.iface }));
    } else if (active && (active.usable || active.health === 'degraded')) {
      const text = { uplink: active.name, iface: active.iface };
      // A metered uplink carrying traffic shows what it used since it became active (and of its budget).
      const used = runner.usage().find((u) => u.uplink === active.name && u.active);
      if (active.health === 'degraded') this.setBadge('warning', this.t('status.degraded', text));
      else if (used) {
        const bytes = formatBytes(used.sessionBytes ?? 0);
        const amount = used.budgetUsed === null ? bytes : this.t('status.usedOfBudget', { used: bytes, percent: used.budgetUsed });
        this.setBadge(index === 0 ? 'ok' : 'warning', this.t(index === 0 ? 'status.activeMetered' : 'status.backupMetered', { ...text, used: amount }));
      } else if (index === 0) this.setBadge('ok', this.t('status.active', text));
      else this.setBadge('warning', this.t('status.backup', text));
    } else if (active || this.noUplink) {
      this.setBadge('error', this.t('status.noUplink'));
    } else {
      this.setBadge('working', this.t('status.starting'));
    }
  }

  /** Sets the badge unless it already shows exactly this (a round a second must not flood the editor). */
  private setBadge(kind: BadgeKind, text: string): void {
    const key = `${kind}:${text}`;
    if (key === this.lastBadge) return;
    this.lastBadge = key;
    this.badge[kind](text);
  }

  // ---- input ------------------------------------------------------------------------------------

  protected async handle(msg: NodeMessageInFlow, send: Send): Promise<void> {
    // A command that arrives while the engine starts is handled once it runs.
    await this.ready;
    this.command(msg, send);
  }

  private command(msg: NodeMessageInFlow, send: Send): void {
    const runner = this.runner;
    if (this.closing) throw new Error(this.t('errors.closed'));
    if (!runner) throw new Error(this.t('errors.notRunning', { problem: this.problem ?? '-' }));
    if (msg.topic === VERDICT_TOPIC) {
      // Its payload is data whatever it holds: checked whole before it is recorded; it moves no route by itself.
      const verdict = readFlowVerdict(msg.payload, this.runnerUplinks());
      if ('problem' in verdict) throw new Error(this.t('errors.verdict', { problem: verdict.problem }));
      this.verdicts.record(verdict.uplink, verdict.check, verdict.ok, verdict.rtt);
      return;
    }
    const command = commandOf(msg);
    if (command === undefined) throw new Error(this.t('errors.noCommand', { commands: COMMANDS.join(', ') }));
    const engine = runner.engine;
    switch (command as Command) {
      case 'status': {
        msg.topic = 'status';
        msg.payload = statusPayload(engine.status(), new Date(), runner.usage(), this.backupSince);
        send([msg, null]);
        return;
      }
      case 'force': {
        const name = uplinkOf(msg);
        if (name === undefined) throw new Error(this.t('errors.forceWithoutUplink'));
        const known = engine.status().uplinks.map((u) => u.name);
        if (!known.includes(name)) throw new Error(this.t('errors.unknownUplink', { uplink: name, known: known.join(', ') }));
        engine.force(name);
        break;
      }
      case 'auto':
        engine.force(null);
        break;
      case 'pause':
        engine.pause();
        break;
      case 'resume':
        engine.resume();
        break;
      case 'recheck':
        engine.recheck();
        break;

      default:
        throw new Error(this.t('errors.unknownCommand', { command, commands: COMMANDS.join(', ') }));
    }
    this.updateBadge();
  }

  /** The uplinks the running engine has. */
  private runnerUplinks(): UplinkConfig[] {
    return 'problem' in this.config ? [] : this.config.uplinks;
  }

  // ---- close ------------------------------------------------------------------------------------

  /**
   * Waits for a start in progress, stops the engine (it leaves the default route on the best usable
   * uplink and removes its pins; the lifecycle of that last move still goes out) and the link watch,
   * then forgets the engine: nothing of this node runs after this resolves.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.stopWatchingDeploys?.();
    this.stopWatchingDeploys = null;
    await this.ready;
    try {
      await this.stopRunner();
    } finally {
      this.badge.clear();
    }
  }

  /** Stops the engine and link watch (their last events still go out), then detaches from them. */
  private async stopRunner(): Promise<void> {
    try {
      await this.runner?.stop();
    } finally {
      this.unsubscribe?.();
      this.unsubscribe = null;
      this.runner = null;
      this.backupSince = null;
      if (this.badgeTimer) clearImmediate(this.badgeTimer);
      this.badgeTimer = null;
      this.lastBadge = '';
    }
  }
}
