/**
 * The controller's state as MQTT messages, for fleets and Home Assistant: retained state under
 * `<prefix>/<device>/...`, the lifecycle events (not retained), and Home Assistant MQTT discovery configs, so
 * every device shows up in one broker and in Home Assistant without hand configuration.
 *
 *   <prefix>/<device>/availability   online | offline (retained; offline is the broker's last will)
 *   <prefix>/<device>/active         name of the uplink carrying the default route, or "none" (retained)
 *   <prefix>/<device>/uplink/<id>    {uplink, iface, health, active, rtt, loss} as JSON (retained)
 *   <prefix>/<device>/event          every lifecycle event and notice as JSON (QoS 1, not retained)
 *   <discovery>/binary_sensor/<device>_<id>/config        connectivity of each uplink
 *   <discovery>/sensor/<device>_<id>_rtt/config           its round-trip time (ms)
 *   <discovery>/sensor/<device>_<id>_loss/config          its packet loss (%)
 *   <discovery>/sensor/<device>_active_uplink/config      the active uplink
 *
 * <id> is the uplink's name with every character outside [A-Za-z0-9_-] replaced by "_" (MQTT wildcards and
 * "/" cannot be in a topic level, Home Assistant's object ids allow only these). Nothing here knows Node-RED:
 * MqttStatePublisher takes the controller's output messages and returns the MQTT messages to publish.
 */

export const DEFAULT_PREFIX = 'ifacefailover';
export const DEFAULT_DISCOVERY_PREFIX = 'homeassistant';
/** Seconds between two updates of an uplink's round-trip time and loss while its health stays the same. */
export const DEFAULT_METRICS_INTERVAL_S = 30;
export const ONLINE = 'online';
export const OFFLINE = 'offline';
/** The `active` topic's payload while no uplink carries the default route. */
export const NO_ACTIVE_UPLINK = 'none';

const ORIGIN = {
  name: 'node-red-contrib-ifacefailover',
  support_url: 'https://github.com/node-red-contrib-ifacefailover/node-red-contrib-ifacefailover',
};

/** One message for the broker: Node-RED's `mqtt out` takes topic, payload, qos and retain from msg. */
export interface MqttMessage {
  topic: string;
  payload: string;
  qos: 0 | 1;
  retain: boolean;
}

export interface MqttStateOptions {
  /** Topic levels before the device name (no wildcards, no empty level). */
  prefix: string;
  /** The device's name in topics and ids: [A-Za-z0-9_-] (deviceName() makes one from the host name). */
  device: string;
  /** Home Assistant's discovery prefix; null: no discovery configs. */
  discoveryPrefix: string | null;
  /** Least ms between two updates of an uplink's figures (rtt, loss) while nothing else about it changes. */
  metricsIntervalMs: number;
  /** The package's version, for the device block. */
  version: string;
}

/** What one input gave: messages to send, and sentences to log as warnings. */
export interface MqttOutput {
  messages: MqttMessage[];
  warnings: string[];
}

/** A topic level or an id for Home Assistant: [A-Za-z0-9_-] only. */
export function topicId(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_');
}

/** The device name for a host name: its first label, as a topic id ("pi-7.example.org" is "pi-7"). */
export function deviceName(hostname: string): string {
  const label = hostname.split('.')[0] ?? '';
  return topicId(label) || 'device';
}

/** The topics of one device. */
export function deviceTopics(prefix: string, device: string): { base: string; availability: string; active: string; event: string; uplink(name: string): string } {
  const base = `${prefix}/${device}`;
  return {
    base,
    availability: `${base}/availability`,
    active: `${base}/active`,
    event: `${base}/event`,
    uplink: (name) => `${base}/uplink/${topicId(name)}`,
  };
}

/** The state published for one uplink. */
export interface UplinkState {
  uplink: string;
  iface: string | null;
  /** up, degraded, down or unknown (not probed yet, or an uplink without targets). */
  health: string;
  /** Whether it carries the default route. */
  active: boolean;
  /** Mean round-trip time (ms) over the quality window, null without answers. */
  rtt: number | null;
  /** Packet loss (0..1) over the quality window, null before any probe. */
  loss: number | null;
}

/** Home Assistant's discovery configs of one device: [topic, config] pairs. */
export function discoveryConfigs(options: MqttStateOptions, uplink: string | null): Array<[string, Record<string, unknown>]> {
  const { discoveryPrefix, device, prefix, version } = options;
  if (discoveryPrefix === null) return [];
  const topics = deviceTopics(prefix, device);
  const common = {
    availability_topic: topics.availability,
    payload_available: ONLINE,
    payload_not_available: OFFLINE,
    // One device per controller: the identifiers group its entities, the device name tells devices apart.
    device: { identifiers: [`ifacefailover_${device}`], name: device, manufacturer: 'ifacefailover', model: 'failover-controller', sw_version: version },
    origin: { ...ORIGIN, sw_version: version },
  };
  if (uplink === null) {
    return [
      [
        `${discoveryPrefix}/sensor/${device}_active_uplink/config`,
        { name: 'Active uplink', unique_id: `ifacefailover_${device}_active_uplink`, state_topic: topics.active, icon: 'mdi:wan', ...common },
      ],
    ];
  }
  const id = topicId(uplink);
  const state = topics.uplink(uplink);
  return [
    [
      `${discoveryPrefix}/binary_sensor/${device}_${id}/config`,
      {
        name: uplink,
        unique_id: `ifacefailover_${device}_${id}`,
        device_class: 'connectivity',
        state_topic: state,
        // degraded still carries traffic; "None" is Home Assistant's unknown (not probed yet).
        value_template: "{{ {'up': 'ON', 'degraded': 'ON', 'down': 'OFF'}.get(value_json.health, 'None') }}",
        json_attributes_topic: state,
        ...common,
      },
    ],
    [
      `${discoveryPrefix}/sensor/${device}_${id}_rtt/config`,
      {
        name: `${uplink} round-trip time`,
        unique_id: `ifacefailover_${device}_${id}_rtt`,
        state_topic: state,
        value_template: '{{ value_json.rtt }}',
        unit_of_measurement: 'ms',
        device_class: 'duration',
        state_class: 'measurement',
        suggested_display_precision: 1,
        ...common,
      },
    ],
    [
      `${discoveryPrefix}/sensor/${device}_${id}_loss/config`,
      {
        name: `${uplink} packet loss`,
        unique_id: `ifacefailover_${device}_${id}_loss`,
        state_topic: state,
        value_template: '{{ (value_json.loss * 100) | round(1) if value_json.loss is number else None }}',
        unit_of_measurement: '%',
        state_class: 'measurement',
        icon: 'mdi:lan-disconnect',
        ...common,
      },
    ],
  ];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** rtt and loss of a window ({sent, loss, rtt}) when it has echoes in it, else of the round. */
function figures(window: unknown, round: { rtt: unknown; loss: unknown }): { rtt: number | null; loss: number | null } {
  if (isRecord(window) && num(window['sent']) !== null && (window['sent'] as number) > 0) return { rtt: num(window['rtt']), loss: num(window['loss']) };
  return { rtt: num(round.rtt), loss: num(round.loss) };
}

/** What one controller message says about one uplink (fields absent: not said). */
interface UplinkNews {
  uplink: string;
  said: Partial<Omit<UplinkState, 'uplink' | 'active'>>;
}

interface Known {
  /** The id its topics use. */
  id: string;
  state: UplinkState;
  /** The payload last published, and when (ms). */
  sent: string | null;
  sentAt: number;
}

/**
 * Turns the controller's output messages (output 1: events and status answers; output 2: probe rounds) into
 * MQTT messages. Retained state is published when it changes: at once when an uplink's health, interface or
 * role changes, its figures (rtt, loss) at most every metricsIntervalMs. Each uplink's discovery configs go out
 * the first time it is seen. republish() gives everything again (after the broker connection came back, or
 * Home Assistant restarted).
 */
export class MqttStatePublisher {
  private readonly topics: ReturnType<typeof deviceTopics>;
  private readonly uplinks = new Map<string, Known>();
  /** id -> uplink name, to notice two names with one id. */
  private readonly ids = new Map<string, string>();
  /** Uplinks left out (their id is another's): warned about once. */
  private readonly leftOut = new Set<string>();
  private active: string | null = null;
  private activeSent: string | null = null;

  constructor(
    private readonly options: MqttStateOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.topics = deviceTopics(options.prefix, options.device);
  }

  get availabilityTopic(): string {
    return this.topics.availability;
  }

  /** The uplinks seen so far, by name. */
  get uplinkNames(): string[] {
    return [...this.uplinks.keys()];
  }

  /** The device's discovery (the active-uplink sensor) and `online`: what goes out at the start. */
  start(): MqttMessage[] {
    return [...this.discovery(null), this.retained(this.topics.availability, ONLINE)];
  }

  /** Everything again: discovery of the device and of every uplink seen, online, the active uplink, each uplink's state. */
  republish(): MqttMessage[] {
    const out = this.start();
    for (const [name, known] of this.uplinks) {
      out.push(...this.discovery(name));
      known.sent = null;
    }
    this.activeSent = null;
    out.push(...this.activeMessages());
    for (const known of this.uplinks.values()) out.push(...this.stateMessages(known, true));
    return out;
  }

  /**
   * One message of the controller: `available` (output 2), `status` (the status command's answer) or an event
   * (output 1). Throws for anything else: it is not the controller's.
   */
  accept(topic: unknown, payload: unknown): MqttOutput {
    if (!isRecord(payload)) throw new Error(`payload is not an object: not a message of the failover-controller (topic ${JSON.stringify(topic)})`);
    const out: MqttOutput = { messages: [], warnings: [] };
    const news: UplinkNews[] = [];
    if (topic === 'available') {
      const uplink = str(payload['uplink']);
      if (uplink === null) throw new Error('an available message without payload.uplink');
      news.push({ uplink, said: { iface: str(payload['iface']), health: str(payload['health']) ?? 'unknown', ...figures(payload['window'], { rtt: payload['rtt'], loss: payload['loss'] }) } });
    } else if (payload['event'] === 'status' && Array.isArray(payload['uplinks'])) {
      for (const u of payload['uplinks']) {
        if (!isRecord(u) || str(u['name']) === null) continue;
        const last = isRecord(u['lastResult']) ? u['lastResult'] : {};
        news.push({ uplink: u['name'] as string, said: { iface: str(u['iface']), health: str(u['health']) ?? 'unknown', ...figures(u['window'], { rtt: last['rtt'], loss: last['loss'] }) } });
      }
    } else if (typeof payload['event'] === 'string') {
      out.messages.push({ topic: this.topics.event, payload: JSON.stringify(payload), qos: 1, retain: false });
      const uplink = str(payload['uplink']);
      const health = payload['event'] === 'health' ? str(payload['health']) : null;
      if (uplink !== null) news.push({ uplink, said: { iface: str(payload['iface']), ...(health === null ? {} : { health }) } });
    } else {
      throw new Error(`payload has no event: not a message of the failover-controller (topic ${JSON.stringify(topic)})`);
    }
    if ('active' in payload) this.active = str(payload['active']);

    for (const n of news) {
      const known = this.learn(n.uplink, out);
      if (!known) continue;
      const { iface, ...rest } = n.said;
      // An event without an interface (noUplink) does not forget the one known.
      Object.assign(known.state, rest, iface ? { iface } : {});
    }
    out.messages.push(...this.activeMessages());
    for (const known of this.uplinks.values()) {
      const activeNow = known.state.uplink === this.active;
      const roleChanged = known.state.active !== activeNow;
      known.state.active = activeNow;
      out.messages.push(...this.stateMessages(known, roleChanged));
    }
    return out;
  }

  /** The uplink's record, made (with its discovery configs) the first time; null if its id is another uplink's. */
  private learn(name: string, out: MqttOutput): Known | null {
    const found = this.uplinks.get(name);
    if (found) return found;
    const id = topicId(name);
    const owner = this.ids.get(id);
    if (owner !== undefined) {
      if (!this.leftOut.has(name)) out.warnings.push(`uplinks "${owner}" and "${name}" have the same MQTT id "${id}": only "${owner}" is published; rename one`);
      this.leftOut.add(name);
      return null;
    }
    this.ids.set(id, name);
    const known: Known = { id, state: { uplink: name, iface: null, health: 'unknown', active: false, rtt: null, loss: null }, sent: null, sentAt: -Infinity };
    this.uplinks.set(name, known);
    out.messages.push(...this.discovery(name));
    return known;
  }

  private activeMessages(): MqttMessage[] {
    const payload = this.active ?? NO_ACTIVE_UPLINK;
    if (payload === this.activeSent) return [];
    this.activeSent = payload;
    return [this.retained(this.topics.active, payload)];
  }

  /** The uplink's state if it changed: at once when more than its figures changed (or `force`), else after the interval. */
  private stateMessages(known: Known, force: boolean): MqttMessage[] {
    const payload = JSON.stringify(known.state);
    if (payload === known.sent) return [];
    const now = this.now();
    if (!force && known.sent !== null) {
      const before = JSON.parse(known.sent) as UplinkState;
      const onlyFigures = before.health === known.state.health && before.iface === known.state.iface && before.active === known.state.active;
      if (onlyFigures && now - known.sentAt < this.options.metricsIntervalMs) return [];
    }
    known.sent = payload;
    known.sentAt = now;
    return [this.retained(this.topics.uplink(known.state.uplink), payload)];
  }

  private discovery(uplink: string | null): MqttMessage[] {
    return discoveryConfigs(this.options, uplink).map(([topic, config]) => this.retained(topic, JSON.stringify(config)));
  }

  private retained(topic: string, payload: string): MqttMessage {
    return { topic, payload, qos: 1, retain: true };
  }
}
