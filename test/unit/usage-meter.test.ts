/**
 * The usage meter of metered uplinks over a fake sysfs (a directory the test writes counters into) and a clock
 * the test moves: what is counted, across interface resets, restarts, damaged files, budget periods and alerts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Clock, TimerHandle } from '../../lib/engine/clock';
import { MeteringEvent, UsageMeter, UsageMeterOptions, bytesBetween, periodStartOf } from '../../lib/metering/usage-meter';
import { probeBytesPerDay } from '../../lib/metering/probe-cost';
import { UplinkInput } from '../../lib/uplink/model';
import { RecordingLogger } from '../support/recorders';
import { uplinks } from '../support/fakes';

/** A clock whose time is set by the test; due timers fire when it says `tick`. */
class SetClock implements Clock {
  private timers: { at: number; fn: () => void }[] = [];
  constructor(public time: number) {}
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = { at: this.time + ms, fn };
    this.timers.push(timer);
    return timer;
  }
  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t !== handle);
  }
  get pending(): number {
    return this.timers.length;
  }
  /** Moves to `ms` later and fires what fell due (each timer once; the meter sets its next one). */
  advance(ms: number): void {
    this.time += ms;
    const due = this.timers.filter((t) => t.at <= this.time);
    this.timers = this.timers.filter((t) => t.at > this.time);
    for (const t of due) t.fn();
  }
}

/** A /sys/class/net of the test's own. */
class FakeSysfs {
  readonly root = mkdtempSync(join(tmpdir(), 'iff-sysfs-'));
  set(iface: string, ifindex: number, rx: number, tx: number): void {
    mkdirSync(join(this.root, iface, 'statistics'), { recursive: true });
    writeFileSync(join(this.root, iface, 'ifindex'), `${ifindex}\n`);
    writeFileSync(join(this.root, iface, 'statistics', 'rx_bytes'), `${rx}\n`);
    writeFileSync(join(this.root, iface, 'statistics', 'tx_bytes'), `${tx}\n`);
  }
  remove(iface: string): void {
    rmSync(join(this.root, iface), { recursive: true, force: true });
  }
}

const PRIMARY: UplinkInput = { name: 'primary', iface: 'eth0', gateway: '192.0.2.1', targets: ['203.0.113.1'] };
const fona = (extra: Partial<UplinkInput> = {}): UplinkInput => ({
  name: 'fona',
  iface: 'ppp0',
  targets: ['203.0.113.1', '203.0.113.2'],
  metered: true,
  budget: 10,
  budgetAlerts: '50,100',
  ...extra,
});
const MB = 1_000_000;
/** 2026-03-10 12:00 local time. */
const MARCH_10 = new Date(2026, 2, 10, 12).getTime();

interface Rig {
  sysfs: FakeSysfs;
  clock: SetClock;
  logger: RecordingLogger;
  events: MeteringEvent[];
  file: string;
  meter(options?: Partial<UsageMeterOptions> & { fona?: Partial<UplinkInput> }): UsageMeter;
}

function rig(start = MARCH_10): Rig {
  const sysfs = new FakeSysfs();
  const clock = new SetClock(start);
  const logger = new RecordingLogger();
  const events: MeteringEvent[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'iff-usage-'));
  const file = join(dir, 'state', 'usage.json');
  test.after(() => {
    rmSync(sysfs.root, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    sysfs,
    clock,
    logger,
    events,
    file,
    meter(options = {}) {
      const { fona: fonaPatch, ...rest } = options;
      const meter = new UsageMeter({ uplinks: uplinks(PRIMARY, fona(fonaPatch)), file, logger, clock, statisticsRoot: sysfs.root, ...rest });
      meter.on((e) => events.push(e));
      return meter;
    },
  };
}

const fonaUsage = (meter: UsageMeter) => meter.status().find((u) => u.uplink === 'fona')!;
const show = (e: MeteringEvent): string =>
  e.type === 'usage' ? `usage ${e.uplink} ${e.reason} session=${e.sessionBytes ?? '-'} period=${e.periodBytes}` : `budget ${e.uplink} ${e.percent}% at ${e.periodBytes}`;

test('only metered uplinks are counted; bytes before the first reading are not', async () => {
  const r = rig();
  r.sysfs.set('eth0', 2, 5 * MB, 5 * MB);
  r.sysfs.set('ppp0', 7, 3 * MB, 1 * MB);
  const meter = r.meter();
  await meter.start();
  assert.deepEqual(
    meter.status().map((u) => u.uplink),
    ['fona'],
  );
  assert.equal(fonaUsage(meter).periodBytes, 0);
  r.sysfs.set('ppp0', 7, 3 * MB + 1000, 1 * MB + 500);
  assert.equal(fonaUsage(meter).periodBytes, 1500, 'bytes in both directions, probes included');
  assert.equal(fonaUsage(meter).sessionBytes, null, 'no session while it carries no traffic');
  await meter.stop();
});

test('a session counts from the moment the uplink carries traffic until another takes over', async () => {
  const r = rig();
  r.sysfs.set('ppp0', 7, 0, 0);
  const meter = r.meter({ reportMs: 60_000, sampleMs: 5000 });
  await meter.start();
  r.sysfs.set('ppp0', 7, 100, 100);
  meter.activeChanged('fona');
  r.sysfs.set('ppp0', 7, 1100, 1200);
  r.clock.advance(5000);
  assert.deepEqual(
    { session: fonaUsage(meter).sessionBytes, since: fonaUsage(meter).activeSince, period: fonaUsage(meter).periodBytes, active: fonaUsage(meter).active },
    { session: 2100, since: MARCH_10, period: 2300, active: true },
  );
  for (let i = 0; i < 11; i++) r.clock.advance(5000);
  assert.deepEqual(r.events.map(show), ['usage fona periodic session=2100 period=2300']);
  // Nothing moved during the next report interval: no event.
  for (let i = 0; i < 12; i++) r.clock.advance(5000);
  assert.equal(r.events.length, 1);
  r.sysfs.set('ppp0', 7, 2100, 1200);
  meter.activeChanged('primary');
  r.sysfs.set('ppp0', 7, 2200, 1300);
  assert.deepEqual(r.events.map(show).slice(1), ['usage fona ended session=3100 period=3300']);
  assert.equal(fonaUsage(meter).sessionBytes, null);
  assert.equal(fonaUsage(meter).periodBytes, 3500);
  await meter.stop();
  assert.equal(r.clock.pending, 0, 'no timer left after stop');
});

test('counter resets never count backwards: a re-dialled ppp0, a 32-bit wrap, a device reset', () => {
  const cases: [string, [number, number, number], [number, number, number], number][] = [
    ['growth', [5, 1000, 2000], [5, 1500, 2600], 1100],
    ['ppp0 re-created (new ifindex): all its bytes are new', [5, 90_000, 80_000], [6, 300, 200], 500],
    ['32-bit counter wrapped', [5, 2 ** 32 - 100, 10], [5, 50, 10], 150],
    ['64-bit counter below its last value: reset, counts from zero', [5, 2 ** 33, 10], [5, 400, 10], 400],
    ['interface appears after being absent', [0, 0, 0], [9, 700, 300], 1000],
  ];
  for (const [name, [i1, rx1, tx1], [i2, rx2, tx2], expected] of cases) {
    assert.equal(bytesBetween({ ifindex: i1, rx: rx1, tx: tx1 }, { ifindex: i2, rx: rx2, tx: tx2 }), expected, name);
  }
});

test('a ppp0 that vanishes and is dialled again keeps counting from its new counters', async () => {
  const r = rig();
  r.sysfs.set('ppp0', 7, 0, 0);
  const meter = r.meter();
  await meter.start();
  meter.activeChanged('fona');
  r.sysfs.set('ppp0', 7, 4000, 1000);
  r.clock.advance(5000);
  r.sysfs.remove('ppp0');
  r.clock.advance(5000);
  r.sysfs.set('ppp0', 8, 600, 400);
  r.clock.advance(5000);
  assert.equal(fonaUsage(meter).sessionBytes, 6000);
  assert.equal(fonaUsage(meter).periodBytes, 6000);
  await meter.stop();
});

test('counters survive a restart, written atomically; the open session is resumed when the uplink carries traffic first again', async () => {
  const r = rig();
  r.sysfs.set('ppp0', 7, 0, 0);
  const first = r.meter();
  await first.start();
  first.activeChanged('fona');
  r.sysfs.set('ppp0', 7, 2 * MB, 1 * MB);
  await first.stop();
  const stored = JSON.parse(readFileSync(r.file, 'utf8')) as { version: number; uplinks: Record<string, { periodBytes: number }> };
  assert.equal(stored.version, 1);
  assert.equal(stored.uplinks.fona.periodBytes, 3 * MB);
  assert.deepEqual(readdirSync(join(r.file, '..')), ['usage.json'], 'no temporary file left');

  // Traffic while the service was down, on the same interface, counts too (the carrier counts it).
  r.sysfs.set('ppp0', 7, 2 * MB + 500, 1 * MB);
  r.clock.advance(60_000);
  const second = r.meter();
  await second.start();
  assert.equal(fonaUsage(second).periodBytes, 3 * MB + 500);
  second.activeChanged('fona');
  assert.equal(fonaUsage(second).sessionBytes, 3 * MB, 'the session goes on');
  assert.equal(fonaUsage(second).activeSince, MARCH_10);
  await second.stop();
  assert.deepEqual(r.logger.lines, []);

  const third = r.meter();
  await third.start();
  third.activeChanged('primary');
  third.activeChanged('fona');
  assert.equal(fonaUsage(third).sessionBytes, 0, 'another uplink carried traffic first: a new session');
  await third.stop();
});

test('a damaged counters file: a clear warning, the file set aside, counting from zero', async () => {
  for (const text of ['{"version":1,"uplinks":{"fona":{"iface":"ppp0","periodStart":"x"}}}', '{ not json', '[]', '']) {
    const r = rig();
    mkdirSync(join(r.file, '..'), { recursive: true });
    writeFileSync(r.file, text);
    r.sysfs.set('ppp0', 7, 10, 10);
    const meter = r.meter();
    await meter.start();
    assert.equal(fonaUsage(meter).periodBytes, 0);
    assert.equal(r.logger.lines.length, 1, text);
    assert.match(r.logger.lines[0], new RegExp(`^WARN The usage counters in ${r.file} are damaged \\(.+\\); counting from zero; the damaged file is kept as ${r.file}\\.damaged$`));
    assert.equal(readFileSync(`${r.file}.damaged`, 'utf8'), text);
    r.sysfs.set('ppp0', 7, 20, 10);
    await meter.stop();
    assert.equal((JSON.parse(readFileSync(r.file, 'utf8')) as { uplinks: { fona: { periodBytes: number } } }).uplinks.fona.periodBytes, 10, 'a good file again');
  }
});

test('a counters file that cannot be written: one warning, and the meter keeps counting', async () => {
  const r = rig();
  // A file where the directory should be.
  writeFileSync(join(r.file, '..', '..', 'blocker'), '');
  r.sysfs.set('ppp0', 7, 0, 0);
  const meter = r.meter({ file: join(r.file, '..', '..', 'blocker', 'usage.json') });
  await meter.start();
  meter.activeChanged('fona');
  meter.activeChanged('primary');
  await meter.stop();
  assert.equal(r.logger.lines.length, 2, r.logger.lines.join('\n'));
  assert.match(r.logger.lines[0], /^WARN Could not read the usage counters in .*blocker\/usage\.json \(.*\); counting from zero$/);
  assert.match(r.logger.lines[1], /^WARN Could not write the usage counters to .*blocker\/usage\.json: /);
});

test('budget alerts: once per alert per period, not again after a restart, again in the next period', async () => {
  const r = rig(new Date(2026, 2, 31, 23, 59, 30).getTime());
  r.sysfs.set('ppp0', 7, 0, 0);
  const meter = r.meter({ fona: { budgetResetDay: 1 } });
  await meter.start();
  meter.activeChanged('fona');
  r.sysfs.set('ppp0', 7, 4 * MB, 0);
  r.clock.advance(5000);
  assert.equal(fonaUsage(meter).budgetUsed, 40);
  r.sysfs.set('ppp0', 7, 5 * MB, 0);
  r.clock.advance(5000);
  r.sysfs.set('ppp0', 7, 6 * MB, 0);
  r.clock.advance(5000);
  assert.deepEqual(r.events.filter((e) => e.type === 'budget').map(show), [`budget fona 50% at ${5 * MB}`]);
  await meter.stop();

  const again = r.meter({ fona: { budgetResetDay: 1 } });
  await again.start();
  again.activeChanged('fona');
  r.sysfs.set('ppp0', 7, 11 * MB, 0);
  assert.equal(fonaUsage(again).budgetUsed, 110);
  assert.deepEqual(r.events.filter((e) => e.type === 'budget').map(show), [`budget fona 50% at ${5 * MB}`, `budget fona 100% at ${11 * MB}`]);
  assert.deepEqual(fonaUsage(again).alerted, [50, 100]);

  // April 1st: a new period, its use from zero, its alerts again.
  r.clock.advance(20_000);
  const april = fonaUsage(again);
  assert.equal(april.periodStart, new Date(2026, 3, 1).getTime());
  assert.equal(april.periodBytes, 0);
  assert.deepEqual(april.alerted, []);
  assert.equal(april.sessionBytes, 11 * MB, 'a session spans periods');
  r.sysfs.set('ppp0', 7, 17 * MB, 0);
  r.clock.advance(5000);
  assert.deepEqual(r.events.filter((e) => e.type === 'budget').map(show).slice(2), [`budget fona 50% at ${6 * MB}`]);
  await again.stop();
});

test('budget periods start on the reset day at local midnight; a day past the month end is its last day', () => {
  const at = (y: number, m: number, d: number, h = 0): number => new Date(y, m - 1, d, h).getTime();
  const cases: [string, number, number, number][] = [
    ['mid-month, reset on the 1st', at(2026, 3, 10, 12), 1, at(2026, 3, 1)],
    ['the reset day itself at midnight', at(2026, 3, 15), 15, at(2026, 3, 15)],
    ['before the reset day: the previous month', at(2026, 3, 14, 23), 15, at(2026, 2, 15)],
    ['January before the reset day: December of the year before', at(2026, 1, 5), 20, at(2025, 12, 20)],
    ['31 in February: the 28th', at(2026, 2, 28, 8), 31, at(2026, 2, 28)],
    ['31 in a leap February: the 29th', at(2028, 3, 5), 31, at(2028, 2, 29)],
    ['31 in March, before it: February 28th', at(2026, 3, 30), 31, at(2026, 2, 28)],
  ];
  for (const [name, now, day, expected] of cases) assert.equal(new Date(periodStartOf(now, day)).toString(), new Date(expected).toString(), name);
});

test('probe cost per day: two IPv4 targets, 168 bytes an echo and its reply, at the idle or the normal rate', () => {
  const [, metered] = uplinks(PRIMARY, fona({ idleInterval: 30 }));
  assert.equal(probeBytesPerDay(metered, false), (2 * 168 * 86_400) / 30);
  assert.equal(probeBytesPerDay(metered, true), 2 * 168 * 86_400);
  const [plain] = uplinks({ ...PRIMARY, probe: { interval: 10 } });
  assert.equal(probeBytesPerDay(plain, false), (168 * 86_400) / 10, 'an uplink that is not metered keeps its rate');
});

test('usage events and status carry the probe cost at the current rate', async () => {
  const r = rig();
  r.sysfs.set('ppp0', 7, 0, 0);
  const meter = r.meter({ fona: { idleInterval: 60 } });
  await meter.start();
  assert.equal(fonaUsage(meter).probeBytesPerDay, (2 * 168 * 86_400) / 60);
  meter.activeChanged('fona');
  assert.equal(fonaUsage(meter).probeBytesPerDay, 2 * 168 * 86_400);
  r.sysfs.set('ppp0', 7, 10, 0);
  meter.activeChanged('primary');
  const ended = r.events.find((e) => e.type === 'usage');
  assert.ok(ended && ended.type === 'usage');
  assert.equal(ended.probeBytesPerDay, (2 * 168 * 86_400) / 60, 'idle again once it carries no traffic');
  assert.equal(ended.budgetBytes, 10 * MB);
  await meter.stop();
});

test('without a metered uplink nothing is read or written', async () => {
  const r = rig();
  const meter = new UsageMeter({ uplinks: uplinks(PRIMARY), file: r.file, clock: r.clock, statisticsRoot: r.sysfs.root });
  await meter.start();
  meter.activeChanged('primary');
  await meter.stop();
  assert.equal(meter.metering, false);
  assert.equal(r.clock.pending, 0);
  assert.equal(existsSync(r.file), false);
});
