/**
 * The controller's messages as MQTT messages (lib/notify/mqtt-discovery.ts): topics per device, retained
 * state when it changes, figures at most every interval, events not retained, Home Assistant discovery once
 * per uplink, everything again on republish.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deviceName, discoveryConfigs, MqttMessage, MqttStateOptions, MqttStatePublisher, topicId } from '../../lib/notify/mqtt-discovery';

const OPTIONS: MqttStateOptions = { prefix: 'ifacefailover', device: 'pi-7', discoveryPrefix: 'homeassistant', metricsIntervalMs: 30_000, version: '0.1.0' };
const T = '2026-11-25T14:44:10.081Z';

function round(uplink: string, iface: string, health: string, rtt: number | null, active: string | null, loss = 0): { topic: string; payload: Record<string, unknown> } {
  return { topic: 'available', payload: { uplink, iface, up: [], down: [], rtt, loss, ok: health !== 'down', health, window: { seconds: 10, sent: 5, loss, rtt }, active } };
}

const topics = (ms: MqttMessage[]): string[] => ms.map((m) => m.topic);
const json = (m: MqttMessage | undefined): Record<string, unknown> => JSON.parse(m?.payload ?? 'null') as Record<string, unknown>;

/** A publisher on a clock the test moves. */
function publisher(options: Partial<MqttStateOptions> = {}): { p: MqttStatePublisher; clock: { now: number } } {
  const clock = { now: 1_000_000 };
  return { p: new MqttStatePublisher({ ...OPTIONS, ...options }, () => clock.now), clock };
}

describe('MQTT state and Home Assistant discovery', () => {
  it('names: a device from the host name, ids without wildcards or spaces', () => {
    assert.equal(deviceName('pi-7.example.org'), 'pi-7');
    assert.equal(deviceName('router'), 'router');
    assert.equal(topicId('fona #2/b+'), 'fona__2_b_');
  });

  it('starts with the active-uplink sensor and online, retained', () => {
    const { p } = publisher();
    const start = p.start();
    assert.deepEqual(topics(start), ['homeassistant/sensor/pi-7_active_uplink/config', 'ifacefailover/pi-7/availability']);
    assert.ok(start.every((m) => m.retain && m.qos === 1));
    assert.equal(start[1]?.payload, 'online');
    const config = json(start[0]);
    assert.equal(config['state_topic'], 'ifacefailover/pi-7/active');
    assert.equal(config['availability_topic'], 'ifacefailover/pi-7/availability');
    assert.equal(config['unique_id'], 'ifacefailover_pi-7_active_uplink');
    assert.deepEqual((config['device'] as Record<string, unknown>)['identifiers'], ['ifacefailover_pi-7']);
  });

  it('a first probe round announces its uplink (binary sensor, rtt, loss) and publishes its state and the active uplink', () => {
    const { p } = publisher();
    const { messages, warnings } = p.accept('available', round('wired', 'eth0', 'up', 12.5, 'wired').payload);
    assert.deepEqual(warnings, []);
    assert.deepEqual(topics(messages), [
      'homeassistant/binary_sensor/pi-7_wired/config',
      'homeassistant/sensor/pi-7_wired_rtt/config',
      'homeassistant/sensor/pi-7_wired_loss/config',
      'ifacefailover/pi-7/active',
      'ifacefailover/pi-7/uplink/wired',
    ]);
    assert.ok(messages.every((m) => m.retain));
    const binary = json(messages[0]);
    assert.equal(binary['device_class'], 'connectivity');
    assert.equal(binary['state_topic'], 'ifacefailover/pi-7/uplink/wired');
    assert.equal(binary['unique_id'], 'ifacefailover_pi-7_wired');
    assert.equal(json(messages[1])['unit_of_measurement'], 'ms');
    assert.equal(messages[3]?.payload, 'wired');
    assert.deepEqual(json(messages[4]), { uplink: 'wired', iface: 'eth0', health: 'up', active: true, rtt: 12.5, loss: 0 });
  });

  it('the same round again publishes nothing; new figures wait for the interval, a health change does not', () => {
    const { p, clock } = publisher();
    p.accept('available', round('wired', 'eth0', 'up', 12.5, 'wired').payload);
    assert.deepEqual(p.accept('available', round('wired', 'eth0', 'up', 12.5, 'wired').payload).messages, []);
    clock.now += 1000;
    assert.deepEqual(p.accept('available', round('wired', 'eth0', 'up', 14, 'wired').payload).messages, [], 'rtt alone, 1 s later: not yet');
    clock.now += 29_000;
    const later = p.accept('available', round('wired', 'eth0', 'up', 15, 'wired').payload).messages;
    assert.deepEqual(topics(later), ['ifacefailover/pi-7/uplink/wired']);
    assert.equal(json(later[0])['rtt'], 15);
    clock.now += 1000;
    const down = p.accept('available', round('wired', 'eth0', 'down', null, 'wired', 1).payload).messages;
    assert.deepEqual(json(down[0]), { uplink: 'wired', iface: 'eth0', health: 'down', active: true, rtt: null, loss: 1 });
  });

  it('events go to .../event, not retained; a failover republishes the active uplink and both uplinks\' roles', () => {
    const { p } = publisher();
    p.accept('available', round('wired', 'eth0', 'up', 12.5, 'wired').payload);
    p.accept('available', round('wifi', 'wlan0', 'up', 30, 'wired').payload);
    const failed = { event: 'connectionFailed', uplink: 'wired', iface: 'eth0', to: 'wifi', active: 'wifi', time: T };
    const { messages } = p.accept('connectionFailed', failed);
    assert.deepEqual(topics(messages), ['ifacefailover/pi-7/event', 'ifacefailover/pi-7/active', 'ifacefailover/pi-7/uplink/wired', 'ifacefailover/pi-7/uplink/wifi']);
    assert.equal(messages[0]?.retain, false);
    assert.equal(messages[0]?.qos, 1);
    assert.deepEqual(json(messages[0]), failed);
    assert.equal(messages[1]?.payload, 'wifi');
    assert.equal(json(messages[2])['active'], false);
    assert.equal(json(messages[3])['active'], true);
    const none = p.accept('noUplink', { event: 'noUplink', uplink: null, iface: null, active: null, time: T }).messages;
    assert.deepEqual(none.filter((m) => m.topic.endsWith('/active')).map((m) => m.payload), ['none']);
  });

  it('the status answer announces every uplink, also one without targets, with its health', () => {
    const { p } = publisher();
    const status = {
      event: 'status',
      uplink: 'wired',
      iface: 'eth0',
      active: 'wired',
      uplinks: [
        { name: 'wired', iface: 'eth0', health: 'up', active: true, lastResult: { rtt: 3, loss: 0 }, window: { seconds: 10, sent: 0, loss: null, rtt: null } },
        { name: 'fona', iface: 'ppp0', health: 'unknown', active: false, lastResult: null, window: { seconds: 10, sent: 0, loss: null, rtt: null } },
      ],
      time: T,
    };
    const { messages } = p.accept('status', status);
    assert.ok(topics(messages).includes('homeassistant/binary_sensor/pi-7_fona/config'));
    assert.ok(!topics(messages).includes('ifacefailover/pi-7/event'), 'a status answer is no event');
    const fona = messages.find((m) => m.topic === 'ifacefailover/pi-7/uplink/fona');
    assert.deepEqual(json(fona), { uplink: 'fona', iface: 'ppp0', health: 'unknown', active: false, rtt: null, loss: null });
    const wired = messages.find((m) => m.topic === 'ifacefailover/pi-7/uplink/wired');
    assert.equal(json(wired)['rtt'], 3, 'without echoes in the window: the last round');
    assert.deepEqual(p.uplinkNames, ['wired', 'fona']);
  });

  it('republish gives discovery, online, the active uplink and every state again', () => {
    const { p } = publisher();
    p.accept('available', round('wired', 'eth0', 'up', 12.5, 'wired').payload);
    const again = topics(p.republish());
    for (const t of ['homeassistant/sensor/pi-7_active_uplink/config', 'ifacefailover/pi-7/availability', 'homeassistant/binary_sensor/pi-7_wired/config', 'ifacefailover/pi-7/active', 'ifacefailover/pi-7/uplink/wired']) {
      assert.ok(again.includes(t), `${t} in ${again.join(', ')}`);
    }
  });

  it('without discovery: state only; two names with one id: the second is left out with one warning', () => {
    const { p } = publisher({ discoveryPrefix: null });
    assert.deepEqual(topics(p.start()), ['ifacefailover/pi-7/availability']);
    assert.deepEqual(topics(p.accept('available', round('my wifi', 'wlan0', 'up', 5, null).payload).messages), ['ifacefailover/pi-7/active', 'ifacefailover/pi-7/uplink/my_wifi']);
    const clash = p.accept('available', round('my_wifi', 'wlan1', 'up', 5, null).payload);
    assert.equal(clash.warnings.length, 1);
    assert.match(clash.warnings[0] ?? '', /same MQTT id "my_wifi"/);
    assert.deepEqual(p.accept('available', round('my_wifi', 'wlan1', 'down', 5, null).payload).warnings, []);
    assert.deepEqual(discoveryConfigs({ ...OPTIONS, discoveryPrefix: null }, 'x'), []);
  });

  it('two devices of a fleet share no topic and no id', () => {
    const seen = (device: string): { topics: string[]; ids: string[] } => {
      const p = new MqttStatePublisher({ ...OPTIONS, device });
      const all = [...p.start(), ...p.accept('available', round('wired', 'eth0', 'up', 1, 'wired').payload).messages];
      const configs = all.filter((m) => m.topic.startsWith('homeassistant/')).map((m) => json(m));
      return { topics: all.map((m) => m.topic), ids: configs.flatMap((c) => [String(c['unique_id']), JSON.stringify((c['device'] as Record<string, unknown>)['identifiers'])]) };
    };
    const a = seen('pi-a');
    const b = seen('pi-b');
    assert.deepEqual(a.topics.filter((t) => b.topics.includes(t)), []);
    assert.deepEqual(a.ids.filter((id) => b.ids.includes(id)), []);
  });

  it('refuses what is not the controller\'s', () => {
    const { p } = publisher();
    assert.throws(() => p.accept('x', 'hello'), /not a message of the failover-controller/);
    assert.throws(() => p.accept('x', { foo: 1 }), /no event/);
  });
});
