/**
 * fona-power in Node-RED (node-red-node-test-helper) over the fake libgpiod tools and their fake FONA
 * (test/fakes/bin): badges, outputs, errors to Catch, "not available" without GPIO, close during a pulse.
 * RED._ answers the i18n key in tests.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initHelper, ourNode, coreNodes } from '../support/red-helper';
import { errorKey, lastStatus, logged, sink, statusText } from '../support/node-sink';
import { FlowNode, nodeFlow, serverHooks } from '../support/flows';
import { FakeFona, pathWithFakes, runningFakes, setEnv, tempDir } from '../fakes/fake-tools';

const helper = initHelper();
const nodes = [ourNode('fona-power'), ...coreNodes(['catch', 'complete'])];

function flow(props: Record<string, unknown> = {}): FlowNode[] {
  const power = { id: 'p', type: 'fona-power', name: '', powerStatusPin: 23, keyPin: 24, driver: 'libgpiod', gpiochip: 'gpiochip0', keyPulse: 1.6, statusTimeout: 3 };
  return nodeFlow({ ...power, ...props }, ['out']);
}

for (const version of [1, 2] as const) {
  describe(`fona-power node (fake libgpiod v${version})`, () => {
    let restore: () => void;
    let fona: FakeFona;

    serverHooks(helper, {
      before: () => {
        fona = FakeFona.create();
        restore = setEnv({ PATH: pathWithFakes(), ...fona.env(version) });
      },
      afterEach: () => assert.deepEqual(runningFakes('gpioset', fona.dir), [], 'no gpioset left running'),
      after: () => restore(),
    });

    it('shows the power state on deploy, switches on, answers {power, changed, driver}, keeps the message', async () => {
      fona.setPower(false);
      await helper.load(nodes, flow());
      const p = helper.getNode('p');
      await statusText(p, 'fona-power.status.off');
      assert.deepEqual(lastStatus(p), ['grey', 'ring', 'fona-power.status.off']);
      const out = sink(helper, 'out');
      const completed = sink(helper, 'completed');
      p.receive({ payload: 'on', topic: 'modem', keep: 1 });
      await statusText(p, 'fona-power.status.switching');
      const m = await out.next(8000);
      assert.deepEqual(m.payload, { power: 'on', changed: true, driver: 'libgpiod' });
      assert.equal(m.topic, 'modem');
      assert.equal(m.keep, 1);
      await completed.next();
      assert.deepEqual(lastStatus(p), ['green', 'dot', 'fona-power.status.on']);
      assert.equal(fona.power, 'on');

      p.receive({ payload: 'on' });
      assert.deepEqual((await out.next()).payload, { power: 'on', changed: false, driver: 'libgpiod' });
      p.receive({ payload: false });
      assert.deepEqual((await out.next(8000)).payload, { power: 'off', changed: true, driver: 'libgpiod' });
      p.receive({ topic: 'toggle' });
      assert.deepEqual((await out.next(8000)).payload, { power: 'on', changed: true, driver: 'libgpiod' });
      p.receive({ payload: 'status' });
      assert.deepEqual((await out.next()).payload, { power: 'on', changed: false, driver: 'libgpiod' });
      assert.equal(fona.pulses().length, 3);
    });

    it('an unknown command fails the message for Catch and touches nothing', async () => {
      await helper.load(nodes, flow());
      const p = helper.getNode('p');
      const caught = sink(helper, 'caught');
      const calls = fona.calls().length;
      p.receive({ payload: 'reboot' });
      const m = await caught.next();
      assert.equal(errorKey(m), 'fona-power.errors.command');
      assert.equal(fona.calls().length, calls);
    });

    it('a modem that does not react: Catch gets the reason, red ring', async () => {
      fona.setPower(false);
      const undo = setEnv({ FAKE_FONA_DEAD: '1' });
      try {
        await helper.load(nodes, flow({ statusTimeout: 0.5 }));
        const p = helper.getNode('p');
        const caught = sink(helper, 'caught');
        p.receive({ payload: 'on' });
        const m = await caught.next(8000);
        assert.equal(errorKey(m), 'fona-power.errors.gpio');
        assert.deepEqual(lastStatus(p), ['red', 'ring', 'fona-power.status.noChange']);
      } finally {
        undo();
      }
    });

    it('a busy line: red ring "GPIO busy"', async () => {
      const undo = setEnv({ FAKE_GPIO_ERROR: 'EBUSY' });
      try {
        await helper.load(nodes, flow());
        const p = helper.getNode('p');
        await statusText(p, 'fona-power.status.busy');
        assert.deepEqual(lastStatus(p), ['red', 'ring', 'fona-power.status.busy']);
      } finally {
        undo();
      }
    });

    it('close during a key pulse: finishes at once, the key goes back high, the modem is untouched', async () => {
      fona.setPower(false);
      await helper.load(nodes, flow({ keyPulse: 5 }));
      const p = helper.getNode('p');
      await statusText(p, 'fona-power.status.off');
      p.receive({ payload: 'on' });
      await new Promise((r) => setTimeout(r, 700));
      const t = Date.now();
      await helper.unload();
      assert.ok(Date.now() - t < 3000, `close took ${Date.now() - t} ms`);
      assert.equal(fona.level(24), 1);
      assert.equal(fona.power, 'off');
    });
  });
}

describe('fona-power node without GPIO', () => {
  serverHooks(helper);

  it('no libgpiod tools: registers anyway, grey "not available", each message fails with the reason', async () => {
    const restore = setEnv({ PATH: tempDir('iff-empty-') });
    try {
      await helper.load(nodes, flow());
      const p = helper.getNode('p');
      await statusText(p, 'fona-power.status.unavailable');
      assert.deepEqual(lastStatus(p), ['grey', 'ring', 'fona-power.status.unavailable']);
      assert.deepEqual(logged(p, 'warn'), ['fona-power.errors.unavailable']);
      const caught = sink(helper, 'caught');
      p.receive({ payload: 'on' });
      assert.equal(errorKey(await caught.next()), 'fona-power.errors.unavailable');
    } finally {
      restore();
    }
  });

  it('rpi-gpio chosen on a machine without a base-0 sysfs GPIO: not available', async () => {
    await helper.load(nodes, flow({ driver: 'rpi-gpio' }));
    const p = helper.getNode('p');
    await statusText(p, 'fona-power.status.unavailable');
  });

  it('invalid settings: red ring, logged, messages fail', async () => {
    await helper.load(nodes, flow({ keyPin: 99 }));
    const p = helper.getNode('p');
    assert.deepEqual(lastStatus(p), ['red', 'ring', 'fona-power.status.invalid']);
    assert.deepEqual(logged(p, 'error'), ['fona-power.errors.config']);
    const caught = sink(helper, 'caught');
    p.receive({ payload: 'status' });
    assert.equal(errorKey(await caught.next()), 'fona-power.errors.config');
  });
});
