/**
 * Issue 11: Home Assistant and fleets over MQTT. The example "Home Assistant and fleets over MQTT" runs in a
 * real Node-RED in the lab's device, with Node-RED's own mqtt-broker / mqtt out / mqtt in / status nodes, against
 * Mosquitto UPSTREAM (in the lab's `inet` namespace on 203.0.113.3), the lab's uplinks (eth0 primary probing
 * 203.0.113.1-2, wlan0 backup) and a failover-controller (dryRun false). mosquitto_sub in `inet` is Home
 * Assistant's stand-in: it sees the discovery configs and the state, retained (a late subscriber gets them with
 * the retain flag), the state follow a failover, and the broker's last will (`offline`) once Node-RED is killed
 * with SIGKILL. Needs root (network namespaces) and Debian's mosquitto and mosquitto-clients; skipped without them.
 */
import { test, TestContext, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Driver, FlowItem } from './controller-harness';
import { labRunner } from './lab-runner';
import { Arrival, BACKUP_GATEWAY, missingMqttPackages, MQTT_PORT, RED_SETTINGS, startUpstreamBroker, Subscriber, UpstreamBroker } from './mqtt-lab';
import { NetLab, isRoot, missingTools } from './netlab';
import { waitForDefault } from './service-harness';
import { findExecutable } from '../support/mosquitto';
import { uplinkConfig } from '../support/flows';
import { waitFor } from '../support/wait';

const MOSQUITTO_PUB = findExecutable('mosquitto_pub');
const ROOT = isRoot();
const MISSING = ROOT ? [...missingTools(), ...new Set([...missingMqttPackages(), ...(MOSQUITTO_PUB ? [] : ['mosquitto-clients'])])] : [];
if (!ROOT) console.warn('SKIPPED: the MQTT discovery lab test needs root (network namespaces); CI runs it as root');
else if (MISSING.length > 0) console.warn(`SKIPPED: the MQTT discovery lab test needs ${MISSING.join(', ')} (apt-get install -y mosquitto mosquitto-clients)`);
const runner = labRunner(ROOT, MISSING);

const EXAMPLE_FILE = resolve(__dirname, '../../../examples/failover-controller/05 - Home Assistant and fleets over MQTT.json');
const DEVICE = 'lab-device';
const BASE = `ifacefailover/${DEVICE}`;
const AVAILABILITY = `${BASE}/availability`;

/**
 * The example as shipped, with: the lab's uplinks in place of its two (primary eth0 probing `targets`, wifi wlan0
 * without targets), dry run off, the broker config pointed at the lab's broker with its birth/close/will on this
 * device's availability topic, the device named, and helper nodes after the controller's output 1 (`out1`) and
 * the failover-mqtt node (`to-mqtt`) to see what went where.
 */
function exampleFlow(brokerAddress: string, targets: readonly string[]): FlowItem[] {
  const example = JSON.parse(readFileSync(EXAMPLE_FILE, 'utf8')) as FlowItem[];
  const uplinks = example.filter((n) => n.type === 'uplink');
  const controller = example.find((n) => n.type === 'failover-controller');
  const mqtt = example.find((n) => n.type === 'failover-mqtt');
  const broker = example.find((n) => n.type === 'mqtt-broker');
  const [primary, backup] = uplinks;
  assert.ok(primary && backup && uplinks.length === 2 && controller && mqtt && broker, 'the example has two uplinks, a controller, a failover-mqtt and a broker');
  const tab = String(controller['z']);
  const at = { x: 100, y: 100 };
  const shipped = example.map((n): FlowItem => {
    if (n.id === primary.id) return { ...uplinkConfig(primary.id, 'primary', 'eth0', '192.0.2.1', targets.join(','), { retries: 0 }) };
    if (n.id === backup.id) return { ...uplinkConfig(backup.id, 'wifi', 'wlan0', BACKUP_GATEWAY, '') };
    if (n.id === controller.id) {
      const [first = [], second = []] = controller['wires'] as string[][];
      return { ...n, dryRun: false, wires: [[...first, 'out1'], second] };
    }
    if (n.id === mqtt.id) return { ...n, device: DEVICE, wires: [[...(mqtt['wires'] as string[][])[0], 'to-mqtt']] };
    if (n.id === broker.id) {
      const topics = { birthTopic: AVAILABILITY, closeTopic: AVAILABILITY, willTopic: AVAILABILITY };
      return { ...n, ...topics, broker: brokerAddress, port: String(MQTT_PORT), clientid: `iff-ha-${process.pid}` };
    }
    return n;
  });
  return [{ id: tab, type: 'tab', label: 'example 05' }, ...shipped, { id: 'out1', type: 'helper', z: tab, ...at }, { id: 'to-mqtt', type: 'helper', z: tab, ...at }];
}

const text = (a: Arrival | undefined): string | undefined => (a ? String(a.payload['raw'] ?? JSON.stringify(a.payload)) : undefined);
/** The last arrival on `topic` (after `from`). */
const last = (sub: Subscriber, topic: string, from = 0): Arrival | undefined => sub.arrivals.slice(from).filter((a) => a.topic === topic).at(-1);

/** Waits until the last arrival on `topic` satisfies `check`; returns it. */
function lastSatisfying(sub: Subscriber, topic: string, what: string, check: (a: Arrival) => boolean, timeoutMs = 30_000): Promise<Arrival> {
  return waitFor(
    () => {
      const a = last(sub, topic);
      return a && check(a) ? a : undefined;
    },
    { what: `${what} (on ${topic}: ${JSON.stringify(sub.arrivals.filter((x) => x.topic === topic).map(text))})`, timeoutMs },
  );
}

/**
 * A subscriber to everything that connects now and has received every retained message: the broker delivers
 * them before anything published after the subscription, so a marker published afterwards comes after all of them.
 */
async function lateSubscriber(lab: NetLab, broker: string, name: string): Promise<Subscriber> {
  if (!MOSQUITTO_PUB) throw new Error('mosquitto_pub is not installed (apt-get install -y mosquitto-clients)');
  const sub = await Subscriber.start(lab, broker, '#', name);
  const marker = `iff-test/marker/${name}`;
  await lab.exec('inet', MOSQUITTO_PUB, ['-h', broker, '-p', String(MQTT_PORT), '-q', '1', '-t', marker, '-m', 'end']);
  await waitFor(() => (sub.arrivals.some((a) => a.topic === marker) ? true : undefined), { what: `the marker after the retained messages at ${name}` });
  return sub;
}

after(() => {
  assert.deepEqual(runner.leftNamespaces(), [], 'no lab namespace left behind');
});

test('example 05 against Mosquitto upstream: discovery and state retained, the state follows a failover, offline by the last will after SIGKILL', async (t: TestContext) => {
  await runner.withLab(t, { targets: 3, wlan: true, carrier: false }, async (lab) => {
    const [t1, t2, brokerAddress] = lab.targets;
    assert.ok(t1 && t2 && brokerAddress && MOSQUITTO_PUB, 'a lab with 3 targets, and mosquitto_pub');
    let broker: UpstreamBroker | undefined;
    const subs: Subscriber[] = [];
    let driver: Driver | undefined;
    try {
      broker = await startUpstreamBroker(lab, brokerAddress);
      const live = await Subscriber.start(lab, brokerAddress, '#', 'live');
      subs.push(live);
      driver = new Driver(lab, exampleFlow(brokerAddress, [t1, t2]), { settings: RED_SETTINGS });
      const red = driver;
      try {
        // ---- up on eth0: discovery and state reach the broker -------------------------------------------------
        await waitForDefault(lab, 'eth0');
        await red.event('connected', 'primary');
        await lastSatisfying(live, AVAILABILITY, 'online', (a) => text(a) === 'online');
        await lastSatisfying(live, `${BASE}/active`, 'the active uplink', (a) => text(a) === 'primary');
        await lastSatisfying(live, `${BASE}/uplink/primary`, 'primary up', (a) => a.payload['health'] === 'up' && a.payload['active'] === true && typeof a.payload['rtt'] === 'number');
        // wifi has no targets: announced by the example's status request at the start.
        await lastSatisfying(live, 'homeassistant/binary_sensor/lab-device_wifi/config', 'wifi announced', () => true);
        const events = live.arrivals.filter((a) => a.topic === `${BASE}/event`).map((a) => `${String(a.payload['event'])} ${String(a.payload['uplink'])}`);
        assert.ok(events.includes('connected primary'), `the events reach ${BASE}/event: ${JSON.stringify(events)}`);

        // ---- a late subscriber (Home Assistant starting later) gets everything retained ---------------------------
        const late = await lateSubscriber(lab, brokerAddress, 'late');
        subs.push(late);
        const retained = new Map(late.arrivals.filter((a) => a.retain).map((a) => [a.topic, a]));
        const expected = [
          'homeassistant/sensor/lab-device_active_uplink/config',
          'homeassistant/binary_sensor/lab-device_primary/config',
          'homeassistant/sensor/lab-device_primary_rtt/config',
          'homeassistant/sensor/lab-device_primary_loss/config',
          'homeassistant/binary_sensor/lab-device_wifi/config',
          'homeassistant/sensor/lab-device_wifi_rtt/config',
          'homeassistant/sensor/lab-device_wifi_loss/config',
          AVAILABILITY,
          `${BASE}/active`,
          `${BASE}/uplink/primary`,
          `${BASE}/uplink/wifi`,
        ];
        assert.deepEqual(expected.filter((topic) => !retained.has(topic)), [], `retained at the broker: ${JSON.stringify([...retained.keys()])}`);
        assert.ok(![...retained.keys()].some((topic) => topic.endsWith('/event')), 'events are not retained');
        assert.equal(text(retained.get(AVAILABILITY)), 'online');
        assert.equal(text(retained.get(`${BASE}/active`)), 'primary');
        const binary = retained.get('homeassistant/binary_sensor/lab-device_primary/config')?.payload ?? {};
        assert.equal(binary['device_class'], 'connectivity');
        assert.equal(binary['state_topic'], `${BASE}/uplink/primary`);
        assert.equal(binary['availability_topic'], AVAILABILITY);
        assert.equal(binary['unique_id'], 'ifacefailover_lab-device_primary');
        // Every entity belongs to one device, identified by the device name: many devices group apart in HA.
        const identifiers = expected.filter((topic) => topic.startsWith('homeassistant/')).map((topic) => JSON.stringify((retained.get(topic)?.payload['device'] as Record<string, unknown>)['identifiers']));
        assert.deepEqual([...new Set(identifiers)], [JSON.stringify([`ifacefailover_${DEVICE}`])]);
        assert.equal(retained.get('homeassistant/sensor/lab-device_primary_rtt/config')?.payload['unit_of_measurement'], 'ms');
        assert.equal(retained.get('homeassistant/sensor/lab-device_active_uplink/config')?.payload['state_topic'], `${BASE}/active`);

        // ---- Home Assistant restarts: its birth message (through the example's mqtt in) brings the configs again --
        const beforeBirth = live.arrivals.length;
        await lab.exec('inet', MOSQUITTO_PUB, ['-h', brokerAddress, '-p', String(MQTT_PORT), '-q', '1', '-t', 'homeassistant/status', '-m', 'online']);
        await waitFor(() => (live.arrivals.slice(beforeBirth).some((a) => a.topic === 'homeassistant/binary_sensor/lab-device_primary/config') ? true : undefined), {
          what: 'the discovery configs again after homeassistant/status online',
        });

        // ---- failover: the retained state follows (through the broker connection reopened over wlan0) -----------
        await lab.cutUpstream('eth0');
        await waitForDefault(lab, 'wlan0');
        await lastSatisfying(live, `${BASE}/active`, 'wifi active', (a) => text(a) === 'wifi');
        await lastSatisfying(live, `${BASE}/uplink/primary`, 'primary down', (a) => a.payload['health'] === 'down' && a.payload['active'] === false);
        await lastSatisfying(live, `${BASE}/uplink/wifi`, 'wifi active', (a) => a.payload['active'] === true);
        const afterFailover = await lateSubscriber(lab, brokerAddress, 'after-failover');
        subs.push(afterFailover);
        assert.equal(text(last(afterFailover, `${BASE}/active`)), 'wifi', 'retained: the active uplink after the failover');
        assert.equal(last(afterFailover, `${BASE}/uplink/primary`)?.payload['health'], 'down');

        // ---- SIGKILL: the broker publishes the will ----------------------------------------------------------------
        const before = live.arrivals.length;
        const killed = await red.proc.stop({ signal: 'SIGKILL' });
        assert.equal(killed.signal, 'SIGKILL', 'Node-RED was killed, it did not close');
        const will = await lastSatisfying(live, AVAILABILITY, 'offline by the will', (a) => text(a) === 'offline');
        assert.ok(live.arrivals.indexOf(will) >= before);
        const afterKill = await lateSubscriber(lab, brokerAddress, 'after-kill');
        subs.push(afterKill);
        const availability = last(afterKill, AVAILABILITY);
        assert.equal(text(availability), 'offline', 'retained: offline');
        assert.equal(availability?.retain, true);
      } catch (e) {
        const log = red.proc.output.stdout.split('\n').filter((l) => l.trim() && !l.startsWith('{"kind":'));
        t.diagnostic(`Node-RED log:\n${log.slice(-60).join('\n')}`);
        t.diagnostic(`at the broker: ${JSON.stringify(live.arrivals.map((a) => `${a.topic} ${text(a) ?? ''}`).slice(-80), null, 1)}`);
        t.diagnostic(`broker log:\n${broker.proc.output.stderr.split('\n').slice(-40).join('\n')}`);
        throw e;
      }
    } finally {
      if (driver?.proc.running) await driver.proc.stop({ signal: 'SIGKILL' });
      for (const s of subs) await s.stop();
      await broker?.stop();
    }
  });
});
