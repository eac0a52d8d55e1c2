/**
 * What a process tree costs, read from /proc: CPU time of the roots and all their descendants, and the
 * sum of their resident memory.
 *
 * CPU over a window = the tree's total at the end minus its total at the start, where a process's total is
 * utime + stime + cutime + cstime: a child that lived and died inside the window (a `ping` per echo) is in
 * its parent's cutime/cstime once reaped, a child still running is read directly, and one that was running
 * at the start and was reaped since moves from its own line to its parent's without being counted twice.
 * RSS = the sum of VmRSS over the tree, sampled every `sampleMs`; the peak and the mean are kept. Memory = the
 * roots' VmRSS plus the descendants' private pages, which does not count shared pages once per child.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** Kernel clock ticks per second (USER_HZ); 100 on every Linux this runs on. */
const TICKS_PER_SECOND = 100;

interface StatLine {
  ppid: number;
  /** utime + stime + cutime + cstime, in ticks. */
  ticks: number;
}

function readStat(pid: number): StatLine | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may hold spaces and parentheses: the fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
  const at = (field: number): number => Number(fields[field - 3]);
  return { ppid: at(4), ticks: at(14) + at(15) + at(16) + at(17) };
}

function readRssKb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The roots and every live descendant (by walking the parent pids of all processes). */
export function treeOf(roots: readonly number[]): Map<number, StatLine> {
  const all = new Map<number, StatLine>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat) all.set(pid, stat);
  }
  const children = new Map<number, number[]>();
  for (const [pid, s] of all) children.set(s.ppid, [...(children.get(s.ppid) ?? []), pid]);
  const tree = new Map<number, StatLine>();
  const queue = roots.filter((r) => all.has(r));
  while (queue.length > 0) {
    const pid = queue.pop()!;
    if (tree.has(pid)) continue;
    tree.set(pid, all.get(pid)!);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

function treeTicks(roots: readonly number[]): number {
  let sum = 0;
  for (const s of treeOf(roots).values()) sum += s.ticks;
  return sum;
}

/** Private_Clean + Private_Dirty (USS): the pages only this process maps (kB). */
function readPrivateKb(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return field('Private_Clean') + field('Private_Dirty');
  } catch {
    return 0;
  }
}

/**
 * Summed VmRSS of the tree, of the roots alone, and what the tree adds to the device: the roots' RSS plus
 * each descendant's private pages (kB). Summed VmRSS counts the C library and other shared pages once per
 * child although the root has them resident already (an fping: 1.9 MB RSS, 0.3 MB its own).
 */
function treeRssKb(roots: readonly number[]): { tree: number; roots: number; added: number } {
  let tree = 0;
  let own = 0;
  let added = 0;
  for (const pid of treeOf(roots).keys()) {
    const kb = readRssKb(pid);
    tree += kb;
    if (roots.includes(pid)) {
      own += kb;
      added += kb;
    } else added += readPrivateKb(pid);
  }
  return { tree, roots: own, added };
}

export interface Cost {
  /** CPU time of the tree over the window, in % of one core. */
  cpuPct: number;
  /** Peak and mean of the tree's summed VmRSS, in MB (MiB: 1024 kB). */
  rssPeakMb: number;
  rssMeanMb: number;
  /** Peak of the roots' own VmRSS (the service's Node process without its children), MB. */
  rssRootsPeakMb: number;
  /** Peak of the roots' VmRSS plus the descendants' private memory (USS): what the tree takes from the device, MB. */
  memPeakMb: number;
  seconds: number;
  samples: number;
}

/**
 * Measures the trees under `roots` for `seconds`. The roots must be alive at the start and at the end (a
 * root that died would take its children's times with it).
 */
export async function measureTree(roots: readonly number[], seconds: number, sampleMs = 250): Promise<Cost> {
  const startTicks = treeTicks(roots);
  const started = performance.now();
  const rss: number[] = [];
  const rootsRss: number[] = [];
  const added: number[] = [];
  const end = started + seconds * 1000;
  while (performance.now() < end) {
    const sample = treeRssKb(roots);
    rss.push(sample.tree);
    rootsRss.push(sample.roots);
    added.push(sample.added);
    await new Promise((r) => setTimeout(r, Math.min(sampleMs, Math.max(0, end - performance.now()))));
  }
  const endTicks = treeTicks(roots);
  const elapsed = (performance.now() - started) / 1000;
  for (const r of roots) if (!readStat(r)) throw new Error(`process ${r} ended during the measurement`);
  const mb = (kb: number): number => kb / 1024;
  return {
    cpuPct: (100 * (endTicks - startTicks)) / TICKS_PER_SECOND / elapsed,
    rssPeakMb: mb(Math.max(...rss)),
    rssMeanMb: mb(rss.reduce((a, b) => a + b, 0) / rss.length),
    rssRootsPeakMb: mb(Math.max(...rootsRss)),
    memPeakMb: mb(Math.max(...added)),
    seconds: elapsed,
    samples: rss.length,
  };
}
