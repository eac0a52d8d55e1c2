/**
 * The example "Notify by MQTT and e-mail" against a real MQTT broker: Mosquitto (Debian package
 * `mosquitto`), started by the test on a free port bound to 127.0.0.1 and stopped afterwards. The
 * controller and its uplinks are left out: controller-like messages are fed into the nodes its outputs
 * are wired to, and a subscriber (the `mqtt` client Node-RED's own MQTT nodes use, resolved from
 * @node-red/nodes, so no dependency is added) checks what reaches the broker.
 * Without mosquitto the tests are skipped with a warning. Runs with Node-RED 4 and again with Node-RED 5.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { coreNodes, initHelper, redRuntime } from '../support/red-helper';
import type { FlowNode } from '../support/flow-check';
import { findMosquitto } from '../support/mosquitto';
import { until } from '../support/wait';
import { freePort } from '../support/ports';

const helper = initHelper();
const EXAMPLE = resolve(__dirname, '../../../examples/failover-controller/02 - Notify by MQTT and e-mail.json');
const example = JSON.parse(readFileSync(EXAMPLE, 'utf8')) as FlowNode[];

const MOSQUITTO = findMosquitto();
if (!MOSQUITTO) console.warn('SKIPPED: the MQTT example tests need the mosquitto broker (apt-get install -y mosquitto; .ci/run installs it)');

// ---- the mqtt client Node-RED's MQTT nodes use ------------------------------------------------------

interface MqttPacket {
  retain: boolean;
}
interface MqttClient {
  on(event: 'message', listener: (topic: string, payload: Buffer, packet: MqttPacket) => void): MqttClient;
  on(event: 'connect', listener: () => void): MqttClient;
  on(event: 'error', listener: (err: Error) => void): MqttClient;
  subscribe(topic: string, options: { qos: 0 | 1 | 2 }, callback: (err: Error | null) => void): MqttClient;
  end(force: boolean, options: object, callback: () => void): MqttClient;
}
interface MqttModule {
  connect(url: string, options: { clientId: string; reconnectPeriod: number; connectTimeout: number }): MqttClient;
}

/** `mqtt` as @node-red/nodes of the runtime under test depends on it. */
function mqttModule(): MqttModule {
  return createRequire(join(redRuntime().coreNodesDir, 'package.json'))('mqtt') as MqttModule;
}

interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

async function subscriber(port: number, topic: string, name: string): Promise<{ got: Received[]; close: () => Promise<void> }> {
  const client = mqttModule().connect(`mqtt://127.0.0.1:${port}`, { clientId: `iff-test-${name}-${process.pid}`, reconnectPeriod: 200, connectTimeout: 5000 });
  const got: Received[] = [];
  client.on('message', (t, payload, packet) => got.push({ topic: t, payload: payload.toString('utf8'), retain: packet.retain }));
  await new Promise<void>((resolveConnect, reject) => {
    client.on('connect', () => client.subscribe(topic, { qos: 1 }, (err) => (err ? reject(err) : resolveConnect())));
  });
  return { got, close: () => new Promise<void>((r) => client.end(true, {}, () => r())) };
}

// ---- the broker ---------------------------------------------------------------------------------------


interface Broker {
  port: number;
  stop(): Promise<void>;
}

async function startMosquitto(bin: string): Promise<Broker> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'iff-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n`);
  const proc: ChildProcess = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  await new Promise<void>((ready, reject) => {
    const timer = setTimeout(() => reject(new Error(`mosquitto did not start within 10 s:\n${log}`)), 10_000);
    proc.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`mosquitto exited (${String(code)}):\n${log}`));
    });
    proc.stderr?.on('data', (d: Buffer) => {
      log += String(d);
      if (/Opening ipv4 listen socket on port/.test(log) && /running/.test(log)) {
        clearTimeout(timer);
        ready();
      }
    });
  });
  return {
    port,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(killer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- the flow -----------------------------------------------------------------------------------------

const controller = example.find((n) => n.type === 'failover-controller');
const broker = example.find((n) => n.type === 'mqtt-broker');
const mailPreview = example.find((n) => n.type === 'debug' && n.name === 'e-mail (preview)');

/**
 * The example without the controller and the uplinks, the broker config pointed at the test's broker,
 * and the e-mail preview (a debug node) replaced by a helper node, to read the mail it would send.
 */
function testFlow(port: number): FlowNode[] {
  const nodes = example
    .filter((n) => n.type !== 'failover-controller' && n.type !== 'uplink')
    .map((n) => {
      const copy = JSON.parse(JSON.stringify(n)) as FlowNode;
      if (copy.type === 'mqtt-broker') {
        copy.broker = '127.0.0.1';
        copy.port = String(port);
        copy.clientid = `iff-example-${process.pid}`;
      }
      if (copy.id === mailPreview?.id) return { id: copy.id, type: 'helper', z: copy.z, x: copy.x, y: copy.y, wires: [] };
      return copy;
    });
  const tab = controller?.z ?? 'tab';
  return [{ id: tab, type: 'tab', label: 'example 02' }, ...nodes];
}

const T = '2026-11-25T14:44:10.081Z';
const EVENTS = [
  { topic: 'connectionFailed', payload: { event: 'connectionFailed', uplink: 'wired', iface: 'eth0', to: 'wifi', active: 'wifi', time: T } },
  { topic: 'connected', payload: { event: 'connected', uplink: 'wifi', iface: 'wlan0', from: 'wired', active: 'wifi', time: T } },
  { topic: 'connectionRestored', payload: { event: 'connectionRestored', uplink: 'wired', iface: 'eth0', from: 'wifi', duration: 52000, active: 'wired', time: T } },
];
const AVAILABLE = [
  { topic: 'available', payload: { uplink: 'wired', iface: 'eth0', up: [], down: ['198.51.100.10', '203.0.113.10'], rtt: null, loss: 1, ok: false, health: 'down', active: 'wifi' } },
  { topic: 'available', payload: { uplink: 'wired', iface: 'eth0', up: ['198.51.100.10', '203.0.113.10'], down: [], rtt: 12.5, loss: 0, ok: true, health: 'up', active: 'wired' } },
];

/** Feeds a message into every node the controller's output `port` (0 or 1) is wired to. */
function emit(port: 0 | 1, msg: { topic: string; payload: Record<string, unknown> }): void {
  for (const id of controller?.wires?.[port] ?? []) helper.getNode(id).receive(JSON.parse(JSON.stringify(msg)) as Record<string, unknown>);
}


describe('example 02: notify by MQTT (a real Mosquitto broker) and e-mail', { skip: MOSQUITTO ? false : 'mosquitto is not installed' }, () => {
  let mosquitto: Broker;

  before(async () => {
    mosquitto = await startMosquitto(MOSQUITTO ?? 'mosquitto');
    await helper.startServer();
  });
  after(async () => {
    await helper.unload();
    await helper.stopServer();
    await mosquitto?.stop();
  });

  it('publishes every event to ifacefailover/events and probe results to ifacefailover/available (retained), and writes the e-mail', async () => {
    assert.ok(controller && broker && mailPreview, 'the example has a controller, a broker and the e-mail preview');
    const live = await subscriber(mosquitto.port, 'ifacefailover/#', 'live');
    try {
      const flow = testFlow(mosquitto.port);
      const types = [...new Set(flow.map((n) => n.type).filter((t) => t !== 'tab' && t !== 'helper'))];
      await helper.load(coreNodes(types), flow as unknown as Parameters<typeof helper.load>[1]);
      const brokerNode = helper.getNode(broker.id) as unknown as { connected?: boolean };
      await until(() => brokerNode.connected === true, { what: 'the example to connect to the broker' });
      const mails: Record<string, unknown>[] = [];
      helper.getNode(mailPreview.id).on('input', (m: Record<string, unknown>) => mails.push(m));

      for (const e of EVENTS) emit(0, e);
      emit(0, { topic: 'health', payload: { event: 'health', uplink: 'wired', iface: 'eth0', health: 'down', active: 'wifi', time: T } });
      for (const a of AVAILABLE) emit(1, a);

      await until(() => live.got.length >= EVENTS.length + 1 + AVAILABLE.length, { what: 'all messages at the subscriber' });
      const events = live.got.filter((g) => g.topic === 'ifacefailover/events');
      assert.deepEqual(
        events.map((g) => JSON.parse(g.payload) as unknown),
        [...EVENTS.map((e) => e.payload), { event: 'health', uplink: 'wired', iface: 'eth0', health: 'down', active: 'wifi', time: T }],
        'every event, as JSON, in order',
      );
      const available = live.got.filter((g) => g.topic === 'ifacefailover/available');
      assert.deepEqual(
        available.map((g) => JSON.parse(g.payload) as unknown),
        AVAILABLE.map((a) => a.payload),
      );
      assert.deepEqual(
        live.got.map((g) => g.topic).filter((t) => t !== 'ifacefailover/events' && t !== 'ifacefailover/available'),
        [],
        'nothing on other topics',
      );

      // Probe results are retained: a dashboard that connects later sees the last one at once.
      const late = await subscriber(mosquitto.port, 'ifacefailover/available', 'late');
      try {
        await until(() => late.got.length >= 1, { what: 'the retained probe result' });
        assert.equal(late.got.length, 1);
        assert.equal(late.got[0].retain, true);
        assert.deepEqual(JSON.parse(late.got[0].payload), AVAILABLE[1].payload);
      } finally {
        await late.close();
      }
      // Events are not retained: a late subscriber does not get an old failover as news.
      const lateEvents = await subscriber(mosquitto.port, 'ifacefailover/events', 'late-events');
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(lateEvents.got, []);
      await lateEvents.close();

      // The e-mail: only the events that need a human.
      await until(() => mails.length >= 2, { what: 'two e-mails' });
      assert.deepEqual(
        mails.map((m) => [m.topic, m.to]),
        [
          ['[ifacefailover] connectionFailed: wired', 'you@example.com'],
          ['[ifacefailover] connectionRestored: wired', 'you@example.com'],
        ],
      );
      assert.match(String(mails[0].payload), /^connectionFailed on wired \(eth0\) at 2026-11-25T14:44:10\.081Z\.\n\nActive uplink now: wifi\nTo: wifi\n/);
    } finally {
      await live.close();
    }
  });
});
