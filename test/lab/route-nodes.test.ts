/**
 * route-verifier and route-switch for real, inside the lab's device namespace: a Node-RED flow (on
 * node-red-node-test-helper) runs in a driver process started in the dut, so the verifier's pin, its pings
 * and the switch's `ip route replace` all act on the dut only. The dut has no default route at start:
 * only the verifier's pin can carry its probes.
 *
 * Needs root (network namespaces), like the other lab tests; skips loudly otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { NetLab, LabProcess, isRoot, missingTools } from './netlab';
import { labRunner } from './lab-runner';
import { uplinkConfig } from '../support/flows';
import { leftovers } from './service-harness';
import { until } from '../support/wait';

const DRIVER = join(resolve(__dirname, 'drivers'), 'route-nodes-driver.js');

const ROOT = isRoot();
const MISSING = ROOT ? missingTools() : [];
if (!ROOT) console.warn('SKIPPED: the route-verifier/route-switch lab tests need root (network namespaces); CI runs them as root');
else if (MISSING.length > 0) console.warn(`SKIPPED: the route-verifier/route-switch lab tests need ${MISSING.join(', ')}`);

const { withLab, createdNamespaces, leftNamespaces } = labRunner(ROOT, MISSING);

// ───── the driver ─────

interface DriverEvent {
  event: 'ready' | 'msg' | 'status' | 'unloaded';
  t: number;
  node?: string;
  msg?: { topic?: string; payload?: unknown; error?: { message: string; source?: { id: string } } } & Record<string, unknown>;
  status?: { fill?: string; shape?: string; text?: string };
  ms?: number;
}

class Driver {
  constructor(readonly proc: LabProcess) {}

  events(): DriverEvent[] {
    return this.proc.output.stdout
      .split('\n')
      .filter((l) => l.startsWith('{"event"'))
      .map((l) => JSON.parse(l) as DriverEvent);
  }

  /** Index just past the events seen so far: wait for what comes after it. */
  mark(): number {
    return this.events().length;
  }

  command(cmd: Record<string, unknown>): void {
    this.proc.stdin?.write(`${JSON.stringify(cmd)}\n`);
  }

  send(node: string, msg: Record<string, unknown> = {}): void {
    this.command({ cmd: 'send', node, msg });
  }

  async waitFor(pred: (e: DriverEvent) => boolean, from: number, what: string, timeoutMs = 15_000): Promise<DriverEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events()
        .slice(from)
        .find(pred);
      if (found) return found;
      if (!this.proc.running) throw new Error(`driver exited waiting for ${what}: ${this.proc.output.stderr.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(this.events().slice(from))}\nstderr: ${this.proc.output.stderr.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The next message at a helper node after `from`. */
  async msgAt(node: string, from: number, timeoutMs?: number): Promise<NonNullable<DriverEvent['msg']>> {
    const e = await this.waitFor((x) => x.event === 'msg' && x.node === node, from, `a message at ${node}`, timeoutMs);
    return e.msg ?? {};
  }
}

const keyOf = (text: unknown): string => String(text).replace(/^Error: /, '').split(' ')[0];

// ───── the flow ─────

function flow(targets: string[]): Record<string, unknown>[] {
  return [
    { id: 'f1', type: 'tab', label: 'lab' },
    uplinkConfig('u-eth0', 'primary', 'eth0', '192.0.2.1', targets.join(',')),
    { id: 'v', z: 'f1', type: 'route-verifier', name: '', uplink: 'u-eth0', interval: 0, targets: '', targetsType: 'str', pin: true, wires: [['v-ok'], ['v-down']] },
    { id: 's-msg', z: 'f1', type: 'route-switch', name: '', uplink: '', dryRun: false, wires: [['s-out']] },
    { id: 's-eth0', z: 'f1', type: 'route-switch', name: '', uplink: 'u-eth0', dryRun: false, wires: [['s-out']] },
    { id: 'catcher', z: 'f1', type: 'catch', scope: null, uncaught: false, wires: [['errors']] },
    { id: 'v-ok', z: 'f1', type: 'helper' },
    { id: 'v-down', z: 'f1', type: 'helper' },
    { id: 's-out', z: 'f1', type: 'helper' },
    { id: 'errors', z: 'f1', type: 'helper' },
  ];
}

/** Our rules in the dut (priorities 4200..4263). */
async function ourRules(lab: NetLab): Promise<{ priority?: number; oif?: string; src?: string; table?: string }[]> {
  return ((await lab.rules()) as { priority?: number }[]).filter((r) => (r.priority ?? 0) >= 4200 && (r.priority ?? 0) < 4264);
}


// ───── tests ─────

test('the driver is built next to this test', () => {
  assert.ok(existsSync(DRIVER), DRIVER);
});

test('route-verifier pinned to eth0 and route-switch in the dut: ok, cut -> output 2, switch to ppp0 and back, nothing left', async (t) => {
  await withLab(t, { targets: 2, wlan: false, carrier: true }, async (lab) => {
    const targets = lab.targets;
    assert.deepEqual(targets, ['203.0.113.1', '203.0.113.2']);
    const d = new Driver(lab.spawn('dut', process.execPath, [DRIVER, JSON.stringify(flow(targets))]));
    try {
      await d.waitFor((e) => e.event === 'ready', 0, 'the flow to start');

      // Deployed: the verifier pinned eth0 (table 4200 + rules), and the main table still has no default.
      await until(async () => (await ourRules(lab)).length === 2, { what: 'the verifier to pin eth0', timeoutMs: 5000 });
      const rules = await ourRules(lab);
      assert.deepEqual(rules.map((r) => [r.priority, r.oif ?? r.src, r.table]).sort(), [
        [4200, '192.0.2.2', '4200'],
        [4200, 'eth0', '4200'],
      ]);
      assert.deepEqual((await lab.defaultRoutes('4200')).map((r) => [r.dev, r.gateway]), [['eth0', '192.0.2.1']]);
      assert.deepEqual(await lab.defaultRoutes(), [], 'no default route in the main table');

      // 1. Both targets answer through eth0.
      let m = d.mark();
      d.send('v', { topic: 'first' });
      const up = await d.msgAt('v-ok', m);
      assert.equal(up.topic, 'first');
      const upPayload = up.payload as { uplink: string; iface: string; up: string[]; down: string[]; rtt: number | null; loss: number; ok: boolean };
      assert.deepEqual({ ...upPayload, rtt: typeof upPayload.rtt }, { uplink: 'primary', iface: 'eth0', up: targets, down: [], rtt: 'number', loss: 0, ok: true });
      const green = await d.waitFor((e) => e.event === 'status' && e.node === 'v' && e.status?.fill === 'green', m, 'a green badge');
      assert.equal(keyOf(green.status?.text), 'route-verifier.status.up');

      // 2. The router forwards nothing: output 2, all down.
      await lab.cutUpstream('eth0');
      m = d.mark();
      d.send('v', { topic: 'cut' });
      const down = await d.msgAt('v-down', m);
      assert.equal(down.topic, 'cut');
      assert.deepEqual(down.payload, { uplink: 'primary', iface: 'eth0', up: [], down: targets, rtt: null, loss: 1, ok: false });
      assert.equal(d.events().slice(m).filter((e) => e.node === 'v-ok').length, 0);
      const red = await d.waitFor((e) => e.event === 'status' && e.node === 'v' && e.status?.fill === 'red', m, 'a red ring');
      assert.deepEqual([red.status?.shape, keyOf(red.status?.text)], ['ring', 'route-verifier.status.down']);
      await lab.restore('eth0');

      // 3. ppp0 comes up; the switch (uplink from the message) makes it the default route.
      await lab.pppUp();
      m = d.mark();
      d.send('s-msg', { uplink: { iface: 'ppp0' } });
      const toPpp = await d.msgAt('s-out', m);
      assert.deepEqual(toPpp.payload, { route: { dev: 'ppp0', gateway: null }, replaced: null, dryRun: false });
      assert.deepEqual((await lab.defaultRoutes()).map((r) => [r.dev, r.gateway]), [['ppp0', undefined]]);
      const switched = await d.waitFor((e) => e.event === 'status' && e.node === 's-msg', m, 'the switch badge');
      assert.deepEqual([switched.status?.fill, switched.status?.shape, keyOf(switched.status?.text)], ['green', 'dot', 'route-switch.status.active']);

      // The verifier's probes still leave by eth0 while the default is ppp0: that is the pin.
      m = d.mark();
      d.send('v', {});
      assert.equal(((await d.msgAt('v-ok', m)).payload as { ok: boolean }).ok, true);

      // 4. Back to eth0 via 192.0.2.1 (the configured uplink), reporting the ppp0 route it replaced.
      m = d.mark();
      d.send('s-eth0', {});
      const toEth = await d.msgAt('s-out', m);
      assert.deepEqual(toEth.payload, { route: { dev: 'eth0', gateway: '192.0.2.1' }, replaced: { dev: 'ppp0', gateway: null, metric: 0 }, dryRun: false });
      assert.deepEqual((await lab.defaultRoutes()).map((r) => [r.dev, r.gateway]), [['eth0', '192.0.2.1']]);

      // 5. ip's own error reaches the Catch node; the default route is left alone.
      m = d.mark();
      d.send('s-msg', { uplink: { iface: 'nosuch0' }, topic: 'ghost' });
      const err = await d.msgAt('errors', m);
      assert.equal(err.topic, 'ghost');
      assert.equal(err.error?.source?.id, 's-msg');
      assert.equal(keyOf(err.error?.message), 'route-switch.errors.ip');
      assert.match(String(err.error?.message), /Cannot find device \\?"nosuch0\\?"/);
      const failed = await d.waitFor((e) => e.event === 'status' && e.node === 's-msg' && e.status?.fill === 'red', m, 'a red ring on the switch');
      assert.equal(keyOf(failed.status?.text), 'route-switch.status.failed');
      assert.deepEqual((await lab.defaultRoutes()).map((r) => [r.dev, r.gateway]), [['eth0', '192.0.2.1']]);

      // 6. Unload while a round is in flight (upstream cut: the round waits for its timeout). Close waits
      //    for the round, sends nothing, then lets go of the pin.
      await lab.cutUpstream('eth0');
      m = d.mark();
      d.send('v', { topic: 'in flight' });
      await d.waitFor((e) => e.event === 'status' && e.node === 'v' && keyOf(e.status?.text) === 'route-verifier.status.probing', m, 'the round to start');
      d.command({ cmd: 'unload' });
      const unloaded = await d.waitFor((e) => e.event === 'unloaded', m, 'the flow to unload');
      t.diagnostic(`unload with a round in flight took ${unloaded.ms} ms`);
      assert.ok((unloaded.ms ?? 0) >= 300, `close waited for the round (${unloaded.ms} ms)`);
      assert.deepEqual(
        d.events().slice(m).filter((e) => e.event === 'msg'),
        [],
        'nothing sent by a closing node',
      );
      const exit = await d.proc.exited;
      assert.equal(exit.code, 0, d.proc.output.stderr);

      assert.deepEqual(await leftovers(lab, targets), [], 'no rule or table of ours is left (4200..4263)');
      assert.deepEqual((await lab.defaultRoutes()).map((r) => [r.dev, r.gateway]), [['eth0', '192.0.2.1']], 'the default route stays as switched');
    } finally {
      if (d.proc.running) await d.proc.stop();
    }
  });
});

test('nothing is left behind: no lab namespace, no driver process', async (t) => {
  if (!ROOT || MISSING.length > 0) {
    t.skip('needs root');
    return;
  }
  assert.ok(createdNamespaces.length > 0, 'the lab test above ran');
  assert.deepEqual(
    leftNamespaces(),
    [],
    'every namespace the tests created is gone',
  );
  const r = await execa('pgrep', ['-af', 'route-nodes-driver\\.js'], { reject: false });
  assert.equal(r.stdout.trim(), '', 'no driver process left');
});
