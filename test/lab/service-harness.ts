/**
 * Runs the real headless service (`dist/bin/ifacefailover.js`) inside the lab's device namespace and
 * gives tests what a user would look at: its log lines, its exit code, and the device's routing table.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LabProcess, NetLab, RouteInfo } from './netlab';
import { sleep } from '../support/wait';

export const SERVICE_BIN = resolve(__dirname, '../../bin/ifacefailover.js');

export interface RunningService {
  proc: LabProcess;
  file: string;
  /** Log lines so far, without the timestamp and logger name (`INFO Failing over to fona`). */
  lines(): string[];
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM (or the given signal) and wait for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const tempDirs: string[] = [];
process.on('exit', () => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

export function writeProperties(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'iff-props-'));
  tempDirs.push(dir);
  const file = join(dir, 'ifacefailover.properties');
  writeFileSync(file, text);
  return file;
}

/** Strips `2014-10-02 03:00:10,075 root        : ` from a guide-format line. */
export function messageOf(line: string): string {
  const m = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \S+\s*: (.*)$/.exec(line);
  return m ? m[1] : line;
}

/** `options.bin`: another script that takes the service's arguments (the benchmark's service-subject.js). */
export function startService(lab: NetLab, properties: string, args: string[] = [], options: { env?: NodeJS.ProcessEnv; bin?: string } = {}): RunningService {
  const file = writeProperties(properties);
  const proc = lab.spawn('dut', process.execPath, [options.bin ?? SERVICE_BIN, file, ...args], { env: options.env });
  const lines = () =>
    proc.output.stdout
      .split('\n')
      .filter((l) => l.trim())
      .map(messageOf);
  return {
    proc,
    file,
    lines,
    async waitForLine(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = lines().find((l) => pattern.test(l));
        if (hit) return hit;
        if (!proc.running) throw new Error(`service exited before logging ${pattern}:\n${proc.output.stdout}\n${proc.output.stderr}`);
        if (Date.now() > deadline) throw new Error(`no log line ${pattern} within ${timeoutMs} ms:\n${proc.output.stdout}`);
        await sleep(50);
      }
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      const exit = await proc.stop({ signal, graceMs: 10_000 });
      return exit.code;
    },
  };
}

// Re-exported for the lab tests that import it from here; the one definition is in test/support/wait.ts.
export { sleep };

/** Polls the device's main-table default route until `dev` carries it; returns it. */
export async function waitForDefault(lab: NetLab, dev: string, timeoutMs = 20_000): Promise<RouteInfo> {
  const deadline = Date.now() + timeoutMs;
  let last: RouteInfo[] = [];
  for (;;) {
    last = await lab.defaultRoutes();
    const hit = last.find((r) => r.dev === dev);
    if (hit && last.length === 1) return hit;
    if (Date.now() > deadline) throw new Error(`default route never moved to ${dev}; it is ${JSON.stringify(last)}`);
    await sleep(25);
  }
}

/** Rules, tables and host routes of ours (priorities and tables 4200-4263), IPv4 and IPv6, left in the device. */
export async function leftovers(lab: NetLab, targets: readonly string[]): Promise<unknown[]> {
  const found: unknown[] = [];
  for (const family of [4, 6] as const) {
    const rules = (await lab.rules(family)).filter((r) => {
      const p = (r as { priority?: number }).priority ?? 0;
      return p >= 4200 && p < 4264;
    });
    const routes = (await lab.tables(family)).filter((r) => {
      const route = r as { table?: string; dst?: string };
      const t = Number(route.table);
      return (t >= 4200 && t < 4264) || targets.includes(route.dst ?? '');
    });
    found.push(...rules, ...routes);
  }
  return found;
}
