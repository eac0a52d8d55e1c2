/**
 * Picks the GPIO driver that works on the running kernel, or opens the one the user chose.
 *
 *   auto:      a sysfs gpiochip with base 0 on a Raspberry Pi (kernels before 6.6) and rpi-gpio loads -> rpi-gpio;
 *              otherwise gpioset and gpioget on PATH -> libgpiod, saying why not rpi-gpio (a warning when it was
 *              expected but did not load: rpi-gpio is an optional dependency, left out where its native addon
 *              cannot be built); otherwise an error naming both reasons.
 *   rpi-gpio:  the same checks, each failure explained (base 512, not a Pi, addon does not load).
 *   libgpiod:  the tools must be on PATH; their generation (v1/v2) is detected.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../errors';
import { findOnPath } from '../process/command';
import { GpioDriver, GpioDriverChoice, GpioError, LIBGPIOD_INSTALL } from './gpio';
import { LibgpiodDriver } from './libgpiod';
import { RpiGpioDriver, RpiGpioModule } from './rpi-gpio';

export interface OpenGpioOptions {
  driver?: GpioDriverChoice;
  /** libgpiod chip (default gpiochip0). */
  chip?: string;
  /** Where sysfs GPIO lives (tests point it at a fake tree). */
  sysfsGpioRoot?: string;
  /** Where the board revision is read (tests point it at a fake file). */
  cpuinfoPath?: string;
  /** Loads rpi-gpio (tests pass a stand-in). */
  loadRpiGpio?: () => RpiGpioModule;
  /** libgpiod tool names or paths (default gpioset, gpioget) and the PATH they are looked up on. */
  gpioset?: string;
  gpioget?: string;
  path?: string;
}

export interface OpenedGpio {
  driver: GpioDriver;
  /** Why this driver: shown in logs, so a user can tell what `auto` decided. */
  reason: string;
  /** Something the user should hear (a warning): `auto` wanted rpi-gpio here, but it did not load. */
  warning?: string;
}

export interface SysfsGpio {
  /** /sys/class/gpio exists. */
  present: boolean;
  /** Bases of its gpiochips (gpiochipN/base), sorted. */
  bases: number[];
}

/** The sysfs GPIO chips' bases: [0, ...] on kernels before 6.6, [512, ...] after (571 on a Pi 5). */
export async function readSysfsGpio(root = '/sys/class/gpio'): Promise<SysfsGpio> {
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch {
    return { present: false, bases: [] };
  }
  const bases: number[] = [];
  for (const entry of entries.filter((e) => /^gpiochip\d+$/.test(e))) {
    try {
      const base = Number.parseInt((await readFile(join(root, entry, 'base'), 'utf8')).trim(), 10);
      if (Number.isInteger(base)) bases.push(base);
    } catch {
      /* not a chip directory */
    }
  }
  return { present: true, bases: bases.sort((a, b) => a - b) };
}

/** rpi-gpio's own test: a board revision in /proc/cpuinfo (Raspberry Pi kernels print one). */
export async function readBoardRevision(cpuinfoPath = '/proc/cpuinfo'): Promise<string | null> {
  try {
    const m = /^Revision\s*:\s*([0-9a-f]+)\s*$/im.exec(await readFile(cpuinfoPath, 'utf8'));
    return m ? m[1] : null;
  } catch {
    return null;
  }
}

/** Why rpi-gpio cannot work here, or null if it can (as far as can be told without loading it). */
async function rpiGpioObstacle(options: OpenGpioOptions): Promise<string | null> {
  const sysfs = await readSysfsGpio(options.sysfsGpioRoot);
  if (!sysfs.present) return 'the kernel has no sysfs GPIO interface (/sys/class/gpio)';
  if (!sysfs.bases.includes(0)) {
    const bases = sysfs.bases.length > 0 ? sysfs.bases.join(', ') : 'none';
    return `no sysfs gpiochip has base 0 (bases: ${bases}; Raspberry Pi kernels 6.6 and later number sysfs GPIOs from 512, which rpi-gpio cannot address)`;
  }
  if ((await readBoardRevision(options.cpuinfoPath)) === null) return 'this is not a Raspberry Pi (no board revision in /proc/cpuinfo)';
  return null;
}

async function missingTools(options: OpenGpioOptions): Promise<string[]> {
  const tools = [options.gpioset ?? 'gpioset', options.gpioget ?? 'gpioget'];
  const found = await Promise.all(tools.map((t) => findOnPath(t, options.path)));
  return tools.filter((_, i) => found[i] === null);
}

async function openLibgpiod(options: OpenGpioOptions, reason: string): Promise<OpenedGpio> {
  const driver = await LibgpiodDriver.open({ chip: options.chip, gpioset: options.gpioset, gpioget: options.gpioget });
  return { driver, reason: `${reason}: ${driver.description}` };
}

export async function openGpio(options: OpenGpioOptions = {}): Promise<OpenedGpio> {
  const choice = options.driver ?? 'auto';
  if (choice === 'rpi-gpio') {
    const obstacle = await rpiGpioObstacle(options);
    if (obstacle) throw new GpioError('NO_DRIVER', `the rpi-gpio driver cannot work here: ${obstacle}; use the libgpiod driver (or auto)`);
    return { driver: RpiGpioDriver.open({ load: options.loadRpiGpio }), reason: 'rpi-gpio (chosen)' };
  }
  if (choice === 'libgpiod') {
    const missing = await missingTools(options);
    if (missing.length > 0) throw new GpioError('NO_TOOLS', `the libgpiod driver needs ${missing.join(' and ')} on PATH: ${LIBGPIOD_INSTALL}`);
    return openLibgpiod(options, 'libgpiod (chosen)');
  }
  if (choice !== 'auto') throw new GpioError('NO_DRIVER', `unknown GPIO driver "${String(choice)}" (known: auto, rpi-gpio, libgpiod)`);

  let rpiReason = await rpiGpioObstacle(options);
  let loadFailed = false;
  if (rpiReason === null) {
    try {
      return { driver: RpiGpioDriver.open({ load: options.loadRpiGpio }), reason: 'auto: a sysfs gpiochip has base 0, rpi-gpio' };
    } catch (e) {
      rpiReason = errorMessage(e);
      loadFailed = true;
    }
  }
  const missing = await missingTools(options);
  if (missing.length === 0) {
    const opened = await openLibgpiod(options, 'auto');
    const reason = `${opened.reason}; not rpi-gpio: ${rpiReason}`;
    return loadFailed ? { ...opened, reason, warning: `GPIO auto: libgpiod is used, as rpi-gpio did not load: ${rpiReason}` } : { ...opened, reason };
  }
  throw new GpioError(
    'NO_DRIVER',
    `no GPIO driver works here: rpi-gpio cannot (${rpiReason}) and libgpiod needs ${missing.join(' and ')} on PATH (${LIBGPIOD_INSTALL})`,
  );
}

