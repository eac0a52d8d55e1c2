/** The device's main-table default route as the kernel announces it (`ip -4 monitor route` in the dut), timed. */
import { LabProcess } from './netlab';
import { sleep } from './service-harness';

export interface RouteEvent {
  at: number;
  line: string;
}

/** Watches the device's main-table default route as the kernel announces it. */
export class RouteMonitor {
  readonly events: RouteEvent[] = [];
  private buffer = '';
  constructor(private readonly proc: LabProcess) {
    proc.stdout?.on('data', (chunk: Buffer | string) => {
      this.buffer += String(chunk);
      const lines = this.buffer.split('\n');
      this.buffer = lines.pop() ?? '';
      const at = performance.now();
      // Main table only: the pins' tables (`... table 4200`) announce default routes too.
      for (const line of lines) if (/^(Deleted )?default /.test(line) && !/ table /.test(line)) this.events.push({ at, line });
    });
  }

  /** Resolves with the time the default route was announced on `dev` after `since`. */
  async waitFor(dev: string, since: number, timeoutMs = 30_000): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find((e) => e.at >= since && !e.line.startsWith('Deleted') && new RegExp(` dev ${dev}( |$)`).test(e.line));
      if (hit) return hit.at;
      if (performance.now() > deadline) throw new Error(`default route never announced on ${dev}`);
      await sleep(5);
    }
  }

  /** Milliseconds during which the main table had no default route (a delete not followed at once by an add). */
  gapMs(): number {
    let gap = 0;
    let deletedAt: number | null = null;
    for (const e of this.events) {
      if (e.line.startsWith('Deleted')) deletedAt ??= e.at;
      else if (deletedAt !== null) {
        gap += e.at - deletedAt;
        deletedAt = null;
      }
    }
    return gap;
  }

  stop(): Promise<unknown> {
    return this.proc.stop();
  }
}
