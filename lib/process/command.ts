/**
 * Commands owned by something that can be closed (a node, a handler): an argument array, never a shell;
 * bounded by a timeout, cancellable with an AbortSignal, and always reaped. Plus long-lived children
 * (`pppd ... nodetach`) that are stopped with SIGTERM, then SIGKILL, and awaited, so none is left behind.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { Clock, systemClock } from '../engine/clock';
import { LiveChild, runToEnd, type ChildExit } from './spawn';

export type { ChildExit } from './spawn';

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

/** Runs a command to its end; never throws for the command's own failure (the outcome says what happened). */
export async function runCommand(command: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandOutcome> {
  const result = await runToEnd(command, args, { timeoutMs: options.timeoutMs ?? 10_000, signal: options.signal, killGraceMs: 2000 });
  return {
    argv: [command, ...args],
    exitCode: result.exitCode,
    signal: result.signal,
    stdout: result.stdout,
    stderr: result.stderr,
    spawnError: result.spawnError?.code ?? null,
    timedOut: result.timedOut,
    canceled: result.canceled,
    ok: result.exitCode === 0 && !result.timedOut && !result.canceled,
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

const OUTPUT_TAIL = 4096;

/**
 * A long-lived child process (e.g. `pppd call fona nodetach`). Its owner stops it; `exited` resolves once it
 * has been reaped. Output is kept (the last 4 KiB) for error messages, and handed out line by line.
 */
export class ManagedChild {
  readonly argv: string[];
  readonly exited: Promise<ChildExit>;
  private readonly child: LiveChild;
  private tail = '';

  constructor(command: string, args: readonly string[], options: { onLine?: (line: string, stream: 'stdout' | 'stderr') => void } = {}) {
    this.argv = [command, ...args];
    this.child = new LiveChild(command, args);
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
    this.exited = this.child.exited;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.running;
  }

  /** Leaves stdout in the pipe until releaseOutput() (LiveChild.holdOutput: one wake-up per batch, not per line). */
  holdOutput(): void {
    this.child.holdOutput();
  }

  releaseOutput(): void {
    this.child.releaseOutput();
  }

  /** The last few KiB the child printed (stdout and stderr). */
  output(): string {
    return this.tail;
  }

  /** SIGTERM (or `signal`), SIGKILL after `graceMs`; resolves once the child is reaped. */
  stop(graceMs = 5000, signal: NodeJS.Signals = 'SIGTERM'): Promise<ChildExit> {
    return this.child.stop(graceMs, signal);
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
