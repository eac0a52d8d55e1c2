/**
 * Runs a Node-RED flow with the failover-controller where it is started (the lab's dut namespace, through
 * `ip netns exec`), in the real Node-RED runtime via node-red-node-test-helper, with the compiled nodes
 * from dist/nodes. Prints one JSON line per observation on stdout (Node-RED's own log lines are there too;
 * ours start with `{"kind":`):
 *   {"kind":"ready","t":ms}                                             the flow has started
 *   {"kind":"message","t":ms,"node":"out1","topic":...,"payload":...}   a message reached helper node out1/out2/...
 *                                                                        (with "status" when it came from a Status node)
 *   {"kind":"status","t":ms,"status":{fill,shape,text}}                 the controller `ctl` set its badge
 *   {"kind":"deployed","t":ms}                                          a redeploy asked for on stdin is running
 *   {"kind":"closed","t":ms,"ipMonitors":n}                             SIGTERM/SIGINT: the flow is closed (n = our
 *                                                                        `ip monitor` children still alive: must be 0)
 * Usage: node controller-driver.js FLOW.json
 * IFF_RED_SETTINGS (environment, optional): JSON object of Node-RED settings for the runtime (e.g. mqttReconnectTime).
 * FLOW.json is a flow as the editor exports it; its helper nodes (type `helper`) are the observation points
 * and the controller to watch has id `ctl`. A line `{"deploy":"OTHER.json"}` on stdin makes a full redeploy.
 * Exit 0 after a clean close, 1 if closing failed, 2 on bad input.
 */
import type { EventEmitter } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { NodeInitializer } from 'node-red';
import type { Node, NodeMessage } from '../../../nodes/shared/red';
import { coreNodes, CORE_NODE_FILES, initHelper, ourNode } from '../../support/red-helper';
import { OUR_TYPES } from '../../support/flow-check';

type FlowItem = { id: string; type: string } & Record<string, unknown>;
type Flows = Parameters<typeof helper.load>[1];

const helper = initHelper();
if (process.env['IFF_RED_SETTINGS']) helper.settings(JSON.parse(process.env['IFF_RED_SETTINGS']) as Record<string, unknown>);

/** Our node types and the core ones the flow uses (the uplink config node always). */
function nodesFor(flow: FlowItem[]): NodeInitializer[] {
  const types = new Set(flow.map((n) => n.type));
  const ours = [...OUR_TYPES].filter((t) => t === 'uplink' || types.has(t));
  const core = [...types].filter((t) => t in CORE_NODE_FILES);
  return [...ours.map(ourNode), ...coreNodes(core)];
}

function print(kind: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ kind, t: Date.now(), ...fields })}\n`);
}

function readFlow(file: string): FlowItem[] {
  const flow: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!Array.isArray(flow)) throw new Error(`${file}: not a flow (an array of nodes)`);
  return flow as FlowItem[];
}

/** Listens to every helper node and to the controller's badge (helper nodes are new after each deploy). */
function observe(flow: FlowItem[]): void {
  for (const item of flow.filter((n) => n.type === 'helper')) {
    helper.getNode(item.id).on('input', (msg: NodeMessage & { status?: unknown }) => print('message', { node: item.id, topic: msg.topic, payload: msg.payload, status: msg.status }));
  }
  const ctl = helper.getNode('ctl') as Node | null;
  if (!ctl) return;
  // The helper spies on Node.prototype.status; calls made while the flow started are already recorded.
  const spy = ctl.status as unknown as { getCalls(): { thisValue: unknown; args: unknown[] }[] };
  for (const call of spy.getCalls().filter((c) => c.thisValue === ctl)) print('status', { status: call.args[0] });
  // ...and it emits call:status on the node for each later one.
  (ctl as unknown as EventEmitter).on('call:status', (call: { args: unknown[] }) => print('status', { status: call.args[0] }));
}

/** `ip monitor link` processes started by this process and still alive. */
function ipMonitors(): number {
  let n = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) !== process.pid || state === 'Z') continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ') === 'ip monitor link route') n++;
    } catch {
      /* gone meanwhile */
    }
  }
  return n;
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: controller-driver.js FLOW.json\n');
    process.exit(2);
  }
  let flow: FlowItem[];
  try {
    flow = readFlow(file);
  } catch (e) {
    process.stderr.write(`controller-driver: ${String(e)}\n`);
    process.exit(2);
  }

  let closing = false;
  const close = (): void => {
    if (closing) return;
    closing = true;
    helper.unload().then(
      () => {
        print('closed', { ipMonitors: ipMonitors() });
        process.exitCode = 0;
        // Node-RED's runtime keeps timers of its own; the flow is closed, so leave.
        process.stdout.write('', () => process.exit(0));
      },
      (e: unknown) => {
        process.stderr.write(`controller-driver: close failed: ${String(e)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', close);
  process.on('SIGINT', close);

  await helper.load(nodesFor(flow), flow as unknown as Flows);
  observe(flow);
  print('ready');

  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (!line.trim() || closing) return;
    let next: FlowItem[];
    try {
      const request = JSON.parse(line) as { deploy?: string };
      if (!request.deploy) throw new Error('expected {"deploy": "FLOW.json"}');
      next = readFlow(request.deploy);
    } catch (e) {
      process.stderr.write(`controller-driver: bad request ${line}: ${String(e)}\n`);
      return;
    }
    helper.setFlows(next as unknown as Flows, 'full').then(
      () => {
        observe(next);
        print('deployed');
      },
      (e: unknown) => process.stderr.write(`controller-driver: redeploy failed: ${String(e)}\n`),
    );
  });
}

main().catch((e: unknown) => {
  process.stderr.write(`controller-driver: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(2);
});
