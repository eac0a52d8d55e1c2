/**
 * Errors the core raises. Each names what was wrong so a user can fix it without reading code.
 */

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

export function describeIssue(issue: ConfigIssue): string {
  const where = issue.file ? `${issue.file}${issue.line ? `:${issue.line}` : ''}: ` : '';
  const who = issue.uplink !== undefined ? `uplink "${issue.uplink}" ` : '';
  return `${where}${who}${issue.field}=${formatValue(issue.value)}: ${issue.message}`;
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return '(missing)';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Raised before anything is applied: a configuration that cannot be used as given. */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(issues.map(describeIssue).join('\n'));
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
