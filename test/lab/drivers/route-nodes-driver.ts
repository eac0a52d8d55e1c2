/**
 * Runs a Node-RED flow with the package's nodes where it is started (the lab's dut namespace, through
 * `ip netns exec`), on node-red-node-test-helper, and speaks JSON lines:
 *
 * stdout (lines starting with `{"event"`; Node-RED's own log lines may be interleaved):
 *   {"event":"ready","t":<ms>}                                   the flow is deployed
 *   {"event":"msg","t":<ms>,"node":<helper id>,"msg":{...}}       a message reached a `helper` node
 *   {"event":"status","t":<ms>,"node":<id>,"status":{...}}        a node of the flow set its status
 *   {"event":"unloaded","t":<ms>,"ms":<how long unload took>}     after the `unload` command; then exit 0
 * stdin, one JSON object a line:
 *   {"cmd":"send","node":<id>,"msg":{...}}                       node.receive(msg)
 *   {"cmd":"unload"}                                              stop the flow (close handlers run), exit
 *
 * RED._ returns the key followed by its parameters as JSON, so errors carry their details (ip's message).
 *
 * Usage: node route-nodes-driver.js '<flow JSON>'
 */
import type { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import helper, { type TestFlows } from 'node-red-node-test-helper';
import type { NodeAPI, NodeMessage, NodeStatus } from 'node-red';
import uplinkNode from '../../../nodes/uplink';
import verifierNode from '../../../nodes/route-verifier';
import switchNode from '../../../nodes/route-switch';

interface Command {
  cmd: 'send' | 'unload';
  node?: string;
  msg?: NodeMessage;
}

function print(obj: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...obj, t: Date.now() })}\n`);
}

function registerAll(RED: NodeAPI): void {
  const translate = (key: string, params?: Record<string, unknown>): string => (params ? `${key} ${JSON.stringify(params)}` : key);
  RED._ = translate as unknown as NodeAPI['_'];
  uplinkNode(RED);
  verifierNode(RED);
  switchNode(RED);
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (raw === undefined) throw new Error('usage: route-nodes-driver.js <flow JSON>');
  const flow = JSON.parse(raw) as TestFlows;
  helper.init(require.resolve('node-red'));
  await helper.startServer();
  await helper.load(registerAll, flow);
  for (const def of flow) {
    if (def.type === 'tab' || def.type === 'uplink') continue;
    const node = helper.getNode(def.id);
    if (!node) continue;
    if (def.type === 'helper') {
      node.on('input', (msg) => print({ event: 'msg', node: def.id, msg }));
    } else {
      // The helper emits call:<method> after each call of a node method (spied on Node.prototype).
      (node as EventEmitter).on('call:status', (call: { args: [NodeStatus] }) => print({ event: 'status', node: def.id, status: call.args[0] }));
    }
  }
  print({ event: 'ready' });

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const command = JSON.parse(line) as Command;
    if (command.cmd === 'send' && command.node) {
      helper.getNode(command.node).receive(command.msg ?? {});
    } else if (command.cmd === 'unload') {
      const started = Date.now();
      await helper.unload();
      print({ event: 'unloaded', ms: Date.now() - started });
      await helper.stopServer();
      process.exit(0);
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`route-nodes-driver: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
});
