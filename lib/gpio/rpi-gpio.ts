/**
 * GPIO through the rpi-gpio package (sysfs, /sys/class/gpio). It writes the bare BCM number to
 * /sys/class/gpio/export, so it only works where the SoC's gpiochip has base 0: Raspberry Pi kernels before
 * 6.6. Newer kernels number sysfs GPIOs from 512 (571 on a Pi 5) and the export fails with EINVAL; use the
 * libgpiod driver there (`auto` does).
 *
 * The package is required lazily, on first use: its native epoll addon is built for the Node.js it was
 * installed with, and a mismatch (e.g. Node 22 loading an addon built for Node 20) must not stop this
 * module, or Node-RED, from loading. The package is one object per process; pins it exported are
 * unexported when the last driver using it closes.
 */
import { createRequire } from 'node:module';
import { Clock, systemClock } from '../engine/clock';
import { errorMessage } from '../errors';
import { sleep } from '../process/command';
import { GPIO_PERMISSION_FIX, GpioDriver, GpioError, GpioValue, OperationTracker } from './gpio';

/** The part of rpi-gpio 2.x this driver uses. */
export interface RpiGpioModule {
  MODE_BCM: string;
  DIR_IN: string;
  DIR_LOW: string;
  DIR_HIGH: string;
  setMode(mode: string): void;
  promise: {
    setup(channel: number, direction: string): Promise<void>;
    read(channel: number): Promise<boolean>;
    write(channel: number, value: boolean): Promise<void>;
    destroy(): Promise<void>;
  };
}

export interface RpiGpioOptions {
  /** Loads the package (tests pass a stand-in). */
  load?: () => RpiGpioModule;
  /** Times the pulse (tests pass a fake clock). */
  clock?: Clock;
}

interface SharedState {
  users: number;
  /** Direction each pin was set up with: 'in' or 'out'. */
  pins: Map<number, 'in' | 'out'>;
}

const shared = new WeakMap<RpiGpioModule, SharedState>();

/**
 * Why rpi-gpio did not load, for people: it is an optional dependency, so npm leaves it out when its native
 * epoll addon cannot be built (no C compiler or Node.js headers), and an addon built for another Node.js fails.
 */
export function rpiGpioLoadProblem(e: unknown): string {
  const first = errorMessage(e).split('\n')[0];
  const code = typeof e === 'object' && e !== null && 'code' in e ? (e as { code: unknown }).code : undefined;
  if (code === 'MODULE_NOT_FOUND' && /['"]rpi-gpio['"]/.test(first)) {
    return 'rpi-gpio is not installed (an optional dependency: npm leaves it out when its native epoll addon cannot be built, e.g. without a C compiler); use the libgpiod driver';
  }
  return `rpi-gpio could not be loaded (${first}); its native epoll addon must match this Node.js: reinstall the package here, or use the libgpiod driver`;
}

export function loadRpiGpio(): RpiGpioModule {
  // createRequire keeps the load lazy and out of the type checker's module graph (rpi-gpio ships no types).
  const load = createRequire(__filename);
  return load('rpi-gpio') as RpiGpioModule;
}

/** Maps what rpi-gpio (fs calls on /sys/class/gpio) throws to a GpioError with the fix. */
export function rpiGpioError(e: unknown, pin: number): GpioError {
  if (e instanceof GpioError) return e;
  const err = e as NodeJS.ErrnoException;
  const message = errorMessage(e);
  switch (err.code) {
    case 'EACCES':
    case 'EPERM':
      return new GpioError('EACCES', `permission denied on /sys/class/gpio for GPIO ${pin}: ${GPIO_PERMISSION_FIX} (${message})`);
    case 'EBUSY':
      return new GpioError('EBUSY', `GPIO ${pin} is in use by another program or kernel driver (EBUSY); stop it or pick another pin (${message})`);
    case 'EINVAL':
      return new GpioError(
        'NO_DRIVER',
        `the kernel refused sysfs GPIO ${pin} (EINVAL): on Raspberry Pi kernels 6.6 and later sysfs GPIO numbers start at 512, ` +
          `which rpi-gpio cannot handle; use the libgpiod driver (${message})`,
      );
    case 'ENOENT':
      return new GpioError('NO_DRIVER', `/sys/class/gpio is missing (the kernel has no sysfs GPIO interface): use the libgpiod driver (${message})`);
    default:
      break;
  }
  if (/Revision in \/proc\/cpuinfo/.test(message)) {
    return new GpioError('NO_DRIVER', `rpi-gpio only runs on a Raspberry Pi (no board revision in /proc/cpuinfo): use the libgpiod driver`);
  }
  if (/does not map to a GPIO pin/.test(message)) {
    return new GpioError('BAD_PIN', `GPIO ${pin} is not a header pin of this Raspberry Pi: use the BCM number (${message})`);
  }
  return new GpioError('FAILED', `rpi-gpio failed on GPIO ${pin}: ${message}`);
}

export class RpiGpioDriver implements GpioDriver {
  readonly kind = 'rpi-gpio' as const;
  readonly description = 'rpi-gpio (sysfs /sys/class/gpio)';
  private readonly state: SharedState;
  private readonly ops = new OperationTracker(() => 'rpi-gpio');
  private readonly controllers = new Set<AbortController>();

  private constructor(
    private readonly gpio: RpiGpioModule,
    private readonly clock: Clock,
  ) {
    let state = shared.get(gpio);
    if (!state) {
      state = { users: 0, pins: new Map() };
      shared.set(gpio, state);
      gpio.setMode(gpio.MODE_BCM);
    }
    state.users++;
    this.state = state;
  }

  /** Loads rpi-gpio; a package that cannot load (native addon, platform) is a NO_DRIVER error. */
  static open(options: RpiGpioOptions = {}): RpiGpioDriver {
    let gpio: RpiGpioModule;
    try {
      gpio = (options.load ?? loadRpiGpio)();
    } catch (e) {
      throw new GpioError('NO_DRIVER', rpiGpioLoadProblem(e));
    }
    return new RpiGpioDriver(gpio, options.clock ?? systemClock);
  }

  read(pin: number): Promise<GpioValue> {
    return this.ops.run(async () => {
      try {
        if (!this.state.pins.has(pin)) await this.setup(pin, 'in', 1);
        return (await this.gpio.promise.read(pin)) ? 1 : 0;
      } catch (e) {
        throw rpiGpioError(e, pin);
      }
    });
  }

  write(pin: number, value: GpioValue): Promise<void> {
    return this.ops.run(() => this.set(pin, value));
  }

  pulse(pin: number, value: GpioValue, ms: number, signal?: AbortSignal): Promise<void> {
    return this.ops.run(async () => {
      await this.set(pin, value);
      const controller = new AbortController();
      const forward = (): void => controller.abort(signal?.reason);
      if (signal?.aborted) forward();
      signal?.addEventListener('abort', forward, { once: true });
      this.controllers.add(controller);
      let aborted: unknown;
      try {
        await sleep(ms, controller.signal, this.clock);
      } catch (e) {
        aborted = e;
      } finally {
        signal?.removeEventListener('abort', forward);
        this.controllers.delete(controller);
      }
      await this.set(pin, value === 1 ? 0 : 1);
      if (aborted !== undefined) throw aborted;
    });
  }

  async close(): Promise<void> {
    if (this.ops.isClosed) return;
    const closing = this.ops.close();
    for (const c of this.controllers) c.abort(new GpioError('CLOSED', 'the GPIO driver (rpi-gpio) was closed'));
    await closing;
    this.state.users--;
    if (this.state.users === 0) {
      this.state.pins.clear();
      await this.gpio.promise.destroy().catch(() => undefined);
    }
  }

  private async set(pin: number, value: GpioValue): Promise<void> {
    try {
      // Set up as an output at the wanted level, so the line never glitches (DIR_OUT alone starts low).
      if (this.state.pins.get(pin) !== 'out') await this.setup(pin, 'out', value);
      await this.gpio.promise.write(pin, value === 1);
    } catch (e) {
      throw rpiGpioError(e, pin);
    }
  }

  private async setup(pin: number, direction: 'in' | 'out', level: GpioValue): Promise<void> {
    const dir = direction === 'in' ? this.gpio.DIR_IN : level === 1 ? this.gpio.DIR_HIGH : this.gpio.DIR_LOW;
    await this.gpio.promise.setup(pin, dir);
    this.state.pins.set(pin, direction);
  }

}
