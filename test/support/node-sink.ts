/** Small helpers for node specs: collect what a helper node receives, and what a node showed and logged. */
import type { SinonSpy } from 'sinon';
import type { Node, NodeMessage, NodeStatus } from 'node-red';
import type { NodeTestHelper } from './red-helper';

export type Msg = NodeMessage & { payload: Record<string, unknown>; error?: { message: string }; [key: string]: unknown };

export interface Sink {
  msgs: Msg[];
  /** The next message not read yet (waits for it). */
  next(timeoutMs?: number): Promise<Msg>;
}

export function sink(helper: NodeTestHelper, id: string): Sink {
  const node = helper.getNode(id);
  const msgs: Msg[] = [];
  let waiters: (() => void)[] = [];
  node.on('input', (m) => {
    msgs.push(m as unknown as Msg);
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  });
  let read = 0;
  return {
    msgs,
    next(timeoutMs = 5000) {
      if (read < msgs.length) return Promise.resolve(msgs[read++]);
      return new Promise<Msg>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no message at ${id} within ${timeoutMs} ms`)), timeoutMs);
        waiters.push(() => {
          clearTimeout(t);
          resolve(msgs[read++]);
        });
      });
    },
  };
}

/** Every status the node set, in order. */
export function statuses(node: Node): NodeStatus[] {
  return (node.status as unknown as SinonSpy)
    .getCalls()
    .filter((c) => c.thisValue === node)
    .map((c) => c.args[0] as NodeStatus);
}

/** [fill, shape, text] of the last status. */
export function lastStatus(node: Node): [unknown, unknown, unknown] {
  const s = statuses(node).at(-1);
  return [s?.fill, s?.shape, s?.text];
}

/** Waits until the node's last status has this text (an i18n key in tests). */
export async function statusText(node: Node, text: string, timeoutMs = 5000): Promise<NodeStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = statuses(node).at(-1);
    if (s?.text === text) return s;
    if (Date.now() > deadline) throw new Error(`status never became ${text}; it is ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function logged(node: Node, method: 'error' | 'warn' | 'log'): string[] {
  return (node[method] as unknown as SinonSpy)
    .getCalls()
    .filter((c) => c.thisValue === node)
    .map((c) => String(c.args[0]));
}

/** The i18n key a Catch node received (its msg.error.message reads "Error: KEY"). */
export function errorKey(m: Msg): string {
  return String(m.error?.message ?? '').replace(/^Error: /, '');
}
