/** Flow scaffolding shared by the node specs (and the lab flows): the tab, Catch/Complete wiring, uplink config nodes. */
import { before, after, afterEach } from 'node:test';
import type { TestFlowsItem } from 'node-red-node-test-helper';
import type { NodeTestHelper } from './red-helper';

export type FlowNode = TestFlowsItem & Record<string, unknown>;

/**
 * Tab `f1` with the config nodes, then `node` wired output by output to the helper nodes `outputs`, and
 * Catch and Complete nodes scoped to it that pass what they get to the helper nodes `caught` and `completed`.
 */
export function nodeFlow(node: FlowNode, outputs: string[], configs: FlowNode[] = []): FlowNode[] {
  return [
    { id: 'f1', type: 'tab', label: 'test' },
    ...configs,
    { z: 'f1', wires: outputs.map((o) => [o]), ...node },
    ...outputs.map((id) => ({ id, z: 'f1', type: 'helper' })),
    { id: 'catcher', z: 'f1', type: 'catch', scope: [node.id], uncaught: false, wires: [['caught']] },
    { id: 'caught', z: 'f1', type: 'helper' },
    { id: 'completer', z: 'f1', type: 'complete', scope: [node.id], uncaught: false, wires: [['completed']] },
    { id: 'completed', z: 'f1', type: 'helper' },
  ];
}

/** An uplink config node with the usual test settings (1 s rounds, down/up 3); `extra` overrides any of them. */
export function uplinkConfig(id: string, name: string, iface: string, gateway: string, targets: string, extra: Record<string, unknown> = {}): FlowNode {
  return { id, type: 'uplink', name, iface, gateway, targets, interval: 1, timeout: 1, retries: 1, down: 3, up: 3, reliability: 1, setupTimeout: 60, pinMode: 'policy', ...extra };
}

/**
 * The hooks of a describe block: start the helper's server before (after `hooks.before`), unload the flow
 * after each test (then `hooks.afterEach`), stop the server after (then `hooks.after`).
 */
export function serverHooks(helper: NodeTestHelper, hooks: { before?: () => void; afterEach?: () => void; after?: () => void } = {}): void {
  before(async () => {
    hooks.before?.();
    await helper.startServer();
  });
  afterEach(async () => {
    await helper.unload();
    hooks.afterEach?.();
  });
  after(async () => {
    await helper.stopServer();
    hooks.after?.();
  });
}
