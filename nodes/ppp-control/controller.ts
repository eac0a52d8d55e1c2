/**
 * What a `ppp-control` node does: watches its PPP interface, starts and stops the dial-up peer through the
 * core's PppLink, and turns the link's events into messages (output 1 up, output 2 down) and badges.
 * The controller's `setup`/`teardown` for its interface run a ModemSession (lib/ppp/modem-session): with a
 * modem, power on then dial, hang up then power off, each step a message.
 * Without the dialer or `ip` on PATH it stays deployed with a grey "not available" badge.
 */
import { errorMessage } from '../../lib/errors';
import { FonaPower, PowerResult } from '../../lib/gpio/fona-power';
import type { OpenGpioOptions, OpenedGpio } from '../../lib/gpio/select';
import type { LinkSource } from '../../lib/linkwatch/link-watch';
import { PppDialer, PppDownEvent, PppLink, PppLinkOptions, PppStatus, PppUpEvent } from '../../lib/ppp/ppp-link';
import { ModemKind, ModemLink, ModemPower, ModemSession, ModemStep } from '../../lib/ppp/modem-session';
import { SETTING_RULES, SettingsReader } from '../../lib/settings/rules';
import { NodeController, Send, Translate } from '../shared/controller';
import { FonaPins, FonaPinsDef, readFonaPins } from '../shared/fona-settings';
import type { Node, NodeDef, NodeMessage } from '../shared/red';
import { nodeLogger } from '../shared/route-services';

export interface PppControlDef extends NodeDef, Partial<FonaPinsDef> {
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
  /** 'fona': powered on before a `setup` dial, off after a `teardown` hang-up (absent in older flows: none). */
  modem?: string;
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
  /** Picks and opens the GPIO driver for the modem's power (lib/gpio/select openGpio). */
  openGpio(options: OpenGpioOptions): Promise<OpenedGpio>;
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
  /** The modem's power pins, or null without a modem. */
  modem: FonaPins | null;
}

type Command = 'start' | 'stop' | 'status' | 'setup' | 'teardown';
const NS = 'ppp-control';
const COMMANDS: readonly Command[] = ['start', 'stop', 'status', 'setup', 'teardown'];
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
  const modem: ModemKind = settings.read('modem', R.modem, def.modem, 'none');
  const pins = modem === 'fona' ? readFonaPins(settings, def) : null;
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
    modem: pins,
  };
}

/**
 * What a message asks for: a command, or `ignore` for a controller event about another uplink or step.
 * `iface` null (settings that cannot be read): every setup/teardown is taken, so it fails with the reason.
 */
function commandOf(msg: NodeMessage, iface: string | null): Command | 'ignore' | null {
  const event = controllerEvent(msg);
  if (event) return (event.type === 'setup' || event.type === 'teardown') && (iface === null || event.iface === iface) ? event.type : 'ignore';
  let value: unknown = msg.payload;
  if (typeof value !== 'string' || value.trim() === '') value = msg.topic;
  if (typeof value !== 'string') return null;
  const command = value.trim().toLowerCase();
  return (COMMANDS as readonly string[]).includes(command) ? (command as Command) : null;
}

/**
 * A failover-controller message, wired straight in: topic = payload.event (output 1) or `available` (output 2),
 * payload {uplink, iface, ...}. A message whose topic was changed (an older flow's glue) is a command as before.
 */
function controllerEvent(msg: NodeMessage): { type: string; iface: unknown } | null {
  const p: unknown = msg.payload;
  if (typeof p !== 'object' || p === null || Array.isArray(p) || typeof msg.topic !== 'string') return null;
  const { event, uplink, iface } = p as Record<string, unknown>;
  if (!('uplink' in p) || (uplink !== null && typeof uplink !== 'string')) return null;
  return event === msg.topic || msg.topic === 'available' ? { type: msg.topic, iface } : null;
}

/** A modem power step: {state: 'power', power, changed, driver, iface, peer}. */
function powerMsg(result: PowerResult, iface: string, peer: string): NodeMessage {
  return { topic: 'power', payload: { state: 'power', power: result.power, changed: result.changed, driver: result.driver, iface, peer } };
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
  /** Runs the controller's setup/teardown (with the modem's power when there is one). */
  private session: ModemSession | null = null;
  /** The modem's power switch once opened (null until then, or without a modem). */
  private power: Promise<FonaPower> | null = null;
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
    this.session = this.startSession(settings, link);
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

  /** The session for setup/teardown: it starts and stops the link as inputs do (their answers replace the events). */
  private startSession(settings: PppSettings, link: PppLink): ModemSession {
    const modemLink: ModemLink = {
      start: async () => {
        this.starting++;
        try {
          return await link.start();
        } finally {
          this.starting--;
        }
      },
      stop: async () => {
        this.stopping++;
        try {
          return await link.stop();
        } finally {
          this.stopping--;
        }
      },
      status: () => link.status(),
    };
    const pins = settings.modem;
    const session = new ModemSession({
      link: modemLink,
      power: pins ? () => this.openPower(pins) : null,
      report: (step) => this.reportStep(step, settings),
      logger: nodeLogger(this.node),
    });
    // Opened now so the log says at deploy which GPIO driver is used, or why none works.
    if (pins) this.openPower(pins).catch(() => undefined);
    return session;
  }

  /** The modem's power switch, opened once; a failure is reported, and tried again at the next use. */
  private openPower(pins: FonaPins): Promise<ModemPower> {
    this.power ??= this.services.openGpio({ driver: pins.driver, chip: pins.gpiochip }).then(
      (opened) => {
        this.node.log(this.t('log.modem', { ps: pins.powerStatusPin, key: pins.keyPin, gpio: opened.reason }));
        return new FonaPower({
          driver: opened.driver,
          powerStatusPin: pins.powerStatusPin,
          keyPin: pins.keyPin,
          keyPulseMs: pins.keyPulseMs,
          statusTimeoutMs: pins.statusTimeoutMs,
          logger: nodeLogger(this.node),
        });
      },
      (e: unknown) => {
        this.power = null;
        if (!this.closing) this.node.warn(this.t('errors.gpio', { error: errorMessage(e) }));
        throw e;
      },
    );
    return this.power;
  }

  /** One step of a setup or teardown: a message (output 1 towards up, output 2 towards down) and the badge. */
  private reportStep(step: ModemStep, settings: PppSettings): void {
    const { iface, peer } = settings;
    if (this.closing) {
      if (step.step === 'failed') this.node.warn(this.t('errors.modem', { stage: step.stage, error: step.message }));
      return;
    }
    switch (step.step) {
      case 'powering-on':
        this.badge.working(this.t('status.poweringOn'));
        break;
      case 'powered-on':
        this.node.send([powerMsg(step.power, iface, peer), null]);
        break;
      case 'up':
        this.node.send([upMsg(step.up), null]);
        break;
      case 'hung-up':
        this.node.send([null, downMsg(step.down)]);
        break;
      case 'powering-off':
        this.badge.working(this.t('status.poweringOff'));
        break;
      case 'powered-off':
        this.badge.inactive(this.t('status.modemOff'));
        this.node.send([null, powerMsg(step.power, iface, peer)]);
        break;
      case 'cancelled':
        this.node.debug(`setup of ${iface} cut short during ${step.stage}`);
        break;
      case 'failed':
        // A failed dial was reported on output 2 already (the link's 'down' event, with its reason).
        if (step.stage === 'dial') break;
        this.node.warn(this.t('errors.modem', { stage: step.stage, error: step.message }));
        this.node.send([null, { topic: 'failed', payload: { state: 'failed', step: step.stage, iface, peer, message: step.message } }]);
        break;
      default:
        break;
    }
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
    const command = commandOf(msg, typeof this.settings === 'string' ? null : this.settings.iface);
    if (command === 'ignore') return;
    if (!command) {
      throw new Error(this.t('errors.command', { command: String(typeof msg.payload === 'string' ? msg.payload : JSON.stringify(msg.payload)) }));
    }
    await this.ready;
    const link = this.link;
    if (!link) throw new Error(this.unavailable ?? this.t('errors.unavailable', { program: 'pon' }));
    if (command === 'setup' || command === 'teardown') {
      await (command === 'setup' ? this.session?.setup() : this.session?.teardown());
      return;
    }
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
    // Deleted from the flow: hang up (and power the modem off). Redeployed: a pon/poff link that is up stays up
    // (its modem on) and the next node adopts it; a setup or dial in progress is undone (hung up, modem off);
    // a pppd child (dialer pppd) never outlives its node. Every timer, command and `ip monitor` ends.
    try {
      await this.ready;
      await this.session?.close({ hangUp: removed });
      await this.link?.close({ hangUp: removed });
      await this.links?.stop();
      await (await this.power?.catch(() => null))?.close();
    } catch (e) {
      this.node.warn(errorMessage(e));
    }
    this.badge.clear();
  }
}
