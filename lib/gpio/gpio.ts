/**
 * One GPIO driver interface for the modem's power pins. Pins are BCM GPIO numbers (GPIO 23 is BCM 23,
 * physical pin 16), the numbering the original handler used (`GPIO.setmode(GPIO.BCM)`).
 */

export type GpioDriverKind = 'rpi-gpio' | 'libgpiod';
export type GpioDriverChoice = 'auto' | GpioDriverKind;
export const GPIO_DRIVER_CHOICES: readonly GpioDriverChoice[] = ['auto', 'rpi-gpio', 'libgpiod'];
export type GpioValue = 0 | 1;

export interface GpioDriver {
  readonly kind: GpioDriverKind;
  /** What is in use, for logs and messages: `libgpiod v2 on gpiochip0`, `rpi-gpio (sysfs)`. */
  readonly description: string;
  /** Reads a line as an input. */
  read(pin: number): Promise<GpioValue>;
  /** Drives a line; it keeps the level after the call (the line may be released, its level stays on a Pi). */
  write(pin: number, value: GpioValue): Promise<void>;
  /**
   * Drives a line to `value` for `ms`, then to the opposite level. Aborting ends the pulse early; the line
   * still goes back to the opposite level before the promise settles (rejecting with the abort reason).
   */
  pulse(pin: number, value: GpioValue, ms: number, signal?: AbortSignal): Promise<void>;
  /** Ends every command in flight and releases what the driver holds. */
  close(): Promise<void>;
}

export type GpioErrorCode =
  /** The line is used by another program or driver. */
  | 'EBUSY'
  /** No permission on /dev/gpiochipN or /sys/class/gpio. */
  | 'EACCES'
  /** gpioset/gpioget are not installed. */
  | 'NO_TOOLS'
  /** The GPIO chip does not exist. */
  | 'NO_CHIP'
  /** The pin number does not exist on the chip. */
  | 'BAD_PIN'
  /** No driver works on this machine (or the chosen one cannot). */
  | 'NO_DRIVER'
  /** The modem's power status pin did not change after a key pulse. */
  | 'STATUS_UNCHANGED'
  /** The driver was closed while the operation ran. */
  | 'CLOSED'
  | 'FAILED';

export class GpioError extends Error {
  readonly code: GpioErrorCode;
  constructor(code: GpioErrorCode, message: string) {
    super(message);
    this.name = 'GpioError';
    this.code = code;
  }
}

export const GPIO_PERMISSION_FIX =
  'add the user that runs this to the gpio group (sudo usermod -aG gpio USER, then log in again or restart the service) or run it as root; ' +
  'CAP_NET_ADMIN/CAP_NET_RAW, which routing needs, do not cover GPIO';

export const LIBGPIOD_INSTALL = 'install the libgpiod tools: sudo apt install gpiod';

/**
 * Turns what gpioset/gpioget printed into a GpioError with the fix. Their wording differs between v1 and v2,
 * but the errno text (strerror) is the same: "Device or resource busy", "Permission denied", ...
 */
export function gpioErrorFromOutput(output: string, context: { tool: string; chip: string; pin: number }): GpioError {
  const text = output.trim();
  const what = `${context.tool} on ${context.chip} line ${context.pin}`;
  if (/resource busy|EBUSY/i.test(text)) {
    return new GpioError(
      'EBUSY',
      `GPIO ${context.pin} on ${context.chip} is in use by another program or kernel driver (EBUSY): ` +
        `\`gpioinfo ${context.chip}\` shows who holds it; stop that program or pick another pin (${text})`,
    );
  }
  if (/permission denied|EACCES|operation not permitted/i.test(text)) {
    return new GpioError('EACCES', `permission denied for ${what}: ${GPIO_PERMISSION_FIX} (${text})`);
  }
  if (/out of range|invalid argument|cannot find line|invalid offset/i.test(text)) {
    return new GpioError('BAD_PIN', `${context.chip} has no line ${context.pin}: use the BCM GPIO number, not the physical pin number (${text})`);
  }
  if (/no such file|cannot find GPIO chip|unable to open|not a GPIO chip|no such device/i.test(text)) {
    return new GpioError(
      'NO_CHIP',
      `GPIO chip ${context.chip} was not found: \`gpiodetect\` lists the chips (on a Raspberry Pi the header pins are on gpiochip0; ` +
        `a Pi 5 with a kernel older than 6.6.47 has them on gpiochip4) (${text})`,
    );
  }
  return new GpioError('FAILED', `${what} failed${text ? `: ${text}` : ''}`);
}

/** BCM pin numbers: the Raspberry Pi's GPIO 0..27 on the header, up to 53 on the SoC. */
export function isValidPin(pin: unknown): pin is number {
  return typeof pin === 'number' && Number.isInteger(pin) && pin >= 0 && pin <= 53;
}

/** `gpiochip0`, a number, or a /dev path: what libgpiod accepts, without anything a shell or option parser could misread. */
export function isValidChip(chip: unknown): chip is string {
  return typeof chip === 'string' && /^(?:gpiochip\d{1,3}|\d{1,3}|\/dev\/gpiochip\d{1,3})$/.test(chip);
}

/**
 * The operations a driver has in flight, so close() can wait for them and refuse new ones.
 */
export class OperationTracker {
  private readonly operations = new Set<Promise<unknown>>();
  private closed = false;

  constructor(private readonly describe: () => string) {}

  get isClosed(): boolean {
    return this.closed;
  }

  run<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new GpioError('CLOSED', `the GPIO driver (${this.describe()}) is closed`));
    const p = work();
    this.operations.add(p);
    void p.then(
      () => this.operations.delete(p),
      () => this.operations.delete(p),
    );
    return p;
  }

  /** Refuses new operations and waits for those in flight. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.operations]);
  }
}
