/**
 * Errors the core raises. Each names what was wrong so a user can fix it without reading code.
 */

/** The text of anything thrown: an Error's message, else its string form. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** One bad value in a configuration: which uplink, which field, which value, and why. */
export interface ConfigIssue {
  uplink?: string;
  field: string;
  value: unknown;
  message: string;
  /** Where the value came from, when it came from a file (1-based line). */
  file?: string;
  line?: number;
}

/** How much of a value an error message quotes: enough to recognise it, never a whole 50 MB value. */
export const MAX_QUOTED_CHARS = 100;
/** How long one rendered issue's message may get (messages can embed short user text, e.g. a URL scheme). */
const MAX_MESSAGE_CHARS = 500;
/** How many issues a ConfigError's message lists; the rest are counted (all stay in `issues`). */
export const MAX_LISTED_ISSUES = 50;

/**
 * Characters that must never reach a log or terminal raw: control characters (JSON.stringify leaves C1 and
 * DEL as they are), format characters such as bidi overrides, and the Unicode line/paragraph separators.
 */
const UNSAFE_CHARACTER = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

function escapeUnsafe(text: string): string {
  return text.replace(UNSAFE_CHARACTER, (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`);
}

/** Cuts `text` to `max` characters (not inside a surrogate pair). */
function cut(text: string, max: number): string {
  const end = /[\ud800-\udbff]/.test(text[max - 1] ?? '') ? max - 1 : max;
  return text.slice(0, end);
}

/**
 * A value as an error message quotes it: JSON, on one line, unsafe characters escaped, at most about
 * MAX_QUOTED_CHARS characters of it; a longer one ends in an ellipsis and says its full size, e.g.
 * `"aaaa…" (5000 characters)`.
 */
export function quoteValue(value: unknown): string {
  if (value === undefined) return '(missing)';
  if (typeof value === 'string') {
    if (value.length <= MAX_QUOTED_CHARS) return escapeUnsafe(JSON.stringify(value));
    // Cut before quoting: quoting a 50 MB string only to show 100 characters of it would cost 50 MB more.
    return `${escapeUnsafe(JSON.stringify(cut(value, MAX_QUOTED_CHARS)).slice(0, -1))}…" (${value.length} characters)`;
  }
  let cutInside = false;
  let json: string;
  try {
    // Long strings and lists inside are cut on the way, so a huge list costs no more than its first items.
    json =
      JSON.stringify(value, (_key, v: unknown) => {
        if (typeof v === 'string' && v.length > MAX_QUOTED_CHARS) {
          cutInside = true;
          return `${cut(v, MAX_QUOTED_CHARS)}…`;
        }
        if (Array.isArray(v) && v.length > MAX_QUOTED_CHARS) {
          cutInside = true;
          return [...v.slice(0, MAX_QUOTED_CHARS), '…'];
        }
        return v;
      }) ?? String(value);
  } catch {
    json = String(value);
  }
  const size = Array.isArray(value) ? ` (${value.length} items)` : '';
  if (json.length <= MAX_QUOTED_CHARS) return escapeUnsafe(json) + (cutInside ? size : '');
  return `${escapeUnsafe(cut(json, MAX_QUOTED_CHARS))}…${size}`;
}

/** User-given text shown bare (a field or uplink name): unsafe characters escaped, cut to MAX_QUOTED_CHARS. */
export function shortText(text: string, max = MAX_QUOTED_CHARS): string {
  if (text.length <= max) return escapeUnsafe(text);
  return `${escapeUnsafe(cut(text, max))}… (${text.length} characters)`;
}

export function describeIssue(issue: ConfigIssue): string {
  const where = issue.file ? `${shortText(issue.file, 300)}${issue.line ? `:${issue.line}` : ''}: ` : '';
  const who = issue.uplink !== undefined ? `uplink "${shortText(issue.uplink)}" ` : '';
  return `${where}${who}${shortText(issue.field)}=${quoteValue(issue.value)}: ${shortText(issue.message, MAX_MESSAGE_CHARS)}`;
}

/** The issues one per line, at most MAX_LISTED_ISSUES of them: the first ones are what to fix first. */
export function describeIssues(issues: readonly ConfigIssue[]): string {
  const listed = issues.slice(0, MAX_LISTED_ISSUES).map(describeIssue);
  if (issues.length > MAX_LISTED_ISSUES) listed.push(`... and ${issues.length - MAX_LISTED_ISSUES} more problems`);
  return listed.join('\n');
}

/** Raised before anything is applied: a configuration that cannot be used as given. */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(describeIssues(issues));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** A command the route service ran failed; carries the argv so the log shows exactly what was tried. */
export class CommandError extends Error {
  readonly command: string[];
  readonly exitCode: number | undefined;
  readonly stderr: string;
  constructor(command: string[], exitCode: number | undefined, stderr: string) {
    super(`${command.join(' ')} failed${exitCode !== undefined ? ` (exit ${exitCode})` : ''}: ${stderr.trim() || 'no output'}`);
    this.name = 'CommandError';
    this.command = command;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}
