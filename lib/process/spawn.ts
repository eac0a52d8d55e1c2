/**
 * Child processes on node:child_process alone. execa did this before and cost about 14 MB of RSS just by being
 * loaded (issue 10: the headless service must fit a Raspberry Pi Zero); this keeps the part of it we used:
 * an argument array (never a shell), the environment plus LC_ALL=C, a timeout and an AbortSignal that end the
 * child with SIGTERM and then SIGKILL, spawn errors as their code, output with one final newline stripped, and
 * children that never outlive this process.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { Readable } from 'node:stream';

/** How long a stopped child has between SIGTERM and SIGKILL unless told (execa's default). */
export const DEFAULT_KILL_GRACE_MS = 5000;
/**
 * How long output may keep flowing after the child exited: a grandchild that inherited its stdout keeps the
 * pipe open, and waiting for it would keep a finished command (or a stop) pending for as long as it lives.
 */
const OUTPUT_AFTER_EXIT_MS = 2000;

// ---- children never outlive this process --------------------------------------------------------------

const liveChildren = new Set<ChildProcess>();

/** On exit (also process.exit() and an uncaught exception) the children still running get SIGTERM. */
function endLiveChildren(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGTERM');
    } catch {
      // Already gone.
    }
  }
}

function track(child: ChildProcess): void {
  if (liveChildren.size === 0) process.on('exit', endLiveChildren);
  liveChildren.add(child);
}

function untrack(child: ChildProcess): void {
  if (liveChildren.delete(child) && liveChildren.size === 0) process.off('exit', endLiveChildren);
}

/** How many children this module started are still running (each is ended when this process exits). */
export function liveChildCount(): number {
  return liveChildren.size;
}

// ---- shared pieces ------------------------------------------------------------------------------------

/** The parent's environment, C locale (so output parses the same everywhere), plus `extra`. */
function childEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  return { ...process.env, LC_ALL: 'C', ...extra };
}

/** Why a child could not be started: the errno code ('ENOENT', 'EACCES', ...) and Node's message. */
export interface SpawnFailure {
  code: string;
  message: string;
}

function spawnFailure(e: unknown): SpawnFailure {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return { code: typeof code === 'string' ? code : 'ESPAWN', message: e instanceof Error ? e.message : String(e) };
}

/** One final newline ("\n" or "\r\n") removed, as a shell's $(...) does. */
export function stripFinalNewline(text: string): string {
  if (!text.endsWith('\n')) return text;
  return text.slice(0, text.endsWith('\r\n') ? -2 : -1);
}

/**
 * Sends `signal` now and SIGKILL `graceMs` later if the child is still there. Returns a function that
 * cancels the SIGKILL (call it once the child has exited).
 */
function terminate(child: ChildProcess, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): () => void {
  child.kill(signal);
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, graceMs);
  return () => clearTimeout(timer);
}

/**
 * Calls `done` once the child has exited and its output has ended; output still open OUTPUT_AFTER_EXIT_MS after
 * the exit is cut off. A child that could not be started calls `failed` instead (once, never `done`).
 */
function whenEnded(
  child: ChildProcess,
  done: (code: number | null, signal: NodeJS.Signals | null) => void,
  failed: (failure: SpawnFailure) => void,
): void {
  let settled = false;
  let cutOff: NodeJS.Timeout | undefined;
  child.on('error', (e) => {
    // After a start, 'error' means a kill that failed: the child is still ours to wait for.
    if (child.pid !== undefined || settled) return;
    settled = true;
    untrack(child);
    failed(spawnFailure(e));
  });
  child.once('exit', () => {
    untrack(child);
    cutOff = setTimeout(() => {
      child.stdout?.destroy();
      child.stderr?.destroy();
    }, OUTPUT_AFTER_EXIT_MS);
  });
  child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
    clearTimeout(cutOff);
    if (settled) return;
    settled = true;
    untrack(child);
    done(code, signal);
  });
}

// ---- a command run to its end -------------------------------------------------------------------------

export interface RunToEndOptions {
  /** SIGTERM after this many milliseconds (0 or absent: no limit); the result says `timedOut`. */
  timeoutMs?: number;
  /** Aborting sends SIGTERM; the result says `canceled`. Already aborted: the command is not started. */
  signal?: AbortSignal;
  /** SIGKILL this long after the SIGTERM of a timeout or an abort (default 5 s). */
  killGraceMs?: number;
  /** Written to the command's stdin, which is then closed (default: no stdin at all). */
  input?: string;
  /** Added to the environment (which is process.env plus LC_ALL=C). */
  env?: Readonly<Record<string, string>>;
}

export interface EndedCommand {
  /** null when the command did not exit by itself (a signal) or never started. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** What it printed, UTF-8, one final newline stripped. */
  stdout: string;
  stderr: string;
  /** The command could not be started. */
  spawnError: SpawnFailure | null;
  timedOut: boolean;
  canceled: boolean;
}

/** Runs a command to its end. Never rejects: the result says how it ended. */
export function runToEnd(command: string, args: readonly string[], options: RunToEndOptions = {}): Promise<EndedCommand> {
  const ended: EndedCommand = { exitCode: null, signal: null, stdout: '', stderr: '', spawnError: null, timedOut: false, canceled: false };
  if (options.signal?.aborted) return Promise.resolve({ ...ended, canceled: true });
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(command, [...args], {
        env: childEnv(options.env),
        stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        // A session of its own: a stop signal to our whole process group (systemd, Ctrl-C, `timeout`) must not
        // kill an `ip rule add` halfway through a pin, leaving a rule no record knows of. We end it ourselves
        // (timeout, abort, our exit), and it is short.
        detached: true,
      });
    } catch (e) {
      resolve({ ...ended, spawnError: spawnFailure(e) });
      return;
    }
    track(child);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));

    let cancelKill: (() => void) | undefined;
    const end = (why: 'timedOut' | 'canceled'): void => {
      if (cancelKill || child.exitCode !== null || child.signalCode !== null) return;
      ended[why] = true;
      cancelKill = terminate(child, options.killGraceMs ?? DEFAULT_KILL_GRACE_MS);
    };
    const timeoutMs = options.timeoutMs ?? 0;
    const timer = timeoutMs > 0 ? setTimeout(() => end('timedOut'), timeoutMs) : undefined;
    const onAbort = (): void => end('canceled');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const cleanUp = (): void => {
      clearTimeout(timer);
      cancelKill?.();
      options.signal?.removeEventListener('abort', onAbort);
    };

    whenEnded(
      child,
      (exitCode, signal) => {
        cleanUp();
        resolve({
          ...ended,
          exitCode,
          signal,
          stdout: stripFinalNewline(Buffer.concat(stdout).toString('utf8')),
          stderr: stripFinalNewline(Buffer.concat(stderr).toString('utf8')),
        });
      },
      (failure) => {
        cleanUp();
        resolve({ ...ended, spawnError: failure });
      },
    );

    if (options.input !== undefined && child.stdin) {
      // A command that exits without reading its input closes the pipe: that is its business, not an error here.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
  });
}

// ---- a long-lived child -------------------------------------------------------------------------------

/** The libuv pipe under a child's stdout (see LiveChild.holdOutput); undefined if it is not there. */
interface PipeHandle {
  reading: boolean;
  readStart(): number;
  readStop(): number;
}

function pipeHandle(stream: Readable | null): PipeHandle | undefined {
  const handle = (stream as unknown as { _handle?: Partial<PipeHandle> } | null)?._handle;
  return handle && typeof handle.readStart === 'function' && typeof handle.readStop === 'function' && typeof handle.reading === 'boolean'
    ? (handle as PipeHandle)
    : undefined;
}

export interface ChildExit {
  code: number | null;
  signal: string | null;
  /** The child never started ('ENOENT', 'EACCES', ...). */
  spawnError: string | null;
}

export interface LiveChildOptions {
  /** Added to the environment (which is process.env plus LC_ALL=C). */
  env?: Readonly<Record<string, string>>;
  /** 'pipe' (default): read them from `stdout` / `stderr` (and do read them, or the child blocks). */
  stdout?: 'pipe' | 'ignore';
  stderr?: 'pipe' | 'ignore';
}

/**
 * A child that runs until its owner stops it (`pppd ... nodetach`, `ip monitor`); stdin is closed. `exited`
 * resolves once it has been reaped (never rejects); it is ended with SIGTERM if this process exits first.
 */
export class LiveChild {
  readonly argv: string[];
  readonly exited: Promise<ChildExit>;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  private readonly child: ChildProcess | undefined;
  private exit: ChildExit | undefined;
  private held = false;

  constructor(command: string, args: readonly string[], options: LiveChildOptions = {}) {
    this.argv = [command, ...args];
    let child: ChildProcess | undefined;
    let failure: SpawnFailure | undefined;
    try {
      child = spawn(command, [...args], { env: childEnv(options.env), stdio: ['ignore', options.stdout ?? 'pipe', options.stderr ?? 'pipe'] });
    } catch (e) {
      failure = spawnFailure(e);
    }
    this.child = child;
    this.stdout = child?.stdout ?? null;
    this.stderr = child?.stderr ?? null;
    this.exited = new Promise<ChildExit>((resolve) => {
      const settle = (exit: ChildExit): void => {
        this.exit = exit;
        resolve(exit);
      };
      if (!child) {
        settle({ code: null, signal: null, spawnError: failure?.code ?? 'ESPAWN' });
        return;
      }
      track(child);
      // Whatever it printed last, and the end of its output, are read even while output is held.
      child.once('exit', () => this.releaseOutput());
      whenEnded(
        child,
        (code, signal) => settle({ code, signal, spawnError: null }),
        (f) => settle({ code: null, signal: null, spawnError: f.code }),
      );
    });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /**
   * Stops reading stdout until releaseOutput(): what the child prints waits in the pipe (64 KiB on Linux; a
   * child that fills it waits too), and this process is not woken for it. For a reader that takes output in
   * batches (a prober's echoes once a round, not one wake-up per line): on a small device each wake-up costs
   * more than the line it brings. Readable.pause() is not enough: a paused stream goes on reading into its
   * buffer up to the high-water mark, a wake-up per write. The pipe's handle is Node's own (net.Socket's
   * `_handle` and its `reading` flag, which net.Socket checks before it starts the handle); without one,
   * output simply keeps flowing.
   */
  holdOutput(): void {
    const handle = pipeHandle(this.stdout);
    // `reading` false: the stream itself has stopped for back-pressure and will start again by itself.
    if (this.held || !handle || !handle.reading || this.exit || this.child?.exitCode !== null || this.child?.signalCode !== null) return;
    this.held = true;
    // `reading` stays true, so the stream's own next read (Readable.read(0) after a 'data' event) does not
    // start the handle again.
    handle.readStop();
  }

  /** Reads stdout again: what waited in the pipe comes out as 'data' at the next turn of the event loop. */
  releaseOutput(): void {
    if (!this.held) return;
    this.held = false;
    const handle = pipeHandle(this.stdout);
    if (handle?.reading) handle.readStart();
  }

  /** `signal` (SIGTERM), SIGKILL after `graceMs`; resolves once the child is reaped. */
  async stop(graceMs = DEFAULT_KILL_GRACE_MS, signal: NodeJS.Signals = 'SIGTERM'): Promise<ChildExit> {
    this.releaseOutput();
    if (this.exit || !this.child) return this.exited;
    const cancelKill = terminate(this.child, graceMs, signal);
    try {
      return await this.exited;
    } finally {
      cancelKill();
    }
  }
}
