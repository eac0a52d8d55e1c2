/**
 * The real headless service in the network lab: real routes, real pings, real faults.
 * Needs root (network namespaces); CI is root and runs these.
 */
import { test, TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { NetLab, isRoot } from './netlab';
import { RunningService, leftovers, sleep, startService, waitForDefault } from './service-harness';

const ROOT = isRoot();
if (!ROOT) console.warn('SKIPPED: the network-lab tests need root (network namespaces); CI runs them as root');

const T1 = '203.0.113.1';
const T2 = '203.0.113.2';
const T3 = '203.0.113.3';

/** The guide's setup, pointed at the lab: eth0 primary probing two targets, the FONA on ppp0 without targets. */
function guideProperties(extra = ''): string {
  return `# lab copy of the guide's file
route.primary.gateway=192.0.2.1
route.primary.iface=eth0
route.primary.targets=${T1},${T2}
route.primary.verifierDelay=1
route.primary.verifier=/opt/ifacefailover/config/icmpRouteVerifier.pkl
route.primary.verifierKwargs={'timeout':1, 'maxRetry':1}
route.primary.handlers=['/opt/ifacefailover/config/logHandler.pkl']
route.primary.handlerKwargs=[{'name':'primary'}]

route.fona.gateway=0.0.0.0
route.fona.iface=ppp0
route.fona.handlers=['/opt/ifacefailover/config/logHandler.pkl']
route.fona.handlerKwargs=[{'name':'fona'}]
${extra}`;
}

async function withLab(t: TestContext, opts: Parameters<typeof NetLab.create>[0], body: (lab: NetLab) => Promise<void>): Promise<void> {
  if (!ROOT) {
    t.skip('needs root');
    return;
  }
  const lab = await NetLab.create(opts);
  try {
    await body(lab);
  } finally {
    await lab.destroy();
  }
}

/** The lifecycle lines in the order the service logged them. */
function lifecycle(lines: string[]): string[] {
  return lines
    .map((l) => l.replace(/^INFO /, ''))
    .filter((l) => /^(Tearing down|Setting up|Connection failed|Connection restored|Failing over|Connected to)/.test(l));
}

/** Waits for the default route to move to `dev` and for the service to log `line`, then checks the lifecycle lines from `from` on. */
async function expectSwitch(lab: NetLab, svc: RunningService, dev: string, line: RegExp, from: number, expected: string[]): Promise<void> {
  await waitForDefault(lab, dev);
  await svc.waitForLine(line);
  assert.deepEqual(lifecycle(svc.lines()).slice(from), expected);
}

test('upstream cut: fails over to ppp0, user traffic to a probe target follows, primary comes back, stop cleans up', async (t) => {
  await withLab(t, { targets: 4, wlan: false }, async (lab) => {
    await lab.pppUp();
    const svc = startService(lab, guideProperties());
    try {
      await waitForDefault(lab, 'eth0');
      await svc.waitForLine(/^INFO upRoutes=203\.0\.113\.1, 203\.0\.113\.2; downRoutes=$/);
      // The events follow the route by the work done after a switch (DNS, connection resets).
      await svc.waitForLine(/^INFO Connected to primary$/);
      assert.deepEqual(lifecycle(svc.lines()), ['Setting up connection to primary', 'Connected to primary']);

      await lab.cutUpstream('eth0');
      const route = await waitForDefault(lab, 'ppp0');
      assert.equal(route.gateway, undefined, 'a point-to-point default route has no gateway');
      await svc.waitForLine(/^INFO Failing over to fona$/);
      assert.deepEqual(lifecycle(svc.lines()).slice(2), [
        'Tearing down connection to primary',
        'Setting up connection to fona',
        'Connection failed on primary',
        'Failing over to fona',
      ]);
      assert.ok(svc.lines().includes(`INFO upRoutes=; downRoutes=${T1}, ${T2}`));

      // Policy pins: a user's traffic to a probe target is not hijacked onto the dead primary.
      assert.equal((await lab.routeGet(T1)).dev, 'ppp0');
      const ping = await lab.ping({ target: T1, count: 3, intervalSec: 0.2 });
      assert.ok(ping.received >= 1, `user ping to ${T1} over the backup: ${ping.output}`);
      // ...while the probes themselves still leave by eth0.
      assert.equal((await lab.routeGet(T1, { oif: 'eth0' })).gateway, '192.0.2.1');

      await lab.restore('eth0');
      await expectSwitch(lab, svc, 'eth0', /^INFO Connection restored to primary$/, 6, [
        'Tearing down connection to fona',
        'Setting up connection to primary',
        'Connection restored to primary',
      ]);
    } finally {
      assert.equal(await svc.stop(), 0, `exit code; stderr: ${svc.proc.output.stderr}`);
    }
    const left = await leftovers(lab, [T1, T2]);
    assert.deepEqual(left, [], 'no rule, table or host route of ours after stop');
    const defaults = await lab.defaultRoutes();
    assert.deepEqual(
      defaults.map((r) => [r.dev, r.gateway]),
      [['eth0', '192.0.2.1']],
      'a working default route (the primary) is left behind',
    );
  });
});

test('carrier loss: a pulled cable fails over from the link event', async (t) => {
  await withLab(t, { targets: 2, wlan: false }, async (lab) => {
    await lab.pppUp();
    // A long probe interval: only the link watch can explain a quick switch.
    const svc = startService(lab, guideProperties().replace('verifierDelay=1', 'verifierDelay=30'));
    try {
      await waitForDefault(lab, 'eth0');
      await svc.waitForLine(/^INFO Connected to primary$/);
      await lab.pullCable('eth0');
      await waitForDefault(lab, 'ppp0', 5_000);
      await svc.waitForLine(/^INFO Failing over to fona$/, 2_000);
      assert.ok(!svc.lines().some((l) => /upRoutes=; downRoutes=/.test(l)), 'switched before any probe round failed');
    } finally {
      assert.equal(await svc.stop('SIGINT'), 0, 'Ctrl-C stops cleanly too');
    }
    assert.ok(svc.lines().includes('INFO Received SIGINT; stopping'));
    // The primary is down, so the FONA keeps the route after stop.
    assert.deepEqual((await lab.defaultRoutes()).map((r) => r.dev), ['ppp0']);
    assert.deepEqual(await leftovers(lab, [T1, T2]), []);
  });
});

test('20 % random loss on the primary does not fail over with the default settings', async (t) => {
  await withLab(t, { targets: 2, wlan: false }, async (lab) => {
    await lab.pppUp();
    const svc = startService(
      lab,
      `route.primary.gateway=192.0.2.1
route.primary.iface=eth0
route.primary.targets=${T1},${T2}
route.primary.handlers=['/opt/ifacefailover/config/logHandler.pkl']
route.primary.handlerKwargs=[{'name':'primary'}]
route.fona.gateway=0.0.0.0
route.fona.iface=ppp0
`,
    );
    try {
      await waitForDefault(lab, 'eth0');
      await lab.setLoss('eth0', 20);
      // The loss is real: measured from the device, bound to the primary.
      const measured = await lab.ping({ target: T1, dev: 'eth0', count: 50, intervalSec: 0.02, waitSec: 0.5 });
      assert.ok(measured.lossPct >= 4 && measured.lossPct <= 45, `about 20 % lost (${measured.lossPct} %)`);
      await sleep(20_000);
      const rounds = svc.lines().filter((l) => l.includes('upRoutes='));
      assert.ok(rounds.length >= 12, `about one round a second (${rounds.length})`);
      assert.deepEqual((await lab.defaultRoutes()).map((r) => r.dev), ['eth0']);
      assert.ok(!svc.lines().some((l) => /Connection failed/.test(l)));
    } finally {
      assert.equal(await svc.stop(), 0);
    }
  });
});

test('three uplinks are used in order, and the best healthy one always wins', async (t) => {
  await withLab(t, { targets: 4, wlan: true }, async (lab) => {
    await lab.pppUp();
    const svc = startService(
      lab,
      `route.primary.gateway=192.0.2.1
route.primary.iface=eth0
route.primary.targets=${T1},${T2}
route.primary.verifierDelay=1
route.primary.verifierKwargs={'timeout':1, 'maxRetry':1, 'down':2, 'up':2}
route.wifi.gateway=192.0.2.17
route.wifi.iface=wlan0
route.wifi.targets=${T1},${T3}
route.wifi.verifierDelay=1
route.wifi.verifierKwargs={'timeout':1, 'maxRetry':1, 'down':2, 'up':2}
route.fona.gateway=0.0.0.0
route.fona.iface=ppp0
`,
    );
    try {
      await waitForDefault(lab, 'eth0');
      await lab.cutUpstream('eth0');
      await waitForDefault(lab, 'wlan0');
      await lab.cutUpstream('wlan0');
      await waitForDefault(lab, 'ppp0');
      await lab.restore('wlan0');
      await waitForDefault(lab, 'wlan0');
      await lab.restore('eth0');
      await waitForDefault(lab, 'eth0');
      const moves = svc.lines().filter((l) => /^INFO Adding route /.test(l));
      assert.deepEqual(moves, ['INFO Adding route eth0', 'INFO Adding route wlan0', 'INFO Adding route ppp0', 'INFO Adding route wlan0', 'INFO Adding route eth0']);
    } finally {
      assert.equal(await svc.stop(), 0);
    }
    assert.deepEqual(await leftovers(lab, [T1, T2, T3]), []);
  });
});

test('host-route pins (the original\'s way) are opt-in and removed on stop', async (t) => {
  await withLab(t, { targets: 2, wlan: false }, async (lab) => {
    await lab.pppUp();
    const svc = startService(lab, guideProperties('failover.pinMode=host-route\n'));
    try {
      await waitForDefault(lab, 'eth0');
      const hostRoutes = (await lab.tables()).filter((r) => [T1, T2].includes((r as { dst?: string }).dst ?? ''));
      assert.equal(hostRoutes.length, 2, 'a /32 route per target');
      assert.deepEqual((await lab.rules()).filter((r) => ((r as { priority?: number }).priority ?? 0) >= 4200 && ((r as { priority?: number }).priority ?? 0) < 4264), []);
    } finally {
      assert.equal(await svc.stop(), 0);
    }
    assert.deepEqual(await leftovers(lab, [T1, T2]), []);
  });
});

test('bad input: exit 2, one clear error naming file, line and value, no route touched', async (t) => {
  await withLab(t, { targets: 1, wlan: false, carrier: false }, async (lab) => {
    const before = await lab.tables();
    const svc = startService(lab, guideProperties().replace("{'timeout':1, 'maxRetry':1}", "__import__('os')"));
    const exit = await svc.proc.exited;
    assert.equal(exit.code, 2);
    const err = svc.proc.output.stderr;
    assert.match(err, /ifacefailover\.properties:7: uplink "primary" verifierKwargs=/, 'line 7 holds verifierKwargs');
    assert.match(err, /__import__/);
    assert.equal(svc.proc.output.stdout, '');
    assert.deepEqual(await lab.tables(), before);
  });
});

test('dry-run logs the route commands and changes nothing', async (t) => {
  await withLab(t, { targets: 2, wlan: false }, async (lab) => {
    await lab.pppUp();
    // A device as it was before the service: its own default route, over the primary.
    await lab.exec('dut', 'ip', ['route', 'add', 'default', 'via', '192.0.2.1', 'dev', 'eth0']);
    const before = await lab.tables();
    const rulesBefore = await lab.rules();
    const svc = startService(lab, guideProperties(), ['--dry-run']);
    try {
      await svc.waitForLine(/DRY-RUN: ip -4 route replace default via 192\.0\.2\.1 dev eth0$/);
      await svc.waitForLine(/^INFO Connected to primary$/);
    } finally {
      assert.equal(await svc.stop(), 0);
    }
    assert.ok(svc.lines().some((l) => /DRY-RUN: ip -4 rule add oif eth0 lookup 4200 priority 4200/.test(l)));
    assert.deepEqual(await lab.tables(), before);
    assert.deepEqual(await lab.rules(), rulesBefore);
  });
});

test('the binary is built where the harness expects it', () => {
  // Guards the harness itself: a wrong path would make every lab test fail for the wrong reason.
  const out = execFileSync(process.execPath, [require.resolve('../../bin/ifacefailover.js'), '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(out, '');
});

test('a dormant ppp0: setup, bounded wait, the route once ppp0 appears; and a wait that runs out', async (t) => {
  await withLab(t, { targets: 2, wlan: false }, async (lab) => {
    const svc = startService(lab, guideProperties('route.fona.setupTimeout=3\n'));
    try {
      await waitForDefault(lab, 'eth0');
      await lab.cutUpstream('eth0');
      await svc.waitForLine(/^INFO Waiting up to 3 s for ppp0 to come up$/);
      // Nobody dials: the wait is bounded, the modem is released, the dead primary keeps the route.
      await svc.waitForLine(/^ERROR ppp0 of fona did not come up within 3 s$/, 10_000);
      await svc.waitForLine(/^INFO Tearing down connection to fona$/);
      await svc.waitForLine(/^ERROR No uplink is available; keeping the default route on primary$/);
      assert.deepEqual((await lab.defaultRoutes()).map((r) => r.dev), ['eth0']);
    } finally {
      assert.equal(await svc.stop(), 0);
    }
  });
  await withLab(t, { targets: 2, wlan: false }, async (lab) => {
    const svc = startService(lab, guideProperties('route.fona.setupTimeout=30\n'));
    try {
      await waitForDefault(lab, 'eth0');
      await lab.cutUpstream('eth0');
      await svc.waitForLine(/^INFO Setting up connection to fona$/);
      assert.deepEqual((await lab.defaultRoutes()).map((r) => r.dev), ['eth0'], 'no route to a ppp0 that does not exist yet');
      await lab.pppUp(); // what pon would do
      await expectSwitch(lab, svc, 'ppp0', /^INFO Failing over to fona$/, 2, [
        'Tearing down connection to primary',
        'Setting up connection to fona',
        'Connection failed on primary',
        'Failing over to fona',
      ]);
      const ping = await lab.ping({ target: T1, count: 2 });
      assert.ok(ping.received >= 1, 'traffic flows over the freshly dialled ppp0');
    } finally {
      assert.equal(await svc.stop(), 0);
    }
  });
});

test('after a crash (SIGKILL) the next start removes the old rules and tables; unknown handlers are reported', async (t) => {
  await withLab(t, { targets: 2, wlan: false }, async (lab) => {
    await lab.pppUp();
    const crashed = startService(lab, guideProperties());
    await waitForDefault(lab, 'eth0');
    await crashed.waitForLine(/^INFO Connected to primary$/);
    await crashed.proc.stop({ signal: 'SIGKILL' });
    const left = await leftovers(lab, [T1, T2]);
    assert.ok(left.length >= 4, `a killed run cannot clean up (${left.length} left)`);

    const props = guideProperties().replace(
      "route.fona.handlers=['/opt/ifacefailover/config/logHandler.pkl']\nroute.fona.handlerKwargs=[{'name':'fona'}]",
      "route.fona.handlers=['/opt/ifacefailover/config/logHandler.pkl','/opt/ifacefailover/config/smsHandler.pkl']\nroute.fona.handlerKwargs=[{'name':'fona'},{}]",
    );
    const svc = startService(lab, props);
    try {
      await svc.waitForLine(/^INFO Removed \d+ rule\(s\)\/table\(s\) left by an earlier run$/);
      await svc.waitForLine(/^INFO Connected to primary$/);
      assert.ok(svc.lines().some((l) => /^WARNING .*smsHandler\.pkl/.test(l)), svc.lines().join('\n'));
      const ours = (await lab.rules()).filter((r) => ((r as { priority?: number }).priority ?? 0) >= 4200 && ((r as { priority?: number }).priority ?? 0) < 4264);
      assert.equal(ours.length, left.filter((r) => 'priority' in (r as object)).length, 'no duplicate rules after the restart');
    } finally {
      assert.equal(await svc.stop(), 0);
    }
    assert.deepEqual(await leftovers(lab, [T1, T2]), []);
  });
});
