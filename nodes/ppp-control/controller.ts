/**
 * What a `ppp-control` node does: watches its PPP interface, starts and stops the dial-up peer through the
 * core's PppLink, and turns the link's events into messages (output 1 up, output 2 down) and badges.
 * Without the dialer or `ip` on PATH it stays deployed with a grey "not available" badge.
 */
import { errorMessage } from '../../lib/errors';
import type { LinkSource } from '../../lib/linkwatch/link-watch';
import { PppDialer, PppDownEvent, PppLink, PppLinkOptions, PppStatus, PppUpEvent } from '../../lib/ppp/ppp-link';
import { SETTING_RULES, SettingsReader } from '../../lib/settings/rules';
import { NodeController, Send, Translate } from '../shared/controller';
import type { Node, NodeDef, NodeMessage } from '../shared/red';
import { nodeLogger } from '../shared/route-services';

export interface PppControlDef extends NodeDef {
  peer: string;
  iface: string;
  /** Seconds to wait for the interface after the start command. */
  upTimeout: string | number;
  redial: boolean;
  /** Seconds before the first redial (doubling after each failure, up to 5 minutes). */
  redialDelay: string | number;
  dialer: string;
  /** Dialer 'command': program and arguments, separated by spaces (no shell, no quoting). */
  startCommand: string;
  stopCommand: string;
}

/** A started watch of the interface (lib/linkwatch LinkWatch). */
export interface WatchedLink extends LinkSource {
  start(): Promise<void>;
  /** stop() is coming (LinkWatch.prepareStop): an `ip monitor` ended by the same stop signal is no failure. */
  prepareStop?(): void;
  stop(): Promise<void>;
}

export interface PppServices {
  translate: Translate;
  /** The program's path on PATH, or null. */
  findOnPath(program: string): Promise<string | null>;
  /** A watch of one interface (not started). */
  watchLink(iface: string): WatchedLink;
  /** The link that dials and hangs up. */
  dial(options: PppLinkOptions): PppLink;
}

interface PppSettings {
  peer: string;
  iface: string;
  upTimeoutMs: number;
  redial: boolean;
  redialDelayMs: number;
  dialer: PppDialer;
  startCommand: string[];
  stopCommand: string[];
}

type Command = 'start' | 'stop' | 'status';
const NS = 'ppp-control';
const COMMANDS: readonly Command[] = ['start', 'stop', 'status'];
const words = (text: string | undefined): string[] => (text ?? '').trim().split(/\s+/).filter((w) => w !== '');

/** The editor's values, checked with the rules of lib/settings; a sentence naming every one that is wrong. */
function pppSettingsFromDef(def: PppControlDef): PppSettings | string {
  const R = SETTING_RULES.ppp;
  const settings = new SettingsReader();
  const peer = settings.read('peer', R.peer, def.peer, 'fona');
  const iface = settings.read('iface', R.iface, def.iface, 'ppp0');
  const upTimeout = settings.read('upTimeout', R.upTimeout, def.upTimeout, 60);
  const redialDelay = settings.read('redialDelay', R.redialDelay, def.redialDelay, 10);
  const dialer = settings.read('dialer', R.dialer, def.dialer, 'pon');
  if (settings.problems.length > 0) return settings.problems.join('; ');
  const startCommand = words(def.startCommand);
  const stopCommand = words(def.stopCommand);
  if (dialer === 'command' && startCommand.length === 0) return 'the command dialer needs a start command';
  return {
    peer,
    iface,
    upTimeoutMs: Math.round(upTimeout * 1000),
    redial: def.redial === true,
    redialDelayMs: Math.round(redialDelay * 1000),
    dialer,
    startCommand,
    stopCommand,
  };
}

function commandOf(msg: NodeMessage): Command | null {
  let value: unknown = msg.payload;
  if (typeof value !== 'string' || value.trim() === '') value = msg.topic;
  if (typeof value !== 'string') return null;
  const command = value.trim().toLowerCase();
  return (COMMANDS as readonly string[]).includes(command) ? (command as Command) : null;
}

interface DownPayload {
  state: 'down';
  iface: string;
  peer: string;
  /** Why: stopped, timeout, start-failed, pppd-exited, link-lost, closed; 'status' for a status answer. */
  reason: string;
  message: string;
  /** Seconds until the next automatic dial, or null. */
  redialIn: number | null;
  /** For a status answer: down, dialing, hanging-up or redial-wait. */
  phase?: string;
}

function upMsg(e: PppUpEvent): NodeMessage {
  return { topic: 'up', payload: { state: 'up', iface: e.iface, peer: e.peer, address: e.address, cidr: e.cidr } };
}

function downMsg(e: PppDownEvent): NodeMessage {
  const payload: DownPayload = {
    state: 'down',
    iface: e.iface,
    peer: e.peer,
    reason: e.reason,
    message: e.message,
    redialIn: e.redialInMs === null ? null : e.redialInMs / 1000,
  };
  return { topic: 'down', payload };
}

export class PppController extends NodeController {
  private readonly settings: PppSettings | string;
  private link: PppLink | null = null;
  private links: WatchedLink | null = null;
  private unavailable: string | null = null;
  private closing = false;
  private ready: Promise<void> = Promise.resolve();
  /** Inputs in progress: their own answers replace the events they cause. */
  private starting = 0;
  private stopping = 0;

  constructor(
    node: Node,
    def: PppControlDef,
    private readonly services: PppServices,
  ) {
    super(node, NS, services.translate);
    this.settings = pppSettingsFromDef(def);
  }

  override start(): void {
    const settings = this.settings;
    if (typeof settings === 'string') {
      this.unavailable = this.refuseSettings(settings);
      return;
    }
    this.ready = this.open(settings);
  }

  /** Finds the tools, starts the interface watch and builds the link; without them, "not available". */
  private async open(settings: PppSettings): Promise<void> {
    const program = settings.dialer === 'command' ? settings.startCommand[0] : settings.dialer;
    const [dialerPath, ipPath] = await Promise.all([this.services.findOnPath(program), this.services.findOnPath('ip')]);
    if (this.closing) return;
    if (!dialerPath || !ipPath) {
      this.notAvailable(this.t('errors.unavailable', { program: !dialerPath ? program : 'ip' }));
      return;
    }
    const watch = this.services.watchLink(settings.iface);
    this.links = watch;
    try {
      await watch.start();
    } catch (e) {
      this.notAvailable(this.t('errors.watch', { error: errorMessage(e) }));
      return;
    }
    if (this.closing) return;
    const link = this.services.dial({
      peer: settings.peer,
      iface: settings.iface,
      dialer: settings.dialer,
      startCommand: settings.startCommand,
      stopCommand: settings.stopCommand,
      upTimeoutMs: settings.upTimeoutMs,
      redial: settings.redial,
      redialDelayMs: settings.redialDelayMs,
      links: watch,
      logger: nodeLogger(this.node),
    });
    this.link = link;
    link.on('state', (s) => this.showState(s));
    link.on('up', (e) => {
      if (this.starting > 0 || this.closing) return;
      this.node.send([upMsg(e), null]);
    });
    link.on('down', (e) => {
      this.showState(link.status(), e);
      if ((this.stopping > 0 && e.reason === 'stopped') || this.closing) return;
      this.node.send([null, downMsg(e)]);
    });
    // The interface may already be up (a redeploy, or dialled by someone else): show it as it is.
    if (watch.state(settings.iface).up) this.badge.ok(this.t('status.present', { iface: settings.iface }));
    else this.badge.inactive(this.t('status.down'));
  }

  private notAvailable(reason: string): void {
    this.unavailable = reason;
    this.badge.inactive(this.t('status.unavailable'));
    this.node.warn(reason);
  }

  private showState(s: PppStatus, lastDown?: PppDownEvent): void {
    switch (s.state) {
      case 'up':
        this.badge.ok(this.t('status.up', { iface: s.iface, address: s.address ?? '' }));
        break;
      case 'dialing':
        this.badge.working(this.t('status.dialing', { peer: s.peer }));
        break;
      case 'hanging-up':
        this.badge.working(this.t('status.hangingUp'));
        break;
      case 'redial-wait':
        this.badge.warning(this.t('status.redialWait'));
        break;
      default:
        if (lastDown && lastDown.reason !== 'stopped') this.badge.error(this.t(`status.${lastDown.reason}`));
        else this.badge.inactive(this.t('status.down'));
    }
  }

  protected async handle(msg: NodeMessage, send: Send): Promise<void> {
    const command = commandOf(msg);
    if (!command) {
      throw new Error(this.t('errors.command', { command: String(typeof msg.payload === 'string' ? msg.payload : JSON.stringify(msg.payload)) }));
    }
    await this.ready;
    const link = this.link;
    if (!link) throw new Error(this.unavailable ?? this.t('errors.unavailable', { program: 'pon' }));
    if (command === 'status') {
      const s = link.status();
      if (s.state === 'up' && s.address) {
        send([{ ...msg, topic: 'up', payload: { state: 'up', iface: s.iface, peer: s.peer, address: s.address, cidr: null } }, null]);
      } else {
        const payload: DownPayload = { state: 'down', iface: s.iface, peer: s.peer, reason: 'status', message: s.state, redialIn: null, phase: s.state };
        send([null, { ...msg, topic: 'down', payload }]);
      }
      return;
    }
    if (command === 'start') {
      this.starting++;
      try {
        const up = await link.start();
        send([{ ...msg, ...upMsg(up) }, null]);
      } catch {
        // A dial that failed was reported on output 2 (its 'down' event) with the reason; a start cut
        // short by stop or close is answered by those.
      } finally {
        this.starting--;
      }
      return;
    }
    this.stopping++;
    try {
      const down = await link.stop();
      send([null, { ...msg, ...downMsg(down) }]);
    } catch (e) {
      if (!this.closing) throw new Error(this.t('errors.stop', { error: errorMessage(e) }));
    } finally {
      this.stopping--;
    }
  }

  async close(removed: boolean): Promise<void> {
    this.closing = true;
    this.links?.prepareStop?.();
    // Deleted from the flow: hang up. Redeployed: a pon/poff link stays up and the next node adopts it;
    // a pppd child (dialer pppd) never outlives its node. Every timer, command and `ip monitor` ends.
    try {
      await this.ready;
      await this.link?.close({ hangUp: removed });
      await this.links?.stop();
    } catch (e) {
      this.node.warn(errorMessage(e));
    }
    this.badge.clear();
  }
}
