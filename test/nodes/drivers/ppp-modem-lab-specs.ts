/**
 * ppp-control with a modem, driven by the failover controller's setup/teardown, against a real ppp0. Run inside
 * the network lab's device namespace by test/nodes/ppp-modem.test.ts, with the fake modem daemon there and the
 * fakes first on PATH: `pon fona` makes a real TUN ppp0 appear, `poff` removes it, and the fake FONA's GPIO
 * lines (gpioget/gpioset) switch the modem. The daemon is started with FAKE_MODEM_POWER_FILE, so it behaves
 * like a real modem: a dial while the FONA is off is never answered, and powering it off drops the link.
 * That makes the order observable: dialling before power-on never comes up; powering off before hanging up
 * loses the link by itself (output 2 "link-lost") and leaves poff with nothing to stop.
 *
 * Environment (set by the parent): PATH with test/fakes/bin first, FAKE_PPP_DIR, FAKE_GPIO_DIR.
 */
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestFlowsItem } from 'node-red-node-test-helper';
import { coreNodes, initHelper, ourNode } from '../../support/red-helper';
import { Msg, sink, statusText } from '../../support/node-sink';
import { FakeFona, FakeModem, runningFakes } from '../../fakes/fake-tools';
import { until } from '../../support/wait';

const helper = initHelper();
const nodes = [ourNode('ppp-control'), ...coreNodes(['catch'])];
type FlowNode = TestFlowsItem & Record<string, unknown>;
const modem = new FakeModem(process.env.FAKE_PPP_DIR ?? '');
const fona = new FakeFona(process.env.FAKE_GPIO_DIR ?? '');
const PPP0 = '/sys/class/net/ppp0';

function flow(props: Record<string, unknown> = {}): FlowNode[] {
  const control = {
    id: 'c', z: 'f1', type: 'ppp-control', name: '', peer: 'fona', iface: 'ppp0', upTimeout: 10, redial: false, redialDelay: 1, dialer: 'pon',
    startCommand: '', stopCommand: '', modem: 'fona', powerStatusPin: 23, keyPin: 24, driver: 'libgpiod', gpiochip: 'gpiochip0', keyPulse: 1.6, statusTimeout: 3,
  };
  return [
    { id: 'f1', type: 'tab', label: 'test' },
    { ...control, wires: [['up'], ['down']], ...props },
    { id: 'up', z: 'f1', type: 'helper' },
    { id: 'down', z: 'f1', type: 'helper' },
    { id: 'catcher', z: 'f1', type: 'catch', scope: ['c'], uncaught: false, wires: [['caught']] },
    { id: 'caught', z: 'f1', type: 'helper' },
  ];
}

/** What the failover controller's first output sends for an uplink on ppp0. */
const event = (type: string, iface = 'ppp0'): Record<string, unknown> => ({
  topic: type,
  payload: { event: type, uplink: 'fona', iface, active: 'primary', time: new Date().toISOString() },
});

const UP = { state: 'up', iface: 'ppp0', peer: 'fona', address: '198.51.100.2', cidr: '198.51.100.2/30' };
const power = (on: boolean, changed = true): Record<string, unknown> => ({ state: 'power', power: on ? 'on' : 'off', changed, driver: 'libgpiod', iface: 'ppp0', peer: 'fona' });
const topics = (msgs: Msg[]): string[] => msgs.map((m) => `${String(m.topic)} ${String(m.payload.power ?? m.payload.reason ?? m.payload.state)}`);
/** Each spec starts with empty logs (the fakes append to them). */
function clearLogs(): void {
  for (const file of [join(modem.dir, 'calls.log'), join(modem.dir, 'modem.log'), join(fona.dir, 'calls.log'), join(fona.dir, 'fona.log')]) writeFileSync(file, '');
}

/** The fake modem's log lines that mean the order was wrong. */
const outOfOrder = (): string[] => modem.log().filter((l) => /unanswered|powered off/.test(l));

describe('ppp-control with a modem, setup/teardown (lab, fake FONA, fake pon/poff)', () => {
  if (!process.env.FAKE_PPP_DIR || !process.env.FAKE_GPIO_DIR) throw new Error('run by test/nodes/ppp-modem.test.ts inside the lab');
  before(async () => {
    await helper.startServer();
    clearLogs();
  });
  afterEach(async () => {
    await helper.unload();
    modem.setDelay(500);
    assert.deepEqual(runningFakes('gpioset', fona.dir), [], 'no gpioset left running');
    if (modem.pid('fona') !== null || existsSync(PPP0)) await modem.request('hangup fona');
    fona.setPower(false);
    clearLogs();
  });
  after(async () => {
    await helper.stopServer();
  });

  it('setup powers the modem on, then dials; teardown hangs up, then powers it off; each step a message', async () => {
    fona.setPower(false);
    modem.setDelay(500);
    await helper.load(nodes, flow());
    const c = helper.getNode('c');
    await statusText(c, 'ppp-control.status.down');
    const up = sink(helper, 'up');
    const down = sink(helper, 'down');
    const caught = sink(helper, 'caught');
    c.receive(event('setup'));
    await statusText(c, 'ppp-control.status.poweringOn');
    const on = await up.next(10_000);
    assert.deepEqual([on.topic, on.payload], ['power', power(true)]);
    const dialled = await up.next(15_000);
    assert.deepEqual([dialled.topic, dialled.payload], ['up', UP]);
    assert.ok(existsSync(PPP0));
    assert.equal(fona.power, 'on');
    assert.deepEqual(modem.calls(), ['pon fona']);

    c.receive(event('teardown'));
    const hungUp = await down.next(10_000);
    assert.deepEqual([hungUp.topic, hungUp.payload.reason], ['down', 'stopped'], 'hung up while the modem was on (not link-lost)');
    assert.ok(!existsSync(PPP0));
    const off = await down.next(10_000);
    assert.deepEqual([off.topic, off.payload], ['power', power(false)]);
    await statusText(c, 'ppp-control.status.modemOff');
    assert.equal(fona.power, 'off');
    assert.deepEqual(modem.calls(), ['pon fona', 'poff fona']);
    assert.deepEqual(outOfOrder(), [], 'never dialled while off, never powered off while up');
    assert.deepEqual([topics(up.msgs), topics(down.msgs), caught.msgs.length], [['power on', 'up up'], ['down stopped', 'power off'], 0]);
  });

  it('other uplinks and other events are ignored; a second setup answers without dialling or pulsing again', async () => {
    fona.setPower(false);
    await helper.load(nodes, flow());
    const c = helper.getNode('c');
    const up = sink(helper, 'up');
    const down = sink(helper, 'down');
    const caught = sink(helper, 'caught');
    c.receive(event('setup', 'wwan0'));
    c.receive(event('connectionFailed'));
    c.receive({ topic: 'available', payload: { uplink: 'fona', iface: 'ppp0', ok: true } });
    c.receive(event('setup'));
    await up.next(10_000);
    await up.next(15_000);
    const pulses = fona.pulses().length;
    c.receive(event('setup'));
    assert.deepEqual((await up.next(5000)).payload, power(true, false));
    assert.deepEqual((await up.next(5000)).payload, UP);
    assert.equal(fona.pulses().length, pulses, 'no second key pulse');
    assert.deepEqual(modem.calls(), ['pon fona'], 'no second dial');
    assert.deepEqual([down.msgs.length, caught.msgs.length], [0, 0]);
  });

  it('a teardown while it dials: the dial is cancelled (poff), ppp0 never stays, the modem is powered off', async () => {
    fona.setPower(false);
    modem.setDelay(4000);
    await helper.load(nodes, flow());
    const c = helper.getNode('c');
    const up = sink(helper, 'up');
    const down = sink(helper, 'down');
    c.receive(event('setup'));
    assert.equal((await up.next(10_000)).topic, 'power');
    await statusText(c, 'ppp-control.status.dialing');
    await until(() => modem.calls().includes('pon fona'), { what: 'pon fona', timeoutMs: 5000 });
    c.receive(event('teardown'));
    assert.deepEqual(topics([await down.next(10_000), await down.next(10_000)]), ['down stopped', 'power off']);
    assert.deepEqual(modem.calls(), ['pon fona', 'poff fona']);
    assert.equal(modem.pid('fona'), null, 'no session left at the modem');
    assert.ok(!existsSync(PPP0));
    assert.equal(fona.power, 'off');
    assert.deepEqual(topics(up.msgs), ['power on'], 'never up');
  });

  it('a redeploy while it dials undoes the setup: hung up, modem off, nothing left running', async () => {
    fona.setPower(false);
    modem.setDelay(4000);
    await helper.load(nodes, flow());
    const c = helper.getNode('c');
    const up = sink(helper, 'up');
    c.receive(event('setup'));
    await up.next(10_000);
    await until(() => modem.calls().includes('pon fona'), { what: 'pon fona', timeoutMs: 5000 });
    await helper.setFlows(flow({ name: 'renamed' }), 'nodes');
    assert.deepEqual(modem.calls(), ['pon fona', 'poff fona']);
    assert.equal(modem.pid('fona'), null);
    assert.equal(fona.power, 'off', 'the modem is off once the redeploy is done');
    assert.ok(!existsSync(PPP0));
    await statusText(helper.getNode('c'), 'ppp-control.status.down');
  });

  it('a redeploy while up keeps the link and the modem; the new node takes them over and tears them down in order', async () => {
    fona.setPower(false);
    await helper.load(nodes, flow());
    const c = helper.getNode('c');
    const up = sink(helper, 'up');
    c.receive(event('setup'));
    await up.next(10_000);
    await up.next(15_000);
    await helper.setFlows(flow({ name: 'renamed' }), 'nodes');
    assert.ok(existsSync(PPP0), 'the link survived the redeploy');
    assert.equal(fona.power, 'on');
    const c2 = helper.getNode('c');
    await statusText(c2, 'ppp-control.status.present');
    const down = sink(helper, 'down');
    c2.receive(event('teardown'));
    assert.deepEqual(topics([await down.next(10_000), await down.next(10_000)]), ['down stopped', 'power off']);
    assert.deepEqual(modem.calls(), ['pon fona', 'poff fona']);
    assert.equal(fona.power, 'off');
    assert.deepEqual(outOfOrder(), []);
  });
});
