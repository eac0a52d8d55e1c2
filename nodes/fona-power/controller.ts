/**
 * What a `fona-power` node does: opens the GPIO (the chosen or detected driver), shows the modem's power
 * state, and runs 'on' | 'off' | 'toggle' | 'status' through the core's FonaPower. Without usable GPIO it
 * stays deployed with a grey "not available" badge, and each message fails with the reason.
 */
import { errorMessage } from '../../lib/errors';
import { FonaPower, PowerCommand, PowerResult } from '../../lib/gpio/fona-power';
import { GpioError, GpioErrorCode } from '../../lib/gpio/gpio';
import type { OpenGpioOptions, OpenedGpio } from '../../lib/gpio/select';
import { SettingsReader } from '../../lib/settings/rules';
import { NodeController, Send, Translate } from '../shared/controller';
import { InputError } from '../shared/errors';
import { FonaPins, FonaPinsDef, readFonaPins } from '../shared/fona-settings';
import type { Node, NodeDef, NodeMessage } from '../shared/red';
import { nodeLogger } from '../shared/route-services';
import type { Badge } from '../shared/status';

export interface FonaPowerDef extends NodeDef, FonaPinsDef {}

export interface FonaServices {
  translate: Translate;
  /** Picks and opens the GPIO driver (lib/gpio/select openGpio). */
  openGpio(options: OpenGpioOptions): Promise<OpenedGpio>;
}

const NS = 'fona-power';
const COMMANDS: readonly PowerCommand[] = ['on', 'off', 'toggle', 'status'];
/** Errors that mean "this machine has no usable GPIO for this": a grey badge, not a red one. */
const UNAVAILABLE: readonly GpioErrorCode[] = ['NO_DRIVER', 'NO_TOOLS', 'NO_CHIP'];

/** The editor's values, checked with the rules of lib/settings; a sentence naming every one that is wrong. */
function fonaSettingsFromDef(def: FonaPowerDef): FonaPins | string {
  const settings = new SettingsReader();
  const pins = readFonaPins(settings, def);
  return settings.problems.length > 0 ? settings.problems.join('; ') : pins;
}

/** 'on' | 'off' | 'toggle' | 'status' from msg.payload (or msg.topic); true/false and 1/0 mean on/off. */
function commandOf(msg: NodeMessage): PowerCommand | null {
  let value: unknown = msg.payload;
  if (value === true || value === 1) return 'on';
  if (value === false || value === 0) return 'off';
  if (typeof value !== 'string' || value.trim() === '') value = msg.topic;
  if (typeof value !== 'string') return null;
  const command = value.trim().toLowerCase();
  return (COMMANDS as readonly string[]).includes(command) ? (command as PowerCommand) : null;
}

export class FonaController extends NodeController {
  private readonly settings: FonaPins | string;
  private power: FonaPower | null = null;
  /** Why there is no power control: a sentence for errors. */
  private unavailable: string | null = null;
  private closing = false;
  private ready: Promise<void> = Promise.resolve();

  constructor(
    node: Node,
    def: FonaPowerDef,
    private readonly services: FonaServices,
  ) {
    super(node, NS, services.translate);
    this.settings = fonaSettingsFromDef(def);
  }

  override start(): void {
    const settings = this.settings;
    if (typeof settings === 'string') {
      this.unavailable = this.refuseSettings(settings);
      return;
    }
    this.badge.working(this.t('status.starting'));
    this.ready = this.open(settings).catch((e: unknown) => {
      this.unavailable = this.t('errors.unavailable', { reason: errorMessage(e) });
      if (this.closing) return;
      this.badge.inactive(this.t('status.unavailable'));
      this.node.warn(this.unavailable);
    });
  }

  /** Opens the GPIO and shows the power state; a state that cannot be read is shown, not thrown. */
  private async open(settings: FonaPins): Promise<void> {
    const opened = await this.services.openGpio({ driver: settings.driver, chip: settings.gpiochip });
    const control = new FonaPower({
      driver: opened.driver,
      powerStatusPin: settings.powerStatusPin,
      keyPin: settings.keyPin,
      keyPulseMs: settings.keyPulseMs,
      statusTimeoutMs: settings.statusTimeoutMs,
      logger: nodeLogger(this.node),
    });
    this.power = control;
    if (this.closing) return;
    this.node.debug(`GPIO ${opened.reason}`);
    if (opened.warning) this.node.warn(opened.warning);
    try {
      this.showPower(await control.status());
    } catch (e) {
      if (this.closing) return;
      this.badge.show(this.errorBadge(e));
      if (e instanceof GpioError && UNAVAILABLE.includes(e.code)) {
        this.unavailable = this.t('errors.unavailable', { reason: e.message });
        this.node.warn(this.unavailable);
      } else {
        this.node.warn(this.t('errors.gpio', { error: errorMessage(e) }));
      }
    }
  }

  protected async handle(msg: NodeMessage, send: Send): Promise<void> {
    const command = commandOf(msg);
    if (!command) {
      throw new Error(this.t('errors.command', { command: String(typeof msg.payload === 'string' ? msg.payload : JSON.stringify(msg.payload)) }));
    }
    await this.ready;
    const power = this.power;
    if (!power) throw new Error(this.unavailable ?? this.t('errors.unavailable', { reason: 'no GPIO driver' }));
    if (command !== 'status') this.badge.working(this.t('status.switching', { command }));
    let result: PowerResult;
    try {
      result = await power.run(command);
    } catch (e) {
      // A message cut short by close/redeploy is not an error of the flow.
      if (this.closing && e instanceof GpioError && e.code === 'CLOSED') return;
      throw new InputError(this.t('errors.gpio', { error: errorMessage(e) }), this.errorBadge(e));
    }
    this.showPower(result);
    msg.payload = result;
    send(msg);
  }

  async close(): Promise<void> {
    this.closing = true;
    // A pulse in progress is cut short (the key goes back high); commands in flight end; the GPIO is released.
    try {
      await this.ready;
      await this.power?.close();
    } catch (e) {
      this.node.warn(errorMessage(e));
    }
    this.badge.clear();
  }

  private showPower(result: PowerResult): void {
    if (result.power === 'on') this.badge.ok(this.t('status.on'));
    else this.badge.inactive(this.t('status.off'));
  }

  /** Grey "not available" when the machine has no GPIO for this, else a red ring naming the trouble. */
  private errorBadge(e: unknown): Badge {
    const code = e instanceof GpioError ? e.code : 'FAILED';
    if (UNAVAILABLE.includes(code)) return { kind: 'inactive', text: this.t('status.unavailable') };
    const key = code === 'EBUSY' ? 'busy' : code === 'EACCES' ? 'denied' : code === 'STATUS_UNCHANGED' ? 'noChange' : 'failed';
    return { kind: 'error', text: this.t(`status.${key}`) };
  }
}
