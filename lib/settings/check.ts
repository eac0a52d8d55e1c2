/**
 * The checker of the settings rules (the table is lib/settings/rules.ts): what a value must be, and why not.
 *
 * This file is compiled twice from the same source: by tsc for the runtime, and by scripts/copy-assets.mjs
 * to ES5, inlined into each editor .html, so the editor marks exactly what the runtime refuses. Hence it
 * imports nothing but the checks' parser (lib/probes/check-spec.ts, which imports nothing; the build bundles
 * the two) and uses only what an ES5 runtime has (no Set, no Number.isFinite, no spread, no regex flags), and
 * rules are plain JSON (patterns as strings), so the build can write the table into the html.
 */
import { CheckSpec, parseCheckSpec } from '../probes/check-spec';

interface RuleBase {
  /** Blank (absent, null or '') is a mistake, not "the default" (the editor marks it). */
  required?: boolean;
}

export interface NumberRule extends RuleBase {
  kind: 'number';
  min: number;
  max: number;
  integer: boolean;
  /** What the message calls the value, e.g. "a number of seconds"; "a number" or "a whole number" by default. */
  noun?: string;
  /** Said in brackets after the range, e.g. "not a physical pin number". */
  note?: string;
}

/**
 * Addresses, each once, as a comma-separated string or an array; blank is the empty list.
 * ipv4-list: IPv4 only; ip-list: IPv4 and IPv6 literals mixed (IPv6 kept in lower case).
 */
export interface AddressListRule extends RuleBase {
  kind: 'ipv4-list' | 'ip-list';
  max: number;
  /** What the message calls the entries, e.g. "targets". */
  what: string;
}

/**
 * A gateway, or none. IPv4 (default): none is blank, "none" or 0.0.0.0 (a point-to-point device).
 * IPv6: none is blank, "none" or "::"; a link-local address (fe80::1) is fine, the uplink's interface scopes it.
 */
export interface GatewayRule extends RuleBase {
  kind: 'gateway';
  family?: 'ipv6';
}

/** A Linux interface name. */
export interface IfaceRule extends RuleBase {
  kind: 'iface';
}

export interface EnumRule<T extends string = string> extends RuleBase {
  kind: 'enum';
  values: readonly T[];
}

export interface PatternRule extends RuleBase {
  kind: 'pattern';
  /** A regular expression's source (JSON has no RegExp). */
  pattern: string;
  message: string;
}

/**
 * An uplink's checks (lib/probes/check-spec.ts): one per line of a string, or an array of them; blank is the
 * empty list. An array may hold parsed checks (their text is read again).
 */
export interface CheckListRule extends RuleBase {
  kind: 'check-list';
  max: number;
  /** The rule of a check's timeout= (the uplink's timeout rule). */
  timeout: NumberRule;
}


/** true or false (a checkbox stores a boolean; a file or a hand-written flow may say "true"/"false"). */
export interface BooleanRule extends RuleBase {
  kind: 'boolean';
}

/** Numbers, each once, as a comma-separated string or an array, given back in ascending order; blank is the empty list. */
export interface NumberListRule extends RuleBase {
  kind: 'number-list';
  /** What each entry must be (its range). */
  entry: NumberRule;
  max: number;
  /** What the message calls the entries, e.g. "alerts". */
  what: string;
}

export type SettingRule = NumberRule | AddressListRule | GatewayRule | IfaceRule | EnumRule | PatternRule | BooleanRule | NumberListRule | CheckListRule;

/** One problem with a value. */
export interface SettingIssue {
  message: string;
  /** For a list: the one entry at fault (its problem is the entry's, not the whole value's). */
  entry?: unknown;
}

/** The value as the runtime uses it (numbers parsed, strings trimmed), or undefined when it is unusable. */
export interface SettingRead<T> {
  value: T | undefined;
  issues: SettingIssue[];
}

/** Linux's longest interface name: IFNAMSIZ (16) less the terminating NUL. */
const MAX_IFACE_LENGTH = 15;
const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
/** Dotted quad, no leading zeros ("1.2.3.04" is refused, as node:net's isIPv4 refuses it). */
const IPV4 = new RegExp('^' + OCTET + '(\\.' + OCTET + '){3}$');

export function isIPv4(text: string): boolean {
  return IPV4.test(text);
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
/** Longest IPv6 text: eight groups of four, or six and an IPv4 tail (45 characters). */
const MAX_IPV6_LENGTH = 45;

function hexGroups(part: string): number[] | null {
  if (part === '') return [];
  const pieces = part.split(':');
  const groups: number[] = [];
  for (let i = 0; i < pieces.length; i++) {
    if (!HEX_GROUP.test(pieces[i])) return null;
    groups.push(parseInt(pieces[i], 16));
  }
  return groups;
}

/**
 * The eight 16-bit groups of an IPv6 address in text form (RFC 4291 2.2: "::" at most once, an optional
 * IPv4 tail), or null. No zone ("%eth0"): an uplink's interface is the zone of its link-local addresses.
 */
export function ipv6Groups(text: string): number[] | null {
  if (text.length > MAX_IPV6_LENGTH) return null;
  const lastColon = text.lastIndexOf(':');
  if (lastColon < 0) return null;
  let body = text;
  const tail: number[] = [];
  const last = text.slice(lastColon + 1);
  if (last.indexOf('.') >= 0) {
    if (!isIPv4(last)) return null;
    const o = last.split('.');
    tail.push(Number(o[0]) * 256 + Number(o[1]), Number(o[2]) * 256 + Number(o[3]));
    body = text.slice(0, lastColon);
    // "::1.2.3.4" and "1::1.2.3.4": the colon before the tail was the second of a "::".
    if (body.charAt(body.length - 1) === ':') body += ':';
  }
  const double = body.indexOf('::');
  let groups: number[] | null;
  if (double < 0) {
    groups = hexGroups(body);
    if (!groups || groups.length + tail.length !== 8) return null;
  } else {
    if (body.indexOf('::', double + 1) >= 0) return null;
    const left = hexGroups(body.slice(0, double));
    const right = hexGroups(body.slice(double + 2));
    if (!left || !right) return null;
    const zeros = 8 - left.length - right.length - tail.length;
    if (zeros < 1) return null;
    groups = left;
    for (let i = 0; i < zeros; i++) groups.push(0);
    groups = groups.concat(right);
  }
  return groups.concat(tail);
}

export function isIPv6(text: string): boolean {
  return ipv6Groups(text) !== null;
}

/** Linux: 1-15 bytes, not "." or "..", no "/", ":" or whitespace (dev_valid_name). */
export function isValidInterfaceName(name: string): boolean {
  if (name.length < 1 || name.length > MAX_IFACE_LENGTH) return false;
  if (name === '.' || name === '..') return false;
  return /^[\x21-\x7e]+$/.test(name) && !/[/:]/.test(name);
}

/** Absent, null or '': the setting is not given (each user decides what that means; most use a default). */
export function isBlank(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

function trimmed(value: unknown): unknown {
  return typeof value === 'string' ? value.trim() : value;
}

/** A number, or a string holding one (the editor stores what is typed as text). */
function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '') return Number(value);
  return NaN;
}

export function numberMessage(rule: NumberRule): string {
  const noun = rule.noun || (rule.integer ? 'a whole number' : 'a number');
  return 'must be ' + noun + ' from ' + rule.min + ' to ' + rule.max + (rule.note ? ' (' + rule.note + ')' : '');
}

function fail<T>(message: string): SettingRead<T> {
  return { value: undefined, issues: [{ message: message }] };
}

function readNumber(rule: NumberRule, value: unknown): SettingRead<number> {
  const n = toNumber(value);
  // isFinite on a number only: the global one would coerce, and NaN or Infinity are no setting.
  const ok = typeof n === 'number' && isFinite(n) && (!rule.integer || Math.floor(n) === n) && n >= rule.min && n <= rule.max;
  return ok ? { value: n, issues: [] } : fail(numberMessage(rule));
}

/**
 * More than `max` entries is one issue, found before any entry is looked at; duplicates are found with a
 * map, so a list of 100 000 costs one pass.
 */
function readAddressList(rule: AddressListRule, value: unknown): SettingRead<string[]> {
  const both = rule.kind === 'ip-list';
  const noun = both ? 'IPv4 or IPv6 address' : 'IPv4 address';
  if (isBlank(value)) return { value: [], issues: [] };
  const list: unknown[] | undefined = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : undefined;
  if (!list) return fail('must be a list of ' + noun + 'es');
  if (list.length > rule.max) return fail('lists ' + list.length + ' addresses: at most ' + rule.max + ' ' + rule.what + ' per uplink');
  const addresses: string[] = [];
  const issues: SettingIssue[] = [];
  // Keys are dotted quads or IPv6 groups in decimal ("6:" first), checked first: a plain object is a safe set.
  const seen: Record<string, boolean> = {};
  for (let i = 0; i < list.length; i++) {
    const raw = list[i];
    const t = trimmed(raw);
    const v6 = both && typeof t === 'string' ? ipv6Groups(t) : null;
    const key = typeof t === 'string' && isIPv4(t) ? t : v6 ? '6:' + v6.join(':') : undefined;
    if (typeof t !== 'string' || key === undefined) {
      issues.push({ message: 'is not an ' + noun, entry: raw });
    } else if (seen[key] === true) {
      issues.push({ message: 'is listed twice', entry: raw });
    } else {
      seen[key] = true;
      addresses.push(v6 ? t.toLowerCase() : t);
    }
  }
  return { value: addresses, issues: issues };
}

/** The text of one entry of a check list: a string, or a parsed check's own text. */
function checkText(entry: unknown): unknown {
  if (typeof entry === 'object' && entry !== null && !Array.isArray(entry) && typeof (entry as { text?: unknown }).text === 'string') {
    return (entry as { text: string }).text;
  }
  return entry;
}

/** More than `max` checks is one issue, found before any is parsed; each bad check is named with its reason. */
function readCheckList(rule: CheckListRule, value: unknown): SettingRead<CheckSpec[]> {
  if (isBlank(value)) return { value: [], issues: [] };
  let list: unknown[];
  if (typeof value === 'string') {
    list = value.split('\n').filter(function (line) {
      return line.trim() !== '';
    });
  } else if (Array.isArray(value)) {
    list = value;
  } else {
    return fail('must be a list of checks, one per line (e.g. tcp://192.0.2.10:443)');
  }
  if (list.length > rule.max) return fail('lists ' + list.length + ' checks: at most ' + rule.max + ' per uplink');
  const readers = {
    isHost: isIPv4,
    seconds: function (text: string): { value?: number; problem?: string } {
      const read = readNumber(rule.timeout, text);
      return read.value === undefined ? { problem: read.issues[0].message } : { value: read.value };
    },
  };
  const checks: CheckSpec[] = [];
  const issues: SettingIssue[] = [];
  const seen: Record<string, boolean> = {};
  for (let i = 0; i < list.length; i++) {
    const raw = list[i];
    const read = parseCheckSpec(checkText(raw), readers);
    if (!read.spec) {
      issues.push({ message: read.problem || 'is not a check', entry: raw });
    } else if (Object.prototype.hasOwnProperty.call(seen, read.spec.text)) {
      issues.push({ message: 'is listed twice', entry: raw });
    } else {
      seen[read.spec.text] = true;
      checks.push(read.spec);
    }
  }
  return { value: checks, issues: issues };
}

function readBoolean(value: unknown): SettingRead<boolean> {
  const t = trimmed(value);
  if (t === true || t === 'true') return { value: true, issues: [] };
  if (t === false || t === 'false') return { value: false, issues: [] };
  return fail('must be true or false');
}

/** Like an address list: too many entries is one issue; then each entry is checked and duplicates found. */
function readNumberList(rule: NumberListRule, value: unknown): SettingRead<number[]> {
  if (isBlank(value)) return { value: [], issues: [] };
  const list: unknown[] | undefined = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : undefined;
  if (!list) return fail('must be a list of numbers');
  if (list.length > rule.max) return fail('lists ' + list.length + ' numbers: at most ' + rule.max + ' ' + rule.what);
  const numbers: number[] = [];
  const issues: SettingIssue[] = [];
  for (let i = 0; i < list.length; i++) {
    const raw = list[i];
    const read = readNumber(rule.entry, raw);
    if (read.value === undefined) {
      issues.push({ message: numberMessage(rule.entry), entry: raw });
    } else if (numbers.indexOf(read.value) >= 0) {
      issues.push({ message: 'is listed twice', entry: raw });
    } else {
      numbers.push(read.value);
    }
  }
  numbers.sort(function (a, b) {
    return a - b;
  });
  return { value: numbers, issues: issues };
}

function readGateway(rule: GatewayRule, value: unknown): SettingRead<string | null> {
  const t = trimmed(value);
  if (rule.family === 'ipv6') {
    if (isBlank(t) || t === 'none' || t === '::') return { value: null, issues: [] };
    if (typeof t === 'string' && isIPv6(t)) return { value: t.toLowerCase(), issues: [] };
    if (typeof t === 'string' && isIPv4(t)) return fail('is an IPv4 address: it belongs in the gateway, this is the IPv6 gateway');
    if (typeof t === 'string' && t.indexOf('%') >= 0 && isIPv6(t.slice(0, t.indexOf('%')))) {
      return fail('must not name a zone ("%..."): the uplink\'s interface is the zone of a link-local gateway');
    }
    return fail('must be an IPv6 address (a link-local one such as fe80::1 is fine), or none');
  }
  if (isBlank(t) || t === 'none' || t === '0.0.0.0') return { value: null, issues: [] };
  if (typeof t === 'string' && isIPv4(t)) return { value: t, issues: [] };
  if (typeof t === 'string' && isIPv6(t)) return fail('is an IPv6 address: it belongs in the IPv6 gateway (gateway6)');
  return fail('must be an IPv4 address, or none / 0.0.0.0 for a point-to-point device');
}

function readIface(value: unknown): SettingRead<string> {
  const t = trimmed(value);
  if (typeof t === 'string' && isValidInterfaceName(t)) return { value: t, issues: [] };
  return fail('must be a Linux interface name: 1-' + MAX_IFACE_LENGTH + ' characters, no "/", ":" or spaces');
}

function readEnum<T extends string>(rule: EnumRule<T>, value: unknown): SettingRead<T> {
  const t = trimmed(value);
  for (let i = 0; i < rule.values.length; i++) {
    if (rule.values[i] === t) return { value: rule.values[i], issues: [] };
  }
  return fail('must be one of ' + rule.values.join(', '));
}

function readPattern(rule: PatternRule, value: unknown): SettingRead<string> {
  const t = trimmed(value);
  if (typeof t === 'string' && new RegExp(rule.pattern).test(t)) return { value: t, issues: [] };
  return fail(rule.message);
}

/** Checks one value against its rule and gives the value as the runtime uses it. Blank is checked as given. */
export function readSetting(rule: NumberRule, value: unknown): SettingRead<number>;
export function readSetting(rule: AddressListRule, value: unknown): SettingRead<string[]>;
export function readSetting(rule: CheckListRule, value: unknown): SettingRead<CheckSpec[]>;
export function readSetting(rule: GatewayRule, value: unknown): SettingRead<string | null>;
export function readSetting<T extends string>(rule: EnumRule<T>, value: unknown): SettingRead<T>;
export function readSetting(rule: IfaceRule | PatternRule, value: unknown): SettingRead<string>;
export function readSetting(rule: BooleanRule, value: unknown): SettingRead<boolean>;
export function readSetting(rule: NumberListRule, value: unknown): SettingRead<number[]>;
export function readSetting(rule: SettingRule, value: unknown): SettingRead<unknown>;
export function readSetting(rule: SettingRule, value: unknown): SettingRead<unknown> {
  switch (rule.kind) {
    case 'number':
      return readNumber(rule, value);
    case 'ipv4-list':
    case 'ip-list':
      return readAddressList(rule, value);
    case 'gateway':
      return readGateway(rule, value);
    case 'iface':
      return readIface(value);
    case 'enum':
      return readEnum(rule, value);
    case 'pattern':
      return readPattern(rule, value);
    case 'check-list':
      return readCheckList(rule, value);
    case 'boolean':
      return readBoolean(value);
    case 'number-list':
      return readNumberList(rule, value);
  }
}

/** The problems of one value (none: it is fine). */
export function checkSetting(rule: SettingRule, value: unknown): SettingIssue[] {
  return readSetting(rule, value).issues;
}

export type SettingsTable = Readonly<Record<string, Readonly<Record<string, SettingRule>>>>;

/** A Node-RED `validate` function. */
export type Validator = (value: unknown, opt?: unknown) => boolean | string;

export interface EditorRules {
  /** Whether a value may be saved: blank is (the runtime's default applies) unless the rule is required. */
  valid(name: string, value: unknown): boolean;
  /** Why a value may not be saved, or null. */
  problem(name: string, value: unknown): string | null;
  /** validate: true or false (Node-RED then lists the property's name among the node's errors). */
  rule(name: string): Validator;
  /** validate: true or the reason (two parameters: Node-RED 3+ shows a returned string as the reason). */
  reason(name: string): Validator;
}

/** The editor's validators over a table, by "section.setting" name; an unknown name throws at once. */
export function editorRules(table: SettingsTable): EditorRules {
  function find(name: string): SettingRule {
    const dot = name.indexOf('.');
    const section = Object.prototype.hasOwnProperty.call(table, name.slice(0, dot)) ? table[name.slice(0, dot)] : undefined;
    const key = name.slice(dot + 1);
    if (dot < 0 || !section || !Object.prototype.hasOwnProperty.call(section, key)) throw new Error('no settings rule "' + name + '"');
    return section[key];
  }
  function problem(name: string, value: unknown): string | null {
    const rule = find(name);
    if (isBlank(value) && !rule.required) return null;
    const issues = checkSetting(rule, value);
    if (issues.length === 0) return null;
    const first = issues[0];
    return 'entry' in first ? String(first.entry) + ' ' + first.message : first.message;
  }
  function valid(name: string, value: unknown): boolean {
    return problem(name, value) === null;
  }
  return {
    valid: valid,
    problem: problem,
    rule: function (name: string): Validator {
      find(name);
      return function (value: unknown): boolean {
        return valid(name, value);
      };
    },
    reason: function (name: string): Validator {
      find(name);
      // Two parameters on purpose: Node-RED reads the function's length to accept a string as the reason.
      return function (value: unknown, _opt?: unknown): boolean | string {
        return problem(name, value) || true;
      };
    },
  };
}
