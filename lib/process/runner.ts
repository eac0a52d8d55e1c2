/**
 * The one way the core runs programs: an argument array, never a shell string, with a timeout.
 */
import { CommandError } from '../errors';
import { runToEnd } from './spawn';

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

/**
 * Runs programs as child processes: no shell, C locale so output parses the same everywhere. A timed-out command
 * gets SIGTERM, then SIGKILL 5 s later. A command that could not be started ends with exit code -1 and a stderr
 * that names the errno ("... could not be started: spawn conntrack ENOENT").
 */
export class ProcessRunner implements CommandRunner {
  async run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    const result = await runToEnd(command, args, { timeoutMs, input: options.input });
    const exitCode = result.exitCode ?? -1;
    const argv = [command, ...args].join(' ');
    let stderr = result.stderr;
    if (result.timedOut) stderr = `timed out after ${timeoutMs} ms`;
    else if (result.spawnError) stderr = `${argv} could not be started: ${result.spawnError.message}`;
    else if (stderr === '' && result.exitCode === null) stderr = `${argv} was killed by ${result.signal ?? 'a signal'}`;
    if (exitCode !== 0 && options.reject !== false) {
      throw new CommandError([command, ...args], exitCode === -1 ? undefined : exitCode, stderr);
    }
    return { stdout: result.stdout, stderr, exitCode };
  }
}
