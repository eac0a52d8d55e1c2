/**
 * IPv6 in the lab: uplinks that are IPv6-only, dual-stack, or IPv4-only beside dual-stack ones, run by the
 * failover-controller node in a real Node-RED inside the device; `ip route` and `ip -6 route` of the device are
 * what is checked. And the route service's IPv6 pins (policy rules, host routes) and their sweep.
 * Needs root (network namespaces); CI is root and runs these.
 */
import { test, TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Logger } from '../../lib/log/logger';
import { RouteService } from '../../lib/routes/route-service';
import { validateUplinks } from '../../lib/uplink/model';
import { Driver, FlowItem } from './controller-harness';
import { labRunner } from './lab-runner';
import { IpFamily, NetLab, RouteInfo, isRoot, missingTools } from './netlab';
import { NamespaceRunner } from './ns-runner';
import { leftovers } from './service-harness';
import { uplinkConfig } from '../support/flows';
import { until } from '../support/wait';

const ROOT = isRoot();
if (!ROOT) console.warn('SKIPPED: the IPv6 lab tests need root (network namespaces); CI runs them as root');
const runner = labRunner(ROOT, ROOT ? missingTools() : []);

const T1 = '203.0.113.1';
const T2 = '203.0.113.2';
const T6A = '2001:db8:113::1';
const T6B = '2001:db8:113::2';

function withLab(t: TestContext, body: (lab: NetLab) => Promise<void>): Promise<void> {
  return runner.withLab(t, { targets: 2, carrier: false }, body);
}

/** Two uplink config nodes (primary on eth0, backup on wlan0), a controller `ctl`, helper nodes on its outputs. */
function flow(primary: Record<string, unknown>, backup: Record<string, unknown>): FlowItem[] {
  const at = { x: 100, y: 100 };
  return [
    { id: 'tab', type: 'tab', label: 'ipv6' },
    uplinkConfig('up-primary', 'primary', 'eth0', '', '', primary),
    uplinkConfig('up-backup', 'backup', 'wlan0', '', '', backup),
    { id: 'ctl', type: 'failover-controller', z: 'tab', name: 'failover', uplinks: ['up-primary', 'up-backup'], dryRun: false, setupRetry: 60, ...at, wires: [['out1'], ['out2']] },
    { id: 'out1', type: 'helper', z: 'tab', ...at },
    { id: 'out2', type: 'helper', z: 'tab', ...at },
  ];
}

/** The device's main-table default routes of a family as `dev via gateway` (or `dev`), sorted. */
async function defaults(lab: NetLab, family: IpFamily): Promise<string[]> {
  const show = (r: RouteInfo): string => (r.gateway ? `${r.dev} via ${r.gateway}` : r.dev);
  return (await lab.defaultRoutes('main', family)).map(show).sort();
}

/** Waits until the device's default routes are exactly these, IPv4 and IPv6 (empty: none of that family). */
async function expectDefaults(lab: NetLab, v4: string[], v6: string[]): Promise<void> {
  let seen: [string[], string[]] = [[], []];
  try {
    await until(
      async () => {
        seen = [await defaults(lab, 4), await defaults(lab, 6)];
        return JSON.stringify(seen) === JSON.stringify([v4, v6]);
      },
      { timeoutMs: 20_000, what: `default routes ${JSON.stringify({ v4, v6 })}` },
    );
  } catch (e) {
    throw new Error(`${String(e)}; they are ${JSON.stringify({ v4: seen[0], v6: seen[1] })}`);
  }
}

async function stopAndCheck(lab: NetLab, driver: Driver, targets: string[]): Promise<void> {
  assert.equal(await driver.stop(), 0, `exit code; stderr: ${driver.proc.output.stderr}`);
  assert.deepEqual(await leftovers(lab, targets), [], 'no rule, table or host route of ours (IPv4 or IPv6) after close');
}

const routeChanges = (driver: Driver): number => driver.records().filter((r) => r.kind === 'message' && r.topic === 'routeChanged').length;

test('IPv6-only uplinks: a cut primary fails over to the backup (via its link-local gateway) and comes back, in ip -6 route', async (t) => {
  await withLab(t, async (lab) => {
    const driver = new Driver(
      lab,
      flow({ gateway6: lab.gateways6.eth0, targets: `${T6A},${T6B}` }, { gateway6: 'fe80::1', targets: T6A }),
    );
    try {
      await driver.event('connected', 'primary');
      await expectDefaults(lab, [], ['eth0 via 2001:db8:1::1']);
      // The probes and the pin are IPv6 too: the oif rule of each uplink is in `ip -6 rule`, none in `ip rule`.
      const rules6 = (await lab.rules(6)) as { priority: number; oif?: string }[];
      assert.deepEqual(rules6.filter((r) => r.priority >= 4200 && r.priority < 4264 && r.oif).map((r) => r.oif).sort(), ['eth0', 'wlan0']);
      assert.equal(((await lab.rules(4)) as { priority: number }[]).filter((r) => r.priority >= 4200 && r.priority < 4264).length, 0);

      await lab.cutUpstream('eth0');
      await driver.event('connectionFailed', 'primary');
      await driver.event('connected', 'backup');
      await expectDefaults(lab, [], ['wlan0 via fe80::1']);
      const ping = await lab.ping({ target: T6B, count: 3 });
      assert.ok(ping.received >= 1, `user traffic over IPv6 takes the backup: ${ping.output}`);

      await lab.restore('eth0');
      await driver.event('connectionRestored', 'primary');
      await expectDefaults(lab, [], ['eth0 via 2001:db8:1::1']);
      // No IPv4 default route to keep: the controller never "puts back" a route nobody changed.
      assert.equal(routeChanges(driver), 0, 'no routeChanged event');
    } finally {
      await stopAndCheck(lab, driver, [T6A, T6B]);
    }
    assert.deepEqual(await defaults(lab, 6), ['eth0 via 2001:db8:1::1'], 'a working IPv6 default route is left behind');
  });
});

test('dual-stack primary and backup: ip route and ip -6 route move together', async (t) => {
  await withLab(t, async (lab) => {
    const driver = new Driver(
      lab,
      flow(
        { gateway: lab.gateways.eth0, gateway6: lab.gateways6.eth0, targets: `${T1},${T6A}`, reliability: 2 },
        { gateway: lab.gateways.wlan0, gateway6: lab.gateways6.wlan0, targets: `${T2},${T6B}` },
      ),
    );
    try {
      await driver.event('connected', 'primary');
      await expectDefaults(lab, ['eth0 via 192.0.2.1'], ['eth0 via 2001:db8:1::1']);

      await lab.cutUpstream('eth0');
      await driver.event('connected', 'backup');
      await expectDefaults(lab, ['wlan0 via 192.0.2.17'], ['wlan0 via 2001:db8:2::1']);
      for (const target of [T1, T6A]) {
        const ping = await lab.ping({ target, count: 3 });
        assert.ok(ping.received >= 1, `user traffic to ${target} takes the backup: ${ping.output}`);
      }

      await lab.restore('eth0');
      await driver.event('connectionRestored', 'primary');
      await expectDefaults(lab, ['eth0 via 192.0.2.1'], ['eth0 via 2001:db8:1::1']);
      assert.equal(routeChanges(driver), 0, 'no routeChanged event');
    } finally {
      await stopAndCheck(lab, driver, [T1, T2, T6A, T6B]);
    }
  });
});

test('dual-stack primary failing over to an IPv4-only backup: the IPv6 default leaves the dead primary, and comes back with it', async (t) => {
  await withLab(t, async (lab) => {
    const driver = new Driver(
      lab,
      flow({ gateway: lab.gateways.eth0, gateway6: lab.gateways6.eth0, targets: `${T1},${T6A}` }, { gateway: lab.gateways.wlan0, targets: T2 }),
    );
    try {
      await driver.event('connected', 'primary');
      await expectDefaults(lab, ['eth0 via 192.0.2.1'], ['eth0 via 2001:db8:1::1']);

      await lab.cutUpstream('eth0');
      await driver.event('connected', 'backup');
      // IPv6 has no way out now: no route (the application falls back to IPv4 at once) rather than a black hole.
      await expectDefaults(lab, ['wlan0 via 192.0.2.17'], []);
      await assert.rejects(lab.routeGet(T6B), /unreachable/i, 'no IPv6 route out');

      await lab.restore('eth0');
      await driver.event('connectionRestored', 'primary');
      await expectDefaults(lab, ['eth0 via 192.0.2.1'], ['eth0 via 2001:db8:1::1']);
    } finally {
      await stopAndCheck(lab, driver, [T1, T2, T6A]);
    }
  });
});

function quietLogger(): Logger {
  const nothing = (): void => undefined;
  return { debug: nothing, info: nothing, warn: nothing, error: nothing };
}

interface RuleJson {
  priority: number;
  oif?: string;
  src?: string;
  table?: string;
}

const ours = (rules: unknown[]): RuleJson[] => (rules as RuleJson[]).filter((r) => r.priority >= 4200 && r.priority < 4264);

test('IPv6 pins: policy rules (oif, from the global address) and /128 host routes, removed by unpin; stale ones swept', async (t) => {
  await withLab(t, async (lab) => {
    const [dual, hostRouted] = validateUplinks([
      { name: 'primary', iface: 'eth0', gateway: lab.gateways.eth0, gateway6: lab.gateways6.eth0, targets: [T1, T6A] },
      { name: 'backup', iface: 'wlan0', gateway6: 'fe80::1', targets: [T6B], pinMode: 'host-route' },
    ]);
    const routes = new RouteService({ runner: new NamespaceRunner(lab), logger: quietLogger() });
    await routes.pin(dual);
    await routes.pin(hostRouted);
    assert.deepEqual(
      ours(await lab.rules(6)).map((r) => `${r.priority} ${r.oif ?? `from ${r.src}`} ${r.table}`).sort(),
      ['4200 eth0 4200', '4200 from 2001:db8:1::2 4200'],
      'IPv6 rules mirror the IPv4 ones; no rule from the link-local address',
    );
    assert.equal(ours(await lab.rules(4)).length, 2);
    assert.deepEqual((await lab.defaultRoutes('4200', 6)).map((r) => `${r.dev} ${r.gateway}`), ['eth0 2001:db8:1::1']);
    assert.equal((await lab.routeGet(T6A, { oif: 'eth0' })).gateway, '2001:db8:1::1');
    // The host-routed IPv6 target leaves by wlan0 through its link-local gateway, whatever the main table says.
    const hostRoute = await lab.routeGet(T6B);
    assert.deepEqual([hostRoute.dev, hostRoute.gateway], ['wlan0', 'fe80::1']);
    const probe = await lab.ping({ target: T6A, dev: 'eth0' });
    assert.equal(probe.received, 1, `a probe bound to eth0 reaches its IPv6 target without any default route: ${probe.output}`);

    await routes.unpin(dual);
    await routes.unpin(hostRouted);
    assert.deepEqual(await leftovers(lab, [T1, T6A, T6B]), [], 'unpin removes the IPv6 rules, table and host route');

    // A run that crashed left an IPv6 rule and table behind: the next start's sweep removes them (and only them).
    for (const args of [
      ['-6', 'rule', 'add', 'oif', 'eth0', 'lookup', '4203', 'priority', '4203'],
      ['-6', 'route', 'add', 'default', 'via', lab.gateways6.eth0, 'dev', 'eth0', 'table', '4203'],
      ['-6', 'rule', 'add', 'oif', 'eth0', 'lookup', '100', 'priority', '100'],
    ]) {
      await lab.exec('dut', 'ip', args);
    }
    assert.equal(await new RouteService({ runner: new NamespaceRunner(lab), logger: quietLogger() }).removeStale(), 2);
    assert.deepEqual(await leftovers(lab, []), [], 'the stale IPv6 rule and table are gone');
    assert.deepEqual(
      ((await lab.rules(6)) as RuleJson[]).filter((r) => r.priority === 100).map((r) => r.table),
      ['100'],
      "someone else's rule stays",
    );
  });
});

test('activate sets ::/0 for an IPv6 uplink and removes IPv6 defaults from our other uplinks only', async (t) => {
  await withLab(t, async (lab) => {
    const [v6Only, v4Only] = validateUplinks([
      { name: 'primary', iface: 'eth0', gateway6: lab.gateways6.eth0, targets: [T6A] },
      { name: 'backup', iface: 'wlan0', gateway: lab.gateways.wlan0, targets: [T2] },
    ]);
    const routes = new RouteService({ runner: new NamespaceRunner(lab), logger: quietLogger() });
    // An IPv6 default the device had before on wlan0 (e.g. from a router advertisement) stays while wlan0 is active.
    await lab.exec('dut', 'ip', ['-6', 'route', 'add', 'default', 'via', 'fe80::1', 'dev', 'wlan0', 'metric', '2048']);
    await routes.activate(v6Only);
    assert.deepEqual(await defaults(lab, 4), [], 'an IPv6-only uplink sets no IPv4 default');
    assert.deepEqual(await defaults(lab, 6), ['eth0 via 2001:db8:1::1', 'wlan0 via fe80::1']);
    await routes.activate(v4Only);
    assert.deepEqual(await defaults(lab, 4), ['wlan0 via 192.0.2.17']);
    assert.deepEqual(await defaults(lab, 6), ['wlan0 via fe80::1'], "eth0's IPv6 default is gone, wlan0's own stays");
    await routes.activate(v6Only);
    assert.deepEqual(await defaults(lab, 4), [], "the IPv4 default on our other uplink's interface is removed");
    assert.deepEqual(await defaults(lab, 6), ['eth0 via 2001:db8:1::1', 'wlan0 via fe80::1']);
  });
});
