/**
 * Checks that a flow (an example, or what `ifacefailover import` writes) is sound and loads in the test
 * runtime: unique ids and wires to existing nodes; our nodes carry exactly the properties their editor
 * defines; every node type is known (ours from dist/nodes, core ones from node-red's @node-red/nodes, Dashboard 2's
 * from the devDependency @flowfuse/node-red-dashboard), every
 * node is created and none reports an error while it starts.
 *
 * Loading must never change the host's routes: controllers and route-switch nodes are loaded with dryRun
 * forced on, route-verifier with pin off, and without wires (see forTest).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { NodeInitializer } from 'node-red';
import { BUILD_ROOT, coreNodes, CORE_NODE_FILES, dashboardNodeFiles, dashboardNodes, initHelper, ourNode } from './red-helper';
import { editorRegistration, literal } from './editor-html';

const ROOT = resolve(__dirname, '../../..');
export const OUR_TYPES = new Set(Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } })['node-red'].nodes));
/** Keys Node-RED puts on every node of a flow, whatever its type. */
const COMMON_KEYS = new Set(['id', 'type', 'z', 'g', 'd', 'name', 'x', 'y', 'w', 'h', 'wires', 'info', 'l', '_users']);

export interface FlowNode {
  id: string;
  type: string;
  z?: string;
  wires?: string[][];
  [key: string]: unknown;
}

/**
 * The flow as it is loaded here: tabs added as Import would, dryRun forced on, pinning off, no inject firing
 * by itself, and no wires: every node is created and validated, but no message flows, so nothing reaches
 * the outside world (no POST, no GPIO, no dial-up) from the machine running the tests. The wiring itself is
 * checked above.
 */
function forTest(flow: FlowNode[]): FlowNode[] {
  const nodes: FlowNode[] = flow.map((n) => {
    const copy: FlowNode = { ...n };
    if (Array.isArray(copy.wires)) copy.wires = copy.wires.map(() => []);
    if ('dryRun' in copy) copy['dryRun'] = true;
    // route-verifier pins its probes (a table + ip rule) for real: not on the machine running the tests
    if ('pin' in copy) copy['pin'] = false;
    if (copy.type === 'inject') {
      copy['once'] = false;
      copy['repeat'] = '';
    }
    return copy;
  });
  const tabs = new Set(nodes.filter((n) => n.type === 'tab').map((n) => n.id));
  for (const z of new Set(nodes.map((n) => n.z).filter((z): z is string => typeof z === 'string' && z !== ''))) {
    if (!tabs.has(z)) nodes.unshift({ id: z, type: 'tab', label: 'example' });
  }
  return nodes;
}

interface LogEntry {
  level: number;
  type?: string;
  id?: string;
  name?: string;
  msg?: unknown;
}

/** Unique ids, and every wire leads to a node of the flow. */
export function checkWiring(flow: FlowNode[]): void {
    assert.ok(Array.isArray(flow));
    const ids = new Set(flow.map((n) => n.id));
    assert.equal(ids.size, flow.length, 'duplicate ids');
    for (const n of flow) {
      for (const out of n.wires ?? []) for (const target of out) assert.ok(ids.has(target), `${n.type} ${n.id} is wired to unknown ${target}`);
    }
}

/** Our nodes use exactly the properties their editor defines, with one wire list per output. */
export function checkOurProperties(flow: FlowNode[]): void {
    for (const n of flow.filter((x) => OUR_TYPES.has(x.type))) {
      const reg = editorRegistration(n.type);
      assert.ok(reg, `no editor registration for ${n.type}`);
      const defaults = new Set(reg.defaults);
      const isConfig = literal(reg.props.get('category')) === 'config';
      const extra = Object.keys(n).filter((k) => !COMMON_KEYS.has(k) && !defaults.has(k));
      const missing = reg.defaults.filter((k) => !(k in n));
      assert.deepEqual({ extra, missing }, { extra: [], missing: [] }, `${n.type} ${n.id}`);
      if (isConfig) {
        assert.equal(n.z, undefined, `config node ${n.id} belongs to no tab`);
      } else {
        const outputs = literal(reg.props.get('outputs'));
        if (typeof outputs === 'number') assert.equal(n.wires?.length, outputs, `${n.type} ${n.id}: one wire list per output`);
      }
    }
}

/** Loads the flow (credentials as the runtime would get them) and checks every node started cleanly. */
export async function checkLoads(flow: FlowNode[], credentials: Record<string, Record<string, string>> = {}): Promise<void> {
  const helper = initHelper();
    const types = new Set(flow.map((n) => n.type).filter((t) => t !== 'tab'));
    const ours = [...types].filter((t) => OUR_TYPES.has(t));
    const dashboard = [...types].filter((t) => t in dashboardNodeFiles());
    const core = [...types].filter((t) => !OUR_TYPES.has(t) && !dashboard.includes(t));
    const unknown = core.filter((t) => !(t in CORE_NODE_FILES));
    assert.deepEqual(unknown, [], 'types that are neither ours, core Node-RED nodes nor Dashboard 2 nodes');
    const missingFiles = ours.filter((t) => !existsSync(join(BUILD_ROOT, 'nodes', `${t}.js`)));
    assert.deepEqual(missingFiles, [], 'node files not built (dist/nodes)');

    const initializers: NodeInitializer[] = [...ours.map(ourNode), ...coreNodes(core), ...(dashboard.length > 0 ? dashboardNodes(dashboard) : [])];
    // Register the uplink config node too: every controller example needs it.
    if (!ours.includes('uplink') && OUR_TYPES.has('uplink')) initializers.unshift(ourNode('uplink'));
    await helper.load(initializers, forTest(flow), credentials);
    try {
      const absent = flow.filter((n) => n.type !== 'tab' && !helper.getNode(n.id)).map((n) => `${n.type} ${n.id}`);
      assert.deepEqual(absent, [], 'nodes the runtime did not create (unknown type, or the flow did not start)');
      // let start-up work queued by the nodes run (status, config look-ups) before reading the log
      await new Promise((r) => setTimeout(r, 200));
      const entries = helper.log().args.map((a: unknown[]) => a[0] as LogEntry);
      const errors = entries.filter((e) => e.level <= 20).map((e) => `${e.type ?? ''} ${e.id ?? ''}: ${String(e.msg)}`);
      assert.deepEqual(errors, [], 'errors logged while the flow started');
      const waiting = entries.filter((e) => /missing types|Waiting for missing/i.test(String(e.msg)));
      assert.deepEqual(waiting, [], 'Node-RED is waiting for node types');
    } finally {
      await helper.unload();
    }
}
