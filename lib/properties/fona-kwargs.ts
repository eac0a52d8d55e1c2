/**
 * The options of the original's fonaRaspberryPiHandler, as written in handlerKwargs, plus ours:
 *
 *   {'powerStatusPin':23, 'keyPin':24}                       the guide's (BCM GPIO numbers), required
 *   'gpio': 'auto' | 'rpi-gpio' | 'libgpiod'                 GPIO driver (default auto)
 *   'gpiochip': 'gpiochip0'                                   libgpiod chip (default gpiochip0)
 *   'peer': 'fona'                                            pon/poff peer (default fona)
 *   'keyPulse': 2                                             seconds KEY is held low (default 2)
 *   'statusTimeout': 10                                       seconds PS may take to follow (default 10)
 *
 * Checked when the properties file is read, so a mistake is reported with its file and line before anything runs.
 */
import type { GpioDriverChoice } from '../gpio/gpio';
import { readSetting, SettingRead } from '../settings/check';
import { SETTING_RULES } from '../settings/rules';
import type { PyValue } from './python-literal';

const R = SETTING_RULES.fona;

export interface FonaSettings {
  powerStatusPin: number;
  keyPin: number;
  gpio: GpioDriverChoice;
  gpiochip: string;
  peer: string;
  keyPulseMs: number;
  statusTimeoutMs: number;
}

export interface FonaKwargIssue {
  /** The option's name, e.g. keyPin. */
  field: string;
  value: unknown;
  message: string;
}

export const FONA_KWARGS = ['powerStatusPin', 'keyPin', 'gpio', 'gpiochip', 'peer', 'keyPulse', 'statusTimeout'] as const;

export const FONA_DEFAULTS = {
  gpio: 'auto' as GpioDriverChoice,
  gpiochip: 'gpiochip0',
  peer: 'fona',
  keyPulse: 2,
  statusTimeout: 10,
};

/** A Python literal is already typed: a number option must be a number (the string '2' gets the rule's message). */
const numeric = (value: PyValue): number => (typeof value === 'number' ? value : Number.NaN);

/** The handler's settings, or the problems with its kwargs (settings is null when there are any). */
export function parseFonaKwargs(kwargs: Readonly<Record<string, PyValue>>): { settings: FonaSettings | null; issues: FonaKwargIssue[] } {
  const issues: FonaKwargIssue[] = [];
  for (const name of Object.keys(kwargs)) {
    if (!(FONA_KWARGS as readonly string[]).includes(name)) {
      const guess = FONA_KWARGS.find((k) => k.toLowerCase() === name.toLowerCase());
      issues.push({ field: name, value: kwargs[name], message: `unknown fona handler option; ${guess ? `did you mean "${guess}"?` : `known: ${FONA_KWARGS.join(', ')}`}` });
    }
  }
  /** The option's value as checked by its rule; its problems (quoting the option as written) go to issues. */
  const take = <T>(field: string, value: PyValue, read: SettingRead<T>): T | undefined => {
    for (const issue of read.issues) issues.push({ field, value, message: issue.message });
    return read.value;
  };
  const pin = (field: 'powerStatusPin' | 'keyPin'): number => {
    const value = kwargs[field];
    if (value === undefined) {
      issues.push({ field, value, message: `is required: the BCM GPIO number wired to the FONA's ${field === 'keyPin' ? 'Key' : 'PS'} pin (the guide: ${field === 'keyPin' ? 24 : 23})` });
      return -1;
    }
    return take(field, value, readSetting(R[field], numeric(value))) ?? -1;
  };
  const seconds = (field: 'keyPulse' | 'statusTimeout'): number => {
    const value = kwargs[field];
    if (value === undefined) return FONA_DEFAULTS[field];
    return take(field, value, readSetting(R[field], numeric(value))) ?? FONA_DEFAULTS[field];
  };
  const powerStatusPin = pin('powerStatusPin');
  const keyPin = pin('keyPin');
  if (powerStatusPin >= 0 && powerStatusPin === keyPin) {
    issues.push({ field: 'keyPin', value: keyPin, message: 'must differ from powerStatusPin: PS and Key are two different wires' });
  }
  const gpioValue = kwargs.gpio ?? FONA_DEFAULTS.gpio;
  const gpio = take('gpio', gpioValue, readSetting(R.driver, gpioValue));
  const chipValue = kwargs.gpiochip ?? FONA_DEFAULTS.gpiochip;
  const gpiochip = take('gpiochip', chipValue, readSetting(R.gpiochip, chipValue));
  const peerValue = kwargs.peer ?? FONA_DEFAULTS.peer;
  const peer = take('peer', peerValue, readSetting(R.peer, peerValue));
  const keyPulse = seconds('keyPulse');
  const statusTimeout = seconds('statusTimeout');
  if (issues.length > 0 || gpio === undefined || gpiochip === undefined || peer === undefined) return { settings: null, issues };
  return {
    settings: {
      powerStatusPin,
      keyPin,
      gpio,
      gpiochip,
      peer,
      keyPulseMs: Math.round(keyPulse * 1000),
      statusTimeoutMs: Math.round(statusTimeout * 1000),
    },
    issues,
  };
}
