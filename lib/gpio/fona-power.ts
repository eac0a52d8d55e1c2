/**
 * The FONA's power switch, as the guide wires it: the modem's PS (power status) pin to one GPIO (an
 * input: high = on), its KEY pin to another. Pulling KEY low for about 2 s toggles the power; so the
 * sequence is: read PS; only if it differs from the wanted state, pulse KEY low (2 s by default), let it
 * go high again, and confirm that PS changed within a timeout.
 *
 * Requests are serialised (a second request waits for the first), and asking for the state the modem is
 * already in is a no-op: two "on"s never toggle it twice.
 */
import { Clock, systemClock } from '../engine/clock';
import { Logger, silentLogger } from '../log/logger';
import { abortReason, sleep } from '../process/command';
import { GpioDriver, GpioDriverKind, GpioError, GpioValue } from './gpio';

export type PowerState = 'on' | 'off';
export type PowerCommand = PowerState | 'toggle' | 'status';

export interface FonaPowerOptions {
  driver: GpioDriver;
  /** BCM GPIO wired to the FONA's PS pin (the guide: 23). */
  powerStatusPin: number;
  /** BCM GPIO wired to the FONA's KEY pin (the guide: 24). */
  keyPin: number;
  /** How long KEY is held low (default 2000 ms, the original's sleep(2)). */
  keyPulseMs?: number;
  /** How long PS may take to change after the pulse (default 10 s). */
  statusTimeoutMs?: number;
  /** How often PS is read while waiting (default 100 ms). */
  pollMs?: number;
  logger?: Logger;
  /** Time for the status wait (tests pass a fake clock). */
  clock?: Clock;
}

export interface PowerResult {
  power: PowerState;
  /** The key was pulsed and the power changed. */
  changed: boolean;
  driver: GpioDriverKind;
}

export const DEFAULT_KEY_PULSE_MS = 2000;
export const DEFAULT_STATUS_TIMEOUT_MS = 10_000;

const stateOf = (v: GpioValue): PowerState => (v === 1 ? 'on' : 'off');

export class FonaPower {
  private readonly driver: GpioDriver;
  private readonly psPin: number;
  private readonly keyPin: number;
  private readonly keyPulseMs: number;
  private readonly statusTimeoutMs: number;
  private readonly pollMs: number;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly closing = new AbortController();
  private queue: Promise<unknown> = Promise.resolve();
  private closed: Promise<void> | undefined;

  constructor(options: FonaPowerOptions) {
    if (options.powerStatusPin === options.keyPin) {
      throw new GpioError('BAD_PIN', `the power status pin and the key pin are both GPIO ${options.keyPin}; they are two different wires`);
    }
    this.driver = options.driver;
    this.psPin = options.powerStatusPin;
    this.keyPin = options.keyPin;
    this.keyPulseMs = options.keyPulseMs ?? DEFAULT_KEY_PULSE_MS;
    this.statusTimeoutMs = options.statusTimeoutMs ?? DEFAULT_STATUS_TIMEOUT_MS;
    this.pollMs = options.pollMs ?? 100;
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
  }

  get driverKind(): GpioDriverKind {
    return this.driver.kind;
  }

  /** Reads PS. */
  status(): Promise<PowerResult> {
    return this.enqueue(async () => ({ power: await this.readPower(), changed: false, driver: this.driver.kind }));
  }

  /** Switches the modem on or off unless it already is; resolves with the confirmed state. */
  set(want: PowerState, signal?: AbortSignal): Promise<PowerResult> {
    return this.enqueue(() => this.switchTo(want, signal));
  }

  toggle(signal?: AbortSignal): Promise<PowerResult> {
    return this.enqueue(async () => this.switchTo((await this.readPower()) === 'on' ? 'off' : 'on', signal));
  }

  run(command: PowerCommand, signal?: AbortSignal): Promise<PowerResult> {
    if (command === 'status') return this.status();
    if (command === 'toggle') return this.toggle(signal);
    return this.set(command, signal);
  }

  /** Cuts a running pulse short (KEY goes back high), waits for queued work to settle, releases the GPIO. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.closing.abort(new GpioError('CLOSED', 'the FONA power control was closed'));
      await this.queue.catch(() => undefined);
      await this.driver.close();
    })();
    return this.closed;
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new GpioError('CLOSED', 'the FONA power control is closed'));
    const next = this.queue.catch(() => undefined).then(() => {
      if (this.closing.signal.aborted) throw abortReason(this.closing.signal);
      return work();
    });
    this.queue = next;
    return next;
  }

  private async readPower(): Promise<PowerState> {
    return stateOf(await this.driver.read(this.psPin));
  }

  private async switchTo(want: PowerState, signal?: AbortSignal): Promise<PowerResult> {
    const before = await this.readPower();
    if (before === want) {
      this.logger.debug(`FONA power is already ${want} (GPIO ${this.psPin} reads ${want === 'on' ? 1 : 0})`);
      return { power: before, changed: false, driver: this.driver.kind };
    }
    const abort = signal ? AbortSignal.any([signal, this.closing.signal]) : this.closing.signal;
    this.logger.debug(`FONA power ${before} -> ${want}: KEY (GPIO ${this.keyPin}) low for ${this.keyPulseMs} ms`);
    await this.driver.pulse(this.keyPin, 0, this.keyPulseMs, abort);
    const deadline = this.clock.now() + this.statusTimeoutMs;
    for (;;) {
      const now = await this.readPower();
      if (now === want) return { power: now, changed: true, driver: this.driver.kind };
      if (this.clock.now() >= deadline) {
        throw new GpioError(
          'STATUS_UNCHANGED',
          `the FONA did not switch ${want}: its power status pin (GPIO ${this.psPin}) still reads ${now === 'on' ? 1 : 0} (${now}) ` +
            `${this.statusTimeoutMs / 1000} s after a ${this.keyPulseMs / 1000} s pulse on the key pin (GPIO ${this.keyPin}). ` +
            'Check the wiring (PS and KEY to those BCM GPIOs, a common ground), that a battery is connected to the FONA, ' +
            'and that the pins are BCM numbers, not physical pin numbers',
        );
      }
      await sleep(this.pollMs, abort, this.clock);
    }
  }
}
