/**
 * The FONA's power settings as a node holds them: the fona-power node, and ppp-control with a modem. One
 * reader for both, checked with the rules of lib/settings (SETTING_RULES.fona).
 */
import type { GpioDriverChoice } from '../../lib/gpio/gpio';
import { SETTING_RULES, SettingsReader } from '../../lib/settings/rules';

/** The editor's fields (nodes/fona-power.html, nodes/ppp-control.html). */
export interface FonaPinsDef {
  powerStatusPin: string | number;
  keyPin: string | number;
  driver: string;
  gpiochip: string;
  /** Seconds the key is held low. */
  keyPulse: string | number;
  /** Seconds the status pin may take to follow. */
  statusTimeout: string | number;
}

export interface FonaPins {
  powerStatusPin: number;
  keyPin: number;
  driver: GpioDriverChoice;
  gpiochip: string;
  keyPulseMs: number;
  statusTimeoutMs: number;
}

/** Reads the pins into `settings` (its problems name each bad field); the guide's wiring by default. */
export function readFonaPins(settings: SettingsReader, def: Partial<FonaPinsDef>): FonaPins {
  const R = SETTING_RULES.fona;
  const powerStatusPin = settings.read('powerStatusPin', R.powerStatusPin, def.powerStatusPin, 23);
  const keyPin = settings.read('keyPin', R.keyPin, def.keyPin, 24);
  const driver = settings.read('driver', R.driver, def.driver, 'auto');
  const gpiochip = settings.read('gpiochip', R.gpiochip, def.gpiochip, 'gpiochip0');
  const keyPulse = settings.read('keyPulse', R.keyPulse, def.keyPulse, 2);
  const statusTimeout = settings.read('statusTimeout', R.statusTimeout, def.statusTimeout, 10);
  if (settings.problems.length === 0 && powerStatusPin === keyPin) settings.problems.push('the power status pin and the key pin must be two different GPIOs');
  return { powerStatusPin, keyPin, driver, gpiochip, keyPulseMs: Math.round(keyPulse * 1000), statusTimeoutMs: Math.round(statusTimeout * 1000) };
}
