/**
 * What a `failover-controller` node does, apart from registering with Node-RED: builds its uplinks from
 * the uplink config nodes (in priority order), runs a FailoverRunner (link watch, probes, engine) on the
 * process's shared route service, turns engine events into messages on its two outputs and into its
 * status badge, obeys the input commands, and stops everything on close.
 */
import { ConnectionReset } from '../../lib/connections/connection-reset';
import { DnsManager, DnsMethod } from '../../lib/dns/dns-manager';
import { EngineStatus, RouteActions } from '../../lib/engine/engine';
import { ExecaRunner } from '../../lib/process/runner';
import { FailoverEvent } from '../../lib/engine/events';
import { SETTING_RULES, SettingsReader } from '../../lib/settings/rules';
import { Logger } from '../../lib/log/logger';
import { Probe } from '../../lib/probes/probe';
import { FailoverRunner } from '../../lib/runtime/failover-runner';
import { UplinkConfig, validateUplinks } from '../../lib/uplink/model';
import { NodeController, Send, Translate } from '../shared/controller';
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
  /**
   * Calls the listener after every deploy with the ids of the nodes it changed or removed (RED.events
   * 'flows:started'); returns the function that stops listening.
   */
  watchDeploys?(listener: (changedIds: readonly string[]) => void): () => void;
}

export const COMMANDS = ['status', 'force', 'auto', 'pause', 'resume', 'recheck'] as const;
export type Command = (typeof COMMANDS)[number];

export const DEFAULT_SETUP_RETRY_S = 60;

interface ControllerConfig {
  uplinks: UplinkConfig[];
  dryRun: boolean;
  setupRetryMs: number;
  resetConnections: boolean;
  dnsMethod: DnsMethod;
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
  active: string | null;
}

type AvailableEvent = Extract<FailoverEvent, { type: 'available' }>;
type NoticeEvent = Exclude<FailoverEvent, { type: 'available' }>;

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
    active,
  };
  return { topic: 'available', payload };
}

export function statusPayload(status: EngineStatus, now: Date): EventPayload {
  const active = status.uplinks.find((u) => u.active);
  return { event: 'status', uplink: active?.name ?? null, iface: active?.iface ?? null, ...status, time: now.toISOString() };
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

export class FailoverController extends NodeController {
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
    const commands = new ExecaRunner();
    const runner = new FailoverRunner({
      connections: config.resetConnections ? new ConnectionReset({ runner: commands, logger, dryRun: config.dryRun }) : undefined,
      dns: config.dnsMethod === 'off' ? undefined : new DnsManager({ runner: commands, logger, dryRun: config.dryRun, method: config.dnsMethod }),
      uplinks: config.uplinks,
      routes: this.services.routes({ dryRun: config.dryRun, logger }).forOwner(this.node.id),
      logger,
      probe: this.services.probe,
      linkPollMs: this.services.linkPollMs,
      setupRetryMs: config.setupRetryMs,
    });
    this.runner = runner;
    this.unsubscribe = runner.engine.on((event) => this.onEvent(event));
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

  private onEvent(event: FailoverEvent): void {
    const runner = this.runner;
    if (!runner) return;
    const active = runner.engine.activeUplink;
    if (event.type === 'available') {
      this.node.send([null, availableMessage(event, active)]);
    } else {
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
    } else if (active?.usable) {
      const text = { uplink: active.name, iface: active.iface };
      if (index === 0) this.setBadge('ok', this.t('status.active', text));
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
    const command = commandOf(msg);
    if (command === undefined) throw new Error(this.t('errors.noCommand', { commands: COMMANDS.join(', ') }));
    const engine = runner.engine;
    switch (command as Command) {
      case 'status': {
        msg.topic = 'status';
        msg.payload = statusPayload(engine.status(), new Date());
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
      if (this.badgeTimer) clearImmediate(this.badgeTimer);
      this.badgeTimer = null;
      this.lastBadge = '';
    }
  }
}
