/**
 * A route's handlers as typed specs: the one parse of `handlers` + `handlerKwargs` that the headless
 * service and `ifacefailover import` both consume, so neither reads raw kwargs and they cannot drift.
 *
 *   logHandler.pkl             {kind: 'log', name}
 *   httpHandler.pkl            {kind: 'http', url, suffixes, auth, headers, maxRetry, retryDelayMs, timeoutMs}
 *   fonaRaspberryPiHandler.pkl {kind: 'fona', settings}
 *   anything else              {kind: 'unknown'} (pickles are never opened)
 *
 * A handler is recognised by its pickle's file name, as the original's pickles were.
 */
import { posix } from 'node:path';
import { displayNameProblem } from '../uplink/model';
import { FonaSettings, parseFonaKwargs } from './fona-kwargs';
import { HttpSettings, parseHttpKwargs } from './http-kwargs';
import type { PyDict } from './python-literal';

export type HandlerKind = 'log' | 'http' | 'fona' | 'unknown';

interface SpecBase {
  /** The pickle path as written in the file; it is never opened. */
  path: string;
  /** 1-based line of the route's handlerKwargs (where this handler's options are). */
  line: number;
}

export interface LogHandlerSpec extends SpecBase {
  kind: 'log';
  /** The name its lines use ("Connected to NAME"); the route's name when the file gives none. */
  name: string;
}

export interface HttpHandlerSpec extends SpecBase, HttpSettings {
  kind: 'http';
}

export interface FonaHandlerSpec extends SpecBase {
  kind: 'fona';
  settings: FonaSettings;
}

export interface UnknownHandlerSpec extends SpecBase {
  kind: 'unknown';
}

export type HandlerSpec = LogHandlerSpec | HttpHandlerSpec | FonaHandlerSpec | UnknownHandlerSpec;

/** Built-in handlers by pickle file name. */
export const HANDLER_KINDS: Readonly<Record<string, Exclude<HandlerKind, 'unknown'>>> = {
  'logHandler.pkl': 'log',
  'httpHandler.pkl': 'http',
  'fonaRaspberryPiHandler.pkl': 'fona',
};

export interface HandlerKwargIssue {
  /** The option's name, e.g. auth. */
  field: string;
  value: unknown;
  message: string;
}

export const LOG_KWARGS = ['name'] as const;

/** The log handler's name (default: the route's), or the problems with its kwargs. */
export function parseLogKwargs(kwargs: Readonly<PyDict>, routeName: string): { name: string | null; issues: HandlerKwargIssue[] } {
  const issues: HandlerKwargIssue[] = [];
  for (const option of Object.keys(kwargs)) {
    if (!(LOG_KWARGS as readonly string[]).includes(option)) {
      issues.push({ field: option, value: kwargs[option], message: `unknown log handler option; known: ${LOG_KWARGS.join(', ')}` });
    }
  }
  const raw = kwargs.name;
  if (raw === undefined || raw === null) return { name: issues.length > 0 ? null : routeName, issues };
  if (typeof raw !== 'string') {
    issues.push({ field: 'name', value: raw, message: 'must be a string' });
    return { name: null, issues };
  }
  const problem = displayNameProblem(raw);
  if (problem) issues.push({ field: 'name', value: raw, message: problem });
  return { name: issues.length > 0 ? null : raw, issues };
}

export function handlerKind(path: string): HandlerKind {
  const base = posix.basename(path.trim());
  return Object.hasOwn(HANDLER_KINDS, base) ? HANDLER_KINDS[base] : 'unknown';
}

/**
 * The spec of one handler of route `routeName`, from its pickle path and its handlerKwargs dict (on `line`);
 * spec is null when there are issues. Warnings are about options that are valid but do nothing.
 */
export function parseHandlerSpec(
  path: string,
  kwargs: Readonly<PyDict>,
  routeName: string,
  line: number,
): { spec: HandlerSpec | null; issues: HandlerKwargIssue[]; warnings: string[] } {
  const kind = handlerKind(path);
  switch (kind) {
    case 'log': {
      const { name, issues } = parseLogKwargs(kwargs, routeName);
      return { spec: name === null ? null : { kind, path, line, name }, issues, warnings: [] };
    }
    case 'http': {
      const { settings, issues, warnings } = parseHttpKwargs(kwargs);
      return { spec: settings ? { kind, path, line, ...settings } : null, issues, warnings };
    }
    case 'fona': {
      const { settings, issues } = parseFonaKwargs(kwargs);
      return { spec: settings ? { kind, path, line, settings } : null, issues, warnings: [] };
    }
    default:
      return { spec: { kind: 'unknown', path, line }, issues: [], warnings: [] };
  }
}
