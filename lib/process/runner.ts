/**
 * The one way the core runs programs: an argument array, never a shell string, with a timeout.
 */
import { execa } from 'execa';
import { CommandError } from '../errors';

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface RunOptions {
  /** Kill the command after this many milliseconds (default 10 s). */
  timeoutMs?: number;
  /** Throw CommandError on a non-zero exit (default true). */
  reject?: boolean;
  /** Written to the command's stdin (default: no stdin at all). */
  input?: string;
}

export interface CommandRunner {
  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult>;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;

/** Runs commands with execa: no shell, C locale so output parses the same everywhere. */
export class ExecaRunner implements CommandRunner {
  async run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const result = await execa(command, args, {
      reject: false,
      timeout: options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      env: { LC_ALL: 'C' },
      ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
    });
    const exitCode = typeof result.exitCode === 'number' ? result.exitCode : -1;
    const stdout = String(result.stdout ?? '');
    const stderr = result.timedOut
      ? `timed out after ${options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS} ms`
      : String(result.stderr ?? '') || (result.failed && exitCode === -1 ? (result.shortMessage ?? '') : '');
    if (exitCode !== 0 && options.reject !== false) {
      throw new CommandError([command, ...args], exitCode === -1 ? undefined : exitCode, stderr);
    }
    return { stdout, stderr, exitCode };
  }
}
