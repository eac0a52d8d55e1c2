/**
 * The rules of every setting, in one table: the uplink model, the properties reader, the FONA handler's
 * options, the nodes' runtime checks and (written into each editor .html at build time by
 * scripts/copy-assets.mjs) the editors' validators all read them from here, so a limit is written once.
 * A rule says what a value must be; lib/settings/check.ts checks a value against it.
 */
import { DNS_METHODS } from '../dns/dns-manager';
import { describeIssue } from '../errors';
import { GPIO_DRIVER_CHOICES } from '../gpio/gpio';
import { MODEM_KINDS } from '../ppp/modem-session';
import { PPP_DIALERS } from '../ppp/ppp-link';
import { UPLINK_RULES } from '../uplink/model';
import { EnumRule, IfaceRule, isBlank, NumberRule, PatternRule, readSetting, SettingRule, SettingsTable } from './check';

/** A peer is a file name in /etc/ppp/peers: no path, no leading "-" that pppd could read as an option. */
const PEER = {
  kind: 'pattern',
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
  message: 'must be the name of a file in /etc/ppp/peers (letters, digits, ".", "_", "-")',
} satisfies SettingRule;

/** MQTT topic levels: no wildcard, no empty level, nothing unprintable. */
const TOPIC_LEVELS = {
  kind: 'pattern',
  pattern: '^[^#+/\\u0000-\\u001f]{1,64}(/[^#+/\\u0000-\\u001f]{1,64}){0,7}$',
  message: 'must be MQTT topic levels separated by "/", without "+", "#" or an empty level (e.g. ifacefailover or site-1/ifacefailover)',
} satisfies SettingRule;

/** BCM GPIO numbers: the Raspberry Pi's GPIO 0..27 on the header, up to 53 on the SoC. */
const BCM_PIN = { kind: 'number', min: 0, max: 53, integer: true, noun: 'a BCM GPIO number', note: 'not a physical pin number' } satisfies SettingRule;

export const SETTING_RULES = {
  /** The uplink config node, and a route of the properties file. */
  uplink: UPLINK_RULES,
  /** The failover-controller node. */
  controller: {
    /** Seconds before an uplink whose setup timed out is set up again. */
    setupRetry: { kind: 'number', min: 1, max: 86_400, integer: false, noun: 'a number of seconds' },
    dns: { kind: 'enum', values: DNS_METHODS },
    /** Where the data use of metered uplinks is kept: an absolute path. */
    usageFile: { kind: 'pattern', pattern: '^/[^\\u0000-\\u001f]{0,4095}$', message: 'must be an absolute path (starting with /)' },
    /** Seconds between usage events while a metered uplink carries traffic. */
    usageReport: { kind: 'number', min: 1, max: 86_400, integer: false, noun: 'a number of seconds' },
  },
  /** The route-verifier node. */
  verifier: {
    /** Seconds between rounds of its own; 0 = only when a message arrives. */
    interval: { kind: 'number', min: 0, max: 86_400, integer: false, noun: 'a number of seconds' },
    /** An override of the uplink's targets: the same rules. */
    targets: UPLINK_RULES.targets,
  },
  /** The fona-power node, and the properties file's fonaRaspberryPiHandler options. */
  fona: {
    powerStatusPin: BCM_PIN,
    keyPin: BCM_PIN,
    driver: { kind: 'enum', values: GPIO_DRIVER_CHOICES },
    /** What libgpiod accepts, without anything a shell or option parser could misread. */
    gpiochip: {
      kind: 'pattern',
      pattern: '^(?:gpiochip[0-9]{1,3}|[0-9]{1,3}|/dev/gpiochip[0-9]{1,3})$',
      message: 'must name a GPIO chip: gpiochip0 (or a number, or /dev/gpiochipN)',
    },
    peer: PEER,
    /** Seconds the key is held low. */
    keyPulse: { kind: 'number', min: 0.1, max: 10, integer: false, noun: 'a number of seconds' },
    /** Seconds the status pin may take to follow. */
    statusTimeout: { kind: 'number', min: 0.1, max: 120, integer: false, noun: 'a number of seconds' },
  },
  /** The ppp-control node. */
  ppp: {
    peer: PEER,
    iface: { kind: 'iface' },
    /** Seconds to wait for the interface after the start command. */
    upTimeout: { kind: 'number', min: 1, max: 3600, integer: false, noun: 'a number of seconds' },
    /** Seconds before the first redial. */
    redialDelay: { kind: 'number', min: 1, max: 3600, integer: false, noun: 'a number of seconds' },
    dialer: { kind: 'enum', values: PPP_DIALERS },
    /** The modem powered on before a `setup` dial and off after a `teardown` hang-up (its pins: the fona rules). */
    modem: { kind: 'enum', values: MODEM_KINDS },
  },
  /** The failover-mqtt node. */
  mqtt: {
    prefix: TOPIC_LEVELS,
    /** The device's topic level and id (blank: the host name). */
    device: { kind: 'pattern', pattern: '^[A-Za-z0-9_-]{1,64}$', message: 'must be letters, digits, "_" and "-" (it is a topic level and a Home Assistant id)' },
    discoveryPrefix: TOPIC_LEVELS,
    /** Seconds between two updates of an uplink's round-trip time and loss. */
    metricsInterval: { kind: 'number', min: 0, max: 86_400, integer: false, noun: 'a number of seconds' },
  },
} satisfies SettingsTable;

/**
 * Reads a node's settings one by one, collecting a sentence per bad one (`field=value: why`, the value
 * quoted short); blank gives the fallback, as does a bad value. The caller looks at `problems` once all
 * are read, so a user sees every mistake at once.
 */
export class SettingsReader {
  readonly problems: string[] = [];

  read(field: string, rule: NumberRule, value: unknown, fallback: number): number;
  read<T extends string>(field: string, rule: EnumRule<T>, value: unknown, fallback: T): T;
  read(field: string, rule: IfaceRule | PatternRule, value: unknown, fallback: string): string;
  read(field: string, rule: SettingRule, value: unknown, fallback: unknown): unknown {
    if (isBlank(value)) return fallback;
    const result = readSetting(rule, value);
    for (const issue of result.issues) {
      this.problems.push(describeIssue({ field, value: 'entry' in issue ? issue.entry : value, message: issue.message }));
    }
    return result.value ?? fallback;
  }
}
