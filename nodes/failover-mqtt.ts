/**
 * `failover-mqtt`: the failover-controller's state as MQTT messages for Node-RED's `mqtt out` node: retained
 * state under <prefix>/<device>/..., the events, and Home Assistant MQTT discovery. The behaviour lives in
 * FailoverMqttController (failover-mqtt/controller.ts), the topics in lib/notify/mqtt-discovery.ts.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { FailoverMqttController, FailoverMqttDef } from './failover-mqtt/controller';
import { runController } from './shared/controller';
import type { Node, NodeAPI } from './shared/red';

/** This package's version (dist/nodes/ is two levels below package.json). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export = function register(RED: NodeAPI): void {
  const version = packageVersion();
  function FailoverMqttNode(this: Node, def: FailoverMqttDef): void {
    RED.nodes.createNode(this, def);
    const controller = new FailoverMqttController(this, def, {
      translate: (key, substitutions) => RED._(key, substitutions),
      hostname: () => hostname(),
      version,
      willTopics: () => {
        const topics: string[] = [];
        RED.nodes.eachNode((n) => {
          const willTopic = (n as { willTopic?: unknown }).willTopic;
          if (n.type === 'mqtt-broker' && typeof willTopic === 'string') topics.push(willTopic);
        });
        return topics;
      },
    });
    runController(this, controller);
  }
  RED.nodes.registerType('failover-mqtt', FailoverMqttNode);
};
