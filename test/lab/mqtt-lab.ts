/**
 * An MQTT broker UPSTREAM of the device: Mosquitto (Debian package `mosquitto`) in the lab's `inet`
 * namespace on one of the lab's 203.0.113.x addresses, a subscriber next to it (`mosquitto_sub`, package
 * `mosquitto-clients`) that timestamps what arrives, and a Node-RED flow for the device: the lab's uplinks,
 * a failover-controller, and the MQTT part of the example "Notify by MQTT and e-mail" pointed at the broker.
 * Shared by test/lab/mqtt-upstream.test.ts and test/bench/mqtt-bench.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Driver, FlowItem } from './controller-harness';
import { LabProcess, NetLab } from './netlab';
import { RouteMonitor } from './route-monitor';
import { sleep } from './service-harness';
import { findExecutable, findMosquitto } from '../support/mosquitto';
import { uplinkConfig } from '../support/flows';

export const MOSQUITTO = findMosquitto();
export const MOSQUITTO_SUB = findExecutable('mosquitto_sub');

/** What the MQTT lab needs that is not installed (Debian package names). */
export function missingMqttPackages(): string[] {
  return [...(MOSQUITTO ? [] : ['mosquitto']), ...(MOSQUITTO_SUB ? [] : ['mosquitto-clients'])];
}

export const MQTT_PORT = 1883;
/** Node-RED's default keep-alive (s), as in the example: without resets a dead connection is noticed after 1.5 x this. */
export const KEEPALIVE_S = 60;

// ---- the broker -------------------------------------------------------------------------------

export interface UpstreamBroker {
  address: string;
  proc: LabProcess;
  /** Stops mosquitto and removes its configuration. Idempotent. */
  stop(): Promise<void>;
}

/** Mosquitto listening on `address`:1883 in `inet` (an address the lab put there: one of lab.targets). */
export async function startUpstreamBroker(lab: NetLab, address: string): Promise<UpstreamBroker> {
  if (!MOSQUITTO) throw new Error('mosquitto is not installed (apt-get install -y mosquitto)');
  const dir = mkdtempSync(join(tmpdir(), 'iff-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${MQTT_PORT} ${address}\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type all\n`);
  let proc: LabProcess;
  try {
    proc = lab.spawn('inet', MOSQUITTO, ['-c', conf]);
    await proc.waitFor(/mosquitto version \S+ running/, { timeoutMs: 10_000, stream: 'stderr' });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const running = proc;
  return {
    address,
    proc: running,
    async stop() {
      await running.stop({ graceMs: 3000 });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- the subscriber ---------------------------------------------------------------------------

export interface Arrival {
  /** performance.now() when the line reached this process. */
  at: number;
  topic: string;
  payload: Record<string, unknown>;
  /** Set on a retained message the broker delivered because of the subscription (not on a live one). */
  retain: boolean;
}

export class Subscriber {
  readonly arrivals: Arrival[] = [];
  private buffer = '';

  private constructor(readonly proc: LabProcess) {
    proc.stdout?.on('data', (chunk: Buffer | string) => {
      const at = performance.now();
      this.buffer += String(chunk);
      const lines = this.buffer.split('\n');
      this.buffer = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue; // mosquitto_sub -d protocol lines
        const m = JSON.parse(line) as { topic: string; payload: string; retain?: boolean | number };
        let payload: Record<string, unknown>;
        try {
          payload = JSON.parse(m.payload) as Record<string, unknown>;
        } catch {
          payload = { raw: m.payload };
        }
        this.arrivals.push({ at, topic: m.topic, payload, retain: m.retain === true || m.retain === 1 });
      }
    });
  }

  /**
   * mosquitto_sub in `inet` subscribed (QoS 1) to `topic` on the broker; resolves once the broker acknowledged it.
   * `name` tells several subscribers of one test apart (one client id each).
   */
  static async start(lab: NetLab, broker: string, topic: string, name = 'sub'): Promise<Subscriber> {
    if (!MOSQUITTO_SUB) throw new Error('mosquitto_sub is not installed (apt-get install -y mosquitto-clients)');
    // stdbuf: line-buffered stdout through the pipe, so each message arrives (and is timed) when it comes.
    const proc = lab.spawn('inet', 'stdbuf', ['-oL', MOSQUITTO_SUB, '-h', broker, '-p', String(MQTT_PORT), '-t', topic, '-q', '1', '-i', `iff-${name}-${process.pid}`, '-d', '-F', '%j']);
    const sub = new Subscriber(proc);
    await proc.waitFor(/received SUBACK/, { timeoutMs: 10_000, stream: 'stdout' });
    return sub;
  }

  /** Arrivals of `event` about `uplink` (the payload's event and uplink fields). */
  of(event: string, uplink: string, since = 0): Arrival[] {
    return this.arrivals.filter((a) => a.at >= since && a.payload['event'] === event && a.payload['uplink'] === uplink);
  }

  /** The first arrival of `event` about `uplink` after `since`, or null if none came by `deadline` (performance.now()). */
  async waitUntil(event: string, uplink: string, since: number, deadline: number): Promise<Arrival | null> {
    for (;;) {
      const hit = this.of(event, uplink, since)[0];
      if (hit) return hit;
      if (!this.proc.running) throw new Error(`mosquitto_sub exited: ${this.proc.output.stdout.slice(-2000)}${this.proc.output.stderr}`);
      if (performance.now() > deadline) return null;
      await sleep(5);
    }
  }

  /** Events as "event uplink", in arrival order. */
  events(): string[] {
    return this.arrivals.map((a) => `${String(a.payload['event'])} ${String(a.payload['uplink'])}`);
  }

  stop(): Promise<unknown> {
    return this.proc.stop();
  }
}

// ---- the flow ---------------------------------------------------------------------------------

export const EXAMPLE_FILE = resolve(__dirname, '../../../examples/failover-controller/02 - Notify by MQTT and e-mail.json');

/**
 * The MQTT part of the example: the broker config node, and every node wired from the controller's output 1
 * to an `mqtt out` node, with the status nodes that feed them. Returned as in the file (ids, wires).
 */
export function exampleMqttPart(): { broker: FlowItem; starts: string[]; nodes: FlowItem[] } {
  const example = JSON.parse(readFileSync(EXAMPLE_FILE, 'utf8')) as FlowItem[];
  const byId = new Map(example.map((n) => [n.id, n]));
  const wiresOf = (n: FlowItem): string[] => (Array.isArray(n['wires']) ? (n['wires'] as string[][]).flat() : []);
  const controller = example.find((n) => n.type === 'failover-controller');
  const broker = example.find((n) => n.type === 'mqtt-broker');
  if (!controller || !broker) throw new Error('the example has no controller or no mqtt-broker');
  const memo = new Map<string, boolean>();
  const reachesMqtt = (id: string, seen: Set<string>): boolean => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    const n = byId.get(id);
    if (!n || seen.has(id)) return false;
    seen.add(id);
    const hit = n.type === 'mqtt out' || wiresOf(n).some((w) => reachesMqtt(w, seen));
    memo.set(id, hit);
    return hit;
  };
  const first = (controller['wires'] as string[][])[0] ?? [];
  const starts = first.filter((id) => reachesMqtt(id, new Set()));
  const path = new Set<string>();
  const walk = (id: string): void => {
    if (path.has(id) || !reachesMqtt(id, new Set())) return;
    path.add(id);
    for (const w of wiresOf(byId.get(id) as FlowItem)) walk(w);
  };
  for (const s of starts) walk(s);
  const events = example.filter((n) => n.type === 'mqtt out' && path.has(n.id)).map((n) => n.id);
  const statusNodes = example.filter((n) => n.type === 'status' && wiresOf(n).some((w) => path.has(w)));
  const nodes = [...example.filter((n) => path.has(n.id)), ...statusNodes].map((n) => JSON.parse(JSON.stringify(n)) as FlowItem);
  if (events.length === 0) throw new Error('no mqtt out node on the controller output 1 in the example');
  return { broker: JSON.parse(JSON.stringify(broker)) as FlowItem, starts, nodes };
}

/** A node's wires, plus the observation helpers: status nodes to `obs-status`, nodes wired to an mqtt out to `obs-to-mqtt`. */
function observed(n: FlowItem, mqttOut: ReadonlySet<string>): string[][] {
  const wires = Array.isArray(n['wires']) ? (n['wires'] as string[][]) : [];
  return wires.map((out) => {
    if (n.type === 'status') return [...out, 'obs-status'];
    return out.some((id) => mqttOut.has(id)) ? [...out, 'obs-to-mqtt'] : out;
  });
}

export const BACKUP_GATEWAY = '192.0.2.17';

export interface MqttFlowOptions {
  brokerAddress: string;
  /** Probe targets of the primary (reached by eth0). */
  targets: readonly string[];
  /** The controller's resetConnections property (absent: left out, i.e. the default). */
  resetConnections?: boolean;
  /** Output 2 (probe rounds) to the helper node `out2` too (default: unwired). */
  observeRounds?: boolean;
}

/**
 * Tab `tab`: uplinks `primary` (eth0, gateway 192.0.2.1, probing `targets`; interval 1 s, timeout 1 s,
 * one attempt per round, down 3, up 3) and `wifi` (wlan0, gateway 192.0.2.17, no targets: usable while its link is up), a
 * controller `ctl` (dryRun false) whose output 1 goes to the example's MQTT part (the broker config pointed
 * at the lab's broker, keep-alive 60 s) and to the helper node `out1`.
 */
export function mqttFlow(opts: MqttFlowOptions): FlowItem[] {
  const { broker, starts, nodes } = exampleMqttPart();
  const mqttOut = new Set(nodes.filter((n) => n.type === 'mqtt out').map((n) => n.id));
  Object.assign(broker, { broker: opts.brokerAddress, port: String(MQTT_PORT), clientid: `iff-dut-${process.pid}`, keepalive: String(KEEPALIVE_S) });
  const at = { x: 100, y: 100 };
  return [
    { id: 'tab', type: 'tab', label: 'failover' },
    // One attempt per target and round, as the service benchmark (maxRetry 1).
    uplinkConfig('up-primary', 'primary', 'eth0', '192.0.2.1', opts.targets.join(','), { retries: 0 }),
    uplinkConfig('up-wifi', 'wifi', 'wlan0', BACKUP_GATEWAY, ''),
    broker,
    {
      id: 'ctl',
      type: 'failover-controller',
      z: 'tab',
      name: 'failover',
      uplinks: ['up-primary', 'up-wifi'],
      dryRun: false,
      setupRetry: 60,
      ...(opts.resetConnections === undefined ? {} : { resetConnections: opts.resetConnections }),
      ...at,
      wires: [[...starts, 'out1'], opts.observeRounds ? ['out2'] : []],
    },
    { id: 'out1', type: 'helper', z: 'tab', ...at },
    ...(opts.observeRounds ? [{ id: 'out2', type: 'helper', z: 'tab', ...at }] : []),
    // Observation points inside the MQTT part: what the status nodes report, and what goes into the mqtt out nodes.
    { id: 'obs-status', type: 'helper', z: 'tab', ...at },
    { id: 'obs-to-mqtt', type: 'helper', z: 'tab', ...at },
    ...nodes.map((n) => ({ ...n, z: 'tab', wires: observed(n, mqttOut) })),
  ];
}

// ---- all of it --------------------------------------------------------------------------------

/** Node-RED settings of the runtime in the device: reconnect 0.5 s after a connection breaks, as the example recommends. */
export const RED_SETTINGS = { mqttReconnectTime: 500 };

export interface MqttRig {
  lab: NetLab;
  broker: UpstreamBroker;
  sub: Subscriber;
  /** `ip -4 monitor route` in the device. */
  monitor: RouteMonitor;
  /** Node-RED with mqttFlow() in the device. */
  driver: Driver;
  /** Stops Node-RED (SIGTERM, its exit code), the monitor, the subscriber and the broker. */
  stop(): Promise<number | null>;
}

/**
 * In a lab with wlan0 and at least 3 targets: the broker on the third target, the subscriber (to
 * `ifacefailover/#`), the route monitor, then Node-RED in the device. What was started is stopped again if a
 * later step fails.
 */
export async function startMqttRig(lab: NetLab, opts: Omit<MqttFlowOptions, 'brokerAddress' | 'targets'> & { settings?: Record<string, unknown> } = {}): Promise<MqttRig> {
  const [t1, t2, brokerAddress] = lab.targets;
  if (!brokerAddress || !lab.ns.r2) throw new Error('the MQTT rig needs a lab with wlan0 and 3 targets');
  const broker = await startUpstreamBroker(lab, brokerAddress);
  let sub: Subscriber | undefined;
  let monitor: RouteMonitor | undefined;
  let driver: Driver | undefined;
  const stop = async (): Promise<number | null> => {
    try {
      return driver ? await driver.stop() : 0;
    } finally {
      await monitor?.stop();
      await sub?.stop();
      await broker.stop();
    }
  };
  try {
    sub = await Subscriber.start(lab, brokerAddress, 'ifacefailover/#');
    monitor = new RouteMonitor(lab.spawn('dut', 'ip', ['-4', 'monitor', 'route']));
    const { settings = RED_SETTINGS, ...flowOptions } = opts;
    driver = new Driver(lab, mqttFlow({ brokerAddress, targets: [t1, t2], ...flowOptions }), { settings });
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
  return { lab, broker, sub, monitor, driver, stop };
}
