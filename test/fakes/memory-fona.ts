/**
 * The fake FONA of test/fakes/bin/gpioset, in memory and on a (fake) clock: a low pulse on KEY of at least
 * minPulseMs toggles PS (at once, or statusDelayMs later). Same log lines as the fake tools' fona.log, so
 * the FONA sequence is tested without waiting for real 2 s pulses.
 */
import { Clock } from '../../lib/engine/clock';
import { GpioDriver, GpioError, GpioValue } from '../../lib/gpio/gpio';
import { sleep } from '../../lib/process/command';

export class MemoryFona implements GpioDriver {
  readonly kind = 'libgpiod' as const;
  readonly description = 'in-memory FONA';
  private readonly levels = new Map<number, GpioValue>();
  private readonly log: string[] = [];
  private readonly closing = new AbortController();
  statusDelayMs = 0;

  constructor(
    private readonly clock: Clock,
    private readonly psPin = 23,
    private readonly keyPin = 24,
    private readonly minPulseMs = 1500,
  ) {
    this.levels.set(keyPin, 1);
  }

  get power(): 'on' | 'off' {
    return this.level(this.psPin) === 1 ? 'on' : 'off';
  }

  setPower(on: boolean): void {
    this.levels.set(this.psPin, on ? 1 : 0);
  }

  level(pin: number): GpioValue {
    return this.levels.get(pin) ?? 0;
  }

  pulses(): string[] {
    return [...this.log];
  }

  async read(pin: number): Promise<GpioValue> {
    this.open();
    return this.level(pin);
  }

  async write(pin: number, value: GpioValue): Promise<void> {
    this.open();
    this.levels.set(pin, value);
  }

  async pulse(pin: number, value: GpioValue, ms: number, signal?: AbortSignal): Promise<void> {
    this.open();
    const started = this.clock.now();
    this.levels.set(pin, value);
    try {
      await sleep(ms, signal ? AbortSignal.any([signal, this.closing.signal]) : this.closing.signal, this.clock);
    } finally {
      this.levels.set(pin, value === 1 ? 0 : 1);
      if (pin === this.keyPin && value === 0) this.keyReleased(this.clock.now() - started);
    }
  }

  async close(): Promise<void> {
    this.closing.abort(new GpioError('CLOSED', 'the GPIO driver (in-memory FONA) was closed'));
  }

  private keyReleased(heldMs: number): void {
    if (heldMs < this.minPulseMs) {
      this.log.push(`pulse ${heldMs} ms: ignored (shorter than ${this.minPulseMs} ms)`);
      return;
    }
    const next = this.power === 'on' ? 0 : 1;
    this.log.push(`pulse ${heldMs} ms: power ${next === 1 ? 'on' : 'off'}`);
    if (this.statusDelayMs > 0) this.clock.setTimeout(() => this.levels.set(this.psPin, next), this.statusDelayMs);
    else this.levels.set(this.psPin, next);
  }

  private open(): void {
    if (this.closing.signal.aborted) throw new GpioError('CLOSED', 'the GPIO driver (in-memory FONA) is closed');
  }
}
