/**
 * failover-mqtt in Node-RED: controller messages in, messages for `mqtt out` out (topic, payload, qos, retain);
 * a Status node's broker state holds events while the broker is away and republishes everything when it is
 * back; Home Assistant's birth message republishes; the warning when no mqtt-broker has its will on the
 * availability topic; invalid settings. The messages reaching a real broker are proven in the lab
 * (test/lab/mqtt-discovery.test.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import type { Node } from 'node-red';
import { coreNodes, initHelper, ourNode } from '../support/red-helper';
import { echoingParams, keyOf, lastStatus, logged, Msg, paramsOf, sink } from '../support/node-sink';
import { FlowNode, nodeFlow, serverHooks } from '../support/flows';
import { deviceName } from '../../lib/notify/mqtt-discovery';
import { until } from '../support/wait';

const helper = initHelper();
const nodes = [echoingParams(ourNode('failover-mqtt')), ...coreNodes(['mqtt-broker'])];
const T = '2026-11-25T14:44:10.081Z';

type MqttMsg = Msg & { qos?: number; retain?: boolean };

function flow(props: Record<string, unknown> = {}, configs: FlowNode[] = []): FlowNode[] {
  return nodeFlow({ id: 'm', type: 'failover-mqtt', name: '', prefix: 'ifacefailover', device: 'pi-7', discovery: true, discoveryPrefix: 'homeassistant', metricsInterval: 30, ...props }, ['out'], configs);
}

const available = (uplink: string, health: string, active: string): Record<string, unknown> => ({
  topic: 'available',
  payload: { uplink, iface: 'eth0', up: [], down: [], rtt: 4, loss: 0, ok: true, health, window: { seconds: 10, sent: 3, loss: 0, rtt: 4 }, active },
});
const event = (name: string, uplink: string, active: string): Record<string, unknown> => ({ topic: name, payload: { event: name, uplink, iface: 'eth0', active, time: T } });

const broker = (willTopic: string): FlowNode => ({ id: 'b', type: 'mqtt-broker', name: '', broker: '192.0.2.99', port: '1883', autoConnect: true, willTopic, willPayload: 'offline', willRetain: 'true', willQos: '1' });

describe('failover-mqtt', () => {
  serverHooks(helper);

  it('turns controller messages into retained state, events and discovery for mqtt out; the first news brings online', async () => {
    await helper.load(nodes, flow());
    const out = sink<MqttMsg>(helper, 'out');
    const m = helper.getNode('m');
    m.receive(available('wired', 'up', 'wired'));
    const first = await out.next();
    const topics = [first.topic];
    for (let i = 0; i < 6; i++) topics.push((await out.next()).topic);
    assert.deepEqual(topics, [
      'homeassistant/sensor/pi-7_active_uplink/config',
      'ifacefailover/pi-7/availability',
      'homeassistant/binary_sensor/pi-7_wired/config',
      'homeassistant/sensor/pi-7_wired_rtt/config',
      'homeassistant/sensor/pi-7_wired_loss/config',
      'ifacefailover/pi-7/active',
      'ifacefailover/pi-7/uplink/wired',
    ]);
    assert.equal(first.retain, true);
    assert.equal(first.qos, 1);
    assert.equal(typeof first.payload, 'string', 'payloads are text: mqtt out publishes them as they are');
    m.receive(event('connected', 'wired', 'wired'));
    const ev = await out.next();
    assert.deepEqual([ev.topic, ev.retain, JSON.parse(String(ev.payload)).event], ['ifacefailover/pi-7/event', false, 'connected']);
    await until(() => lastStatus(m as Node)[0] === 'green');
    assert.equal(keyOf(lastStatus(m as Node)[2]), 'failover-mqtt.status.publishing');
    assert.deepEqual(paramsOf(lastStatus(m as Node)[2]), { topic: 'ifacefailover/pi-7', uplinks: 1 });
  });

  it('while the Status node says the broker is away events wait; when it is back everything goes out again, then the events', async () => {
    await helper.load(nodes, flow());
    const out = sink<MqttMsg>(helper, 'out');
    const m = helper.getNode('m');
    m.receive(available('wired', 'up', 'wired'));
    await until(() => out.msgs.length === 7, { what: 'the first batch' });
    m.receive({ status: { fill: 'red', shape: 'ring', text: 'node-red:common.status.disconnected' } });
    await until(() => lastStatus(m as Node)[0] === 'yellow', { what: 'the held badge' });
    m.receive(event('connectionFailed', 'wired', 'wifi'));
    m.receive(event('connected', 'wifi', 'wifi'));
    await until(() => paramsOf(lastStatus(m as Node)[2])['held'] === 2, { what: 'two events held' });
    assert.equal(out.msgs.length, 7, 'nothing went to mqtt out while the broker was away');
    m.receive({ status: { fill: 'green', shape: 'dot', text: 'node-red:common.status.connected' } });
    await until(() => out.msgs.some((x) => x.topic === 'ifacefailover/pi-7/event'), { what: 'the held events' });
    const again = out.msgs.slice(7);
    const topics = again.map((x) => x.topic);
    for (const t of ['ifacefailover/pi-7/availability', 'homeassistant/binary_sensor/pi-7_wired/config', 'homeassistant/binary_sensor/pi-7_wifi/config', 'ifacefailover/pi-7/uplink/wifi']) {
      assert.ok(topics.includes(t), `${t} republished: ${topics.join(', ')}`);
    }
    assert.equal(again.find((x) => x.topic === 'ifacefailover/pi-7/active')?.payload, 'wifi');
    const events = again.filter((x) => x.topic === 'ifacefailover/pi-7/event').map((x) => (JSON.parse(String(x.payload)) as { event: string }).event);
    assert.deepEqual(events, ['connectionFailed', 'connected'], 'the held events, in order, after the state');
    assert.ok(topics.indexOf('ifacefailover/pi-7/event') > topics.indexOf('ifacefailover/pi-7/uplink/wifi'));
    assert.equal(lastStatus(m as Node)[0], 'green');
  });

  it("Home Assistant's birth message (homeassistant/status online) republishes the discovery configs", async () => {
    await helper.load(nodes, flow());
    const out = sink<MqttMsg>(helper, 'out');
    const m = helper.getNode('m');
    m.receive(available('wired', 'up', 'wired'));
    await until(() => out.msgs.length === 7);
    m.receive({ topic: 'homeassistant/status', payload: 'offline' });
    m.receive({ topic: 'homeassistant/status', payload: 'online' });
    await until(() => out.msgs.length > 7, { what: 'the discovery configs again' });
    assert.ok(out.msgs.slice(7).some((x) => x.topic === 'homeassistant/binary_sensor/pi-7_wired/config'));
  });

  it('the device defaults to the host name; discovery off sends state only', async () => {
    await helper.load(nodes, flow({ device: '', discovery: false }));
    const out = sink<MqttMsg>(helper, 'out');
    helper.getNode('m').receive(available('wired', 'up', 'wired'));
    await until(() => out.msgs.length === 3);
    const device = deviceName(hostname());
    assert.deepEqual(
      out.msgs.map((x) => x.topic),
      [`ifacefailover/${device}/availability`, `ifacefailover/${device}/active`, `ifacefailover/${device}/uplink/wired`],
    );
  });

  it('warns at deploy when no mqtt-broker has its last will on the availability topic, not when one has', async () => {
    await helper.load(nodes, flow({}, [broker('ifacefailover/other/availability')]));
    const warned = logged(helper.getNode('m') as Node, 'warn');
    assert.deepEqual(warned.map(keyOf), ['failover-mqtt.errors.noWill']);
    assert.deepEqual(paramsOf(warned[0]), { topic: 'ifacefailover/pi-7/availability' });
    await helper.unload();
    await helper.load(nodes, flow({}, [broker('ifacefailover/pi-7/availability')]));
    assert.deepEqual(logged(helper.getNode('m') as Node, 'warn'), []);
  });

  it('refuses invalid settings with a red ring, and each message fails with the reason', async () => {
    await helper.load(nodes, flow({ prefix: 'a/#', device: 'pi 7', metricsInterval: -1 }));
    const m = helper.getNode('m') as Node;
    assert.deepEqual(lastStatus(m).slice(0, 2), ['red', 'ring']);
    const errors = logged(m, 'error');
    assert.equal(keyOf(errors[0]), 'failover-mqtt.errors.config');
    const problem = String(paramsOf(errors[0])['problem']);
    for (const field of ['prefix', 'device', 'metricsInterval']) assert.match(problem, new RegExp(field));
    const caught = sink<Msg>(helper, 'caught');
    m.receive(available('wired', 'up', 'wired'));
    assert.equal(keyOf((await caught.next()).error?.message), 'failover-mqtt.errors.config');
  });

  it('a message that is not the controller\'s fails (to a Catch node) and publishes nothing', async () => {
    await helper.load(nodes, flow());
    const out = sink<MqttMsg>(helper, 'out');
    const caught = sink<Msg>(helper, 'caught');
    helper.getNode('m').receive({ topic: 'x', payload: 'hello' });
    assert.match(String((await caught.next()).error?.message), /not a message of the failover-controller/);
    assert.equal(out.msgs.length, 0);
  });
});
