/**
 * Commands owned by something that can be closed (a node, a handler): an argument array, never a shell;
 * bounded by a timeout, cancellable with an AbortSignal, and always reaped. Plus long-lived children
 * (`pppd ... nodetach`) that are stopped with SIGTERM, then SIGKILL, and awaited, so none is left behind.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { execa, ResultPromise } from 'execa';
import { Clock, systemClock } from '../engine/clock';

export interface CommandOutcome {
  argv: string[];
  /** null when the command did not exit by itself (signal, timeout, cancel) or never started. */
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** The command could not be started: 'ENOENT' (not found on PATH), 'EACCES' (not executable), ... */
  spawnError: string | null;
  timedOut: boolean;
  canceled: boolean;
  /** Exited by itself with status 0. */
  ok: boolean;
}

export interface CommandOptions {
  /** Kill the command after this many milliseconds (default 10 s). */
  timeoutMs?: number;
  /** Aborting kills the command (SIGTERM, SIGKILL 2 s later); the outcome says `canceled`. */
  signal?: AbortSignal;
}

/** Spawn errors are reported by execa as an error code on the result. */
interface SpawnFailure {
  code?: unknown;
  isCanceled?: boolean;
  timedOut?: boolean;
}

/** Runs a command to its end; never throws for the command's own failure (the outcome says what happened). */
export async function runCommand(command: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandOutcome> {
  const argv = [command, ...args];
  if (options.signal?.aborted) {
    return { argv, exitCode: null, signal: null, stdout: '', stderr: '', spawnError: null, timedOut: false, canceled: true, ok: false };
  }
  const result = await execa(command, args, {
    reject: false,
    timeout: options.timeoutMs ?? 10_000,
    cancelSignal: options.signal,
    forceKillAfterDelay: 2000,
    env: { LC_ALL: 'C' },
    stdin: 'ignore',
  });
  const failure = result as unknown as SpawnFailure;
  const exitCode = typeof result.exitCode === 'number' ? result.exitCode : null;
  const code = typeof failure.code === 'string' ? failure.code : null;
  const spawnError = exitCode === null && result.signal === undefined && code !== null && !failure.isCanceled && !failure.timedOut ? code : null;
  return {
    argv,
    exitCode,
    signal: result.signal ?? null,
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? ''),
    spawnError,
    timedOut: result.timedOut === true,
    canceled: failure.isCanceled === true,
    ok: exitCode === 0,
  };
}

/** What a command printed, for an error message: stderr, else stdout, trimmed and shortened. */
export function commandOutput(outcome: CommandOutcome, max = 400): string {
  const text = (outcome.stderr.trim() || outcome.stdout.trim()).replace(/\s+\n/g, '\n');
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

/** One line describing how a command ended. */
export function describeOutcome(outcome: CommandOutcome): string {
  const cmd = outcome.argv.join(' ');
  if (outcome.spawnError === 'ENOENT') return `${outcome.argv[0]} was not found on PATH`;
  if (outcome.spawnError) return `${cmd} could not be started (${outcome.spawnError})`;
  if (outcome.canceled) return `${cmd} was cancelled`;
  if (outcome.timedOut) return `${cmd} did not finish in time`;
  const output = commandOutput(outcome);
  const how = outcome.exitCode !== null ? `exit ${outcome.exitCode}` : `signal ${outcome.signal ?? 'unknown'}`;
  return `${cmd} failed (${how})${output ? `: ${output}` : ''}`;
}

/** Full path of an executable found on PATH (or the name itself if it contains a "/"), or null. */
export async function findOnPath(name: string, path = process.env.PATH ?? ''): Promise<string | null> {
  const candidates = name.includes('/') ? [name] : path.split(delimiter).filter((d) => d !== '').map((d) => join(d, name));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* next */
    }
  }
  return null;
}

export interface ChildExit {
  code: number | null;
  signal: string | null;
  /** The child never started ('ENOENT', 'EACCES', ...). */
  spawnError: string | null;
}

const OUTPUT_TAIL = 4096;

/**
 * A long-lived child process (e.g. `pppd call fona nodetach`). Its owner stops it; `exited` resolves once it
 * has been reaped. Output is kept (the last 4 KiB) for error messages, and handed out line by line.
 */
export class ManagedChild {
  readonly argv: string[];
  readonly exited: Promise<ChildExit>;
  private readonly child: ResultPromise;
  private tail = '';
  private exit: ChildExit | undefined;

  constructor(command: string, args: readonly string[], options: { onLine?: (line: string, stream: 'stdout' | 'stderr') => void } = {}) {
    this.argv = [command, ...args];
    this.child = execa(command, args, {
      reject: false,
      buffer: false,
      stdin: 'ignore',
      env: { LC_ALL: 'C' },
      // Never left behind when this process exits, even without a clean stop.
      cleanup: true,
    });
    // A partial line per stream: a chunk of one must never be glued to a line of the other.
    const taker = (stream: 'stdout' | 'stderr'): ((chunk: Buffer | string) => void) => {
      let partial = '';
      return (chunk) => {
        const text = String(chunk);
        this.tail = (this.tail + text).slice(-OUTPUT_TAIL);
        if (!options.onLine) return;
        partial += text;
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) if (line.trim() !== '') options.onLine(line, stream);
      };
    };
    this.child.stdout?.on('data', taker('stdout'));
    this.child.stderr?.on('data', taker('stderr'));
    this.exited = this.child.then((result) => {
      const failure = result as unknown as SpawnFailure;
      const code = typeof result.exitCode === 'number' ? result.exitCode : null;
      const signal = result.signal ?? null;
      const spawnError = code === null && signal === null && typeof failure.code === 'string' ? failure.code : null;
      this.exit = { code, signal, spawnError };
      return this.exit;
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** The last few KiB the child printed (stdout and stderr). */
  output(): string {
    return this.tail;
  }

  /** SIGTERM (or `signal`), SIGKILL after `graceMs`; resolves once the child is reaped. */
  async stop(graceMs = 5000, signal: NodeJS.Signals = 'SIGTERM'): Promise<ChildExit> {
    if (this.exit) return this.exit;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    return this.exited;
  }
}

/** Resolves after `ms` on `clock`, or rejects with the signal's reason as soon as it is aborted; the timer never outlives it. */
export function sleep(ms: number, signal?: AbortSignal, clock: Clock = systemClock): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(String(reason ?? 'aborted'));
}
