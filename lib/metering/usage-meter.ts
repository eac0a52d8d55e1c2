/**
 * Data use of metered uplinks, from the kernel's interface counters (/sys/class/net/IFACE/statistics; inside
 * `ip netns exec` that sysfs is the namespace's). Per metered uplink it keeps the bytes of the current budget
 * period (every byte through the interface, probes included, as the carrier counts them) and, while the uplink
 * carries traffic, the bytes since it became active. It emits `usage` events (every report interval while the
 * uplink carries traffic, and when it stops) and `budget` events when the period's use crosses one of the
 * configured percentages of the budget, once per alert per period.
 *
 * The counters are kept in a file, written atomically (temporary file, then rename) every few minutes, when the
 * active uplink changes, after an alert and at stop, and read at start: a restart loses at most a few seconds
 * of counting. A damaged file is set aside with a warning, and counting starts afresh.
 */
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { mkdir, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Clock, TimerHandle, systemClock } from '../engine/clock';
import { errorMessage } from '../errors';
import { Logger, silentLogger } from '../log/logger';
import type { UplinkConfig } from '../uplink/model';
import { probeBytesPerDay } from './probe-cost';

export const BYTES_PER_MB = 1_000_000;

interface MeteringEventBase {
  /** Epoch milliseconds. */
  time: number;
  uplink: string;
  iface: string;
}

/** What a metered uplink has used; status and events carry it. */
export interface UsageFigures {
  /** Bytes since it became active; null while it carries no traffic. */
  sessionBytes: number | null;
  /** When it became active (epoch ms); null while it carries no traffic. */
  activeSince: number | null;
  /** Bytes through its interface in the current budget period. */
  periodBytes: number;
  /** When the current budget period began (epoch ms, local midnight of the reset day). */
  periodStart: number;
  /** The budget in bytes; null without one. */
  budgetBytes: number | null;
  /** Percent of the budget used (one decimal); null without a budget. */
  budgetUsed: number | null;
  /** What its probes cost per day at the rate it is probed now (bytes). */
  probeBytesPerDay: number;
}

export type MeteringEvent =
  /** periodic: while it carries traffic, every report interval in which its use grew; ended: it stopped carrying traffic. */
  | (MeteringEventBase & UsageFigures & { type: 'usage'; reason: 'periodic' | 'ended' })
  /** The period's use reached `percent` % of the budget. */
  | (MeteringEventBase & { type: 'budget'; percent: number; periodBytes: number; budgetBytes: number; periodStart: number });

export type MeteringEventType = MeteringEvent['type'];

export interface UplinkUsage extends UsageFigures {
  uplink: string;
  iface: string;
  active: boolean;
  /** The alerts already sent in this period (percent). */
  alerted: number[];
}

export interface UsageMeterOptions {
  /** The metered ones among them are counted. */
  uplinks: readonly UplinkConfig[];
  /** Where the counters are kept; absent: in memory only. */
  file?: string;
  logger?: Logger;
  clock?: Clock;
  /** Where the interfaces' counters are read (default /sys/class/net). */
  statisticsRoot?: string;
  /** How often the counters are read (ms, default 5 s or the report interval if shorter): what a vanishing interface can take along uncounted. */
  sampleMs?: number;
  /** How often a `usage` event goes out while a metered uplink carries traffic (ms, default 60 s). */
  reportMs?: number;
  /** How often the counters are written when they changed (ms, default 5 min; fewer writes spare an SD card). */
  saveMs?: number;
}

/** One reading of an interface's counters. ifindex 0 (never a real one) stands for "absent". */
interface Reading {
  ifindex: number;
  rx: number;
  tx: number;
}

const ABSENT: Reading = Object.freeze({ ifindex: 0, rx: 0, tx: 0 });
/** Counters of `unsigned long` on a 32-bit kernel (a Pi Zero) wrap here. */
const WRAP_32 = 2 ** 32;

interface Session {
  since: number;
  bytes: number;
}

interface Counter {
  config: UplinkConfig;
  periodStart: number;
  periodBytes: number;
  alerted: number[];
  session: Session | null;
  /** The last reading; null before the first (its bytes until then are not counted). */
  last: Reading | null;
  /** periodBytes at the last usage event. */
  reported: number;
}

/** The file's content, version 1. */
interface StoredCounter {
  iface: string;
  periodStart: number;
  periodBytes: number;
  alerted: number[];
  /** Open when the service stopped while the uplink carried traffic: resumed if it is the first to carry it again. */
  session: Session | null;
  last: Reading | null;
}

interface StoredFile {
  version: 1;
  savedAt: number;
  uplinks: Record<string, StoredCounter>;
}

/** Days in a month (month 0-11). */
function daysIn(year: number, month: number): number {
  return new Date(year, month + 1, 0).getDate();
}

/** Local midnight of the reset day in that month (a reset day past the month's end: its last day). */
function resetIn(year: number, month: number, resetDay: number): number {
  return new Date(year, month, Math.min(resetDay, daysIn(year, month))).getTime();
}

/** When the budget period that contains `now` began (local time). */
export function periodStartOf(now: number, resetDay: number): number {
  const d = new Date(now);
  const start = resetIn(d.getFullYear(), d.getMonth(), resetDay);
  if (start <= now) return start;
  return d.getMonth() === 0 ? resetIn(d.getFullYear() - 1, 11, resetDay) : resetIn(d.getFullYear(), d.getMonth() - 1, resetDay);
}

/**
 * Bytes a counter moved between two readings of one direction. A counter below its last value either wrapped
 * (32 bits) or started again from zero (the device was reset): never negative.
 */
function grown(before: number, now: number): number {
  if (now >= before) return now - before;
  return before < WRAP_32 ? WRAP_32 - before + now : now;
}

/** Bytes between two readings: all of the new one when the interface was created (again) since the last. */
export function bytesBetween(last: Reading, now: Reading): number {
  if (now.ifindex !== last.ifindex) return now.rx + now.tx;
  return grown(last.rx, now.rx) + grown(last.tx, now.tx);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function readingOf(v: unknown): Reading | null | undefined {
  if (v === null) return null;
  if (!isObject(v) || !isCount(v.ifindex) || !isCount(v.rx) || !isCount(v.tx)) return undefined;
  return { ifindex: v.ifindex, rx: v.rx, tx: v.tx };
}

function sessionOf(v: unknown): Session | null | undefined {
  if (v === null) return null;
  if (!isObject(v) || !isCount(v.since) || !isCount(v.bytes)) return undefined;
  return { since: v.since, bytes: v.bytes };
}

/** The counters of a file's text, or why they cannot be used. */
export function parseStored(text: string): Record<string, StoredCounter> | string {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return `not JSON (${errorMessage(e)})`;
  }
  if (!isObject(data) || data.version !== 1 || !isObject(data.uplinks)) return 'not a version 1 counters file';
  const counters: Record<string, StoredCounter> = {};
  for (const [name, v] of Object.entries(data.uplinks)) {
    const last = isObject(v) ? readingOf(v.last) : undefined;
    const session = isObject(v) ? sessionOf(v.session) : undefined;
    if (
      !isObject(v) ||
      typeof v.iface !== 'string' ||
      !isCount(v.periodStart) ||
      !isCount(v.periodBytes) ||
      !Array.isArray(v.alerted) ||
      !v.alerted.every(isCount) ||
      last === undefined ||
      session === undefined
    ) {
      return `the counters of "${name}" are not readable`;
    }
    counters[name] = { iface: v.iface, periodStart: v.periodStart, periodBytes: v.periodBytes, alerted: v.alerted as number[], session, last };
  }
  return counters;
}

/** Writes `text` to `file` through a temporary file in the same directory, so a reader sees the old or the new whole. */
export async function writeAtomically(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const temp = `${file}.tmp-${process.pid}`;
  try {
    const fd = openSync(temp, 'w', 0o644);
    try {
      writeSync(fd, text);
      // On the SD card of a device that loses power: the data is on disk before the name points at it.
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    await rename(temp, file);
  } catch (e) {
    await unlink(temp).catch(() => undefined);
    throw e;
  }
}

export type MeteringListener = (event: MeteringEvent) => void;

export class UsageMeter {
  private readonly counters: Counter[];
  private readonly file: string | undefined;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly root: string;
  private readonly sampleMs: number;
  private readonly reportMs: number;
  private readonly saveMs: number;
  private readonly listeners = new Set<MeteringListener>();
  private timer: TimerHandle | null = null;
  private running = false;
  private active: string | null = null;
  /** Sessions open when the service last stopped, until the first active uplink is known. */
  private resumable: Map<string, Session> | null = null;
  private lastReport = 0;
  private lastSave = 0;
  private dirty = false;
  private writing: Promise<void> = Promise.resolve();
  private lastWriteProblem: string | null = null;

  constructor(options: UsageMeterOptions) {
    this.file = options.file;
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.root = options.statisticsRoot ?? '/sys/class/net';
    this.reportMs = options.reportMs ?? 60_000;
    this.sampleMs = options.sampleMs ?? Math.min(5000, this.reportMs);
    this.saveMs = options.saveMs ?? 300_000;
    const now = this.clock.now();
    this.counters = options.uplinks
      .filter((u) => u.metered)
      .map((config) => ({
        config,
        periodStart: periodStartOf(now, config.metered!.budgetResetDay),
        periodBytes: 0,
        alerted: [],
        session: null,
        last: null,
        reported: 0,
      }));
  }

  /** Whether any uplink is metered (without one there is nothing to count). */
  get metering(): boolean {
    return this.counters.length > 0;
  }

  on(listener: MeteringListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reads the counters file, takes a first reading of every metered interface, and starts the timer. */
  async start(): Promise<void> {
    if (this.running || !this.metering) return;
    await this.load();
    this.running = true;
    const now = this.clock.now();
    this.lastReport = now;
    this.lastSave = now;
    for (const c of this.counters) {
      this.sample(c, now);
      // A budget made smaller since the last run may be used up already.
      this.checkBudget(c, now);
    }
    this.schedule();
  }

  /** The uplink that carries traffic now (null: none); the runner calls it on every switch. */
  activeChanged(name: string | null): void {
    if (!this.running || name === this.active) return;
    const now = this.clock.now();
    // Bytes until now belong to the session that ends now, not to the one that begins.
    for (const c of this.counters) this.sample(c, now);
    this.active = name;
    const resumable = this.resumable;
    this.resumable = null;
    for (const c of this.counters) {
      if (c.config.name === name && !c.session) {
        c.session = resumable?.get(name) ?? { since: now, bytes: 0 };
      } else if (c.config.name !== name && c.session) {
        this.emitUsage(c, now, 'ended');
        c.session = null;
      }
    }
    this.dirty = true;
    void this.save();
  }

  /** Every metered uplink's figures now (from a fresh reading while it runs). */
  status(): UplinkUsage[] {
    if (this.running) {
      const now = this.clock.now();
      for (const c of this.counters) this.sample(c, now);
    }
    return this.counters.map((c) => ({
      uplink: c.config.name,
      iface: c.config.iface,
      active: c.config.name === this.active,
      alerted: [...c.alerted],
      ...this.figures(c),
    }));
  }

  /** Stops the timer, takes a last reading and writes the counters; resolves when they are written. */
  async stop(): Promise<void> {
    if (!this.running) {
      await this.writing;
      return;
    }
    this.running = false;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    const now = this.clock.now();
    for (const c of this.counters) this.sample(c, now);
    this.dirty = true;
    await this.save();
  }

  // ---- counting ---------------------------------------------------------------------------------

  private schedule(): void {
    this.timer = this.clock.setTimeout(() => this.tick(), this.sampleMs);
  }

  private tick(): void {
    this.timer = null;
    if (!this.running) return;
    const now = this.clock.now();
    for (const c of this.counters) this.sample(c, now);
    if (now - this.lastReport >= this.reportMs) {
      this.lastReport = now;
      for (const c of this.counters) if (c.session && c.periodBytes !== c.reported) this.emitUsage(c, now, 'periodic');
    }
    if (this.dirty && now - this.lastSave >= this.saveMs) void this.save();
    this.schedule();
  }

  /**
   * Reads the interface's counters. Synchronous on purpose: sysfs is memory, and a reading taken at the very
   * moment of a switch puts every byte in the right session.
   */
  private read(iface: string): Reading {
    try {
      const dir = join(this.root, iface);
      const number = (path: string): number => {
        const n = Number(readFileSync(join(dir, path), 'utf8').trim());
        if (!Number.isFinite(n) || n < 0) throw new Error(`${path} is not a count`);
        return n;
      };
      return { ifindex: number('ifindex'), rx: number('statistics/rx_bytes'), tx: number('statistics/tx_bytes') };
    } catch {
      // Absent (ppp0 before dialling, or gone): nothing moves through it.
      return ABSENT;
    }
  }

  private sample(c: Counter, now: number): void {
    const reading = this.read(c.config.iface);
    // The first reading is the baseline: what the interface moved before is not ours to count.
    const added = c.last === null ? 0 : bytesBetween(c.last, reading);
    c.last = reading;
    const start = periodStartOf(now, c.config.metered!.budgetResetDay);
    // Later only: a clock set back (a Pi without a real-time clock before NTP) never ends a period.
    if (start > c.periodStart) {
      c.periodStart = start;
      c.periodBytes = 0;
      c.reported = 0;
      c.alerted = [];
      this.dirty = true;
    }
    if (added === 0) return;
    c.periodBytes += added;
    if (c.session) c.session.bytes += added;
    this.dirty = true;
    this.checkBudget(c, now);
  }

  private checkBudget(c: Counter, now: number): void {
    const { budget, budgetAlerts } = c.config.metered!;
    if (budget <= 0) return;
    const budgetBytes = budget * BYTES_PER_MB;
    let alerted = false;
    for (const percent of budgetAlerts) {
      if (c.alerted.includes(percent) || c.periodBytes < (budgetBytes * percent) / 100) continue;
      c.alerted.push(percent);
      alerted = true;
      this.emit({ type: 'budget', time: now, uplink: c.config.name, iface: c.config.iface, percent, periodBytes: c.periodBytes, budgetBytes, periodStart: c.periodStart });
    }
    // An alert is sent once per period, also across a restart: kept at once.
    if (alerted) void this.save();
  }

  private figures(c: Counter): UsageFigures {
    const { budget } = c.config.metered!;
    const budgetBytes = budget > 0 ? budget * BYTES_PER_MB : null;
    return {
      sessionBytes: c.session?.bytes ?? null,
      activeSince: c.session?.since ?? null,
      periodBytes: c.periodBytes,
      periodStart: c.periodStart,
      budgetBytes,
      budgetUsed: budgetBytes === null ? null : Math.round((c.periodBytes / budgetBytes) * 1000) / 10,
      probeBytesPerDay: probeBytesPerDay(c.config, c.config.name === this.active),
    };
  }

  private emitUsage(c: Counter, now: number, reason: 'periodic' | 'ended'): void {
    c.reported = c.periodBytes;
    this.emit({ type: 'usage', time: now, uplink: c.config.name, iface: c.config.iface, reason, ...this.figures(c) });
  }

  private emit(event: MeteringEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (e) {
        this.logger.error(`event listener failed on ${event.type}: ${errorMessage(e)}`);
      }
    }
  }

  // ---- the file ---------------------------------------------------------------------------------

  private async load(): Promise<void> {
    const file = this.file;
    if (!file) return;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.warn(`Could not read the usage counters in ${file} (${errorMessage(e)}); counting from zero`);
      return;
    }
    const stored = parseStored(text);
    if (typeof stored === 'string') {
      const aside = `${file}.damaged`;
      const kept = await rename(file, aside).then(
        () => `; the damaged file is kept as ${aside}`,
        () => '',
      );
      this.logger.warn(`The usage counters in ${file} are damaged (${stored}); counting from zero${kept}`);
      return;
    }
    const resumable = new Map<string, Session>();
    for (const c of this.counters) {
      const s = Object.hasOwn(stored, c.config.name) ? stored[c.config.name] : undefined;
      // Another interface under the same name: its counters say nothing about this one.
      if (!s || s.iface !== c.config.iface) continue;
      c.periodBytes = s.periodBytes;
      c.reported = s.periodBytes;
      c.periodStart = s.periodStart;
      c.alerted = [...s.alerted];
      c.last = s.last;
      if (s.session) resumable.set(c.config.name, s.session);
    }
    this.resumable = resumable;
  }

  private snapshot(): StoredFile {
    const uplinks: Record<string, StoredCounter> = {};
    for (const c of this.counters) {
      uplinks[c.config.name] = {
        iface: c.config.iface,
        periodStart: c.periodStart,
        periodBytes: c.periodBytes,
        alerted: [...c.alerted],
        session: c.session ? { ...c.session } : (this.resumable?.get(c.config.name) ?? null),
        last: c.last,
      };
    }
    return { version: 1, savedAt: this.clock.now(), uplinks };
  }

  /** Writes the counters (one write at a time, each with the latest figures); a failure is a warning, once. */
  private save(): Promise<void> {
    const file = this.file;
    if (!file || !this.dirty) return this.writing;
    this.dirty = false;
    this.lastSave = this.clock.now();
    const text = `${JSON.stringify(this.snapshot(), null, 1)}\n`;
    this.writing = this.writing.then(() =>
      writeAtomically(file, text).then(
        () => {
          this.lastWriteProblem = null;
        },
        (e: unknown) => {
          const problem = errorMessage(e);
          if (problem !== this.lastWriteProblem) this.logger.warn(`Could not write the usage counters to ${file}: ${problem}`);
          this.lastWriteProblem = problem;
          this.dirty = true;
        },
      ),
    );
    return this.writing;
  }
}

/** Bytes for people: `950 B`, `12.3 kB`, `45.6 MB`, `1.23 GB` (powers of ten, as carriers count). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  if (bytes < BYTES_PER_MB) return `${(bytes / 1000).toFixed(1)} kB`;
  if (bytes < 1000 * BYTES_PER_MB) return `${(bytes / BYTES_PER_MB).toFixed(1)} MB`;
  return `${(bytes / (1000 * BYTES_PER_MB)).toFixed(2)} GB`;
}
