/**
 * GPIO through the libgpiod command-line tools, which work on every current Raspberry Pi kernel (the
 * character device /dev/gpiochipN, whatever the sysfs numbering). Both generations are spoken:
 *
 *   v1 (Debian bookworm, 1.6):  gpioget gpiochip0 23                     -> "1"
 *                               gpioset gpiochip0 24=1                   (sets, exits)
 *                               gpioset --mode=time --sec=2 --usec=0 gpiochip0 24=0   (holds 2 s, exits)
 *   v2 (Debian trixie, 2.x):    gpioget -c gpiochip0 23                  -> "\"23\"=active"
 *                               gpioset -t 0 -c gpiochip0 24=1           (sets, exits; without -t it holds until killed)
 *                               gpioset -p 2000ms -t 0 -c gpiochip0 24=0 (holds 2 s, exits)
 *
 * The generation comes from `gpioset --version` ("gpioset (libgpiod) v1.6.3"). Every command is bounded and
 * belongs to the driver: close() ends those in flight. No process outlives an operation.
 */
import { CommandOutcome, runCommand } from '../process/command';
import { GpioDriver, GpioError, GpioValue, LIBGPIOD_INSTALL, gpioErrorFromOutput, isValidChip, OperationTracker } from './gpio';

export type LibgpiodVersion = 1 | 2;

export interface LibgpiodOptions {
  /** Chip name, number or /dev path (default gpiochip0). */
  chip?: string;
  /** Command names or paths, looked up on PATH (default gpioset, gpioget). */
  gpioset?: string;
  gpioget?: string;
  /** Bound for each command except the pulse itself (default 5 s). */
  timeoutMs?: number;
}

/** Reads the tools' generation from `gpioset --version`. */
export async function detectLibgpiodVersion(gpioset = 'gpioset', signal?: AbortSignal): Promise<LibgpiodVersion> {
  const outcome = await runCommand(gpioset, ['--version'], { timeoutMs: 5000, signal });
  if (outcome.spawnError === 'ENOENT') throw new GpioError('NO_TOOLS', `${gpioset} was not found on PATH: ${LIBGPIOD_INSTALL}`);
  const text = `${outcome.stdout}\n${outcome.stderr}`;
  const m = /\(libgpiod\)\s+v?(\d+)\.\d+/.exec(text) ?? /\bv(\d+)\.\d+/.exec(text);
  if (!outcome.ok || !m) {
    throw new GpioError('NO_TOOLS', `\`${gpioset} --version\` did not name a libgpiod version (${text.trim() || `exit ${outcome.exitCode ?? outcome.signal}`}): ${LIBGPIOD_INSTALL}`);
  }
  return Number(m[1]) >= 2 ? 2 : 1;
}

/** Value printed by gpioget: v1 "0"/"1", v2 `"23"=active` (or unquoted, or --numeric "1"). */
export function parseGpiogetOutput(stdout: string): GpioValue | null {
  const token = stdout.trim().split(/\s+/)[0] ?? '';
  if (token === '0' || token === '1') return token === '1' ? 1 : 0;
  const m = /=(active|inactive|0|1)$/.exec(token);
  if (!m) return null;
  return m[1] === 'active' || m[1] === '1' ? 1 : 0;
}

export class LibgpiodDriver implements GpioDriver {
  readonly kind = 'libgpiod' as const;
  readonly description: string;
  private readonly chip: string;
  private readonly gpioset: string;
  private readonly gpioget: string;
  private readonly timeoutMs: number;
  private readonly controllers = new Set<AbortController>();
  private readonly ops = new OperationTracker(() => this.description);

  private constructor(
    readonly version: LibgpiodVersion,
    options: LibgpiodOptions,
  ) {
    this.chip = options.chip ?? 'gpiochip0';
    this.gpioset = options.gpioset ?? 'gpioset';
    this.gpioget = options.gpioget ?? 'gpioget';
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.description = `libgpiod v${version} on ${this.chip}`;
  }

  /** Detects the tools' generation and returns a driver speaking it. */
  static async open(options: LibgpiodOptions = {}): Promise<LibgpiodDriver> {
    const chip = options.chip ?? 'gpiochip0';
    if (!isValidChip(chip)) throw new GpioError('NO_CHIP', `"${chip}" is not a GPIO chip name: write gpiochip0 (or a number, or /dev/gpiochipN)`);
    const version = await detectLibgpiodVersion(options.gpioset ?? 'gpioset');
    return new LibgpiodDriver(version, options);
  }

  /** For tests and callers that already know the generation. */
  static withVersion(version: LibgpiodVersion, options: LibgpiodOptions = {}): LibgpiodDriver {
    return new LibgpiodDriver(version, options);
  }

  read(pin: number): Promise<GpioValue> {
    return this.ops.run(async () => {
      const args = this.version === 1 ? [this.chip, String(pin)] : ['-c', this.chip, String(pin)];
      const outcome = await this.run(this.gpioget, args, pin, this.timeoutMs);
      const value = parseGpiogetOutput(outcome.stdout);
      if (value === null) throw new GpioError('FAILED', `${this.gpioget} ${args.join(' ')} printed ${JSON.stringify(outcome.stdout.trim())}, not a line value`);
      return value;
    });
  }

  write(pin: number, value: GpioValue): Promise<void> {
    return this.ops.run(() => this.set(pin, value));
  }

  pulse(pin: number, value: GpioValue, ms: number, signal?: AbortSignal): Promise<void> {
    return this.ops.run(async () => {
      const duration = Math.max(1, Math.round(ms));
      const args =
        this.version === 1
          ? ['--mode=time', `--sec=${Math.floor(duration / 1000)}`, `--usec=${(duration % 1000) * 1000}`, this.chip, `${pin}=${value}`]
          : ['-p', `${duration}ms`, '-t', '0', '-c', this.chip, `${pin}=${value}`];
      let aborted: unknown;
      try {
        await this.run(this.gpioset, args, pin, duration + this.timeoutMs, signal);
      } catch (e) {
        // Only a pulse that was cut short drove the line; one that failed to start did not.
        if (!(signal?.aborted || this.ops.isClosed)) throw e;
        aborted = e;
      }
      // Back to the idle level, also when the pulse was cut short (close, teardown): never leave the key low.
      await this.set(pin, value === 1 ? 0 : 1, true);
      if (aborted !== undefined) throw aborted;
    });
  }

  async close(): Promise<void> {
    const closing = this.ops.close();
    for (const c of this.controllers) c.abort(new GpioError('CLOSED', `the GPIO driver (${this.description}) was closed`));
    await closing;
  }

  private async set(pin: number, value: GpioValue, evenIfClosed = false): Promise<void> {
    const args = this.version === 1 ? [this.chip, `${pin}=${value}`] : ['-t', '0', '-c', this.chip, `${pin}=${value}`];
    await this.run(this.gpioset, args, pin, this.timeoutMs, undefined, evenIfClosed);
  }


  private async run(tool: string, args: string[], pin: number, timeoutMs: number, signal?: AbortSignal, evenIfClosed = false): Promise<CommandOutcome> {
    const controller = new AbortController();
    const forward = (): void => controller.abort(signal?.reason);
    if (signal?.aborted) forward();
    signal?.addEventListener('abort', forward, { once: true });
    if (!evenIfClosed) this.controllers.add(controller);
    try {
      const outcome = await runCommand(tool, args, { timeoutMs, signal: controller.signal });
      if (outcome.ok) return outcome;
      if (outcome.canceled) {
        const reason: unknown = controller.signal.reason;
        throw reason instanceof Error ? reason : new GpioError('CLOSED', `${tool} was cancelled`);
      }
      if (outcome.spawnError === 'ENOENT') throw new GpioError('NO_TOOLS', `${tool} was not found on PATH: ${LIBGPIOD_INSTALL}`);
      if (outcome.spawnError) throw new GpioError('FAILED', `${tool} could not be started (${outcome.spawnError})`);
      if (outcome.timedOut) throw new GpioError('FAILED', `${tool} ${args.join(' ')} did not finish within ${timeoutMs} ms`);
      throw gpioErrorFromOutput(outcome.stderr || outcome.stdout, { tool, chip: this.chip, pin });
    } finally {
      signal?.removeEventListener('abort', forward);
      this.controllers.delete(controller);
    }
  }
}
