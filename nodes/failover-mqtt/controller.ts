/**
 * What a `failover-mqtt` node does: turns the failover-controller's messages into MQTT messages (retained
 * state, events, Home Assistant discovery; the topics are lib/notify/mqtt-discovery.ts's) for Node-RED's own
 * `mqtt out` node. A Status node on that `mqtt out` wired in tells it the broker connection: while it is down
 * events wait here (the mqtt out would drop them), and when it is up again everything is published again.
 */
import {
  DEFAULT_DISCOVERY_PREFIX,
  DEFAULT_METRICS_INTERVAL_S,
  DEFAULT_PREFIX,
  deviceName,
  MqttMessage,
  MqttStateOptions,
  MqttStatePublisher,
  ONLINE,
} from '../../lib/notify/mqtt-discovery';
import { SETTING_RULES, SettingsReader } from '../../lib/settings/rules';
import { NodeController, Send, Translate } from '../shared/controller';
import type { Node, NodeDef, NodeMessage, NodeMessageInFlow } from '../shared/red';

export interface FailoverMqttDef extends NodeDef {
  /** Topic levels before the device (blank: ifacefailover). */
  prefix?: string;
  /** The device's topic level and Home Assistant id (blank: the host name). */
  device?: string;
  /** Publish Home Assistant discovery configs (default true). */
  discovery?: boolean | string;
  /** Home Assistant's discovery prefix (blank: homeassistant). */
  discoveryPrefix?: string;
  /** Least seconds between two updates of an uplink's round-trip time and loss. */
  metricsInterval?: number | string;
}

export interface FailoverMqttServices {
  translate: Translate;
  /** os.hostname() */
  hostname(): string;
  /** The package's version. */
  version: string;
  /** The last-will topics of the deployed mqtt-broker config nodes; absent: not checked. */
  willTopics?(): string[];
  now?(): number;
}

const NS = 'failover-mqtt';
/** Events kept while the broker is away; the oldest go first. */
const MAX_HELD = 100;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The node's settings, or a sentence saying what is wrong with them. */
export function mqttOptions(def: FailoverMqttDef, services: Pick<FailoverMqttServices, 'hostname' | 'version'>): MqttStateOptions | { problem: string } {
  const rules = SETTING_RULES.mqtt;
  const settings = new SettingsReader();
  const prefix = settings.read('prefix', rules.prefix, def.prefix, DEFAULT_PREFIX);
  const device = settings.read('device', rules.device, def.device, '') || deviceName(services.hostname());
  const discoveryPrefix = settings.read('discoveryPrefix', rules.discoveryPrefix, def.discoveryPrefix, DEFAULT_DISCOVERY_PREFIX);
  const metricsInterval = settings.read('metricsInterval', rules.metricsInterval, def.metricsInterval, DEFAULT_METRICS_INTERVAL_S);
  if (settings.problems.length > 0) return { problem: settings.problems.join('; ') };
  const discovery = def.discovery !== false && def.discovery !== 'false';
  return { prefix, device, discoveryPrefix: discovery ? discoveryPrefix : null, metricsIntervalMs: metricsInterval * 1000, version: services.version };
}

export class FailoverMqttController extends NodeController {
  private readonly publisher: MqttStatePublisher | null = null;
  private readonly problem: string | null = null;
  private readonly options: MqttStateOptions | null = null;
  /** The broker connection as the Status node last told it; null before it said anything (then messages go out). */
  private brokerUp: boolean | null = null;
  private held: MqttMessage[] = [];
  private closed = false;
  private lastBadge = '';
  /** The device's discovery and `online` went out. */
  private announced = false;

  constructor(
    node: Node,
    def: FailoverMqttDef,
    private readonly services: FailoverMqttServices,
  ) {
    super(node, NS, services.translate);
    const options = mqttOptions(def, services);
    if ('problem' in options) this.problem = this.refuseSettings(options.problem);
    else {
      this.options = options;
      this.publisher = new MqttStatePublisher(options, services.now ?? Date.now);
    }
  }

  override start(): void {
    const publisher = this.publisher;
    if (!publisher) return;
    const wills = this.services.willTopics?.();
    if (wills && !wills.includes(publisher.availabilityTopic)) this.node.warn(this.t('errors.noWill', { topic: publisher.availabilityTopic }));
    this.updateBadge();
  }

  protected handle(msg: NodeMessageInFlow, send: Send): Promise<void> {
    const publisher = this.publisher;
    if (!publisher || !this.options) return Promise.reject(new Error(this.problem ?? 'invalid configuration'));
    if (this.closed) return Promise.resolve();
    const status = (msg as NodeMessageInFlow & { status?: unknown }).status;
    if (isRecord(status)) {
      // From a Status node on the mqtt out: green is connected.
      const up = status['fill'] === 'green';
      const cameBack = up && this.brokerUp !== true;
      this.brokerUp = up;
      if (cameBack) {
        const held = this.held;
        this.held = [];
        this.announced = true;
        this.emit([...publisher.republish(), ...held], (m) => send(m));
      }
      this.updateBadge();
      return Promise.resolve();
    }
    if (this.options.discoveryPrefix !== null && msg.topic === `${this.options.discoveryPrefix}/status`) {
      // Home Assistant's birth message: it (re)started and wants the discovery configs again.
      if (msg.payload === ONLINE) {
        this.announced = true;
        this.emit(publisher.republish(), (m) => send(m));
      }
      return Promise.resolve();
    }
    const { messages, warnings } = publisher.accept(msg.topic, msg.payload);
    for (const w of warnings) this.node.warn(w);
    // The device's discovery and `online` go out with the first news, not at deploy: the mqtt out's broker
    // connection is rarely up at deploy, and mqtt out drops what comes before.
    const first = this.announced ? [] : publisher.start();
    this.announced = true;
    this.emit([...first, ...messages], (m) => send(m));
    this.updateBadge();
    return Promise.resolve();
  }

  /**
   * Sends the messages as one batch, in order. While the broker is away events wait (retained state is published
   * again anyway when it is back).
   */
  private emit(messages: MqttMessage[], send: (batch: Array<NodeMessage[]>) => void): void {
    let out = messages;
    if (this.brokerUp === false) {
      this.held.push(...messages.filter((m) => !m.retain));
      if (this.held.length > MAX_HELD) this.held.splice(0, this.held.length - MAX_HELD);
      out = [];
    }
    if (out.length > 0) send([out.map((m): NodeMessage => ({ topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain }))]);
  }

  private updateBadge(): void {
    const publisher = this.publisher;
    if (!publisher || !this.options || this.closed) return;
    const topic = `${this.options.prefix}/${this.options.device}`;
    const uplinks = publisher.uplinkNames.length;
    const held = this.brokerUp === false;
    const text = held ? this.t('status.held', { topic, held: this.held.length }) : this.t('status.publishing', { topic, uplinks });
    // A probe round a second must not flood the editor with the same badge.
    if (`${String(held)}:${text}` === this.lastBadge) return;
    this.lastBadge = `${String(held)}:${text}`;
    if (held) this.badge.warning(text);
    else this.badge.ok(text);
  }

  close(): Promise<void> {
    this.closed = true;
    this.held = [];
    this.badge.clear();
    return Promise.resolve();
  }
}
