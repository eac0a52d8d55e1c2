/**
 * Reads the original service's ifacefailover.properties file for the headless service.
 *
 *   log.properties=/opt/ifacefailover/config/log.properties
 *   failover.pinMode=policy                       (ours, optional: policy | host-route)
 *   failover.resetConnections=true                (ours, optional: reset the left uplink's connections after a switch)
 *   failover.dns=auto                             (ours, optional: auto | resolvconf | resolvectl | file | off)
 *   route.NAME.dns=IP,IP / route.NAME.prepare=early (ours, optional: the uplink's DNS servers; when a modem is brought up)
 *   route.NAME.profile=fast                       (ours, optional: standard | fast probing)
 *   route.NAME.gateway|iface|targets|verifier|verifierDelay|verifierKwargs|handlers|handlerKwargs|setupTimeout
 *
 * Routes keep file order (the first route key seen is the primary), unlike the original, which
 * kept them in a dict. Python pickles are never loaded: a handler is recognised by its file name
 * and a verifier is always our ICMP probe. Handlers come out as typed specs (handler-specs.ts), the
 * only parse of their options. Every problem is collected first, then one ConfigError is thrown whose
 * lines read `FILE:LINE: uplink "primary" gateway="...": why`.
 *
 * Input that could be read two ways is refused rather than guessed at, each with file and line: a
 * file over 1 MiB or a line over 4096 characters (before any parsing), a control character or Unicode
 * line separator anywhere (raw or from a Python escape; some readers split lines at a CR or U+2028,
 * properties-reader drops such a line), and a key set twice.
 *
 * The values come from the `properties-reader` package. It only knows the `key=value` form, turns
 * a line without "=" into a key with an empty value, treats `[name]` lines as section prefixes,
 * ends a key at "#", and reports no line numbers; so the raw text is scanned first: each accepted
 * line is handed to properties-reader as `key=value`, and malformed lines are reported instead.
 */
import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import { propertiesReader } from 'properties-reader';
import { ConfigError, ConfigIssue, quoteValue } from '../errors';
import { PinMode, UPLINK_RULES, UplinkConfig, UplinkInput, validateUplinks } from '../uplink/model';
import { DnsMethod } from '../dns/dns-manager';
import { readSetting } from '../settings/check';
import { SETTING_RULES } from '../settings/rules';
import { HANDLER_KINDS, HandlerSpec, parseHandlerSpec } from './handler-specs';
import { isPyDict, parsePythonLiteral, PyDict, PyLiteralError, PyTuple, PyValue } from './python-literal';

export type { HandlerKind, HandlerSpec } from './handler-specs';

export interface PropertiesRoute {
  uplink: UplinkConfig;
  handlers: HandlerSpec[];
  /** 1-based line of the route's first key in the file. */
  line: number;
}

export interface ServiceProperties {
  file: string;
  /** `log.properties`, kept for reference; our logs go to stdout. */
  logProperties?: string;
  pinMode: PinMode;
  /** Reset the connections of the uplink that was left after every switch (default true). */
  resetConnections: boolean;
  /** How DNS follows the active uplink (default auto; off leaves DNS alone). */
  dnsMethod: DnsMethod;
  /** In file order: the first route key seen is the primary. */
  routes: PropertiesRoute[];
  warnings: string[];
}

const ROUTE_PROPERTIES = [
  'gateway',
  'iface',
  'targets',
  'verifier',
  'verifierDelay',
  'verifierKwargs',
  'handlers',
  'handlerKwargs',
  'setupTimeout',
  'dns',
  'prepare',
  'profile',
] as const;
type RouteProperty = (typeof ROUTE_PROPERTIES)[number];

const TOP_LEVEL_KEYS = ['log.properties', 'failover.pinMode', 'failover.resetConnections', 'failover.dns'] as const;
const BOOLEANS: Readonly<Record<string, boolean>> = { true: true, false: false, yes: true, no: false, on: true, off: false, '1': true, '0': false };
const PIN_MODES = UPLINK_RULES.pinMode.values;

/** Options of the original ICMP verifier plus our own probe settings. */
const VERIFIER_KWARGS = ['timeout', 'maxRetry', 'down', 'up', 'reliability'] as const;

/** Route "properties" that people may write directly but that belong elsewhere. */
const MISPLACED: Readonly<Record<string, string>> = {
  timeout: 'verifierKwargs',
  maxretry: 'verifierKwargs',
  retries: 'verifierKwargs',
  down: 'verifierKwargs',
  up: 'verifierKwargs',
  reliability: 'verifierKwargs',
  interval: 'verifierDelay',
  delay: 'verifierDelay',
};

const ICMP_VERIFIER = 'icmpRouteVerifier.pkl';

/** Smallest probe interval the uplink model accepts: verifierDelay=0 becomes this. */
export const MIN_VERIFIER_DELAY = UPLINK_RULES.interval.min;

/** Largest file read (the guide's is 3 KB): a bigger one is refused before it is parsed. */
export const MAX_FILE_BYTES = 1024 * 1024;
/** Longest line (the guide's longest is about 260 characters): a longer one is refused before it is parsed. */
export const MAX_LINE_LENGTH = 4096;
/** Control characters but TAB (C0, DEL, C1), and the Unicode line and paragraph separators. */
const CONTROL_CHARACTER = /(?!\t)[\p{Cc}\u2028\u2029]/u;
const CHARACTER_NAMES: Readonly<Record<string, string>> = {
  '\0': 'NUL',
  '\b': 'backspace',
  '\n': 'line feed',
  '\v': 'vertical tab',
  '\f': 'form feed',
  '\r': 'carriage return',
  '\x1b': 'escape',
  '\x7f': 'delete',
  '\x85': 'next line',
  '\u2028': 'line separator',
  '\u2029': 'paragraph separator',
};
/** Beyond this, a word is no typo of a known one: no suggestion (and no quadratic edit distance). */
const MAX_TYPO_LENGTH = 64;

/** "U+000D, carriage return" */
function characterName(c: string): string {
  const code = `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
  return Object.hasOwn(CHARACTER_NAMES, c) ? `${code}, ${CHARACTER_NAMES[c]}` : code;
}

interface RawEntry {
  key: string;
  value: string;
  line: number;
}

interface RouteDraft {
  name: string;
  line: number;
  props: Map<RouteProperty, { value: string; line: number }>;
}

/** Levenshtein distance, case-insensitive. */
function distance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  let prev = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const cur = [i];
    for (let j = 1; j <= t.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (s[i - 1] === t[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[t.length];
}

function closest(word: string, candidates: readonly string[], maxDistance: number): string | undefined {
  if (word.length > MAX_TYPO_LENGTH) return undefined;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= maxDistance ? best : undefined;
}

function typoLimit(word: string): number {
  return Math.max(2, Math.floor(word.length / 4));
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Python float(): decimal text only; empty or anything else is undefined. */
function parseSeconds(text: string): number | undefined {
  const t = text.trim();
  if (!/^[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?$/.test(t)) return undefined;
  const n = Number(t.replace(/_/g, ''));
  return Number.isFinite(n) ? n : undefined;
}

/** Keys properties-reader would read back unchanged (it ends a key at "#", "=" and trims). */
const PLAIN_KEY = /^[^\s#=:!]+$/;

interface ScanResult {
  entries: RawEntry[];
  issues: ConfigIssue[];
  /** The accepted lines as `key=value`, one per source line so that positions match. */
  normalised: string;
}

/**
 * Line scan: comments, separators, malformed lines, line numbers, and what is refused before any value is
 * parsed (overlong lines, control characters, a key set twice).
 */
function scan(text: string, file: string): ScanResult {
  const entries: RawEntry[] = [];
  const issues: ConfigIssue[] = [];
  const out: string[] = [];
  const firstLine = new Map<string, number>();
  // A byte order mark is an encoding detail, not part of the first key.
  const lines = (text.startsWith('\ufeff') ? text.slice(1) : text).split('\n');
  lines.forEach((rawLine, index) => {
    const line = index + 1;
    out.push('');
    // CRLF files: the CR before each LF ends the line; any other CR is a control character inside it.
    const content = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (content.length > MAX_LINE_LENGTH) {
      issues.push({ field: 'line', value: content, message: `is ${content.length} characters long: a line may have at most ${MAX_LINE_LENGTH}`, file, line });
      return;
    }
    const bad = CONTROL_CHARACTER.exec(content);
    if (bad) {
      const sep = content.search(/[=:]/);
      const key = sep >= 0 && sep < bad.index ? content.slice(0, sep).trim() : '';
      issues.push({
        field: key || 'line',
        value: key ? content.slice(sep + 1).replace(/^[ \t]+|[ \t]+$/g, '') : content,
        message: `contains a control character at column ${bad.index + 1} (${characterName(bad[0])}): a value must be plain text on one line`,
        file,
        line,
      });
      return;
    }
    const trimmed = content.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith('!')) return;
    const sep = trimmed.search(/[=:]/);
    if (sep < 0) {
      const section = /^\[.*\]$/.test(trimmed) ? ' ([section] headers are not supported)' : '';
      issues.push({ field: 'line', value: trimmed, message: `is not a "key=value" line: no "=" or ":" separator${section}`, file, line });
      return;
    }
    const key = trimmed.slice(0, sep).trim();
    const value = trimmed.slice(sep + 1).trim();
    if (key === '') {
      issues.push({ field: 'line', value: trimmed, message: 'is not a "key=value" line: the key is missing', file, line });
      return;
    }
    if (!PLAIN_KEY.test(key)) {
      issues.push({ field: key, value, message: 'unknown key: keys contain no spaces, "#" or "!"', file, line });
      return;
    }
    const first = firstLine.get(key);
    if (first !== undefined) {
      // The original used the last one without a word; which one the user meant cannot be told.
      issues.push({ field: key, value, message: `is set twice, on lines ${first} and ${line}: each key may be set once`, file, line });
      return;
    }
    firstLine.set(key, line);
    entries.push({ key, value, line });
    out[index] = `${key}=${value}`;
  });
  return { entries, issues, normalised: out.join('\n') };
}

function unknownKeyIssue(key: string, value: string, line: number, file: string): ConfigIssue {
  const parts = key.split('.');
  let suggestion: string | undefined;
  let hint = '';
  if (parts[0] === 'route' && parts.length === 3) {
    const prop = closest(parts[2], ROUTE_PROPERTIES, typoLimit(parts[2]));
    if (prop) suggestion = `route.${parts[1]}.${prop}`;
    const home = MISPLACED[parts[2].toLowerCase()];
    if (!prop && home) hint = `; ${parts[2]} belongs in route.${parts[1]}.${home}`;
  } else {
    const candidates: string[] = [...TOP_LEVEL_KEYS];
    if (parts.length === 3) candidates.push(...ROUTE_PROPERTIES.map((p) => `route.${parts[1]}.${p}`));
    suggestion = closest(key, candidates, typoLimit(key));
  }
  if (!suggestion && !hint && parts[0] === 'route' && parts.length > 3) {
    hint = '; route keys have the form route.NAME.PROPERTY';
  }
  const known = ` (known: ${TOP_LEVEL_KEYS.join(', ')}, route.NAME.{${ROUTE_PROPERTIES.join(',')}})`;
  const message = suggestion ? `unknown key; did you mean "${suggestion}"?` : `unknown key${hint || known}`;
  return { field: key, value, message, file, line };
}

function isList(value: PyValue): value is PyValue[] | PyTuple {
  return Array.isArray(value) || value instanceof PyTuple;
}

function items(value: PyValue[] | PyTuple): PyValue[] {
  return Array.isArray(value) ? value : value.items;
}

/** The first control character in any string or dict key of a parsed literal (escapes such as \\n make them). */
function controlCharacterIn(value: PyValue): string | undefined {
  if (typeof value === 'string') return CONTROL_CHARACTER.exec(value)?.[0];
  const children = Array.isArray(value) ? value : value instanceof PyTuple ? value.items : isPyDict(value) ? Object.entries(value).flat() : [];
  for (const child of children) {
    const found = controlCharacterIn(child);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Parses a route's Python literal property; pushes an issue and returns undefined if it is not one. */
function literal(draft: RouteDraft, prop: RouteProperty, file: string, issues: ConfigIssue[]): PyValue | undefined {
  const entry = draft.props.get(prop)!;
  let parsed: PyValue;
  try {
    parsed = parsePythonLiteral(entry.value);
  } catch (err) {
    if (!(err instanceof PyLiteralError)) throw err;
    issues.push({
      uplink: draft.name,
      field: prop,
      value: entry.value,
      message: `is not a plain Python literal at column ${err.column}: ${err.detail}`,
      file,
      line: entry.line,
    });
    return undefined;
  }
  const control = controlCharacterIn(parsed);
  if (control !== undefined) {
    issues.push({
      uplink: draft.name,
      field: prop,
      value: entry.value,
      message: `has a string with a control character (${characterName(control)}, from an escape): strings must be plain text on one line`,
      file,
      line: entry.line,
    });
    return undefined;
  }
  return parsed;
}

interface Built {
  input: UplinkInput;
  handlers: HandlerSpec[];
  /** Model fields already reported here; the model's own issue for them would repeat it. */
  reported: Set<string>;
}

function buildRoute(draft: RouteDraft, file: string, issues: ConfigIssue[], warnings: string[]): Built {
  const reported = new Set<string>();
  const props = draft.props;
  const at = (prop: RouteProperty): string => `${file}:${props.get(prop)!.line}`;
  const issue = (prop: RouteProperty | string, value: unknown, message: string, line: number): void => {
    issues.push({ uplink: draft.name, field: prop, value, message, file, line });
  };
  const input: UplinkInput = { name: draft.name, probe: {} };
  const probe = input.probe!;

  for (const [prop, entry] of props) {
    if (entry.value === '' && prop !== 'targets') {
      issue(prop, entry.value, 'has no value; remove the line to use the default', entry.line);
      reported.add(prop === 'verifierDelay' ? 'interval' : prop);
    }
  }

  const iface = props.get('iface');
  if (!iface) {
    issue('iface', undefined, `is required: add route.${draft.name}.iface=eth0 (or wlan0, ppp0, ...)`, draft.line);
    reported.add('iface');
  } else {
    input.iface = iface.value;
  }
  const gateway = props.get('gateway');
  if (!gateway) {
    issue('gateway', undefined, `is required: add route.${draft.name}.gateway=ADDRESS, or 0.0.0.0 for a point-to-point device such as ppp0`, draft.line);
    reported.add('gateway');
  } else if (gateway.value !== '') {
    input.gateway = gateway.value;
  }
  const targets = props.get('targets');
  if (targets) input.targets = targets.value;
  const dns = props.get('dns');
  if (dns && dns.value !== '') input.dns = dns.value;
  const prepare = props.get('prepare');
  if (prepare && prepare.value !== '') input.prepare = prepare.value;
  const profile = props.get('profile');
  if (profile && profile.value !== '') probe.profile = profile.value;

  const delay = props.get('verifierDelay');
  if (delay && delay.value !== '') {
    const seconds = parseSeconds(delay.value);
    if (seconds === undefined) {
      issue('verifierDelay', delay.value, 'must be a number of seconds', delay.line);
      reported.add('interval');
    } else if (seconds === 0) {
      probe.interval = MIN_VERIFIER_DELAY;
      warnings.push(
        `${at('verifierDelay')}: route "${draft.name}" verifierDelay=0 would probe without pause; using ${MIN_VERIFIER_DELAY} seconds`,
      );
    } else {
      probe.interval = seconds;
    }
  }

  const setup = props.get('setupTimeout');
  if (setup && setup.value !== '') {
    const seconds = parseSeconds(setup.value);
    if (seconds === undefined) {
      issue('setupTimeout', setup.value, 'must be a number of seconds', setup.line);
      reported.add('setupTimeout');
    } else {
      input.setupTimeout = seconds;
    }
  }

  const verifier = props.get('verifier');
  if (verifier && verifier.value !== '' && posix.basename(verifier.value) !== ICMP_VERIFIER) {
    warnings.push(
      `${at('verifier')}: route "${draft.name}" verifier ${quoteValue(verifier.value)} is not the ICMP verifier (${ICMP_VERIFIER}); pickles are not loaded, ICMP echo probes are used`,
    );
  }

  const kwargsEntry = props.get('verifierKwargs');
  if (kwargsEntry && kwargsEntry.value !== '') {
    const parsed = literal(draft, 'verifierKwargs', file, issues);
    if (parsed !== undefined && !isPyDict(parsed)) {
      issue('verifierKwargs', kwargsEntry.value, "must be a Python dict, e.g. {'timeout':1, 'maxRetry':2}", kwargsEntry.line);
    } else if (parsed !== undefined) {
      for (const [name, value] of Object.entries(parsed)) {
        const field = `verifierKwargs.${name}`;
        if (name === 'maxRetry') {
          if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
            issue(field, value, 'must be a whole number of attempts, at least 1', kwargsEntry.line);
            reported.add('retries');
          } else {
            probe.retries = value - 1;
          }
        } else if (name === 'timeout' || name === 'down' || name === 'up' || name === 'reliability') {
          probe[name] = value;
        } else {
          const guess = closest(name, VERIFIER_KWARGS, typoLimit(name));
          const tail = guess ? `did you mean "${guess}"?` : `known: ${VERIFIER_KWARGS.join(', ')}`;
          issue(field, value, `unknown verifier option; ${tail}`, kwargsEntry.line);
        }
      }
    }
  }

  const handlers = buildHandlers(draft, file, issues, warnings);
  return { input, handlers, reported };
}

function buildHandlers(draft: RouteDraft, file: string, issues: ConfigIssue[], warnings: string[]): HandlerSpec[] {
  const props = draft.props;
  const handlersEntry = props.get('handlers');
  const kwargsEntry = props.get('handlerKwargs');
  const issue = (prop: string, value: unknown, message: string, line: number): void => {
    issues.push({ uplink: draft.name, field: prop, value, message, file, line });
  };

  let paths: string[] | undefined = handlersEntry ? undefined : [];
  if (handlersEntry && handlersEntry.value !== '') {
    const parsed = literal(draft, 'handlers', file, issues);
    if (parsed !== undefined) {
      if (!isList(parsed) || !items(parsed).every((p) => typeof p === 'string' && p.trim() !== '')) {
        issue('handlers', handlersEntry.value, "must be a Python list of pickle paths, e.g. ['/opt/ifacefailover/config/logHandler.pkl']", handlersEntry.line);
      } else {
        paths = items(parsed) as string[];
      }
    }
  }

  let kwargs: PyDict[] | undefined = kwargsEntry ? undefined : [];
  if (kwargsEntry && kwargsEntry.value !== '') {
    const parsed = literal(draft, 'handlerKwargs', file, issues);
    if (parsed !== undefined) {
      if (!isList(parsed)) {
        issue('handlerKwargs', kwargsEntry.value, "must be a Python list of dicts, one per handler, e.g. [{'name':'primary'}]", kwargsEntry.line);
      } else {
        const list = items(parsed);
        const bad = list.findIndex((k) => !isPyDict(k));
        if (bad >= 0) {
          issue('handlerKwargs', kwargsEntry.value, `entry ${bad + 1} is not a dict: each handler needs a dict, {} for none`, kwargsEntry.line);
        } else {
          kwargs = list as PyDict[];
        }
      }
    }
  }

  if (!paths || !kwargs) return [];
  if (paths.length !== kwargs.length) {
    const where = kwargsEntry ?? handlersEntry!;
    issue(
      kwargsEntry ? 'handlerKwargs' : 'handlers',
      where.value,
      `handlers lists ${plural(paths.length, 'handler')} but handlerKwargs has ${plural(kwargs.length, 'dict')}: they must pair up one to one ({} for a handler without options)`,
      where.line,
    );
    return [];
  }
  const specs: HandlerSpec[] = [];
  paths.forEach((path, i) => {
    const line = kwargsEntry!.line;
    const parsed = parseHandlerSpec(path, kwargs[i], draft.name, line);
    for (const problem of parsed.issues) issue(`handlerKwargs.${problem.field}`, problem.value, problem.message, line);
    for (const warning of parsed.warnings) warnings.push(`${file}:${line}: route "${draft.name}" ${warning}`);
    if (parsed.spec?.kind === 'unknown') {
      warnings.push(
        `${file}:${handlersEntry!.line}: route "${draft.name}" handler ${quoteValue(path)} is not one of ${Object.keys(HANDLER_KINDS).join(', ')}: its behaviour cannot be loaded (pickles are never opened)`,
      );
    }
    if (parsed.spec) specs.push(parsed.spec);
  });
  return specs;
}

/** Which property a field of the uplink model comes from. */
function modelFieldSource(field: string): RouteProperty | 'route' {
  switch (field) {
    case 'iface':
    case 'gateway':
    case 'targets':
    case 'setupTimeout':
      return field;
    case 'interval':
      return 'verifierDelay';
    case 'timeout':
    case 'retries':
    case 'down':
    case 'up':
    case 'reliability':
      return 'verifierKwargs';
    default:
      return 'route';
  }
}

/** Gives a model issue this file's names and the line of the property it came from. */
function locateModelIssue(issue: ConfigIssue, draft: RouteDraft | undefined, file: string): ConfigIssue {
  if (!draft) return { ...issue, file };
  const source = modelFieldSource(issue.field);
  const line = source === 'route' ? draft.line : (draft.props.get(source)?.line ?? draft.line);
  if (issue.field === 'interval') return { ...issue, field: 'verifierDelay', file, line };
  if (issue.field === 'retries' && typeof issue.value === 'number') {
    return {
      ...issue,
      field: 'verifierKwargs.maxRetry',
      value: issue.value + 1,
      message: `gives retries=${issue.value} (maxRetry counts every attempt), which ${issue.message}`,
      file,
      line,
    };
  }
  if (source === 'verifierKwargs') return { ...issue, field: `verifierKwargs.${issue.field}`, file, line };
  if (source === 'route' && issue.field === 'name') {
    return { ...issue, message: `route name ${issue.message}`, file, line };
  }
  return { ...issue, file, line };
}

/** Parses the text of an ifacefailover.properties file; throws ConfigError listing every problem. */
export function parseServiceProperties(text: string, file: string): ServiceProperties {
  if (Buffer.byteLength(text) > MAX_FILE_BYTES) throw new ConfigError([tooLarge(file)]);
  const { entries: scanned, issues, normalised } = scan(text, file);
  const warnings: string[] = [];

  // properties-reader gives the raw string values. Every key the scan accepted must come back: a line it
  // skipped would otherwise vanish without a word (it did for a stray CR before the scan refused those).
  const read = new Map(propertiesReader().read(normalised).entries());
  const entries: RawEntry[] = [];
  for (const e of scanned) {
    const value = read.get(e.key);
    if (typeof value === 'string') entries.push({ key: e.key, value, line: e.line });
    else issues.push({ field: e.key, value: e.value, message: 'could not be read as a "key=value" line', file, line: e.line });
  }

  let logProperties: string | undefined;
  let pinMode: PinMode = 'policy';
  let resetConnections = true;
  let dnsMethod: DnsMethod = 'auto';
  const drafts = new Map<string, RouteDraft>();
  for (const { key, value, line } of entries) {
    if (key === 'log.properties') {
      logProperties = value;
    } else if (key === 'failover.pinMode') {
      if ((PIN_MODES as readonly string[]).includes(value)) {
        pinMode = value as PinMode;
      } else {
        const guess = closest(value, PIN_MODES, typoLimit(value));
        const tail = guess ? `; did you mean "${guess}"?` : '';
        issues.push({ field: key, value, message: `must be one of ${PIN_MODES.join(', ')}${tail}`, file, line });
      }
    } else if (key === 'failover.dns') {
      const read = readSetting(SETTING_RULES.controller.dns, value);
      if (read.value !== undefined) dnsMethod = read.value;
      for (const issue of read.issues) issues.push({ field: key, value, message: issue.message, file, line });
    } else if (key === 'failover.resetConnections') {
      const flag = Object.hasOwn(BOOLEANS, value.trim().toLowerCase()) ? BOOLEANS[value.trim().toLowerCase()] : undefined;
      if (flag === undefined) issues.push({ field: key, value, message: 'must be true or false', file, line });
      else resetConnections = flag;
    } else if (key.startsWith('route.')) {
      const parts = key.split('.');
      if (parts.length < 3 || parts[2] === '') {
        issues.push({ field: key, value, message: `is missing its property part: write route.NAME.PROPERTY, e.g. ${key.replace(/\.?$/, '.iface')}`, file, line });
      } else if (parts[1] === '') {
        issues.push({ field: key, value, message: 'is missing the route name: write route.NAME.PROPERTY', file, line });
      } else if (parts.length > 3 || !(ROUTE_PROPERTIES as readonly string[]).includes(parts[2])) {
        issues.push(unknownKeyIssue(key, value, line, file));
      } else {
        const name = parts[1];
        let draft = drafts.get(name);
        if (!draft) {
          draft = { name, line, props: new Map() };
          drafts.set(name, draft);
        }
        draft.props.set(parts[2] as RouteProperty, { value, line });
      }
    } else {
      issues.push(unknownKeyIssue(key, value, line, file));
    }
  }

  if (drafts.size === 0) {
    issues.push({
      field: 'route',
      value: undefined,
      message: 'no routes defined: add route.NAME.gateway and route.NAME.iface lines (the first route is the primary)',
      file,
    });
  }

  const order = [...drafts.values()];
  const built = order.map((draft) => buildRoute(draft, file, issues, warnings));
  let uplinks: UplinkConfig[] = [];
  if (order.length > 0) {
    try {
      uplinks = validateUplinks(built.map((b) => b.input));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      // The model names an uplink by its name, or "#N" without one: one map instead of a search per issue.
      const routeIndex = new Map<string, number>();
      order.forEach((d, i) => routeIndex.set(d.name, i));
      order.forEach((_, i) => {
        if (!routeIndex.has(`#${i + 1}`)) routeIndex.set(`#${i + 1}`, i);
      });
      for (const issue of err.issues) {
        const index = issue.uplink === undefined ? undefined : routeIndex.get(issue.uplink);
        if (index !== undefined && built[index].reported.has(issue.field)) continue;
        issues.push(locateModelIssue(issue, index === undefined ? undefined : order[index], file));
      }
    }
  }

  if (issues.length > 0) {
    const sorted = issues
      .map((issue, i) => ({ issue, i }))
      .sort((a, b) => (a.issue.line ?? Infinity) - (b.issue.line ?? Infinity) || a.i - b.i)
      .map((x) => x.issue);
    throw new ConfigError(sorted);
  }

  const routes = order.map((draft, i) => ({ uplink: uplinks[i], handlers: built[i].handlers, line: draft.line }));
  // Warnings read "FILE:LINE: ..."; present them in line order like the errors.
  const lineOf = (w: string): number => Number(/^:(\d+):/.exec(w.slice(file.length))?.[1] ?? Infinity);
  const inLineOrder = warnings
    .map((text, i) => ({ text, line: lineOf(text), i }))
    .sort((a, b) => a.line - b.line || a.i - b.i)
    .map((w) => w.text);
  const result: ServiceProperties = { file, pinMode, resetConnections, dnsMethod, routes, warnings: inLineOrder };
  if (logProperties !== undefined) result.logProperties = logProperties;
  return result;
}

function tooLarge(file: string): ConfigIssue {
  return { field: 'file', value: file, message: `is larger than ${MAX_FILE_BYTES} bytes (1 MiB), the most a properties file may have`, file };
}

/**
 * Reads and parses an ifacefailover.properties file; a missing, unreadable or oversized file is a ConfigError
 * naming it. At most MAX_FILE_BYTES + 1 bytes are ever read, so /dev/zero or a 2 GB file costs nothing.
 */
export async function loadServiceProperties(file: string): Promise<ServiceProperties> {
  let text: string;
  try {
    const handle = await open(file, 'r');
    try {
      const buffer = Buffer.alloc(MAX_FILE_BYTES + 1);
      let length = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
        length += bytesRead;
        if (bytesRead === 0 || length === buffer.length) break;
      }
      if (length > MAX_FILE_BYTES) throw new ConfigError([tooLarge(file)]);
      text = buffer.toString('utf8', 0, length);
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'does not exist' : e.code === 'EISDIR' ? 'is a directory, not a file' : `cannot be read (${e.code ?? e.message})`;
    throw new ConfigError([{ field: 'file', value: file, message: why, file }]);
  }
  return parseServiceProperties(text, file);
}
