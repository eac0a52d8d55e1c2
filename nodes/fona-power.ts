/**
 * `fona-power`: switches an Adafruit FONA (or any SIM800-style modem with a power key and a status pin) on
 * and off through GPIO, the guide's way: read the power status pin, pulse the key pin low only if the state
 * must change, confirm the status pin followed. Input 'on' | 'off' | 'toggle' | 'status'; output
 * msg.payload = {power, changed, driver}. Without GPIO hardware or tools it still deploys, with a grey
 * "not available" badge, and each message fails with the reason.
 */
import { FonaPower, PowerCommand, PowerResult } from '../lib/gpio/fona-power';
import { GPIO_DRIVER_CHOICES, GpioDriverChoice, GpioError, GpioErrorCode, isValidChip, isValidPin } from '../lib/gpio/gpio';
import { openGpio } from '../lib/gpio/select';
import { asError, errorText } from './shared/errors';
import type { Node, NodeAPI, NodeDef, NodeMessage } from './shared/red';
import { nodeLogger } from './shared/route-services';
import { StatusBadge } from './shared/status';

interface FonaPowerDef extends NodeDef {
  powerStatusPin: string | number;
  keyPin: string | number;
  driver: string;
  gpiochip: string;
  /** Seconds the key is held low. */
  keyPulse: string | number;
  /** Seconds the status pin may take to follow. */
  statusTimeout: string | number;
}

interface FonaSettings {
  powerStatusPin: number;
  keyPin: number;
  driver: GpioDriverChoice;
  gpiochip: string;
  keyPulseMs: number;
  statusTimeoutMs: number;
}

const COMMANDS: readonly PowerCommand[] = ['on', 'off', 'toggle', 'status'];
/** Errors that mean "this machine has no usable GPIO for this": a grey badge, not a red one. */
const UNAVAILABLE: readonly GpioErrorCode[] = ['NO_DRIVER', 'NO_TOOLS', 'NO_CHIP'];

const blank = (v: unknown): boolean => v === undefined || v === null || v === '';

/** The editor's values, checked with the core's rules; a sentence for the first that is wrong. */
function fonaSettingsFromDef(def: FonaPowerDef): FonaSettings | string {
  const powerStatusPin = blank(def.powerStatusPin) ? 23 : Number(def.powerStatusPin);
  const keyPin = blank(def.keyPin) ? 24 : Number(def.keyPin);
  if (!isValidPin(powerStatusPin)) return `power status pin ${String(def.powerStatusPin)}: a BCM GPIO number from 0 to 53`;
  if (!isValidPin(keyPin)) return `key pin ${String(def.keyPin)}: a BCM GPIO number from 0 to 53`;
  if (powerStatusPin === keyPin) return 'the power status pin and the key pin must be two different GPIOs';
  const driver = (blank(def.driver) ? 'auto' : def.driver) as GpioDriverChoice;
  if (!GPIO_DRIVER_CHOICES.includes(driver)) return `driver "${def.driver}": one of ${GPIO_DRIVER_CHOICES.join(', ')}`;
  const gpiochip = blank(def.gpiochip) ? 'gpiochip0' : def.gpiochip;
  if (!isValidChip(gpiochip)) return `GPIO chip "${def.gpiochip}": gpiochip0, a number or /dev/gpiochipN`;
  const keyPulse = blank(def.keyPulse) ? 2 : Number(def.keyPulse);
  if (!Number.isFinite(keyPulse) || keyPulse < 0.1 || keyPulse > 10) return `key pulse ${String(def.keyPulse)}: 0.1 to 10 seconds`;
  const statusTimeout = blank(def.statusTimeout) ? 10 : Number(def.statusTimeout);
  if (!Number.isFinite(statusTimeout) || statusTimeout < 0.1 || statusTimeout > 120) return `status timeout ${String(def.statusTimeout)}: 0.1 to 120 seconds`;
  return { powerStatusPin, keyPin, driver, gpiochip, keyPulseMs: Math.round(keyPulse * 1000), statusTimeoutMs: Math.round(statusTimeout * 1000) };
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

export = function register(RED: NodeAPI): void {
  function FonaPowerNode(this: Node, def: FonaPowerDef): void {
    RED.nodes.createNode(this, def);
    setUp(this, def);
  }

  function setUp(node: Node, def: FonaPowerDef): void {
    const badge = new StatusBadge(node);
    const settings = fonaSettingsFromDef(def);
    let power: FonaPower | null = null;
    /** Why there is no power control: a sentence for errors. */
    let unavailable: string | null = null;
    let closing = false;

    const showPower = (result: PowerResult): void => {
      if (result.power === 'on') badge.ok(RED._('fona-power.status.on'));
      else badge.inactive(RED._('fona-power.status.off'));
    };
    const showError = (e: unknown): void => {
      const code = e instanceof GpioError ? e.code : 'FAILED';
      if (UNAVAILABLE.includes(code)) badge.inactive(RED._('fona-power.status.unavailable'));
      else badge.error(RED._(`fona-power.status.${code === 'EBUSY' ? 'busy' : code === 'EACCES' ? 'denied' : code === 'STATUS_UNCHANGED' ? 'noChange' : 'failed'}`));
    };

    let ready: Promise<void>;
    if (typeof settings === 'string') {
      unavailable = RED._('fona-power.errors.config', { problem: settings });
      badge.error(RED._('fona-power.status.invalid'));
      node.error(unavailable);
      ready = Promise.resolve();
    } else {
      badge.working(RED._('fona-power.status.starting'));
      ready = openGpio({ driver: settings.driver, chip: settings.gpiochip })
        .then(async (opened) => {
          const control = new FonaPower({
            driver: opened.driver,
            powerStatusPin: settings.powerStatusPin,
            keyPin: settings.keyPin,
            keyPulseMs: settings.keyPulseMs,
            statusTimeoutMs: settings.statusTimeoutMs,
            logger: nodeLogger(node),
          });
          power = control;
          if (closing) return;
          node.debug(`GPIO ${opened.reason}`);
          try {
            showPower(await control.status());
          } catch (e) {
            if (closing) return;
            showError(e);
            if (e instanceof GpioError && UNAVAILABLE.includes(e.code)) {
              unavailable = RED._('fona-power.errors.unavailable', { reason: e.message });
              node.warn(unavailable);
            } else {
              node.warn(RED._('fona-power.errors.gpio', { error: errorText(e) }));
            }
          }
        })
        .catch((e: unknown) => {
          unavailable = RED._('fona-power.errors.unavailable', { reason: errorText(e) });
          if (closing) return;
          badge.inactive(RED._('fona-power.status.unavailable'));
          node.warn(unavailable);
        });
    }

    node.on('input', (msg, send, done) => {
      const command = commandOf(msg);
      if (!command) {
        done(new Error(RED._('fona-power.errors.command', { command: String(typeof msg.payload === 'string' ? msg.payload : JSON.stringify(msg.payload)) })));
        return;
      }
      void ready.then(async () => {
        if (!power) {
          done(new Error(unavailable ?? RED._('fona-power.errors.unavailable', { reason: 'no GPIO driver' })));
          return;
        }
        if (command !== 'status') badge.working(RED._('fona-power.status.switching', { command }));
        try {
          const result = await power.run(command);
          showPower(result);
          msg.payload = result;
          send(msg);
          done();
        } catch (e) {
          // A message cut short by close/redeploy is not an error of the flow.
          if (closing && e instanceof GpioError && e.code === 'CLOSED') {
            done();
            return;
          }
          showError(e);
          done(new Error(RED._('fona-power.errors.gpio', { error: errorText(e) })));
        }
      }).catch((e: unknown) => done(asError(e)));
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closing = true;
      // A pulse in progress is cut short (the key goes back high); commands in flight end; the GPIO is released.
      void ready
        .then(() => (power ? power.close() : undefined))
        .catch((e: unknown) => node.warn(errorText(e)))
        .then(() => {
          badge.clear();
          done();
        });
    });
  }

  RED.nodes.registerType('fona-power', FonaPowerNode);
};
