/**
 * ppp-control specs that need a real interface. They run inside the network lab's device namespace, started
 * by test/nodes/ppp-control.test.ts (`ip netns exec <lab>dut node --test-reporter=spec this-file`), with the
 * fake modem daemon running there and the fakes first on PATH: `pon fona` makes a real TUN ppp0 appear (socat
 * over the lab's wwan0), `poff` removes it, and the node's real LinkWatch and PppLink supervise it.
 *
 * Environment (set by the parent): PATH with test/fakes/bin first, FAKE_PPP_DIR (the fake modem's directory).
 */
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { TestFlowsItem } from 'node-red-node-test-helper';
import { coreNodes, initHelper, ourNode } from '../../support/red-helper';
import { Msg, lastStatus, sink, statusText } from '../../support/node-sink';
import { FakeModem } from '../../fakes/fake-tools';
import { until } from '../../support/wait';

const helper = initHelper();
const nodes = [ourNode('ppp-control'), ...coreNodes(['catch', 'complete'])];
type FlowNode = TestFlowsItem & Record<string, unknown>;
const modem = new FakeModem(process.env.FAKE_PPP_DIR ?? '');
const PPP0 = '/sys/class/net/ppp0';

function flow(props: Record<string, unknown> = {}): FlowNode[] {
  return [
    { id: 'f1', type: 'tab', label: 'test' },
    { id: 'c', z: 'f1', type: 'ppp-control', name: '', peer: 'fona', iface: 'ppp0', upTimeout: 10, redial: false, redialDelay: 1, dialer: 'pon', startCommand: '', stopCommand: '', wires: [['up'], ['down']], ...props },
    { id: 'up', z: 'f1', type: 'helper' },
    { id: 'down', z: 'f1', type: 'helper' },
    { id: 'catcher', z: 'f1', type: 'catch', scope: ['c'], uncaught: false, wires: [['caught']] },
    { id: 'caught', z: 'f1', type: 'helper' },
  ];
}


const UP = { state: 'up', iface: 'ppp0', peer: 'fona', address: '198.51.100.2', cidr: '198.51.100.2/30' };

describe('ppp-control with a real ppp0 (lab, fake pon/poff)', () => {
  if (!process.env.FAKE_PPP_DIR) throw new Error('run by test/nodes/ppp-control.test.ts inside the lab');
  before(async () => {
    await helper.startServer();
  });
  afterEach(async () => {
    await helper.unload();
    modem.setMode('up');
    modem.setDelay(500);
    // Nothing may be left dialled between specs.
    if (modem.pid('fona') !== null || existsSync(PPP0)) await modem.request('hangup fona');
  });
  after(async () => {
    await helper.stopServer();
  });

  it('start: ppp0 comes up with its address on output 1; a second start answers at once without dialling', async () => {
    modem.setDelay(500);
    await helper.load(nodes, flow());
    const c = helper.getNode('c');
    await statusText(c, 'ppp-control.status.down');
    const up = sink(helper, 'up');
    c.receive({ payload: 'start', keep: 'me' });
    await statusText(c, 'ppp-control.status.dialing');
    const m = await up.next(10_000);
    assert.deepEqual(m.payload, UP);
    assert.equal(m.topic, 'up');
    assert.equal(m.keep, 'me');
    assert.ok(existsSync(PPP0));
    assert.deepEqual(lastStatus(c), ['green', 'dot', 'ppp-control.status.up']);
    const dials = modem.calls().filter((l) => l === 'pon fona').length;
    c.receive({ payload: 'start' });
    assert.deepEqual((await up.next(1000)).payload, UP);
    assert.equal(modem.calls().filter((l) => l === 'pon fona').length, dials, 'no second dial');
    c.receive({ payload: 'status' });
    assert.deepEqual((await up.next(1000)).payload, { ...UP, cidr: null });
  });

  it('the link drops by itself (the modem hangs up): output 2 "link-lost" at once, red ring', async () => {
    await helper.load(nodes, flow());
    const c = helper.getNode('c');
    const up = sink(helper, 'up');
    const down = sink(helper, 'down');
    c.receive({ payload: 'start' });
    await up.next(10_000);
    assert.equal(await modem.request('drop fona'), 'OK');
    const t = Date.now();
    const m: Msg = await down.next(3000);
    assert.ok(Date.now() - t < 1500, `reported ${Date.now() - t} ms after ppp0 vanished`);
    assert.equal(m.payload.reason, 'link-lost');
    assert.equal(m.payload.redialIn, null);
    assert.deepEqual(lastStatus(c), ['red', 'ring', 'ppp-control.status.link-lost']);
  });

  it('redial: dialled again after the delay and up again on output 1', async () => {
    await helper.load(nodes, flow({ redial: true, redialDelay: 1 }));
    const c = helper.getNode('c');
    const up = sink(helper, 'up');
    const down = sink(helper, 'down');
    c.receive({ payload: 'start' });
    await up.next(10_000);
    await modem.request('drop fona');
    const m = await down.next(3000);
    assert.deepEqual([m.payload.reason, m.payload.redialIn], ['link-lost', 1]);
    assert.deepEqual(lastStatus(c), ['yellow', 'ring', 'ppp-control.status.redialWait']);
    assert.deepEqual((await up.next(10_000)).payload, UP);
    c.receive({ payload: 'stop' });
    assert.equal((await down.next(10_000)).payload.reason, 'stopped');
  });

  it('stop hangs up: output 2 "stopped" once ppp0 is gone; a second stop answers the same without poff', async () => {
    await helper.load(nodes, flow());
    const c = helper.getNode('c');
    const up = sink(helper, 'up');
    const down = sink(helper, 'down');
    c.receive({ payload: 'start' });
    await up.next(10_000);
    c.receive({ payload: 'stop' });
    const m = await down.next(10_000);
    assert.equal(m.payload.reason, 'stopped');
    assert.equal(m.topic, 'down');
    assert.ok(!existsSync(PPP0), 'ppp0 is gone when stop answers');
    assert.deepEqual(lastStatus(c), ['grey', 'ring', 'ppp-control.status.down']);
    const poffs = modem.calls().filter((l) => l === 'poff fona').length;
    c.receive({ payload: 'stop' });
    assert.equal((await down.next(3000)).payload.reason, 'stopped');
    assert.equal(modem.calls().filter((l) => l === 'poff fona').length, poffs);
    assert.equal(down.msgs.length, 2, 'one answer per stop, no extra event');
  });

  it('ppp0 never comes up: bounded wait, output 2 "timeout", hung up; not an error for Catch', async () => {
    modem.setMode('never');
    await helper.load(nodes, flow({ upTimeout: 2 }));
    const c = helper.getNode('c');
    const down = sink(helper, 'down');
    const caught = sink(helper, 'caught');
    const t = Date.now();
    c.receive({ payload: 'start' });
    const m = await down.next(8000);
    assert.ok(Date.now() - t >= 1900);
    assert.equal(m.payload.reason, 'timeout');
    assert.match(String(m.payload.message), /ppp0 did not come up within 2 s after pon fona/);
    assert.deepEqual(modem.calls().slice(-2), ['pon fona', 'poff fona']);
    assert.deepEqual(lastStatus(c), ['red', 'ring', 'ppp-control.status.timeout']);
    assert.equal(caught.msgs.length, 0);
  });

  it('a redeploy leaves a pon link up and the new node takes it over; deleting the node hangs up', async () => {
    await helper.load(nodes, flow());
    let c = helper.getNode('c');
    const up = sink(helper, 'up');
    c.receive({ payload: 'start' });
    await up.next(10_000);
    const dials = modem.calls().filter((l) => l === 'pon fona').length;
    // Modified node: closed with removed=false, started again.
    await helper.setFlows(flow({ name: 'renamed' }), 'nodes');
    assert.ok(existsSync(PPP0), 'the link survived the redeploy');
    c = helper.getNode('c');
    await statusText(c, 'ppp-control.status.present');
    const up2 = sink(helper, 'up');
    c.receive({ payload: 'start' });
    assert.deepEqual((await up2.next(5000)).payload, UP);
    assert.equal(modem.calls().filter((l) => l === 'pon fona').length, dials, 'adopted, not dialled again');
    // Deleted node: closed with removed=true, hangs up.
    await helper.setFlows(flow().filter((n) => n.id !== 'c'), 'nodes');
    await until(() => !existsSync(PPP0), { what: 'ppp0 to vanish after the node was deleted', timeoutMs: 5000 });
    assert.equal(modem.calls().at(-1), 'poff fona');
  });

  it('pppd dialer: pppd is the node\'s child; its end is reported, and a redeploy stops it', async () => {
    await helper.load(nodes, flow({ dialer: 'pppd' }));
    const c = helper.getNode('c');
    const up = sink(helper, 'up');
    const down = sink(helper, 'down');
    c.receive({ payload: 'start' });
    assert.deepEqual((await up.next(10_000)).payload, UP);
    assert.deepEqual(modem.calls().slice(-1), ['pppd call fona nodetach']);
    const socat = modem.pid('fona');
    assert.ok(socat);
    process.kill(socat, 'SIGTERM');
    const m = await down.next(3000);
    assert.ok(['link-lost', 'pppd-exited'].includes(String(m.payload.reason)), String(m.payload.reason));
    c.receive({ payload: 'start' });
    await up.next(10_000);
    await helper.setFlows(flow({ dialer: 'pppd', name: 'x' }), 'nodes');
    await until(() => !existsSync(PPP0), { what: 'ppp0 to vanish with its pppd', timeoutMs: 5000 });
  });
});
