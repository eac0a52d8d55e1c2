/**
 * `npm run bench`: the driver. Every part (test/bench/*-bench.ts) runs in its own Node process, one after
 * the other, and hands its rows back as JSON (part.ts); the driver prints one table at the end, then the
 * parts' own tables (the cost table). A part runs alone so that nothing another part left behind (a lab,
 * a broker, a busy event loop) can change its numbers or break it: run in one process, the Node-RED MQTT
 * part and the service scenarios failed, whichever came second.
 *
 * A part that fails gets a row saying so and the driver exits 1 after printing the rest.
 * Environment: BENCH_TRIALS (default 5), IFF_BENCH_COST_S (cost window, default 60 s), IFF_BENCH_SOAK_S (the
 * fast profile's false-failover soaks, default 600 s), IFF_BENCH_PARTS (comma-separated part names to run).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isRoot } from '../lab/netlab';
import { MAIN_HEADER, PartResult, Row, Table, TRIALS, renderTable } from './part';

interface Part {
  name: string;
  script: string;
}

/** In this order; each is a script next to this one. */
const PARTS: readonly Part[] = [
  { name: 'detection', script: 'detection-bench.js' },
  { name: 'load', script: 'load-bench.js' },
  { name: 'fast', script: 'fast-bench.js' },
  { name: 'mqtt', script: 'mqtt-bench.js' },
  { name: 'dns', script: 'dns-bench.js' },
  { name: 'connections', script: 'connections-bench.js' },
  { name: 'keep', script: 'keep-bench.js' },
  { name: 'cost', script: 'cost-bench.js' },
];

interface Outcome {
  part: Part;
  result?: PartResult;
  error?: string;
  seconds: number;
}

/** Runs one part's script in a child process; its output passes through, prefixed with the part's name. */
function runChild(part: Part, dir: string): Promise<Outcome> {
  const file = join(dir, `${part.name}.json`);
  const started = Date.now();
  return new Promise((done) => {
    const child = spawn(process.execPath, [resolve(__dirname, part.script)], {
      env: { ...process.env, IFF_BENCH_RESULT: file },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    const relay = (stream: NodeJS.WritableStream) => (chunk: Buffer) => {
      const text = String(chunk);
      tail = (tail + text).slice(-4000);
      stream.write(text.replace(/^(?=.)/gm, `[${part.name}] `));
    };
    child.stdout.on('data', relay(process.stdout));
    child.stderr.on('data', relay(process.stderr));
    // Ctrl-C reaches the child too (same process group): it tears its labs down itself.
    child.on('close', (code, signal) => {
      const seconds = (Date.now() - started) / 1000;
      if (code !== 0) {
        done({ part, seconds, error: `exit ${code ?? signal}: ${tail.trim().split('\n').slice(-3).join(' / ')}` });
        return;
      }
      try {
        done({ part, seconds, result: JSON.parse(readFileSync(file, 'utf8')) as PartResult });
      } catch (e) {
        done({ part, seconds, error: `no result: ${String(e)}` });
      }
    });
  });
}

async function main(): Promise<number> {
  if (!isRoot()) {
    console.error('bench: needs root (network namespaces)');
    return 2;
  }
  const only = process.env['IFF_BENCH_PARTS']?.split(',').map((s) => s.trim());
  const parts = only ? PARTS.filter((p) => only.includes(p.name)) : PARTS;
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'iff-bench-'));
  const outcomes: Outcome[] = [];
  try {
    for (const part of parts) {
      console.log(`[bench] ${part.name} ...`);
      const outcome = await runChild(part, dir);
      console.log(`[bench] ${part.name}: ${outcome.error ? `FAILED (${outcome.error})` : 'done'} in ${outcome.seconds.toFixed(0)} s`);
      outcomes.push(outcome);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const rows: Row[] = outcomes.flatMap((o) => o.result?.rows ?? [[`${o.part.name} part FAILED: ${o.error ?? ''}`.slice(0, 160), '', '', '', '', 'NO']]);
  const tables: Table[] = outcomes.flatMap((o) => o.result?.tables ?? []);
  console.log('');
  console.log(`ifacefailover benchmark (${TRIALS} trials per timed row; every part in its own process)`);
  for (const l of renderTable(MAIN_HEADER, rows)) console.log(l);
  for (const o of outcomes) for (const n of o.result?.notes ?? []) console.log(n);
  for (const t of tables) {
    console.log(`\n${t.title}`);
    for (const l of renderTable(t.header, t.rows)) console.log(l);
    for (const n of t.notes) console.log(n);
  }
  console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s: ${outcomes.map((o) => `${o.part.name} ${o.seconds.toFixed(0)} s`).join(', ')})`);
  return outcomes.some((o) => o.error) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
