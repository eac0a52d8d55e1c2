/** Small helpers for node specs: collect what a helper node receives, and what a node showed and logged. */
import type { SinonSpy } from 'sinon';
import type { Node, NodeAPI, NodeInitializer, NodeMessage, NodeStatus } from 'node-red';
import type { NodeTestHelper } from './red-helper';

export type Msg = NodeMessage & { payload: Record<string, unknown>; error?: { message: string }; [key: string]: unknown };

export interface Sink<M = Msg> {
  msgs: M[];
  /** The next message not read yet (waits for it). */
  next(timeoutMs?: number): Promise<M>;
}

/** Messages arriving at a helper node, from the moment this is called. */
export function sink<M = Msg>(helper: NodeTestHelper, id: string): Sink<M> {
  const node = helper.getNode(id);
  const msgs: M[] = [];
  let waiters: (() => void)[] = [];
  node.on('input', (m) => {
    msgs.push(m as unknown as M);
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  });
  let read = 0;
  return {
    msgs,
    next(timeoutMs = 5000) {
      if (read < msgs.length) return Promise.resolve(msgs[read++]);
      return new Promise<M>((resolve, reject) => {
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

/**
 * The node initializer with RED._ wrapped first to echo its parameters after the key
 * ('route-verifier.status.up {"up":1,...}'), so specs assert the i18n key and the values.
 */
export function echoingParams(init: NodeInitializer): NodeInitializer {
  return (RED: NodeAPI) => {
    const translate = (key: string, params?: Record<string, unknown>): string => (params ? `${key} ${JSON.stringify(params)}` : key);
    RED._ = translate as unknown as NodeAPI['_'];
    return init(RED);
  };
}

/** The key of a text translated by echoingParams; a Catch node's msg.error.message starts with "Error: ". */
export const keyOf = (text: unknown): string => String(text).replace(/^Error: /, '').split(' ')[0];

/** The parameters of a text translated by echoingParams ({} without any). */
export function paramsOf(text: unknown): Record<string, unknown> {
  const s = String(text).replace(/^Error: /, '');
  const i = s.indexOf(' ');
  return i < 0 ? {} : (JSON.parse(s.slice(i + 1)) as Record<string, unknown>);
}
