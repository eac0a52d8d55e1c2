/**
 * The options of the original's httpHandler, as written in handlerKwargs, plus ours:
 *
 *   'url': 'https://host:5000/myapp/contextroot/'              required; every POST goes to url + suffix
 *   'auth': ('username', 'password')                          basic auth (a tuple of two strings, or None)
 *   'headers': {'X-Device': 'pi-7'}                           extra request headers (strings)
 *   'onSetupUrlSuffix', 'onTearDownUrlSuffix', 'onConnectionFailedUrlSuffix',
 *   'onConnectionRestoredUrlSuffix', 'onConnectedUrlSuffix'   an event is posted only if it has a suffix
 *   'maxRetry': 120                                           attempts per event before it is dropped
 *                                                             (default: never give up; see below)
 *   'retryDelay': 0.5                                         seconds before the first retry; doubled after
 *                                                             every failed attempt, up to 30 s
 *   'timeout': 10                                             ours: seconds a request may take
 *
 * The original tried 120 times half a second apart, about a minute: less than a failover to a modem that
 * still has to be dialled can take, so the events that matter most were the ones it lost. Here an event
 * is kept until it is delivered unless maxRetry is given.
 *
 * Checked when the properties file is read, so a mistake is reported with its file and line before anything runs.
 * The result is the http handler's part of its typed spec (handler-specs.ts), which the service and
 * `ifacefailover import` both use; HTTP_SUFFIX_KWARGS is the one table of event -> suffix option.
 */
import type { LifecycleEventType } from '../engine/events';
import { PyTuple, PyValue } from './python-literal';

export interface HttpSettings {
  url: string;
  auth: { user: string; password: string } | null;
  headers: Record<string, string>;
  /** URL suffix per lifecycle event; an event without one is not posted. */
  suffixes: Partial<Record<LifecycleEventType, string>>;
  /** Attempts per event; 0 = until delivered. */
  maxRetry: number;
  retryDelayMs: number;
  timeoutMs: number;
}

export interface HttpKwargIssue {
  /** The option's name, e.g. auth. */
  field: string;
  value: unknown;
  message: string;
}

/** The handler's suffix option for each lifecycle event, as the original names them. */
export const HTTP_SUFFIX_KWARGS: Readonly<Record<LifecycleEventType, string>> = {
  setup: 'onSetupUrlSuffix',
  teardown: 'onTearDownUrlSuffix',
  connectionFailed: 'onConnectionFailedUrlSuffix',
  connectionRestored: 'onConnectionRestoredUrlSuffix',
  connected: 'onConnectedUrlSuffix',
};

export const HTTP_KWARGS = ['url', 'auth', 'headers', ...Object.values(HTTP_SUFFIX_KWARGS), 'maxRetry', 'retryDelay', 'timeout'] as const;

export const HTTP_DEFAULTS = {
  /** 0: until delivered. */
  maxRetry: 0,
  retryDelay: 0.5,
  timeout: 10,
};

/** An HTTP header name (RFC 9110 token). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/**
 * A header value is printable Latin-1 and tabs: a line break would split the request, and any character
 * node:http refuses would fail every attempt, so the event would be retried forever.
 */
const BAD_VALUE = /[^\t\x20-\x7e\xa0-\xff]/;
/**
 * Characters a URL must not carry raw: the URL parser silently drops tabs and newlines, so the address
 * logged would not be the one posted to (and a newline would forge a log line).
 */
const URL_CONTROL = /[\p{Cc}\p{Zl}\p{Zp}]/u;
/** Beyond this, an option name is no typo of a known one: no suggestion (and no quadratic edit distance). */
const MAX_GUESS_LENGTH = 64;
/** Headers the transport sets itself. */
const RESERVED_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'host']);

function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  let prev = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const cur = [i];
    for (let j = 1; j <= t.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (s[i - 1] === t[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[t.length];
}

function guess(name: string): string | undefined {
  if (name.length > MAX_GUESS_LENGTH) return undefined;
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 4)) + 1;
  for (const known of HTTP_KWARGS) {
    const d = editDistance(name, known);
    if (d < bestDistance) {
      best = known;
      bestDistance = d;
    }
  }
  return best;
}

function seconds(value: PyValue | undefined, fallback: number, min: number, max: number, field: string, issues: HttpKwargIssue[]): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    issues.push({ field, value, message: `must be a number of seconds from ${min} to ${max}` });
    return fallback;
  }
  return value;
}

/** For messages: a Python literal as the user wrote it, roughly. */
function shown(value: PyValue | undefined): unknown {
  return value instanceof PyTuple ? `(${value.items.map((v) => JSON.stringify(v)).join(', ')})` : value;
}

/** The handler's settings, or the problems with its kwargs (settings is null when there are any). */
export function parseHttpKwargs(kwargs: Readonly<Record<string, PyValue>>): { settings: HttpSettings | null; issues: HttpKwargIssue[]; warnings: string[] } {
  const issues: HttpKwargIssue[] = [];
  const warnings: string[] = [];
  for (const name of Object.keys(kwargs)) {
    if (!(HTTP_KWARGS as readonly string[]).includes(name)) {
      const g = guess(name);
      issues.push({ field: name, value: shown(kwargs[name]), message: `unknown http handler option; ${g ? `did you mean "${g}"?` : `known: ${HTTP_KWARGS.join(', ')}`}` });
    }
  }

  let url = '';
  const rawUrl = kwargs.url;
  if (rawUrl === undefined || rawUrl === null) {
    issues.push({ field: 'url', value: rawUrl, message: "is required: the address events are posted to, e.g. 'https://host:5000/myapp/contextroot/'" });
  } else if (typeof rawUrl !== 'string') {
    issues.push({ field: 'url', value: shown(rawUrl), message: 'must be a string: an http:// or https:// address' });
  } else if (URL_CONTROL.test(rawUrl)) {
    issues.push({ field: 'url', value: rawUrl, message: 'must not contain control characters or line breaks' });
  } else {
    let parsed: URL | undefined;
    try {
      parsed = new URL(rawUrl);
    } catch {
      issues.push({ field: 'url', value: rawUrl, message: 'is not a URL: write it in full, e.g. https://host:5000/myapp/contextroot/' });
    }
    if (parsed && parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      issues.push({ field: 'url', value: rawUrl, message: `must be an http:// or https:// address, not ${parsed.protocol.length > 20 ? `${parsed.protocol.slice(0, 20)}…` : parsed.protocol}` });
    } else if (parsed && (parsed.username || parsed.password)) {
      issues.push({ field: 'url', value: rawUrl, message: "must not carry a user or password: put them in 'auth': ('user', 'password')" });
    } else if (parsed) {
      url = rawUrl;
    }
  }

  let auth: HttpSettings['auth'] = null;
  const rawAuth = kwargs.auth;
  if (rawAuth !== undefined && rawAuth !== null) {
    if (!(rawAuth instanceof PyTuple) || rawAuth.items.length !== 2 || !rawAuth.items.every((x) => typeof x === 'string')) {
      issues.push({ field: 'auth', value: shown(rawAuth), message: "must be a tuple of two strings, ('user', 'password'), as requests expects for basic auth" });
    } else {
      const [user, password] = rawAuth.items as string[];
      if (user.includes(':')) issues.push({ field: 'auth', value: shown(rawAuth), message: 'the user name must not contain ":" (basic auth cannot carry it)' });
      else auth = { user, password };
    }
  }

  const headers: Record<string, string> = {};
  const rawHeaders = kwargs.headers;
  if (rawHeaders !== undefined && rawHeaders !== null) {
    if (typeof rawHeaders !== 'object' || Array.isArray(rawHeaders) || rawHeaders instanceof PyTuple) {
      issues.push({ field: 'headers', value: shown(rawHeaders), message: "must be a dict of header names to strings, e.g. {'X-Device': 'pi-7'}" });
    } else {
      const seen = new Set<string>();
      for (const [name, value] of Object.entries(rawHeaders)) {
        if (!TOKEN.test(name)) {
          issues.push({ field: `headers.${name}`, value: shown(value), message: 'is not a valid HTTP header name' });
        } else if (RESERVED_HEADERS.has(name.toLowerCase())) {
          issues.push({ field: `headers.${name}`, value: shown(value), message: 'is set by the handler itself and cannot be given' });
        } else if (seen.has(name.toLowerCase())) {
          // Header names ignore case: two spellings of one name would be sent twice by one client and merged by another.
          issues.push({ field: `headers.${name}`, value: shown(value), message: 'is given twice (header names ignore case)' });
        } else if (typeof value !== 'string' || BAD_VALUE.test(value)) {
          issues.push({ field: `headers.${name}`, value: shown(value), message: 'must be a string on one line of printable characters (Latin-1)' });
        } else {
          seen.add(name.toLowerCase());
          headers[name] = value;
        }
      }
    }
  }

  const suffixes: HttpSettings['suffixes'] = {};
  for (const [event, option] of Object.entries(HTTP_SUFFIX_KWARGS) as [LifecycleEventType, string][]) {
    const value = kwargs[option];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') {
      issues.push({ field: option, value: shown(value), message: 'must be a string appended to url (or None: the event is not posted)' });
      continue;
    }
    if (URL_CONTROL.test(value)) {
      issues.push({ field: option, value, message: 'must not contain control characters or line breaks' });
      continue;
    }
    if (url !== '') {
      try {
        new URL(url + value);
      } catch {
        issues.push({ field: option, value, message: `url + ${option} is not a URL` });
        continue;
      }
    }
    suffixes[event] = value;
  }
  if (url !== '' && Object.keys(suffixes).length === 0 && !Object.values(HTTP_SUFFIX_KWARGS).some((o) => kwargs[o] !== undefined)) {
    warnings.push(`no ${Object.values(HTTP_SUFFIX_KWARGS).join(', ')}: this http handler posts nothing (as in the original)`);
  }

  let maxRetry = HTTP_DEFAULTS.maxRetry;
  const rawMax = kwargs.maxRetry;
  if (rawMax !== undefined && rawMax !== null) {
    if (typeof rawMax !== 'number' || !Number.isInteger(rawMax) || rawMax < 1 || rawMax > 1_000_000) {
      issues.push({ field: 'maxRetry', value: shown(rawMax), message: 'must be a whole number of attempts, at least 1 (leave it out, or None, to retry until delivered)' });
    } else {
      maxRetry = rawMax;
    }
  }
  const retryDelay = seconds(kwargs.retryDelay, HTTP_DEFAULTS.retryDelay, 0.01, 3600, 'retryDelay', issues);
  const timeout = seconds(kwargs.timeout, HTTP_DEFAULTS.timeout, 0.1, 600, 'timeout', issues);

  if (issues.length > 0) return { settings: null, issues, warnings };
  return {
    settings: {
      url,
      auth,
      headers,
      suffixes,
      maxRetry,
      retryDelayMs: Math.round(retryDelay * 1000),
      timeoutMs: Math.round(timeout * 1000),
    },
    issues,
    warnings,
  };
}
