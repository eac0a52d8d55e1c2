/**
 * The real headless service keeps the default route its own and starts and stops without side effects:
 * a route deleted or replaced by another program is put back; a stop during the first probe round leaves the
 * route as found; a killed run's `ip monitor` is ended by the next start; a signal to the whole process group
 * stops the service without a false warning. Needs root (network namespaces); CI is root and runs these.
 */
import { test, TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { NetLab, isRoot, missingTools } from './netlab';
import { labRunner } from './lab-runner';
import { RunningService, leftovers, startService, waitForDefault } from './service-harness';
import { MONITOR_MARK } from '../../lib/linkwatch/link-watch';
import { until } from '../support/wait';

const ROOT = isRoot();
if (!ROOT) console.warn('SKIPPED: the route-keeping lab tests need root (network namespaces); CI runs them as root');
const runner = labRunner(ROOT, ROOT ? missingTools() : []);

const T1 = '203.0.113.1';
const T2 = '203.0.113.2';

function properties(primaryTargets: string, extra = ''): string {
  return `route.primary.gateway=192.0.2.1
route.primary.iface=eth0
route.primary.targets=${primaryTargets}
route.primary.verifierDelay=1
route.primary.verifierKwargs={'timeout':1, 'maxRetry':1}
route.primary.handlers=['/opt/ifacefailover/config/logHandler.pkl']
route.primary.handlerKwargs=[{'name':'primary'}]
route.fona.gateway=0.0.0.0
route.fona.iface=ppp0
route.fona.handlers=['/opt/ifacefailover/config/logHandler.pkl']
route.fona.handlerKwargs=[{'name':'fona'}]
${extra}`;
}

function withLab(t: TestContext, body: (lab: NetLab) => Promise<void>): Promise<void> {
  return runner.withLab(t, { targets: 2, wlan: false }, body);
}

/** Our `ip monitor` processes on this machine: pid and the `pid:starttime` of the service that started each. */
function monitors(): { pid: number; of: string }[] {
  const found: { pid: number; of: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${name}/environ`, 'latin1');
    } catch {
      continue;
    }
    const entry = environ.split('\0').find((e) => e.startsWith(`${MONITOR_MARK}=`));
    if (entry) found.push({ pid: Number(name), of: entry.slice(MONITOR_MARK.length + 1) });
  }
  return found;
}

const monitorsOf = (pid: number) => monitors().filter((m) => m.of.startsWith(`${pid}:`));

async function stopClean(lab: NetLab, svc: RunningService): Promise<void> {
  assert.equal(await svc.stop(), 0);
  assert.deepEqual(await leftovers(lab, [T1, T2]), []);
}

test('a default route deleted or replaced by another program is put back on the active uplink, with a warning', async (t) => {
  await withLab(t, async (lab) => {
    await lab.pppUp();
    const svc = startService(lab, properties(`${T1},${T2}`));
    try {
      await waitForDefault(lab, 'eth0');
      await svc.waitForLine(/^INFO Connected to primary$/);
      await lab.exec('dut', 'ip', ['route', 'del', 'default']);
      await waitForDefault(lab, 'eth0', 5000);
      await svc.waitForLine(/^WARNING The default route was changed behind our back \(found: none\); put back: default via 192\.0\.2\.1 dev eth0$/, 5000);

      await lab.exec('dut', 'ip', ['route', 'replace', 'default', 'dev', 'lo']);
      const back = await waitForDefault(lab, 'eth0', 5000);
      assert.equal(back.gateway, '192.0.2.1');
      await svc.waitForLine(/found: default dev lo/, 5000);

      // A DHCP client's route with a higher metric beside ours is no threat: ours wins and both stay.
      await lab.exec('dut', 'ip', ['route', 'add', 'default', 'via', '192.0.2.1', 'dev', 'eth0', 'metric', '202']);
      await until(async () => (await lab.defaultRoutes()).length === 2, { timeoutMs: 2000, what: 'the metric-202 route beside ours' });
      assert.equal(svc.lines().filter((l) => /changed behind our back/.test(l)).length, 2, svc.lines().join('\n'));
      await lab.exec('dut', 'ip', ['route', 'del', 'default', 'metric', '202']);

      // The route stays ours after a failover too.
      await lab.cutUpstream('eth0');
      await waitForDefault(lab, 'ppp0');
      await lab.exec('dut', 'ip', ['route', 'replace', 'default', 'dev', 'lo']);
      await waitForDefault(lab, 'ppp0', 5000);
      await svc.waitForLine(/found: default dev lo\); put back: default dev ppp0$/, 5000);
      await lab.restore('eth0');
      await waitForDefault(lab, 'eth0');
    } finally {
      await stopClean(lab, svc);
    }
    const routes = await lab.defaultRoutes();
    assert.deepEqual(routes.map((r) => r.dev), ['eth0'], 'stop leaves the primary as the default route');
  });
});

test('SIGTERM during the first probe round leaves the default route as found', async (t) => {
  await withLab(t, async (lab) => {
    await lab.pppUp(); // a usable backup without targets: the one a careless stop would pick
    // One silent target on eth0's own subnet: the first round waits out its timeout.
    const silent = '192.0.2.9';
    for (const initial of [null, 'eth0'] as const) {
      if (initial) await lab.exec('dut', 'ip', ['route', 'replace', 'default', 'via', '192.0.2.1', 'dev', 'eth0']);
      const svc = startService(lab, properties(silent));
      // The probes are pinned right before the first round starts: stop while that round waits for its silent target.
      const pinned = async () => (await lab.rules()).some((r) => (r as { priority?: number }).priority === 4200);
      await until(pinned, { timeoutMs: 10_000, what: 'the probes to be pinned' });
      assert.equal(await svc.stop(), 0);
      assert.ok(!(await pinned()), `the pins are removed at stop:\n${JSON.stringify(await lab.rules())}\n${svc.lines().join('\n')}`);
      const routes = (await lab.defaultRoutes()).map((r) => r.dev);
      assert.deepEqual(routes, initial ? ['eth0'] : [], `started with ${initial ?? 'no default route'}:\n${svc.lines().join('\n')}`);
      assert.ok(!svc.lines().some((l) => /Failing over|Connected to fona/.test(l)), svc.lines().join('\n'));
    }
  });
});

test('a killed run leaves an orphaned ip monitor; the next start ends it and runs exactly one', async (t) => {
  await withLab(t, async (lab) => {
    await lab.pppUp();
    const killed = startService(lab, properties(`${T1},${T2}`));
    await killed.waitForLine(/^INFO Connected to primary$/);
    const killedPid = killed.proc.pid;
    const orphans = monitorsOf(killedPid);
    assert.equal(orphans.length, 1, 'the service runs one monitor');
    process.kill(killedPid, 'SIGKILL'); // the service alone: its monitor child survives it
    await killed.proc.exited;
    assert.ok(monitorsOf(killedPid).length === 1, 'the orphan outlives its parent');

    const svc = startService(lab, properties(`${T1},${T2}`));
    try {
      await svc.waitForLine(/^INFO Connected to primary$/);
      await svc.waitForLine(new RegExp(`^INFO ended link monitor ${orphans[0].pid} left by an earlier run \\(pid ${killedPid}\\)$`));
      await until(async () => monitorsOf(killedPid).length === 0, { timeoutMs: 5000, what: 'the orphan to exit' });
      assert.equal(monitorsOf(svc.proc.pid).length, 1);
    } finally {
      await stopClean(lab, svc);
    }
    assert.equal(monitorsOf(svc.proc.pid).length, 0, 'its monitor ends with the service');
  });
});

test('SIGTERM to the whole process group (systemd, timeout) stops the service without a false warning', async (t) => {
  await withLab(t, async (lab) => {
    await lab.pppUp();
    const svc = startService(lab, properties(`${T1},${T2}`));
    await svc.waitForLine(/^INFO Connected to primary$/);
    // LabProcess.stop signals the process group: the monitor gets SIGTERM at the same moment as the service.
    await stopClean(lab, svc);
    assert.ok(!svc.lines().some((l) => /link monitor exited|fping of \S+ .*ended/.test(l)), svc.lines().join('\n'));
  });
});

test('no namespace is left behind', () => {
  assert.deepEqual(runner.leftNamespaces(), []);
});
