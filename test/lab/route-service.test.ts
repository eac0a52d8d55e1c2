/**
 * The real RouteService against a real kernel routing table, inside the lab's device namespace.
 */
import { test, TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { CommandError } from '../../lib/errors';
import { Logger } from '../../lib/log/logger';
import { RouteService } from '../../lib/routes/route-service';
import { validateUplinks } from '../../lib/uplink/model';
import { NetLab, isRoot } from './netlab';
import { NamespaceRunner } from './ns-runner';
import { leftovers } from './service-harness';

const ROOT = isRoot();
if (!ROOT) console.warn('SKIPPED: the route-service lab tests need root (network namespaces)');

const [ETH0, PPP0, WLAN0] = validateUplinks([
  { name: 'primary', iface: 'eth0', gateway: '192.0.2.1', targets: ['203.0.113.1', '203.0.113.2'] },
  { name: 'fona', iface: 'ppp0' },
  { name: 'wifi', iface: 'wlan0', gateway: '192.0.2.17', targets: ['203.0.113.1'], pinMode: 'host-route' },
]);

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (m: string) => lines.push(m);
  return { lines, debug: log, info: log, warn: log, error: log };
}

async function withLab(t: TestContext, body: (lab: NetLab, routes: RouteService) => Promise<void>): Promise<void> {
  if (!ROOT) return void t.skip('needs root');
  const lab = await NetLab.create({ targets: 2 });
  try {
    await lab.pppUp();
    await body(lab, new RouteService({ runner: new NamespaceRunner(lab), logger: recordingLogger() }));
  } finally {
    await lab.destroy();
  }
}

function ourRules(rules: unknown[]): { priority: number; oif?: string; src?: string; table: string }[] {
  return (rules as { priority: number; oif?: string; src?: string; table: string }[]).filter((r) => r.priority >= 4200 && r.priority < 4264);
}

test('activate replaces the default route in place; readDefault reports it', async (t) => {
  await withLab(t, async (lab, routes) => {
    assert.equal(await routes.readDefault(), null);
    await routes.activate(ETH0);
    assert.deepEqual(await routes.readDefault(), { dev: 'eth0', gateway: '192.0.2.1', metric: 0 });
    await routes.activate(PPP0);
    assert.deepEqual(await routes.readDefault(), { dev: 'ppp0', gateway: null, metric: 0 });
    assert.equal((await lab.defaultRoutes()).length, 1, 'replaced, not added beside');
  });
});

test('a pin shared by two owners stays until the last one lets go; tables are per interface', async (t) => {
  await withLab(t, async (lab, routes) => {
    await routes.pin(ETH0, 'controller');
    await routes.pin(ETH0, 'verifier');
    await routes.pin(PPP0, 'controller');
    const rules = ourRules(await lab.rules());
    assert.deepEqual(
      rules.map((r) => [r.priority, r.oif ?? `from ${r.src}`, r.table]).sort(),
      [
        [4200, 'eth0', '4200'],
        [4200, 'from 192.0.2.2', '4200'],
        [4201, 'from 198.51.100.2', '4201'],
        [4201, 'ppp0', '4201'],
      ],
    );
    assert.deepEqual((await lab.defaultRoutes('4201')).map((r) => r.dev), ['ppp0']);
    // Pinning again (interface came back) adds no duplicate rule.
    await routes.pin(ETH0, 'controller');
    assert.equal(ourRules(await lab.rules()).length, 4);

    await routes.unpin(ETH0, 'controller');
    assert.equal(ourRules(await lab.rules()).filter((r) => r.table === '4200').length, 2, 'the verifier still needs it');
    await routes.unpin(ETH0, 'verifier');
    await routes.unpin(PPP0, 'controller');
    assert.deepEqual(await leftovers(lab, ['203.0.113.1', '203.0.113.2']), []);
  });
});

test('host-route pin mode per uplink: /32 routes via the uplink, removed on unpin', async (t) => {
  await withLab(t, async (lab, routes) => {
    await routes.pin(WLAN0, 'x');
    assert.equal((await lab.routeGet('203.0.113.1')).dev, 'wlan0');
    assert.deepEqual(ourRules(await lab.rules()), []);
    await routes.unpin(WLAN0, 'x');
    await assert.rejects(lab.routeGet('203.0.113.1'), /unreachable/i);
  });
});

test('a failing command is a CommandError naming the argv; dry-run runs nothing', async (t) => {
  await withLab(t, async (lab, routes) => {
    const [ghost] = validateUplinks([{ name: 'ghost', iface: 'nosuch0', gateway: '192.0.2.1' }]);
    await assert.rejects(routes.activate(ghost), (e: unknown) => {
      assert.ok(e instanceof CommandError);
      assert.match(e.message, /ip -4 route replace default via 192\.0\.2\.1 dev nosuch0 failed/);
      return true;
    });
    assert.deepEqual(await lab.defaultRoutes(), [], 'nothing half-applied');

    const logger = recordingLogger();
    const dry = new RouteService({ runner: new NamespaceRunner(lab), logger, dryRun: true });
    await dry.activate(ETH0);
    await dry.pin(ETH0, 'x');
    assert.deepEqual(await lab.defaultRoutes(), []);
    assert.deepEqual(ourRules(await lab.rules()), []);
    assert.ok(logger.lines.includes('DRY-RUN: ip -4 route replace default via 192.0.2.1 dev eth0'));
  });
});

test('removeStale clears rules and tables in our range left by someone else\'s crash', async (t) => {
  await withLab(t, async (lab, routes) => {
    await lab.exec('dut', 'ip', ['rule', 'add', 'oif', 'eth0', 'lookup', '4207', 'priority', '4207']);
    await lab.exec('dut', 'ip', ['route', 'add', 'default', 'via', '192.0.2.1', 'dev', 'eth0', 'table', '4207']);
    await lab.exec('dut', 'ip', ['rule', 'add', 'oif', 'eth0', 'lookup', '100', 'priority', '100']);
    assert.equal(await routes.removeStale(), 2);
    assert.deepEqual(await leftovers(lab, []), []);
    assert.ok((await lab.rules()).some((r) => (r as { priority: number }).priority === 100), 'rules outside our range are not ours');
  });
});
