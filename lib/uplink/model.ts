/**
 * The uplink model: what one way to the internet is, its probe settings, and their validation.
 * Validation collects every problem at once and throws before anything is applied.
 */
import { ConfigError, ConfigIssue } from '../errors';
import { AddressListRule, isBlank, NumberRule, readSetting, SettingRead, SettingRule } from '../settings/check';

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

export interface UplinkConfig {
  /** Name used in logs and events, e.g. "primary" or "fona". */
  name: string;
  /** Linux interface name, e.g. eth0, wlan0, ppp0. */
  iface: string;
  /** IPv4 gateway, or null for a point-to-point device (ppp0) that needs none. */
  gateway: string | null;
  /** IPv4 addresses probed through this uplink. Empty: trusted while the interface is up. */
  targets: string[];
  probe: ProbeSettings;
  /** Seconds to wait, after setup, for the interface to appear before adding its route. */
  setupTimeout: number;
  /** How probes are kept on this uplink; the route service's default when absent. */
  pinMode?: PinMode;
  /** DNS servers of this uplink (IPv4), used first while it carries traffic. Empty: learnt where possible. */
  dns: string[];
  /** When an uplink that needs setup is brought up (default on-failure). */
  prepare: PrepareMode;
}

export interface UplinkInput {
  name?: unknown;
  iface?: unknown;
  gateway?: unknown;
  targets?: unknown;
  probe?: Partial<Record<keyof ProbeSettings, unknown>>;
  setupTimeout?: unknown;
  pinMode?: unknown;
  dns?: unknown;
  prepare?: unknown;
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
const TARGETS = { kind: 'ipv4-list', max: 64, what: 'targets' } satisfies AddressListRule;

/**
 * The rules of an uplink's settings: the one place they are written (lib/settings/rules.ts puts them in
 * the table of every setting, and the build gives that table to the editors).
 */
export const UPLINK_RULES = {
  name: { kind: 'pattern', pattern: `^[A-Za-z0-9_-]{1,${MAX_NAME_LENGTH}}$`, message: `must be 1-${MAX_NAME_LENGTH} letters, digits, "_" or "-"` },
  iface: { kind: 'iface', required: true },
  gateway: { kind: 'gateway' },
  targets: TARGETS,
  interval: { kind: 'number', min: 0.1, max: 3600, integer: false },
  timeout: { kind: 'number', min: 0.1, max: 60, integer: false },
  retries: { kind: 'number', min: 0, max: 10, integer: true },
  down: { kind: 'number', min: 1, max: 1000, integer: true },
  up: { kind: 'number', min: 1, max: 1000, integer: true },
  // More answers than targets can never come.
  reliability: { kind: 'number', min: 1, max: TARGETS.max, integer: true },
  setupTimeout: { kind: 'number', min: 0, max: 3600, integer: false },
  pinMode: { kind: 'enum', values: PIN_MODES },
  /** Most DNS servers one uplink may list. */
  dns: { kind: 'ipv4-list', max: 8, what: 'DNS servers' },
  prepare: { kind: 'enum', values: PREPARE_MODES },
  profile: { kind: 'enum', values: PROBE_PROFILES },
} satisfies Record<string, SettingRule>;

export const MAX_TARGETS = UPLINK_RULES.targets.max;
export const MAX_DNS_SERVERS = UPLINK_RULES.dns.max;

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
  const targets = collect(issues, label, 'targets', input.targets, readSetting(R.targets, input.targets)) ?? [];
  const probeIn = input.probe ?? {};
  const probe = { profile: DEFAULT_PROBE.profile } as ProbeSettings;
  for (const key of PROBE_NUMBERS) {
    probe[key] = checkNumber(issues, label, key, probeIn[key], DEFAULT_PROBE[key], R[key]);
  }
  if (!isBlank(probeIn.profile)) probe.profile = collect(issues, label, 'profile', probeIn.profile, readSetting(R.profile, probeIn.profile)) ?? DEFAULT_PROBE.profile;
  if (targets.length > 0 && probe.reliability > targets.length) {
    issues.push({ uplink: label, field: 'reliability', value: probe.reliability, message: `cannot exceed the number of targets (${targets.length})` });
  }
  const setupTimeout = checkNumber(issues, label, 'setupTimeout', input.setupTimeout, DEFAULT_SETUP_TIMEOUT, R.setupTimeout);
  const pinMode = isBlank(input.pinMode) ? undefined : collect(issues, label, 'pinMode', input.pinMode, readSetting(R.pinMode, input.pinMode));
  const dns = collect(issues, label, 'dns', input.dns, readSetting(R.dns, input.dns)) ?? [];
  const prepare = (isBlank(input.prepare) ? undefined : collect(issues, label, 'prepare', input.prepare, readSetting(R.prepare, input.prepare))) ?? 'on-failure';
  return { name: name || label, iface, gateway, targets, probe, setupTimeout, ...(pinMode ? { pinMode } : {}), dns, prepare };
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
