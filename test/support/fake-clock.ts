/** A clock whose time moves only when a test says so; timers fire in order, promises settle in between. */
import { Clock, TimerHandle } from '../../lib/engine/clock';

interface FakeTimer {
  id: number;
  at: number;
  fn: () => void;
}

export async function flushPromises(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export class FakeClock implements Clock {
  private time = 1_000_000;
  private timers: FakeTimer[] = [];
  private nextId = 1;

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = { id: this.nextId++, at: this.time + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t !== handle);
  }

  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Moves time forward by ms, firing every timer that falls due, each followed by a promise flush. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    await flushPromises();
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = Math.max(this.time, due.at);
      due.fn();
      await flushPromises();
    }
    this.time = end;
    await flushPromises();
  }

  /** Advances in steps until the promise settles (at most maxMs of fake time), then hands back its outcome. */
  async advanceUntilSettled<T>(promise: Promise<T>, stepMs = 50, maxMs = 120_000): Promise<T> {
    let settled = false;
    promise.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (let spent = 0; !settled && spent < maxMs; spent += stepMs) await this.advance(stepMs);
    return promise;
  }
}
