/**
 * The uplink model: what one way to the internet is, its probe settings, and their validation.
 * Validation collects every problem at once and throws before anything is applied.
 */
import { isIPv4 } from 'node:net';
import { ConfigError, ConfigIssue } from '../errors';

export type PinMode = 'policy' | 'host-route';

/**
 * When an uplink that needs setup (a modem to power on and dial) is brought up:
 * on-failure: once the active uplink has failed (the original's way);
 * early: as soon as the active uplink is suspect (its first bad round), so power-on and dialling overlap detection;
 * standby: at start, and kept up while the service runs.
 */
export type PrepareMode = 'on-failure' | 'early' | 'standby';
export const PREPARE_MODES: readonly PrepareMode[] = ['on-failure', 'early', 'standby'];
/** Most DNS servers one uplink may list. */
export const MAX_DNS_SERVERS = 8;
/**
 * Most targets one uplink may probe. Every round pings each of them (with retries), so thousands of
 * targets would make a round outlast its interval and delay a stop by seconds; a handful is plenty.
 */
export const MAX_TARGETS = 64;

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
});

export const DEFAULT_SETUP_TIMEOUT = 60;

/** Linux: 1-15 bytes, not "." or "..", no "/", ":" or whitespace (dev_valid_name). */
export function isValidInterfaceName(name: string): boolean {
  if (name.length < 1 || name.length > 15) return false;
  if (name === '.' || name === '..') return false;
  return !/[/:\s]/.test(name) && /^[\x21-\x7e]+$/.test(name);
}

const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

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

interface NumberRule {
  min: number;
  max: number;
  integer: boolean;
}

const PROBE_RULES: Record<keyof ProbeSettings, NumberRule> = {
  interval: { min: 0.1, max: 3600, integer: false },
  timeout: { min: 0.1, max: 60, integer: false },
  retries: { min: 0, max: 10, integer: true },
  down: { min: 1, max: 1000, integer: true },
  up: { min: 1, max: 1000, integer: true },
  reliability: { min: 1, max: 64, integer: true },
};

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

function checkNumber(
  issues: ConfigIssue[],
  uplink: string,
  field: string,
  value: unknown,
  fallback: number,
  rule: NumberRule,
): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n = toNumber(value);
  const kind = rule.integer ? 'a whole number' : 'a number';
  if (n === undefined || !Number.isFinite(n) || (rule.integer && !Number.isInteger(n)) || n < rule.min || n > rule.max) {
    issues.push({ uplink, field, value, message: `must be ${kind} from ${rule.min} to ${rule.max}` });
    return fallback;
  }
  return n;
}

/**
 * A comma-separated string or an array of IPv4 addresses (targets, DNS servers), each once. More than `max`
 * is one issue, found before any address is looked at, so a list of 100 000 costs one split and no more.
 */
function parseAddressList(issues: ConfigIssue[], uplink: string, field: string, value: unknown, max: number, what: string): string[] {
  if (value === undefined || value === null || value === '') return [];
  const list = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? (value as unknown[]) : undefined;
  if (!list) {
    issues.push({ uplink, field, value, message: 'must be a list of IPv4 addresses' });
    return [];
  }
  if (list.length > max) {
    issues.push({ uplink, field, value, message: `lists ${list.length} addresses: at most ${max} ${what} per uplink` });
    return [];
  }
  const addresses: string[] = [];
  const seen = new Set<string>();
  for (const raw of list) {
    const t = typeof raw === 'string' ? raw.trim() : raw;
    if (typeof t !== 'string' || !isIPv4(t)) {
      issues.push({ uplink, field, value: raw, message: 'is not an IPv4 address' });
    } else if (seen.has(t)) {
      issues.push({ uplink, field, value: raw, message: 'is listed twice' });
    } else {
      seen.add(t);
      addresses.push(t);
    }
  }
  return addresses;
}

/** Validates one uplink; pushes problems to `issues` and returns the best-effort result. */
export function normaliseUplink(input: UplinkInput, index: number, issues: ConfigIssue[]): UplinkConfig {
  const name = typeof input.name === 'string' ? input.name.trim() : '';
  const label = name || `#${index + 1}`;
  if (!NAME_PATTERN.test(name)) {
    issues.push({ uplink: label, field: 'name', value: input.name, message: 'must be 1-64 letters, digits, "_" or "-"' });
  }
  const iface = typeof input.iface === 'string' ? input.iface.trim() : '';
  if (!isValidInterfaceName(iface)) {
    issues.push({
      uplink: label,
      field: 'iface',
      value: input.iface,
      message: 'must be a Linux interface name: 1-15 characters, no "/", ":" or spaces',
    });
  }
  let gateway: string | null = null;
  const gw = typeof input.gateway === 'string' ? input.gateway.trim() : input.gateway;
  if (gw === undefined || gw === null || gw === '' || gw === 'none' || gw === '0.0.0.0') {
    gateway = null;
  } else if (typeof gw === 'string' && isIPv4(gw)) {
    gateway = gw;
  } else {
    issues.push({ uplink: label, field: 'gateway', value: input.gateway, message: 'must be an IPv4 address, or none / 0.0.0.0 for a point-to-point device' });
  }
  const targets = parseAddressList(issues, label, 'targets', input.targets, MAX_TARGETS, 'targets');
  const probeIn = input.probe ?? {};
  const probe = {} as ProbeSettings;
  for (const key of Object.keys(PROBE_RULES) as (keyof ProbeSettings)[]) {
    probe[key] = checkNumber(issues, label, key, probeIn[key], DEFAULT_PROBE[key], PROBE_RULES[key]);
  }
  if (targets.length > 0 && probe.reliability > targets.length) {
    issues.push({ uplink: label, field: 'reliability', value: probe.reliability, message: `cannot exceed the number of targets (${targets.length})` });
  }
  const setupTimeout = checkNumber(issues, label, 'setupTimeout', input.setupTimeout, DEFAULT_SETUP_TIMEOUT, {
    min: 0,
    max: 3600,
    integer: false,
  });
  let pinMode: PinMode | undefined;
  if (input.pinMode === 'policy' || input.pinMode === 'host-route') pinMode = input.pinMode;
  else if (input.pinMode !== undefined && input.pinMode !== null && input.pinMode !== '') {
    issues.push({ uplink: label, field: 'pinMode', value: input.pinMode, message: 'must be "policy" or "host-route"' });
  }
  const dns = parseAddressList(issues, label, 'dns', input.dns, MAX_DNS_SERVERS, 'DNS servers');
  let prepare: PrepareMode = 'on-failure';
  if ((PREPARE_MODES as readonly unknown[]).includes(input.prepare)) prepare = input.prepare as PrepareMode;
  else if (input.prepare !== undefined && input.prepare !== null && input.prepare !== '') {
    issues.push({ uplink: label, field: 'prepare', value: input.prepare, message: `must be one of ${PREPARE_MODES.join(', ')}` });
  }
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
