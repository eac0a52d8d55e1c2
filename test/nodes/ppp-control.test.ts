/**
 * ppp-control in Node-RED (node-red-node-test-helper). Without a network lab: "not available" without the
 * dialer, settings and commands checked, pppd's exit status reported (fake pppd), no child left. With the lab
 * (root): the specs in drivers/ppp-control-lab-specs.ts run inside its device namespace against a real TUN
 * ppp0 brought up and down by the fake pon/poff.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { coreNodes, initHelper, ourNode } from '../support/red-helper';
import { errorKey, lastStatus, logged, sink, statusText } from '../support/node-sink';
import { FlowNode, nodeFlow, serverHooks } from '../support/flows';
import { FAKES_BIN, FakeModem, pathWithFakes, runningFakes, setEnv, tempDir } from '../fakes/fake-tools';
import { execa } from 'execa';
import { NetLab, isRoot, missingTools, pidAlive } from '../lab/netlab';

const helper = initHelper();
const nodes = [ourNode('ppp-control'), ...coreNodes(['catch', 'complete'])];

function flow(props: Record<string, unknown> = {}): FlowNode[] {
  const control = { id: 'c', type: 'ppp-control', name: '', peer: 'fona', iface: 'ppp0', upTimeout: 10, redial: false, redialDelay: 10, dialer: 'pon', startCommand: '', stopCommand: '' };
  return nodeFlow({ ...control, ...props }, ['up', 'down']);
}

describe('ppp-control node (no lab)', () => {
  serverHooks(helper);

  it('pon not installed: registers anyway, grey "not available", messages fail with the reason', async () => {
    const restore = setEnv({ PATH: tempDir('iff-empty-') });
    try {
      await helper.load(nodes, flow());
      const c = helper.getNode('c');
      await statusText(c, 'ppp-control.status.unavailable');
      assert.deepEqual(lastStatus(c), ['grey', 'ring', 'ppp-control.status.unavailable']);
      assert.deepEqual(logged(c, 'warn'), ['ppp-control.errors.unavailable']);
      const caught = sink(helper, 'caught');
      c.receive({ payload: 'start' });
      assert.equal(errorKey(await caught.next()), 'ppp-control.errors.unavailable');
    } finally {
      restore();
    }
  });

  it('invalid settings (a peer that is a path): red ring, logged; unknown commands go to Catch', async () => {
    await helper.load(nodes, flow({ peer: '../../etc/passwd' }));
    const c = helper.getNode('c');
    assert.deepEqual(lastStatus(c), ['red', 'ring', 'ppp-control.status.invalid']);
    assert.deepEqual(logged(c, 'error'), ['ppp-control.errors.config']);
    await helper.unload();
    const restore = setEnv({ PATH: pathWithFakes() });
    try {
      await helper.load(nodes, flow());
      const c2 = helper.getNode('c');
      await statusText(c2, 'ppp-control.status.down');
      const caught = sink(helper, 'caught');
      c2.receive({ payload: 'dial' });
      assert.equal(errorKey(await caught.next()), 'ppp-control.errors.command');
    } finally {
      restore();
    }
  });

  it('pppd dialer: pppd gives up while dialling -> output 2 with its exit status explained; done() without error', async () => {
    const modem = FakeModem.create();
    const restore = setEnv({ PATH: pathWithFakes(), ...modem.env(), FAKE_PPP_EXIT: '8' });
    try {
      await helper.load(nodes, flow({ dialer: 'pppd' }));
      const c = helper.getNode('c');
      await statusText(c, 'ppp-control.status.down');
      const down = sink(helper, 'down');
      const completed = sink(helper, 'completed');
      const caught = sink(helper, 'caught');
      c.receive({ payload: 'start' });
      const m = await down.next();
      assert.equal(m.payload.reason, 'pppd-exited');
      assert.match(String(m.payload.message), /pppd exited with 8: the connect script \(chat\) failed/);
      await completed.next();
      assert.equal(caught.msgs.length, 0);
      assert.deepEqual(lastStatus(c), ['red', 'ring', 'ppp-control.status.pppd-exited']);
    } finally {
      restore();
    }
  });

  it('pppd dialer: closing while dialling stops the pppd child', async () => {
    const modem = FakeModem.create();
    modem.setMode('never');
    const restore = setEnv({ PATH: pathWithFakes(), ...modem.env() });
    try {
      await helper.load(nodes, flow({ dialer: 'pppd', upTimeout: 60 }));
      const c = helper.getNode('c');
      await statusText(c, 'ppp-control.status.down');
      c.receive({ payload: 'start' });
      await statusText(c, 'ppp-control.status.dialing');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(runningFakes('pppd', modem.dir).length, 1);
      const t = Date.now();
      await helper.unload();
      assert.ok(Date.now() - t < 5000);
      assert.deepEqual(runningFakes('pppd', modem.dir), []);
    } finally {
      restore();
    }
  });
});

const ROOT = isRoot();
const MISSING = ROOT ? missingTools() : [];

describe('ppp-control node with a real ppp0 (network lab)', () => {
  it('runs drivers/ppp-control-lab-specs inside the lab\'s device namespace', { timeout: 240_000 }, async (t) => {
    if (!ROOT || MISSING.length > 0) {
      t.skip(!ROOT ? 'needs root (network namespaces); CI runs it as root' : `missing tools: ${MISSING.join(', ')}`);
      return;
    }
    const lab = await NetLab.create({ targets: 1, wlan: false });
    const modem = FakeModem.create();
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: pathWithFakes(), ...modem.env() };
    // Set by `node --test` for its own children; the specs' runner must report as text, not to this runner.
    delete env.NODE_TEST_CONTEXT;
    try {
      const daemon = lab.spawn('dut', process.execPath, [join(FAKES_BIN, 'fake-modem')], { env });
      await daemon.waitFor(/fake-modem ready/);
      const specs = lab.spawn('dut', process.execPath, ['--test-reporter=spec', join(__dirname, 'drivers', 'ppp-control-lab-specs.js')], { env });
      const exit = await specs.exited;
      const output = `${specs.output.stdout}\n${specs.output.stderr}`;
      for (const line of specs.output.stdout.split('\n')) if (line.trim()) t.diagnostic(line);
      assert.equal(exit.code, 0, `the lab specs failed:\n${output}`);
      assert.match(specs.output.stdout, /# pass 7\b|ℹ pass 7\b/, output);
      const socat = modem.pid('fona');
      assert.equal(socat, null, 'no link left up');
      await daemon.stop();
      // Only this lab's device namespace: other labs (concurrent runs) have socats of their own.
      const inDut = String((await execa('ip', ['netns', 'pids', lab.ns.dut], { reject: false })).stdout)
        .split('\n')
        .filter((pid) => pid.trim() !== '' && pidAlive(Number(pid)));
      assert.deepEqual(inDut, [], 'nothing left running in the device namespace (no fake pppd, no socat)');
    } finally {
      await lab.destroy();
    }
  });
});
