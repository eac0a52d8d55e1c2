/**
 * The example "Post events over HTTP with retries" (core nodes only) in a real Node-RED runtime, against
 * a receiver on 127.0.0.1 that is down at first, fails, hangs or refuses. The controller and its uplinks
 * are left out: controller-like events are fed straight into the nodes the controller's output 1 is wired
 * to, so nothing touches the network but loopback. Runs with Node-RED 4 and again with Node-RED 5.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, IncomingMessage, Server } from 'node:http';
import { resolve } from 'node:path';
import { coreNodes, initHelper } from '../support/red-helper';
import type { FlowNode } from '../support/flow-check';
import { sleep, until } from '../support/wait';
import { freePort } from '../support/ports';

const helper = initHelper();
const EXAMPLE = resolve(__dirname, '../../../examples/failover-controller/03 - Post events over HTTP with retries.json');
const PLACEHOLDER = 'https://localhost:5000/myapp/contextroot/';
const CREDENTIALS = { user: 'username', password: 'password' };
const BASIC = `Basic ${Buffer.from('username:password').toString('base64')}`;

const example = JSON.parse(readFileSync(EXAMPLE, 'utf8')) as FlowNode[];
const byName = (type: string, name: string): FlowNode => {
  const n = example.find((x) => x.type === type && x.name === name);
  assert.ok(n, `the example has a ${type} "${name}"`);
  return n;
};
const controller = example.find((n) => n.type === 'failover-controller');
const httpNode = byName('http request', 'POST');
const queueNode = byName('function', 'queue');
/** Where the controller's events go (output 1). */
const eventTargets = controller?.wires?.[0] ?? [];

interface Hit {
  path: string;
  auth: string | undefined;
  body: Record<string, unknown>;
}


const servers: Server[] = [];

/** A receiver on 127.0.0.1:port; answer(n) picks the status of the n-th request, or 'hang'. */
async function receiver(port: number, answer: (n: number) => number | 'hang' = () => 200): Promise<{ hits: Hit[]; requests: () => number }> {
  const hits: Hit[] = [];
  let count = 0;
  const server = createServer((req: IncomingMessage, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += String(c)));
    req.on('end', () => {
      const status = answer(++count);
      if (status === 'hang') return;
      if (status >= 200 && status < 300) hits.push({ path: req.url ?? '', auth: req.headers.authorization, body: JSON.parse(data) as Record<string, unknown> });
      res.writeHead(status).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  servers.push(server);
  return { hits, requests: () => count };
}

/**
 * The example as loaded here: without the controller and the uplinks, the base URL pointed at the local
 * receiver, and (optionally) the queue's constants changed for a quicker test.
 */
function testFlow(base: string, queueConstants: Record<string, number> = {}): FlowNode[] {
  const nodes = example
    .filter((n) => n.type !== 'failover-controller' && n.type !== 'uplink')
    .map((n) => {
      const copy = JSON.parse(JSON.stringify(n)) as FlowNode;
      if (copy.type === 'change' && copy.name === 'URL per event') {
        const rules = copy.rules as { to: string }[];
        assert.ok(rules[0].to.includes(PLACEHOLDER));
        rules[0].to = rules[0].to.replace(PLACEHOLDER, base);
      }
      if (copy.id === queueNode.id) {
        let func = copy.func as string;
        for (const [name, value] of Object.entries(queueConstants)) {
          const pattern = new RegExp(`const ${name} = \\d+;`);
          assert.match(func, pattern);
          func = func.replace(pattern, `const ${name} = ${value};`);
        }
        copy.func = func;
      }
      return copy;
    });
  return [{ id: queueNode.z ?? 'tab', type: 'tab', label: 'example 03' }, ...nodes];
}

async function load(flow: FlowNode[]): Promise<void> {
  const types = [...new Set(flow.map((n) => n.type).filter((t) => t !== 'tab'))];
  await helper.load(coreNodes(types), flow as unknown as Parameters<typeof helper.load>[1], { [httpNode.id]: CREDENTIALS });
}

const T = '2026-11-25T14:44:10.081Z';
/** Controller-like output-1 messages (msg.topic = event, msg.payload as the controller sends it). */
const EVENTS = [
  { topic: 'teardown', payload: { event: 'teardown', uplink: 'primary', iface: 'eth0', active: 'primary', time: T } }, // not posted
  { topic: 'connectionFailed', payload: { event: 'connectionFailed', uplink: 'primary', iface: 'eth0', to: 'fona', active: 'fona', time: T } },
  { topic: 'health', payload: { event: 'health', uplink: 'primary', iface: 'eth0', health: 'down', active: 'fona', time: T } }, // not posted
  { topic: 'connected', payload: { event: 'connected', uplink: 'fona', iface: 'ppp0', from: 'primary', active: 'fona', time: T } },
  { topic: 'connectionRestored', payload: { event: 'connectionRestored', uplink: 'primary', iface: 'eth0', from: 'fona', duration: 52000, active: 'primary', time: T } },
];
const POSTED = ['primaryconnectionfailed', 'fonaconnected', 'primaryconnectionrestored'];

function emit(msg: { topic: string; payload: Record<string, unknown> }): void {
  for (const id of eventTargets) helper.getNode(id).receive(JSON.parse(JSON.stringify(msg)) as Record<string, unknown>);
}


/** What the queue function warned about (node.warn), in order. */
function queueWarnings(): string[] {
  return helper
    .log()
    .args.map((a: unknown[]) => a[0] as { level: number; id?: string; msg: unknown })
    .filter((e) => e.level === 30 && e.id === queueNode.id)
    .map((e) => String(e.msg));
}


describe('example 03: post events over HTTP with retries (core nodes)', () => {
  before(() => helper.startServer());
  after(async () => {
    for (const s of servers) s.closeAllConnections();
    for (const s of servers) s.close();
    await helper.stopServer();
  });
  afterEach(() => helper.unload());

  it('keeps the credentials out of the flow: basic auth through the http request node', () => {
    assert.equal(httpNode.authType, 'basic');
    assert.equal(httpNode.method, 'POST');
    assert.equal(httpNode.url, '', 'the URL comes from msg.url');
    for (const key of ['credentials', 'user', 'password']) assert.ok(!(key in httpNode), `no ${key} in the flow JSON`);
    assert.ok(eventTargets.length > 0, "the controller's events are wired");
  });

  it('receiver down for the first 2 s: all three events arrive once it is up, in order, none twice, with basic auth', async () => {
    const port = await freePort();
    await load(testFlow(`http://127.0.0.1:${port}/myapp/contextroot/`));
    for (const e of EVENTS) emit(e);
    await sleep(2000); // time passes with the receiver down (the scenario); refused: the head is retried with back-off, the others wait behind it
    const { hits } = await receiver(port);
    await until(() => hits.length >= 3, { what: 'three deliveries', timeoutMs: 20_000 });
    await sleep(1500); // anything sent twice would show up now
    assert.deepEqual(
      hits.map((h) => h.path),
      POSTED.map((p) => `/myapp/contextroot/${p}`),
    );
    for (const h of hits) assert.equal(h.auth, BASIC);
    assert.deepEqual(hits[0].body, EVENTS[1].payload);
    assert.deepEqual(hits[2].body, EVENTS[4].payload);
    assert.deepEqual(queueWarnings(), [], 'no warnings from the queue');
  });

  it('a 503 and a request that hangs (msg.requestTimeout) are retried; a 404 is dropped with a warning; order holds', async () => {
    const port = await freePort();
    // 1st request 503, 2nd hangs, 3rd ok (connectionFailed); 4th 404 (connected: dropped); 5th ok (restored).
    const { hits, requests } = await receiver(port, (n) => (n === 1 ? 503 : n === 2 ? 'hang' : n === 4 ? 404 : 200));
    await load(testFlow(`http://127.0.0.1:${port}/myapp/contextroot/`, { FIRST_RETRY_MS: 100, REQUEST_TIMEOUT_MS: 500 }));
    for (const e of EVENTS) emit(e);
    await until(() => hits.length >= 2, { what: 'two deliveries', timeoutMs: 20_000 });
    await sleep(500); // time passes: no sixth request may come
    assert.equal(requests(), 5);
    assert.deepEqual(
      hits.map((h) => h.path.split('/').pop()),
      ['primaryconnectionfailed', 'primaryconnectionrestored'],
    );
    assert.deepEqual(queueWarnings(), [`dropped http://127.0.0.1:${port}/myapp/contextroot/fonaconnected: HTTP 404 (the same request would fail again)`]);
  });

  it('on close nothing is left running: a pending retry never fires after the flow stopped', async () => {
    const port = await freePort();
    await load(testFlow(`http://127.0.0.1:${port}/myapp/contextroot/`, { FIRST_RETRY_MS: 300 }));
    emit(EVENTS[1]);
    await sleep(200); // the first attempt was refused; the retry waits in the back-off delay node
    await helper.unload();
    const { requests } = await receiver(port);
    await sleep(1500); // time passes: a pending retry would have fired by now
    assert.equal(requests(), 0, 'no request after the flow was stopped');
  });
});
