/**
 * Quality rules in the network lab: the real FailoverRunner in the device (drivers/runner-driver.js), real
 * pings, and the lab's latency relay and loss knob in the primary's router. Latency above the high threshold
 * over the window makes the primary `degraded` (and, as configured, moves the default route or keeps it);
 * back below the low threshold it is restored; loss between the thresholds moves nothing.
 * Needs root (network namespaces); CI is root and runs these.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import type { FailoverEvent } from '../../lib/engine/events';
import type { WindowFigures } from '../../lib/engine/quality';
import type { QualitySettings, UplinkInput } from '../../lib/uplink/model';
import { labRunner } from './lab-runner';
import { LabProcess, NetLab, isRoot, missingTools } from './netlab';
import { waitForDefault } from './service-harness';
import { sleep, waitFor } from '../support/wait';

const ROOT = isRoot();
const missing = ROOT ? missingTools() : [];
if (!ROOT) console.warn('SKIPPED: the quality lab tests need root (network namespaces); CI runs them as root');
const labs = labRunner(ROOT, missing);

const RUNNER_DRIVER = resolve(__dirname, 'drivers/runner-driver.js');

const T_BACKUP = '203.0.113.100';
/** The primary's targets: many, so that a window holds enough echoes for its loss figure to be steady. */
const primaryTargets = (n: number): string[] => Array.from({ length: n }, (_, i) => `203.0.113.${i + 1}`);

/** The figures: latency 500/200 ms, loss 20/10 % over a 10 s window. */
const QUALITY: QualitySettings = { window: 10, latencyHigh: 500, latencyLow: 200, lossHigh: 20, lossLow: 10, onDegraded: 'failover' };

/** Two targets, and a 2 s timeout: 800 ms of latency is slow, not lost. */
const SLOW_PRIMARY = { targets: 2, timeout: 2 };

/** eth0 (r1, where the lab adds latency and loss) first, wlan0 (r2) as the backup; both probed every second. */
function uplinks(quality: QualitySettings, primary: { targets: number; timeout: number }): UplinkInput[] {
  const { targets, timeout } = primary;
  return [
    { name: 'primary', iface: 'eth0', gateway: '192.0.2.1', targets: primaryTargets(targets), probe: { interval: 1, timeout, down: 3, up: 3 }, quality },
    { name: 'backup', iface: 'wlan0', gateway: '192.0.2.17', targets: [T_BACKUP], probe: { interval: 1, timeout: 1, down: 3, up: 3 } },
  ];
}

/** The runner in the device and the engine events it printed. */
class RunnerDriver {
  readonly proc: LabProcess;

  constructor(lab: NetLab, uplinkInputs: UplinkInput[]) {
    this.proc = lab.spawn('dut', process.execPath, [RUNNER_DRIVER, JSON.stringify({ uplinks: uplinkInputs })]);
  }

  events(): FailoverEvent[] {
    return this.proc.output.stdout
      .split('\n')
      .filter((l) => l.startsWith('{"kind":"event"'))
      .map((l) => (JSON.parse(l) as { event: FailoverEvent }).event);
  }

  /** Index to pass as `from` to wait for events after this moment. */
  mark(): number {
    return this.events().length;
  }

  async next(what: string, match: (e: FailoverEvent) => boolean, from: number, timeoutMs = 40_000): Promise<FailoverEvent> {
    return waitFor(
      () => {
        if (!this.proc.running) throw new Error(`runner exited before ${what}:\n${this.proc.output.stderr.slice(-4000)}`);
        return this.events().slice(from).find(match);
      },
      { timeoutMs, what: `${what} (events: ${this.lifecycle(from).join(', ')})`, intervalMs: 50 },
    );
  }

  /** Lifecycle and health events from `from` on, as "type uplink [health cause]". */
  lifecycle(from = 0): string[] {
    return this.events()
      .slice(from)
      .filter((e) => e.type !== 'available')
      .map((e) => {
        if (e.type === 'noUplink') return e.type;
        return [e.type, e.uplink, ...(e.type === 'health' ? [e.health, e.cause] : [])].join(' ');
      });
  }

  async started(): Promise<void> {
    await this.proc.waitFor(/"kind":"ready"/, { stream: 'stdout', timeoutMs: 20_000 });
  }

  async stop(): Promise<void> {
    await this.proc.stop({ graceMs: 10_000 });
  }
}

const isHealth = (uplink: string, health: string, cause?: string) => (e: FailoverEvent) =>
  e.type === 'health' && e.uplink === uplink && e.health === health && (cause === undefined || e.cause === cause);
const isEvent = (type: FailoverEvent['type'], uplink: string) => (e: FailoverEvent) => e.type === type && e.type !== 'noUplink' && e.uplink === uplink;

/** The window figures the `available` events of an uplink carried from `from` on (rtt in ms, loss 0..1). */
function windowsOf(driver: RunnerDriver, uplink: string, from: number): WindowFigures[] {
  return driver
    .events()
    .slice(from)
    .flatMap((e) => (e.type === 'available' && e.uplink === uplink ? [e.window] : []));
}

test('latency above the high threshold: the primary is degraded and the route moves to the backup; below the low one it comes back', async (t) => {
  await labs.withLab(t, { targets: 100, carrier: false }, async (lab) => {
    const driver = new RunnerDriver(lab, uplinks({ ...QUALITY, onDegraded: 'failover' }, SLOW_PRIMARY));
    try {
      await driver.started();
      await driver.next('connected primary', isEvent('connected', 'primary'), 0);
      await waitForDefault(lab, 'eth0');

      const slow = driver.mark();
      const slowAt = Date.now();
      await lab.latency('eth0', { delayMs: 800 });
      const degraded = await driver.next('primary degraded by latency', isHealth('primary', 'degraded', 'latency'), slow);
      await waitForDefault(lab, 'wlan0');
      await driver.next('connected backup', isEvent('connected', 'backup'), slow);
      // the figures say why: the primary's mean rtt over the window is above the high threshold
      assert.ok(degraded.type === 'health' && (degraded.window?.rtt ?? 0) >= QUALITY.latencyHigh, `window at the switch: ${JSON.stringify(degraded)}`);
      const windows = windowsOf(driver, 'primary', slow);
      assert.ok(
        windows.some((w) => (w.rtt ?? 0) >= QUALITY.latencyHigh && w.seconds === QUALITY.window),
        `available events of the primary carry the window figures: ${JSON.stringify(windows.at(-1))}`,
      );
      assert.deepEqual(driver.lifecycle(slow).filter((line) => !line.startsWith('health backup')), [
        'health primary degraded latency',
        'teardown primary',
        'setup backup',
        'connectionFailed primary',
        'connected backup',
      ]);

      const fast = driver.mark();
      const fastAt = Date.now();
      await lab.latency('eth0', { delayMs: 0 });
      const restored = await driver.next('primary restored', isHealth('primary', 'up'), fast);
      await waitForDefault(lab, 'eth0');
      await driver.next('connectionRestored primary', isEvent('connectionRestored', 'primary'), fast);
      assert.deepEqual(driver.lifecycle(fast).filter((line) => !line.startsWith('health backup')), [
        'health primary up quality',
        'teardown backup',
        'setup primary',
        'connectionRestored primary',
      ]);
      // figures for the report, not assertions
      console.log(
        `degraded ${degraded.time - slowAt} ms after 800 ms of latency began (${JSON.stringify(degraded.type === 'health' ? degraded.window : null)}); ` +
          `restored ${restored.time - fastAt} ms after it ended (${JSON.stringify(restored.type === 'health' ? restored.window : null)})`,
      );
    } finally {
      await driver.stop();
    }
  });
});

test('latency above the high threshold with onDegraded stay: the degraded event comes, the route stays', async (t) => {
  await labs.withLab(t, { targets: 100, carrier: false }, async (lab) => {
    const driver = new RunnerDriver(lab, uplinks({ ...QUALITY, onDegraded: 'stay' }, SLOW_PRIMARY));
    try {
      await driver.started();
      await driver.next('connected primary', isEvent('connected', 'primary'), 0);
      await waitForDefault(lab, 'eth0');

      const slow = driver.mark();
      await lab.latency('eth0', { delayMs: 800 });
      await driver.next('primary degraded by latency', isHealth('primary', 'degraded', 'latency'), slow);
      // a few more rounds while degraded: nothing moves
      await sleep(4000);
      assert.deepEqual(
        (await lab.defaultRoutes()).map((r) => r.dev),
        ['eth0'],
      );
      assert.deepEqual(driver.lifecycle(slow).filter((line) => !line.startsWith('health backup')), ['health primary degraded latency']);

      const fast = driver.mark();
      await lab.latency('eth0', { delayMs: 0 });
      await driver.next('primary restored', isHealth('primary', 'up'), fast);
      assert.deepEqual(
        (await lab.defaultRoutes()).map((r) => r.dev),
        ['eth0'],
      );
    } finally {
      await driver.stop();
    }
  });
});

test('15 % loss with loss thresholds 20/10 %: the window sees it, the primary is not degraded, the route does not move', async (t) => {
  await labs.withLab(t, { targets: 100, carrier: false }, async (lab) => {
    // 24 targets and a 60 s window hold about 600 echoes, so 15 % loss does not stray to 20 % by chance (3.5
    // standard deviations). A 2 s timeout: one process per echo on a busy machine can take over 1 s to start,
    // and an echo that late counts as lost (about 3 % more loss with a 1 s timeout at a load of 13 on 2 cores).
    const quality: QualitySettings = { ...QUALITY, window: 60 };
    const driver = new RunnerDriver(lab, uplinks(quality, { targets: 24, timeout: 2 }));
    try {
      await driver.started();
      await driver.next('connected primary', isEvent('connected', 'primary'), 0);
      await waitForDefault(lab, 'eth0');

      const lossy = driver.mark();
      await lab.setLoss('eth0', 15);
      // a full window of loss and more
      await sleep((quality.window + 10) * 1000);
      assert.deepEqual(
        (await lab.defaultRoutes()).map((r) => r.dev),
        ['eth0'],
      );
      assert.deepEqual(driver.lifecycle(lossy).filter((line) => !line.startsWith('health backup')), []);
      // the loss was there and measured: the last window figure is near 15 %
      const windows = windowsOf(driver, 'primary', lossy);
      const last = windows.at(-1);
      const lossPct = (last?.loss ?? 0) * 100;
      const highest = Math.max(...windows.map((w) => (w.loss ?? 0) * 100));
      console.log(`window loss under 15 % loss: last ${lossPct.toFixed(1)} % of ${last?.sent ?? 0} echoes, highest in ${windows.length} rounds ${highest.toFixed(1)} %`);
      assert.ok(lossPct >= 8 && lossPct < quality.lossHigh, `window loss after ${quality.window} s of 15 % loss: ${JSON.stringify(last)}`);
    } finally {
      await driver.stop();
    }
  });
});

test('no lab namespace is left', () => {
  assert.deepEqual(labs.leftNamespaces(), []);
});
