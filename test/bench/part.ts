/**
 * One part of `npm run bench`: a script that measures something in its own labs and hands its rows back
 * to the driver (failover-bench.ts), which runs every part in its own child process so that nothing one
 * part leaves behind (labs, brokers, timers, a busy event loop) can change another's numbers.
 *
 * A part's result is JSON: rows of the main table and, optionally, tables of its own (the cost table).
 * With IFF_BENCH_RESULT set (the driver sets it) the result goes to that file; run alone, a part prints
 * its rows as a table.
 */
import { writeFileSync } from 'node:fs';
import { isRoot } from '../lab/netlab';

/** A row of the main table: measure, target, median, max, n, met ('yes', 'NO', or '' for a reference). */
export type Row = [name: string, limit: string, median: string, max: string, n: string, met: string];

export interface Table {
  title: string;
  header: string[];
  rows: string[][];
  /** Lines printed under the table (how it was measured). */
  notes: string[];
}

export interface PartResult {
  rows: Row[];
  tables?: Table[];
  /** Lines printed under the main table (settings of this part's rows). */
  notes?: string[];
}

export const MAIN_HEADER = ['measure', 'target', 'median', 'max', 'n', 'met'];

/** Number of trials per timed row (BENCH_TRIALS, default 5). */
export const TRIALS = Number(process.env['BENCH_TRIALS'] ?? 5);

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function fmt(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

/** A timed row: median and max of `ms`, met when `ok(ms)`; without `ok`, a reference (met left empty). */
export function timedRow(name: string, limit: string, ms: readonly number[], ok?: (ms: readonly number[]) => boolean): Row {
  if (ms.length === 0) return [name, limit, '-', '-', '0', ok ? 'NO' : ''];
  return [name, limit, fmt(median(ms)), fmt(Math.max(...ms)), String(ms.length), ok ? (ok(ms) ? 'yes' : 'NO') : ''];
}

/** `| a | b |` lines with a rule under the header. */
export function renderTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${header.map((_, i) => (cells[i] ?? '').padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)];
}

export function printResult(result: PartResult): void {
  for (const l of renderTable(MAIN_HEADER, result.rows)) console.log(l);
  for (const n of result.notes ?? []) console.log(n);
  for (const t of result.tables ?? []) {
    console.log(`\n${t.title}`);
    for (const l of renderTable(t.header, t.rows)) console.log(l);
    for (const n of t.notes) console.log(n);
  }
}

/**
 * The main block of a part script: runs `measure`, then writes the result where the driver wants it
 * (IFF_BENCH_RESULT) or prints it, and exits (0, or 1 on an error, 2 without root).
 */
export function runPart(name: string, measure: () => Promise<PartResult>): void {
  if (!isRoot()) {
    console.error(`${name} bench: needs root (network namespaces)`);
    process.exit(2);
  }
  measure().then(
    (result) => {
      const file = process.env['IFF_BENCH_RESULT'];
      if (file) writeFileSync(file, JSON.stringify(result));
      else printResult(result);
      process.exit(0);
    },
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
