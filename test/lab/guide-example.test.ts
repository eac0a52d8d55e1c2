/**
 * The guide's scenario end to end through examples/failover-controller/01 as a user imports it: the controller's
 * first output wired straight into ppp-control with the FONA's power pins. Run in the network lab's device
 * namespace with the fake FONA (libgpiod v2 fakes) and the fake modem, which answers only while the fake FONA is
 * on and drops the line when it goes off. Adapted only by node type, as `npm start` does: the lab's gateway and
 * targets, dry run off, the libgpiod driver (the fakes), the POST to the guide's placeholder URL disabled; helper
 * nodes are added on the controller's first output and on ppp-control's outputs to observe them.
 * Cut eth0: the default route moves to ppp0 after the modem is powered on and dialled; heal: back to eth0, then
 * the modem is hung up and powered off. Needs root; CI is root and runs it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Driver, FlowItem, Observation } from './controller-harness';
import { isRoot } from './netlab';
import { RouteMonitor } from './route-monitor';
import { leftovers, waitForDefault } from './service-harness';
import { T1, T2, withRig } from './fona-rig';
import { until } from '../support/wait';

if (!isRoot()) console.warn('SKIPPED: the guide example lab test needs root (network namespaces); CI runs it as root');

const EXAMPLE = resolve(__dirname, '../../../examples/failover-controller/01 - Failover to a FONA modem like the guide.json');

/** Example 01 where the lab is, and helper nodes `out1` (controller output 1) and `steps` (ppp-control's outputs). */
function guideExample(): FlowItem[] {
  const flow = JSON.parse(readFileSync(EXAMPLE, 'utf8')) as FlowItem[];
  const tab = flow.find((n) => typeof n['z'] === 'string')?.['z'] as string;
  const out: FlowItem[] = [{ id: tab, type: 'tab', label: 'example 01' }];
  for (const original of flow) {
    const n: FlowItem = { ...original };
    const wires = n['wires'] as string[][] | undefined;
    if (n.type === 'uplink' && n['iface'] === 'eth0') Object.assign(n, { gateway: '192.0.2.1', targets: `${T1},${T2}` });
    if (n.type === 'failover-controller') Object.assign(n, { id: 'ctl', dryRun: false, wires: [[...(wires?.[0] ?? []), 'out1'], wires?.[1] ?? []] });
    if (n.type === 'ppp-control') Object.assign(n, { driver: 'libgpiod', wires: (wires ?? []).map((w) => [...w, 'steps']) });
    if (n.type === 'http request') n['d'] = true;
    out.push(n);
  }
  // Wires into the controller follow its new id.
  for (const n of out) if (Array.isArray(n['wires'])) n['wires'] = (n['wires'] as string[][]).map((w) => w.map((id) => (flow.some((f) => f.id === id && f.type === 'failover-controller') ? 'ctl' : id)));
  out.push({ id: 'out1', type: 'helper', z: tab, x: 100, y: 600, wires: [] }, { id: 'steps', type: 'helper', z: tab, x: 300, y: 600, wires: [] });
  return out;
}

/** ppp-control's messages so far, as "topic what". */
function steps(driver: Driver): string[] {
  return driver
    .records()
    .filter((r: Observation) => r.kind === 'message' && r.node === 'steps')
    .map((r) => `${String(r.topic)} ${String(r.payload?.['power'] ?? r.payload?.['reason'] ?? r.payload?.['state'])}`);
}

test('example 01 in the lab: cut eth0 -> FONA powered on, dialled, default route on ppp0; heal -> eth0, hung up, powered off', { timeout: 240_000 }, async (t) => {
  await withRig(
    t,
    2,
    { targets: 2, wlan: false },
    async ({ lab, fona, modem, env }) => {
      const flow = guideExample();
      assert.ok(flow.filter((n) => n.type !== 'tab' && n.type !== 'uplink' && n.type !== 'helper').length <= 8, 'at most 8 nodes');
      const monitor = new RouteMonitor(lab.spawn('dut', 'ip', ['-4', 'monitor', 'route']));
      const driver = new Driver(lab, flow, { env });
      try {
        await waitForDefault(lab, 'eth0');
        await driver.event('connected', 'primary');
        assert.deepEqual(driver.lifecycle(), ['setup primary', 'connected primary']);
        assert.equal(fona.power, 'off');

        await lab.cutUpstream('eth0');
        const route = await waitForDefault(lab, 'ppp0', 60_000);
        assert.equal(route.gateway, undefined, 'a point-to-point default route has no gateway');
        await driver.event('connected', 'fona');
        // The controller waits for ppp0 while the modem powers on and dials (`waiting`), then moves the route.
        assert.deepEqual(driver.lifecycle().slice(2), ['teardown primary', 'setup fona', 'waiting fona', 'connectionFailed primary', 'connected fona']);
        assert.deepEqual(steps(driver), ['power on', 'up up'], 'powered on, then dialled');
        assert.equal(fona.power, 'on');
        assert.deepEqual(modem.calls(), ['pon fona']);
        await driver.waitFor('yellow badge', (r) => r.kind === 'status' && r.status?.fill === 'yellow' && r.status.text === 'failover-controller.status.backup');

        await lab.restore('eth0');
        await waitForDefault(lab, 'eth0', 60_000);
        await driver.event('connectionRestored', 'primary');
        assert.deepEqual(driver.lifecycle().slice(7), ['teardown fona', 'setup primary', 'connectionRestored primary']);
        await until(() => steps(driver).length >= 4, { what: 'the modem hung up and powered off', timeoutMs: 30_000 });
        assert.deepEqual(steps(driver), ['power on', 'up up', 'down stopped', 'power off'], 'hung up (not lost), then powered off');
        assert.equal(fona.power, 'off');
        assert.deepEqual(modem.calls(), ['pon fona', 'poff fona']);
        assert.deepEqual(modem.log().filter((l) => /unanswered|powered off/.test(l)), [], 'never dialled while off, never powered off while up');
        // The default route went eth0 -> ppp0 -> eth0, nothing else.
        const devs = monitor.events.filter((e) => !e.line.startsWith('Deleted')).map((e) => / dev (\S+)/.exec(e.line)?.[1]);
        assert.deepEqual(devs.filter((d, i) => d !== devs[i - 1]), ['eth0', 'ppp0', 'eth0']);
      } finally {
        assert.equal(await driver.stop(), 0, `exit code; stderr: ${driver.proc.output.stderr}`);
        await monitor.stop();
      }
      assert.deepEqual(await leftovers(lab, [T1, T2]), [], 'no rule, table or host route of ours after close');
      assert.deepEqual((await lab.defaultRoutes()).map((r) => [r.dev, r.gateway]), [['eth0', '192.0.2.1']]);
      assert.equal(modem.pid('fona'), null, 'no link left');
    },
    { modemNeedsPower: true },
  );
});

test('example 01 is wired as the guide: controller -> ppp-control with the FONA, notifications beside it, no glue', () => {
  const flow = JSON.parse(readFileSync(EXAMPLE, 'utf8')) as FlowItem[];
  const onCanvas = flow.filter((n) => n.type !== 'uplink');
  assert.ok(onCanvas.length <= 8, `${onCanvas.length} nodes`);
  assert.deepEqual(onCanvas.filter((n) => ['switch', 'change', 'function', 'fona-power'].includes(n.type)), [], 'no glue');
  const ctl = flow.find((n) => n.type === 'failover-controller');
  const ppp = flow.find((n) => n.type === 'ppp-control');
  assert.ok(ctl && ppp);
  assert.ok((ctl['wires'] as string[][])[0].includes(ppp.id), 'the controller\'s first output goes straight into ppp-control');
  assert.deepEqual([ppp['modem'], ppp['powerStatusPin'], ppp['keyPin'], ppp['iface'], ppp['peer']], ['fona', 23, 24, 'ppp0', 'fona'], 'the guide\'s FONA');
  // Fits a 1280 x 800 editor without scrolling.
  for (const n of onCanvas) {
    assert.ok(Number(n['x']) >= 100 && Number(n['x']) <= 1100 && Number(n['y']) >= 40 && Number(n['y']) <= 560, `${n.type} ${n.id} at ${String(n['x'])},${String(n['y'])}`);
  }
});
