/**
 * ppp-control with a modem: the failover controller's setup/teardown wired straight in (power on, then dial;
 * hang up, then power off). Without a network lab, over the fake libgpiod tools and their fake FONA: a teardown
 * or a redeploy during power-on (the key pulse cut short, never dialled), a modem without GPIO, settings. With the
 * lab (root): drivers/ppp-modem-lab-specs.ts inside its device namespace, against a real ppp0 dialled by the
 * fake pon/poff and a fake modem that only answers while the fake FONA is powered.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { execa } from 'execa';
import { coreNodes, initHelper, ourNode } from '../support/red-helper';
import { errorKey, lastStatus, logged, sink, statusText } from '../support/node-sink';
import { FlowNode, nodeFlow, serverHooks } from '../support/flows';
import { FAKES_BIN, FakeFona, FakeModem, pathWithFakes, runningFakes, setEnv } from '../fakes/fake-tools';
import { until } from '../support/wait';
import { NetLab, isRoot, missingTools, pidAlive } from '../lab/netlab';

const helper = initHelper();
const nodes = [ourNode('ppp-control'), ...coreNodes(['catch', 'complete'])];

function flow(props: Record<string, unknown> = {}): FlowNode[] {
  const control = {
    id: 'c', type: 'ppp-control', name: '', peer: 'fona', iface: 'ppp0', upTimeout: 10, redial: false, redialDelay: 10, dialer: 'pon', startCommand: '', stopCommand: '',
    modem: 'fona', powerStatusPin: 23, keyPin: 24, driver: 'libgpiod', gpiochip: 'gpiochip0', keyPulse: 3, statusTimeout: 3,
  };
  return nodeFlow({ ...control, ...props }, ['up', 'down']);
}

/** What the failover controller's first output sends for the uplink on ppp0. */
const event = (type: string): Record<string, unknown> => ({ topic: type, payload: { event: type, uplink: 'fona', iface: 'ppp0', active: 'primary', time: new Date().toISOString() } });

describe('ppp-control with a modem (no lab: fake FONA, pon without a modem behind it)', () => {
  let fona: FakeFona;
  let modem: FakeModem;
  let restore: () => void;
  serverHooks(helper, {
    before: () => {
      fona = FakeFona.create();
      modem = FakeModem.create();
      restore = setEnv({ PATH: pathWithFakes(), ...fona.env(2), ...modem.env() });
    },
    afterEach: () => {
      assert.deepEqual(runningFakes('gpioset', fona.dir), [], 'no gpioset left running');
      fona.setPower(false);
    },
    after: () => restore(),
  });

  it('a teardown during power-on cuts the key pulse short and never dials; hung up and off, in order', async () => {
    await helper.load(nodes, flow());
    const c = helper.getNode('c');
    await statusText(c, 'ppp-control.status.down');
    const up = sink(helper, 'up');
    const down = sink(helper, 'down');
    const completed = sink(helper, 'completed');
    c.receive(event('setup'));
    await statusText(c, 'ppp-control.status.poweringOn');
    await until(() => fona.level(24) === 0, { what: 'the key pulse to begin', timeoutMs: 5000 });
    c.receive(event('teardown'));
    const hungUp = await down.next(10_000);
    assert.deepEqual([hungUp.topic, hungUp.payload.reason], ['down', 'stopped']);
    const off = await down.next(10_000);
    assert.deepEqual([off.topic, off.payload], ['power', { state: 'power', power: 'off', changed: false, driver: 'libgpiod', iface: 'ppp0', peer: 'fona' }]);
    await completed.next();
    await completed.next();
    assert.equal(fona.level(24), 1, 'the key is back high');
    assert.equal(fona.power, 'off');
    assert.ok(!fona.pulses().some((p) => /power on/.test(p)), fona.pulses().join('\n'));
    assert.deepEqual(modem.calls(), [], 'never dialled (no pon), nothing to hang up (no poff)');
    assert.deepEqual(up.msgs, [], 'no power-on, no up');
    assert.deepEqual(lastStatus(c), ['grey', 'ring', 'ppp-control.status.modemOff']);
  });

  it('a redeploy during power-on: the pulse is cut short at once, nothing dialled, the modem left off', async () => {
    await helper.load(nodes, flow());
    const c = helper.getNode('c');
    c.receive(event('setup'));
    await until(() => fona.level(24) === 0, { what: 'the key pulse to begin', timeoutMs: 5000 });
    await helper.setFlows(flow({ name: 'renamed' }), 'nodes');
    assert.equal(fona.level(24), 1, 'the key is back high');
    assert.equal(fona.power, 'off');
    assert.deepEqual(modem.calls(), []);
    await statusText(helper.getNode('c'), 'ppp-control.status.down');
  });

  it('no GPIO for the modem (rpi-gpio here): output 2 says the power-on failed, then the dial is tried and reported', async () => {
    const dials = modem.calls().length;
    await helper.load(nodes, flow({ driver: 'rpi-gpio' }));
    const c = helper.getNode('c');
    await statusText(c, 'ppp-control.status.down');
    const down = sink(helper, 'down');
    const caught = sink(helper, 'caught');
    c.receive(event('setup'));
    const failed = await down.next(10_000);
    assert.equal(failed.topic, 'failed');
    assert.equal(failed.payload.step, 'power-on');
    assert.match(String(failed.payload.message), /rpi-gpio.*dialling anyway/);
    const dial = await down.next(10_000);
    assert.deepEqual([dial.topic, dial.payload.reason], ['down', 'start-failed'], 'pon finds no modem behind it here');
    assert.deepEqual(modem.calls().slice(dials), ['pon fona', 'poff fona'], 'dialled, and the failed dial hung up');
    assert.ok(logged(c, 'warn').includes('ppp-control.errors.modem'));
    assert.equal(caught.msgs.length, 0, 'not an error for Catch: reported on output 2');
  });

  it('without a modem, setup only dials (no GPIO touched); the fine-grained commands work as before', async () => {
    const gpioCalls = fona.calls().length;
    const dials = modem.calls().length;
    await helper.load(nodes, flow({ modem: 'none', keyPin: 23 }));
    const c = helper.getNode('c');
    await statusText(c, 'ppp-control.status.down');
    const down = sink(helper, 'down');
    c.receive(event('setup'));
    assert.equal((await down.next(10_000)).payload.reason, 'start-failed');
    c.receive({ payload: 'stop' });
    assert.equal((await down.next(10_000)).payload.reason, 'stopped');
    assert.deepEqual(fona.calls().slice(gpioCalls), [], 'no GPIO');
    assert.deepEqual(modem.calls().slice(dials), ['pon fona', 'poff fona', 'poff fona'], 'dialled at once; the failed dial and the stop hang up');
  });

  it('invalid modem pins (PS = Key): red ring, logged at deploy; a setup goes to Catch with the reason', async () => {
    await helper.load(nodes, flow({ keyPin: 23 }));
    const c = helper.getNode('c');
    assert.deepEqual(lastStatus(c), ['red', 'ring', 'ppp-control.status.invalid']);
    assert.deepEqual(logged(c, 'error'), ['ppp-control.errors.config']);
    const caught = sink(helper, 'caught');
    c.receive(event('setup'));
    assert.equal(errorKey(await caught.next()), 'ppp-control.errors.config', 'a setup fails with the reason (Catch)');
  });
});

const ROOT = isRoot();
const MISSING = ROOT ? missingTools() : [];

describe('ppp-control with a modem and a real ppp0 (network lab)', () => {
  it('runs drivers/ppp-modem-lab-specs inside the lab\'s device namespace', { timeout: 300_000 }, async (t) => {
    if (!ROOT || MISSING.length > 0) {
      t.skip(!ROOT ? 'needs root (network namespaces); CI runs it as root' : `missing tools: ${MISSING.join(', ')}`);
      return;
    }
    const lab = await NetLab.create({ targets: 1, wlan: false });
    const fona = FakeFona.create();
    const modem = FakeModem.create();
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: pathWithFakes(), ...fona.env(2), ...modem.env() };
    // Set by `node --test` for its own children; the specs' runner must report as text, not to this runner.
    delete env.NODE_TEST_CONTEXT;
    try {
      // A modem that answers only while the fake FONA is on, and drops the line when it goes off.
      const daemon = lab.spawn('dut', process.execPath, [join(FAKES_BIN, 'fake-modem')], { env: { ...env, FAKE_MODEM_POWER_FILE: join(fona.dir, fona.chip, String(fona.psPin)) } });
      await daemon.waitFor(/fake-modem ready/);
      const specs = lab.spawn('dut', process.execPath, ['--test-reporter=spec', join(__dirname, 'drivers', 'ppp-modem-lab-specs.js')], { env });
      const exit = await specs.exited;
      const output = `${specs.output.stdout}\n${specs.output.stderr}`;
      for (const line of specs.output.stdout.split('\n')) if (line.trim()) t.diagnostic(line);
      assert.equal(exit.code, 0, `the lab specs failed:\n${output}`);
      assert.match(specs.output.stdout, /# pass 5\b|ℹ pass 5\b/, output);
      assert.equal(modem.pid('fona'), null, 'no link left up');
      await daemon.stop();
      const inDut = String((await execa('ip', ['netns', 'pids', lab.ns.dut], { reject: false })).stdout)
        .split('\n')
        .filter((pid) => pid.trim() !== '' && pidAlive(Number(pid)));
      assert.deepEqual(inDut, [], 'nothing left running in the device namespace (no fake pppd, no socat)');
    } finally {
      await lab.destroy();
    }
  });
});
