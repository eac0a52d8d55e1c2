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
import { GPIO_DRIVER_CHOICES, GpioDriverChoice, isValidChip, isValidPin } from '../gpio/gpio';
import { isValidPeer } from '../ppp/peer';
import type { PyValue } from './python-literal';

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

function seconds(value: PyValue | undefined, fallback: number, min: number, max: number, field: string, issues: FonaKwargIssue[]): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    issues.push({ field, value, message: `must be a number of seconds from ${min} to ${max}` });
    return fallback;
  }
  return value;
}

/** The handler's settings, or the problems with its kwargs (settings is null when there are any). */
export function parseFonaKwargs(kwargs: Readonly<Record<string, PyValue>>): { settings: FonaSettings | null; issues: FonaKwargIssue[] } {
  const issues: FonaKwargIssue[] = [];
  for (const name of Object.keys(kwargs)) {
    if (!(FONA_KWARGS as readonly string[]).includes(name)) {
      const guess = FONA_KWARGS.find((k) => k.toLowerCase() === name.toLowerCase());
      issues.push({ field: name, value: kwargs[name], message: `unknown fona handler option; ${guess ? `did you mean "${guess}"?` : `known: ${FONA_KWARGS.join(', ')}`}` });
    }
  }
  const pin = (field: 'powerStatusPin' | 'keyPin'): number => {
    const value = kwargs[field];
    if (value === undefined) {
      issues.push({ field, value, message: `is required: the BCM GPIO number wired to the FONA's ${field === 'keyPin' ? 'Key' : 'PS'} pin (the guide: ${field === 'keyPin' ? 24 : 23})` });
      return -1;
    }
    if (!isValidPin(value)) {
      issues.push({ field, value, message: 'must be a BCM GPIO number from 0 to 53 (not a physical pin number)' });
      return -1;
    }
    return value;
  };
  const powerStatusPin = pin('powerStatusPin');
  const keyPin = pin('keyPin');
  if (powerStatusPin >= 0 && powerStatusPin === keyPin) {
    issues.push({ field: 'keyPin', value: keyPin, message: 'must differ from powerStatusPin: PS and Key are two different wires' });
  }
  const gpio = kwargs.gpio ?? FONA_DEFAULTS.gpio;
  if (typeof gpio !== 'string' || !(GPIO_DRIVER_CHOICES as readonly string[]).includes(gpio)) {
    issues.push({ field: 'gpio', value: gpio, message: `must be one of ${GPIO_DRIVER_CHOICES.join(', ')}` });
  }
  const gpiochip = kwargs.gpiochip ?? FONA_DEFAULTS.gpiochip;
  if (!isValidChip(gpiochip)) issues.push({ field: 'gpiochip', value: gpiochip, message: 'must name a GPIO chip: gpiochip0 (or a number, or /dev/gpiochipN)' });
  const peer = kwargs.peer ?? FONA_DEFAULTS.peer;
  if (!isValidPeer(peer)) issues.push({ field: 'peer', value: peer, message: 'must be the name of a file in /etc/ppp/peers (letters, digits, ".", "_", "-")' });
  const keyPulse = seconds(kwargs.keyPulse, FONA_DEFAULTS.keyPulse, 0.1, 10, 'keyPulse', issues);
  const statusTimeout = seconds(kwargs.statusTimeout, FONA_DEFAULTS.statusTimeout, 0.1, 120, 'statusTimeout', issues);
  if (issues.length > 0) return { settings: null, issues };
  return {
    settings: {
      powerStatusPin,
      keyPin,
      gpio: gpio as GpioDriverChoice,
      gpiochip: gpiochip as string,
      peer: peer as string,
      keyPulseMs: Math.round(keyPulse * 1000),
      statusTimeoutMs: Math.round(statusTimeout * 1000),
    },
    issues,
  };
}
