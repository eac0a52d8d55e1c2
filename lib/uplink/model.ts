/**
 * The uplink model: what one way to the internet is, its probe settings, and their validation.
 * Validation collects every problem at once and throws before anything is applied.
 */
import { ConfigError, ConfigIssue } from '../errors';
import type { CheckSpec } from '../probes/check-spec';
import { AddressListRule, CheckListRule, isBlank, isIPv6, NumberRule, readSetting, SettingRead, SettingRule } from '../settings/check';

export type PinMode = 'policy' | 'host-route';
export const PIN_MODES: readonly PinMode[] = ['policy', 'host-route'];

/**
 * When an uplink that needs setup (a modem to power on and dial) is brought up:
 * on-failure: once the active uplink has failed (the original's way);
 * early: as soon as the active uplink is suspect (its first bad round), so power-on and dialling overlap detection;
 * standby: at start, and kept up while the service runs.
 */
export type PrepareMode = 'on-failure' | 'early' | 'standby';
export const PREPARE_MODES: readonly PrepareMode[] = ['on-failure', 'early', 'standby'];

/**
 * How an uplink is probed: standard sends `retries + 1` echoes per target per interval and judges whole
 * rounds; fast sends several echoes a second and reports a cut from a run of losses across all targets
 * (detected in under a second), for an unmetered primary with replies well under 0.3 s.
 */
export type ProbeProfile = 'standard' | 'fast';
export const PROBE_PROFILES: readonly ProbeProfile[] = ['standard', 'fast'];

export interface ProbeSettings {
  /** Seconds from the start of one probe round to the start of the next. */
  interval: number;
  /** Seconds to wait for one echo reply. */
  timeout: number;
  /** Extra attempts per target within a round after a lost reply. */
  retries: number;
  /** Consecutive failed rounds before a healthy uplink is declared down. */
  down: number;
  /** Consecutive good rounds before a down uplink is trusted again. */
  up: number;
  /** How many targets must answer for a round to count as good. */
  reliability: number;
  /** Echo rate and verdict (default standard). */
  profile: ProbeProfile;
}

/** What a degraded uplink (answering, but over a quality threshold) does: keeps traffic, or hands it on. */
export type DegradedAction = 'stay' | 'failover';
export const DEGRADED_ACTIONS: readonly DegradedAction[] = ['stay', 'failover'];

/**
 * Quality thresholds over a sliding window of rounds, with hysteresis (dpinger's high/low alarms):
 * degraded at or above a high threshold, good again at or below every low one. 0 turns a figure off.
 */
export interface QualitySettings {
  /** Seconds of rounds the loss and latency figures are taken over. */
  window: number;
  /** Mean round-trip time (ms) at which the uplink is degraded, and at or below which it is good again. */
  latencyHigh: number;
  latencyLow: number;
  /** Percent of echoes lost at which the uplink is degraded, and at or below which it is good again. */
  lossHigh: number;
  lossLow: number;
  /** Whether a degraded uplink hands traffic to the next usable one (it stays a last resort). */
  onDegraded: DegradedAction;
}

/**
 * A metered uplink (a cellular modem on a data plan): probed at a slower rate while it carries no traffic,
 * and its data use counted from the interface's counters against an optional monthly budget.
 */
export interface MeteringSettings {
  /** Seconds between probe rounds while it carries no traffic (never faster than the probe interval). */
  idleInterval: number;
  /** Megabytes (10^6 bytes) per budget period; 0: no budget. */
  budget: number;
  /** Percentages of the budget at which a `budget` event goes out, once each per period, ascending. */
  budgetAlerts: number[];
  /** Day of the month a budget period starts (29-31: the month's last day in shorter months). */
  budgetResetDay: number;
}

export interface UplinkConfig {
  /** Name used in logs and events, e.g. "primary" or "fona". */
  name: string;
  /** Linux interface name, e.g. eth0, wlan0, ppp0. */
  iface: string;
  /** IPv4 gateway, or null for a point-to-point device (ppp0) that needs none. */
  gateway: string | null;
  /** IPv6 gateway (link-local such as fe80::1 is fine); absent: none (see uplinkFamilies). */
  gateway6?: string;
  /** IPv4 and IPv6 addresses probed through this uplink. Empty (and no checks): trusted while the interface is up. */
  targets: string[];
  /** Probes other than ICMP (TCP, HTTP(S), DNS), counted with the targets in every round. */
  checks: CheckSpec[];
  probe: ProbeSettings;
  /** Seconds to wait, after setup, for the interface to appear before adding its route. */
  setupTimeout: number;
  /** How probes are kept on this uplink; the route service's default when absent. */
  pinMode?: PinMode;
  /** DNS servers of this uplink (IPv4 or IPv6), used first while it carries traffic. Empty: learnt where possible. */
  dns: string[];
  /** When an uplink that needs setup is brought up (default on-failure). */
  prepare: PrepareMode;
  quality: QualitySettings;
  /** Present when the uplink is metered. */
  metered?: MeteringSettings;
}

export interface UplinkInput {
  name?: unknown;
  iface?: unknown;
  gateway?: unknown;
  gateway6?: unknown;
  targets?: unknown;
  checks?: unknown;
  probe?: Partial<Record<keyof ProbeSettings, unknown>>;
  setupTimeout?: unknown;
  pinMode?: unknown;
  dns?: unknown;
  prepare?: unknown;
  quality?: Partial<Record<keyof QualitySettings, unknown>>;
  metered?: unknown;
  idleInterval?: unknown;
  budget?: unknown;
  budgetAlerts?: unknown;
  budgetResetDay?: unknown;
}

export const DEFAULT_PROBE: Readonly<ProbeSettings> = Object.freeze({
  interval: 1,
  timeout: 1,
  retries: 1,
  down: 3,
  up: 3,
  reliability: 1,
  profile: 'standard',
});

/** The probe settings that are numbers. */
const PROBE_NUMBERS = ['interval', 'timeout', 'retries', 'down', 'up', 'reliability'] as const satisfies readonly (keyof ProbeSettings)[];

export const DEFAULT_SETUP_TIMEOUT = 60;

/** pfSense's gateway defaults (latency 500/200 ms, loss 20/10 %) over a shorter window; reported, not acted on. */
export const DEFAULT_QUALITY: Readonly<QualitySettings> = Object.freeze({
  window: 10,
  latencyHigh: 500,
  latencyLow: 200,
  lossHigh: 20,
  lossLow: 10,
  onDegraded: 'stay',
});

/** A metered uplink: probed every 30 s while idle, no budget, alerts at 80 and 100 % once one is set. */
export const DEFAULT_METERING: Readonly<MeteringSettings> = Object.freeze({
  idleInterval: 30,
  budget: 0,
  budgetAlerts: Object.freeze([80, 100]) as number[],
  budgetResetDay: 1,
});

export { isValidInterfaceName } from '../settings/check';

/** Longest display name (e.g. the name a log handler writes into its lines). */
export const MAX_DISPLAY_NAME_LENGTH = 64;
/** Not printable: control and format characters (tabs, newlines, bidi overrides) and line/paragraph separators. */
const NOT_PRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/u;

/**
 * Why `text` cannot be a display name, or undefined if it can: 1-64 printable characters on one line.
 * A newline in a name written into log lines would forge whole lines (`INFO Connected to FAKE`).
 */
export function displayNameProblem(text: string): string | undefined {
  if (text.trim() === '') return 'must not be empty';
  if (text.length > MAX_DISPLAY_NAME_LENGTH) return `must be at most ${MAX_DISPLAY_NAME_LENGTH} characters (it has ${text.length})`;
  const bad = NOT_PRINTABLE.exec(text);
  if (bad) {
    const code = `U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    return `must be printable characters on one line: ${code} at position ${bad.index + 1} is not`;
  }
  return undefined;
}

/** Longest uplink name. */
const MAX_NAME_LENGTH = 64;
/**
 * Most targets one uplink may probe. Every round pings each of them (with retries), so thousands of
 * targets would make a round outlast its interval and delay a stop by seconds; a handful is plenty.
 */
const TARGETS = { kind: 'ip-list', max: 64, what: 'targets' } satisfies AddressListRule;
const TIMEOUT = { kind: 'number', min: 0.1, max: 60, integer: false } satisfies NumberRule;
/** Checks (lib/probes/check-spec.ts) per uplink; each has a timeout= of the uplink's timeout rule. */
const CHECKS = { kind: 'check-list', max: 16, timeout: TIMEOUT } satisfies CheckListRule;

/**
 * The rules of an uplink's settings: the one place they are written (lib/settings/rules.ts puts them in
 * the table of every setting, and the build gives that table to the editors).
 */
export const UPLINK_RULES = {
  name: { kind: 'pattern', pattern: `^[A-Za-z0-9_-]{1,${MAX_NAME_LENGTH}}$`, message: `must be 1-${MAX_NAME_LENGTH} letters, digits, "_" or "-"` },
  iface: { kind: 'iface', required: true },
  gateway: { kind: 'gateway' },
  gateway6: { kind: 'gateway', family: 'ipv6' },
  targets: TARGETS,
  checks: CHECKS,
  interval: { kind: 'number', min: 0.1, max: 3600, integer: false },
  timeout: TIMEOUT,
  retries: { kind: 'number', min: 0, max: 10, integer: true },
  down: { kind: 'number', min: 1, max: 1000, integer: true },
  up: { kind: 'number', min: 1, max: 1000, integer: true },
  // More answers than targets can never come (checks count too, but 64 is plenty).
  reliability: { kind: 'number', min: 1, max: TARGETS.max, integer: true },
  setupTimeout: { kind: 'number', min: 0, max: 3600, integer: false },
  pinMode: { kind: 'enum', values: PIN_MODES },
  /** Most DNS servers one uplink may list. */
  dns: { kind: 'ip-list', max: 8, what: 'DNS servers' },
  prepare: { kind: 'enum', values: PREPARE_MODES },
  qualityWindow: { kind: 'number', min: 1, max: 3600, integer: false },
  latencyHigh: { kind: 'number', min: 0, max: 60000, integer: false },
  latencyLow: { kind: 'number', min: 0, max: 60000, integer: false },
  lossHigh: { kind: 'number', min: 0, max: 100, integer: false },
  lossLow: { kind: 'number', min: 0, max: 100, integer: false },
  onDegraded: { kind: 'enum', values: DEGRADED_ACTIONS },
  metered: { kind: 'boolean' },
  idleInterval: { kind: 'number', min: 1, max: 86_400, integer: false, noun: 'a number of seconds' },
  /** Megabytes per period; 0 is no budget. */
  budget: { kind: 'number', min: 0, max: 100_000_000, integer: false, noun: 'a number of megabytes' },
  budgetAlerts: { kind: 'number-list', entry: { kind: 'number', min: 1, max: 1000, integer: true, noun: 'a whole percentage' }, max: 8, what: 'alerts' },
  budgetResetDay: { kind: 'number', min: 1, max: 31, integer: true, noun: 'a day of the month' },
  profile: { kind: 'enum', values: PROBE_PROFILES },
} satisfies Record<string, SettingRule>;

export const MAX_TARGETS = UPLINK_RULES.targets.max;
export const MAX_DNS_SERVERS = UPLINK_RULES.dns.max;
export const MAX_CHECKS = UPLINK_RULES.checks.max;

/** How many things a round of this uplink probes: its ICMP targets and its checks. None: trusted while its interface is up. */
export function probeCount(uplink: Pick<UplinkConfig, 'targets' | 'checks'>): number {
  return uplink.targets.length + uplink.checks.length;
}

export interface UplinkFamilies {
  v4: boolean;
  v6: boolean;
}

/**
 * Which default routes an uplink carries (the route service sets the default route of each, and removes the
 * other family's from our interfaces):
 * - IPv4 if it has an IPv4 gateway or IPv4 targets, or no gateway of either family (a point-to-point
 *   device such as ppp0, routed `default dev IFACE`, as before IPv6);
 * - IPv6 if it has an IPv6 gateway or IPv6 targets; without gateway6 that route is `default dev IFACE`, which
 *   only a point-to-point device can use (validation asks an uplink with an IPv4 gateway for a gateway6).
 */
export function uplinkFamilies(uplink: Pick<UplinkConfig, 'gateway' | 'gateway6' | 'targets'>): UplinkFamilies {
  const v6Targets = uplink.targets.some(isIPv6);
  const v4Targets = uplink.targets.some((t) => !isIPv6(t));
  const pointToPoint = uplink.gateway === null && !uplink.gateway6;
  return { v4: uplink.gateway !== null || v4Targets || pointToPoint, v6: Boolean(uplink.gateway6) || v6Targets };
}

/** Pushes the read's problems as issues of `field` (a list's bad entry is the issue's value). */
function collect<T>(issues: ConfigIssue[], uplink: string, field: string, value: unknown, read: SettingRead<T>): T | undefined {
  for (const issue of read.issues) {
    issues.push({ uplink, field, value: 'entry' in issue ? issue.entry : value, message: issue.message });
  }
  return read.value;
}

/** A number setting; blank gives the default, so does a bad value (after its issue). */
function checkNumber(issues: ConfigIssue[], uplink: string, field: string, value: unknown, fallback: number, rule: NumberRule): number {
  if (isBlank(value)) return fallback;
  return collect(issues, uplink, field, value, readSetting(rule, value)) ?? fallback;
}

/** Validates one uplink; pushes problems to `issues` and returns the best-effort result. */
export function normaliseUplink(input: UplinkInput, index: number, issues: ConfigIssue[]): UplinkConfig {
  const R = UPLINK_RULES;
  const name = typeof input.name === 'string' ? input.name.trim() : '';
  const label = name || `#${index + 1}`;
  collect(issues, label, 'name', input.name, readSetting(R.name, name));
  const iface = typeof input.iface === 'string' ? input.iface.trim() : '';
  collect(issues, label, 'iface', input.iface, readSetting(R.iface, iface));
  const gateway = collect(issues, label, 'gateway', input.gateway, readSetting(R.gateway, input.gateway)) ?? null;
  const gateway6 = collect(issues, label, 'gateway6', input.gateway6, readSetting(R.gateway6, input.gateway6)) ?? null;
  const targets = collect(issues, label, 'targets', input.targets, readSetting(R.targets, input.targets)) ?? [];
  const checks = collect(issues, label, 'checks', input.checks, readSetting(R.checks, input.checks)) ?? [];
  const probeIn = input.probe ?? {};
  const probe = { profile: DEFAULT_PROBE.profile } as ProbeSettings;
  for (const key of PROBE_NUMBERS) {
    probe[key] = checkNumber(issues, label, key, probeIn[key], DEFAULT_PROBE[key], R[key]);
  }
  if (!isBlank(probeIn.profile)) probe.profile = collect(issues, label, 'profile', probeIn.profile, readSetting(R.profile, probeIn.profile)) ?? DEFAULT_PROBE.profile;
  // `default dev eth0` would make every IPv6 address on-link (and replace a router-advertised default).
  const target6 = targets.find(isIPv6);
  if (gateway !== null && !gateway6 && target6 !== undefined) {
    issues.push({
      uplink: label,
      field: 'targets',
      value: target6,
      message: 'is an IPv6 target, but the uplink has an IPv4 gateway and no IPv6 gateway: set gateway6 (only a point-to-point device needs none)',
    });
  }
  const probed = targets.length + checks.length;
  if (probed > 0 && probe.reliability > probed) {
    const what = checks.length > 0 ? `targets and checks (${probed})` : `targets (${probed})`;
    issues.push({ uplink: label, field: 'reliability', value: probe.reliability, message: `cannot exceed the number of ${what}` });
  }
  const setupTimeout = checkNumber(issues, label, 'setupTimeout', input.setupTimeout, DEFAULT_SETUP_TIMEOUT, R.setupTimeout);
  const pinMode = isBlank(input.pinMode) ? undefined : collect(issues, label, 'pinMode', input.pinMode, readSetting(R.pinMode, input.pinMode));
  const dns = collect(issues, label, 'dns', input.dns, readSetting(R.dns, input.dns)) ?? [];
  const prepare = (isBlank(input.prepare) ? undefined : collect(issues, label, 'prepare', input.prepare, readSetting(R.prepare, input.prepare))) ?? 'on-failure';
  const quality = normaliseQuality(input.quality ?? {}, label, issues);
  const metered = normaliseMetering(input, label, issues);
  return { name: name || label, iface, gateway, ...(gateway6 ? { gateway6 } : {}), targets, checks, probe, setupTimeout, ...(pinMode ? { pinMode } : {}), dns, prepare, quality, ...(metered ? { metered } : {}) };
}

/** The quality settings (blank: the default); a low threshold above its high one is refused. */
function normaliseQuality(input: Partial<Record<keyof QualitySettings, unknown>>, label: string, issues: ConfigIssue[]): QualitySettings {
  const R = UPLINK_RULES;
  const D = DEFAULT_QUALITY;
  const quality: QualitySettings = {
    window: checkNumber(issues, label, 'qualityWindow', input.window, D.window, R.qualityWindow),
    latencyHigh: checkNumber(issues, label, 'latencyHigh', input.latencyHigh, D.latencyHigh, R.latencyHigh),
    latencyLow: checkNumber(issues, label, 'latencyLow', input.latencyLow, D.latencyLow, R.latencyLow),
    lossHigh: checkNumber(issues, label, 'lossHigh', input.lossHigh, D.lossHigh, R.lossHigh),
    lossLow: checkNumber(issues, label, 'lossLow', input.lossLow, D.lossLow, R.lossLow),
    onDegraded: (isBlank(input.onDegraded) ? undefined : collect(issues, label, 'onDegraded', input.onDegraded, readSetting(R.onDegraded, input.onDegraded))) ?? D.onDegraded,
  };
  for (const figure of ['latency', 'loss'] as const) {
    const high = quality[`${figure}High`];
    const low = quality[`${figure}Low`];
    if (high > 0 && low > high) {
      issues.push({ uplink: label, field: `${figure}Low`, value: low, message: `must not exceed ${figure}High (${high}), or the uplink could never be good again` });
    }
  }
  return quality;
}

/**
 * The metering settings of a metered uplink (blank: the default); undefined when it is not metered. `metered` is
 * a flag with the settings beside it (an editor's or a file's fields), or the settings themselves (an UplinkConfig
 * validated again).
 */
function normaliseMetering(input: UplinkInput, label: string, issues: ConfigIssue[]): MeteringSettings | undefined {
  const R = UPLINK_RULES;
  const D = DEFAULT_METERING;
  const nested = typeof input.metered === 'object' && input.metered !== null && !Array.isArray(input.metered);
  const given = nested ? (input.metered as Partial<Record<keyof MeteringSettings, unknown>>) : input;
  const metered = nested || (!isBlank(input.metered) && collect(issues, label, 'metered', input.metered, readSetting(R.metered, input.metered)));
  if (!metered) return undefined;
  const alerts = isBlank(given.budgetAlerts) ? undefined : collect(issues, label, 'budgetAlerts', given.budgetAlerts, readSetting(R.budgetAlerts, given.budgetAlerts));
  return {
    idleInterval: checkNumber(issues, label, 'idleInterval', given.idleInterval, D.idleInterval, R.idleInterval),
    budget: checkNumber(issues, label, 'budget', given.budget, D.budget, R.budget),
    budgetAlerts: alerts ?? [...D.budgetAlerts],
    budgetResetDay: checkNumber(issues, label, 'budgetResetDay', given.budgetResetDay, D.budgetResetDay, R.budgetResetDay),
  };
}

/** Validates an ordered list of uplinks (first is primary). Throws ConfigError listing every problem. */
export function validateUplinks(inputs: readonly UplinkInput[]): UplinkConfig[] {
  const issues: ConfigIssue[] = [];
  if (inputs.length === 0) {
    issues.push({ field: 'uplinks', value: [], message: 'at least one uplink is needed' });
  }
  const uplinks = inputs.map((input, i) => normaliseUplink(input, i, issues));
  const seenNames = new Set<string>();
  const seenIfaces = new Set<string>();
  for (const u of uplinks) {
    if (seenNames.has(u.name)) issues.push({ uplink: u.name, field: 'name', value: u.name, message: 'is used by two uplinks' });
    if (u.iface && seenIfaces.has(u.iface)) issues.push({ uplink: u.name, field: 'iface', value: u.iface, message: 'is used by two uplinks' });
    seenNames.add(u.name);
    seenIfaces.add(u.iface);
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return uplinks;
}
