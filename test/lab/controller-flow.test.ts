/**
 * The failover-controller node in a real Node-RED runtime inside the lab's device namespace: real routes,
 * real pings, real faults, the guide's setup (eth0 probing two targets, the FONA on ppp0 without targets).
 * Needs root (network namespaces); CI is root and runs these.
 */
import { test, TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { CONTROLLER_DRIVER as DRIVER, Driver, FlowItem, Observation } from './controller-harness';
import { NetLab, isRoot } from './netlab';
import { RouteMonitor } from './route-monitor';
import { leftovers, sleep, waitForDefault } from './service-harness';
import { uplinkConfig } from '../support/flows';

const ROOT = isRoot();
if (!ROOT) console.warn('SKIPPED: the controller-flow lab tests need root (network namespaces); CI runs them as root');

const T1 = '203.0.113.1';
const T2 = '203.0.113.2';
const K = 'failover-controller';

// ---- flows ---------------------------------------------------------------------------------------

/** The guide's uplinks as config nodes, a controller `ctl`, and helper nodes on its outputs. */
function guideFlow(opts: { tag?: string; fonaSetupTimeout?: number; targets?: string } = {}): FlowItem[] {
  const tag = opts.tag ?? '';
  const at = { x: 100, y: 100 };
  return [
    { id: 'tab', type: 'tab', label: 'failover' },
    uplinkConfig('up-primary', `primary${tag}`, 'eth0', '192.0.2.1', opts.targets ?? `${T1},${T2}`),
    uplinkConfig('up-fona', `fona${tag}`, 'ppp0', '', '', { setupTimeout: opts.fonaSetupTimeout ?? 60 }),
    {
      id: 'ctl',
      type: 'failover-controller',
      z: 'tab',
      name: 'failover',
      uplinks: ['up-primary', 'up-fona'],
      dryRun: false,
      setupRetry: 60,
      ...at,
      wires: [['out1'], ['out2']],
    },
    { id: 'out1', type: 'helper', z: 'tab', ...at },
    { id: 'out2', type: 'helper', z: 'tab', ...at },
  ];
}

/** `ip monitor link` processes running in the lab's device namespace. */
function ipMonitorsIn(lab: NetLab): number[] {
  const pids = execFileSync('ip', ['netns', 'pids', lab.ns.dut], { encoding: 'utf8' })
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => n > 0);
  return pids.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ') === 'ip monitor link route';
    } catch {
      return false;
    }
  });
}

async function withLab(t: TestContext, body: (lab: NetLab) => Promise<void>): Promise<void> {
  if (!ROOT) {
    t.skip('needs root');
    return;
  }
  const lab = await NetLab.create({ targets: 4, wlan: false });
  try {
    await body(lab);
  } finally {
    await lab.destroy();
  }
}

// ---- tests ---------------------------------------------------------------------------------------

test('the driver is built where the test expects it', () => {
  assert.ok(existsSync(DRIVER), `${DRIVER} (npm run build)`);
});

test('controller flow in the device: upstream cut fails over to ppp0 in the guide order, restore comes back, SIGTERM cleans up', async (t) => {
  await withLab(t, async (lab) => {
    await lab.pppUp();
    const driver = new Driver(lab, guideFlow());
    let closed: Observation | undefined;
    try {
      await waitForDefault(lab, 'eth0');
      await driver.event('connected', 'primary');
      assert.deepEqual(driver.lifecycle(), ['setup primary', 'connected primary']);
      await driver.waitFor('green badge', (r) => r.kind === 'status' && r.status?.fill === 'green' && r.status.text === `${K}.status.active`);
      const good = await driver.waitFor('a good round of the primary', (r) => r.node === 'out2' && r.payload?.uplink === 'primary' && r.payload.ok === true);
      assert.deepEqual(good.payload?.up, [T1, T2]);
      assert.equal(good.topic, 'available');

      await lab.cutUpstream('eth0');
      const route = await waitForDefault(lab, 'ppp0');
      assert.equal(route.gateway, undefined, 'a point-to-point default route has no gateway');
      const connected = await driver.event('connected', 'fona');
      assert.deepEqual(driver.lifecycle().slice(2), ['teardown primary', 'setup fona', 'connectionFailed primary', 'connected fona']);
      assert.equal(connected.payload?.from, 'primary');
      assert.equal(connected.payload?.active, 'fona');
      assert.equal(connected.payload?.iface, 'ppp0');
      const failed = await driver.event('connectionFailed', 'primary');
      assert.equal(failed.payload?.to, 'fona');
      const bad = await driver.waitFor('a bad round of the primary', (r) => r.node === 'out2' && r.payload?.uplink === 'primary' && r.payload.ok === false);
      assert.deepEqual(bad.payload?.down, [T1, T2]);
      await driver.waitFor('yellow badge', (r) => r.kind === 'status' && r.status?.fill === 'yellow' && r.status.shape === 'ring' && r.status.text === `${K}.status.backup`);
      // Policy pins: the probes still leave by eth0 while the default route is on ppp0.
      assert.equal((await lab.routeGet(T1, { oif: 'eth0' })).gateway, '192.0.2.1');

      await lab.restore('eth0');
      await waitForDefault(lab, 'eth0');
      const restored = await driver.event('connectionRestored', 'primary');
      assert.deepEqual(driver.lifecycle().slice(6), ['teardown fona', 'setup primary', 'connectionRestored primary']);
      assert.equal(restored.payload?.from, 'fona');
      assert.ok(typeof restored.payload?.duration === 'number' && restored.payload.duration > 0, `duration ${String(restored.payload?.duration)}`);
      assert.equal(ipMonitorsIn(lab).length, 1, 'one ip monitor for the one controller');
    } finally {
      const code = await driver.stop();
      closed = driver.records().find((r) => r.kind === 'closed');
      assert.equal(code, 0, `exit code; stderr: ${driver.proc.output.stderr}`);
    }
    assert.equal(closed?.ipMonitors, 0, 'the link watch has stopped when close is done');
    assert.deepEqual(ipMonitorsIn(lab), []);
    assert.deepEqual(await leftovers(lab, [T1, T2]), [], 'no rule, table or host route of ours after close');
    assert.deepEqual(
      (await lab.defaultRoutes()).map((r) => [r.dev, r.gateway]),
      [['eth0', '192.0.2.1']],
      'a working default route (the primary) is left behind',
    );
  });
});

test('two full deploys 40 ms apart, during the first probe round: the route never goes to the backup', async (t) => {
  await withLab(t, async (lab) => {
    await lab.pppUp(); // a usable backup without targets: the one a careless stop would pick
    const monitor = new RouteMonitor(lab.spawn('dut', 'ip', ['-4', 'monitor', 'route']));
    // A silent on-link target beside T1 holds each first round for its 1 s timeout.
    const targets = `${T1},192.0.2.9`;
    const driver = new Driver(lab, guideFlow({ targets }));
    try {
      await driver.waitFor('the first deploy', (r) => r.kind === 'ready');
      await sleep(40); // the user's second click: this is the interval under test, not a wait for something
      driver.deploy(guideFlow({ tag: '2', targets }));
      await driver.waitFor('the second deploy', (r) => r.kind === 'deployed');
      await waitForDefault(lab, 'eth0');
      await driver.event('connected', 'primary2');
      assert.deepEqual(
        monitor.events.filter((e) => / dev ppp0( |$)/.test(e.line)).map((e) => e.line),
        [],
        'the default route never moved to ppp0',
      );
      assert.ok(!driver.lifecycle().some((l) => /^(connected|connectionFailed) (primary|fona)$/.test(l)), driver.lifecycle().join(', '));
    } finally {
      assert.equal(await driver.stop(), 0, `exit code; stderr: ${driver.proc.output.stderr}`);
      await monitor.stop();
    }
  });
});

test('a redeploy while the controller waits for ppp0 leaves one engine and no timer of the old one', async (t) => {
  await withLab(t, async (lab) => {
    // No ppp0 yet: when eth0 fails the FONA is set up and waited for (up to 3 s in the first deploy).
    const driver = new Driver(lab, guideFlow({ fonaSetupTimeout: 3 }));
    try {
      await waitForDefault(lab, 'eth0');
      await driver.event('connected', 'primary');
      await lab.cutUpstream('eth0');
      await driver.event('waiting', 'fona');
      assert.deepEqual(driver.lifecycle(), ['setup primary', 'connected primary', 'teardown primary', 'setup fona', 'waiting fona']);
      assert.equal(ipMonitorsIn(lab).length, 1);

      const before = driver.records().length;
      driver.deploy(guideFlow({ tag: '2', fonaSetupTimeout: 60 }));
      await driver.waitFor('the redeploy', (r) => r.kind === 'deployed');
      const deployedAt = driver.records().findIndex((r, i) => i >= before && r.kind === 'deployed');
      await driver.event('waiting', 'fona2');
      assert.deepEqual(ipMonitorsIn(lab).length, 1, 'one ip monitor per controller after the redeploy');

      // The old wait would have ended (setupFailed fona) 3 s after it began.
      await sleep(4000);
      const late = driver
        .records()
        .slice(deployedAt)
        .filter((r) => r.kind === 'message' && ['primary', 'fona'].includes(String(r.payload?.uplink)));
      assert.deepEqual(late.map((r) => `${r.topic} ${String(r.payload?.uplink)}`), [], 'nothing from the old controller after the redeploy');
      // The kernel still routes through eth0 (the old controller was waiting for ppp0): the new one adopts it and
      // gives it the normal `down` hysteresis before it fails over again.
      const redeployed = ['setup primary2', 'connected primary2', 'teardown primary2', 'setup fona2', 'waiting fona2'];
      assert.deepEqual(driver.lifecycle(deployedAt), redeployed);

      await lab.pppUp();
      await waitForDefault(lab, 'ppp0');
      await driver.event('connected', 'fona2');
      await lab.restore('eth0');
      await waitForDefault(lab, 'eth0');
      await driver.event('connectionRestored', 'primary2');
      assert.deepEqual(driver.lifecycle(deployedAt), [
        ...redeployed,
        'connectionFailed primary2',
        'connected fona2',
        'teardown fona2',
        'setup primary2',
        'connectionRestored primary2',
      ]);
      assert.equal(ipMonitorsIn(lab).length, 1);
    } finally {
      assert.equal(await driver.stop(), 0, `exit code; stderr: ${driver.proc.output.stderr}`);
    }
    assert.deepEqual(ipMonitorsIn(lab), []);
    assert.deepEqual(await leftovers(lab, [T1, T2]), []);
  });
});
