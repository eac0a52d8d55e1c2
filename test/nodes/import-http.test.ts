/**
 * `ifacefailover import` keeps the HTTP handler: one properties file, two runs against the same real HTTP
 * receiver on 127.0.0.1 that answers each run's n-th request the same way (503, a hang, 500s, a 404, a
 * redirect): the headless service's HTTP handlers, then the imported flow in Node-RED (its controller and
 * uplinks left out: controller messages are fed to the nodes its output 1 is wired to). What arrives must be
 * the same: method, path, headers (auth included), body, order, and the retries' spacing (retryDelay,
 * timeout, maxRetry). Runs with Node-RED 4 and again with Node-RED 5.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { FailoverEvent } from '../../lib/engine/events';
import { silentLogger } from '../../lib/log/logger';
import { flowFromProperties } from '../../lib/migrate/flow-from-properties';
import { parseServiceProperties, ServiceProperties } from '../../lib/properties/ifacefailover-properties';
import { HttpHandlers } from '../../lib/service/http-handler';
import { coreNodes, initHelper } from '../support/red-helper';
import type { FlowNode } from '../support/flow-check';
import { until } from '../support/wait';

const helper = initHelper();

/** Headers of the transport, not of the handler: each client sends its own. */
const TRANSPORT_HEADERS = new Set(['host', 'connection', 'content-length', 'user-agent', 'accept-encoding', 'transfer-encoding', 'keep-alive']);

interface Arrival {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** ms since the run started */
  at: number;
}

/** What the receiver answers to a run's n-th request (1-based): a status, or no answer at all. */
const SCRIPT: Readonly<Record<number, number | 'hang'>> = {
  1: 503, // primaryteardown: retried after retryDelay (0.2 s)
  2: 'hang', // primaryteardown: cut off after timeout (0.5 s), retried after 0.4 s
  3: 200, // primaryteardown delivered
  4: 500, // fonasetup: retried after 0.1 s
  5: 500, // fonasetup: maxRetry 2 reached, given up
  6: 404, // primaryconnectionfailed: final, dropped
  7: 200, // fonaconnected delivered
  8: 302, // primaryconnectionrestored: a redirect is not followed, dropped
};
const EXPECTED_REQUESTS = Object.keys(SCRIPT).length;

/** A receiver on 127.0.0.1 recording every request of the current run. */
class Receiver {
  arrivals: Arrival[] = [];
  private started = Date.now();
  readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = this.arrivals.length + 1;
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => !TRANSPORT_HEADERS.has(name)));
      this.arrivals.push({ method: req.method ?? '', path: req.url ?? '', headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() - this.started });
      const answer = SCRIPT[n] ?? 200;
      if (answer === 'hang') return;
      res.writeHead(answer, answer === 302 ? { location: '/elsewhere' } : {}).end();
    });
  });

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as AddressInfo).port;
  }

  reset(): void {
    this.arrivals = [];
    this.started = Date.now();
  }

  close(): void {
    this.server.closeAllConnections();
    this.server.close();
  }
}

function properties(port: number): string {
  const base = `http://127.0.0.1:${port}`;
  return [
    'route.primary.gateway=192.0.2.1',
    'route.primary.iface=eth0',
    "route.primary.handlers=['/opt/ifacefailover/config/logHandler.pkl','/opt/ifacefailover/config/httpHandler.pkl']",
    // The file's own Authorization header is replaced by basic auth, in the service and in the flow.
    `route.primary.handlerKwargs=[{'name':'primary'}, {'auth':('username', 'pass:wörd'), 'url':'${base}/myapp/contextroot/', ` +
      "'onTearDownUrlSuffix':'primaryteardown', 'onConnectionFailedUrlSuffix':'primaryconnectionfailed', 'onConnectionRestoredUrlSuffix':'primaryconnectionrestored', " +
      "'headers':{'X-Device':'pi-7', 'Accept':'text/plain', 'Authorization':'Bearer not-this'}, 'retryDelay':0.2, 'timeout':0.5}]",
    'route.fona.gateway=0.0.0.0',
    'route.fona.iface=ppp0',
    "route.fona.handlers=['/opt/ifacefailover/config/httpHandler.pkl']",
    `route.fona.handlerKwargs=[{'url':'${base}/other/', 'onSetupUrlSuffix':'fonasetup', 'onConnectedUrlSuffix':'fonaconnected', ` +
      "'headers':{'Content-Type':'application/vnd.iff+json', 'X-Route':'fona'}, 'maxRetry':2, 'retryDelay':0.1, 'timeout':2}]",
  ].join('\n');
}

const T = Date.parse('2026-11-25T14:44:10.081Z');
/** A failover to ppp0 and back, in the engine's order. */
const EVENTS: FailoverEvent[] = [
  { type: 'teardown', uplink: 'primary', iface: 'eth0', time: T },
  { type: 'setup', uplink: 'fona', iface: 'ppp0', time: T },
  { type: 'connectionFailed', uplink: 'primary', iface: 'eth0', to: 'fona', time: T },
  { type: 'connected', uplink: 'fona', iface: 'ppp0', from: 'primary', time: T + 1 },
  { type: 'teardown', uplink: 'fona', iface: 'ppp0', time: T + 50_000 },
  { type: 'setup', uplink: 'primary', iface: 'eth0', time: T + 50_000 },
  { type: 'connectionRestored', uplink: 'primary', iface: 'eth0', from: 'fona', duration: 52_000, time: T + 52_000 },
];

/** The failover-controller's output-1 message for an event (its documented msg.payload, with `active`). */
function controllerMessage(event: FailoverEvent): { topic: string; payload: Record<string, unknown> } {
  const { type, time, ...fields } = event;
  return { topic: type, payload: { event: type, uplink: null, iface: null, ...fields, active: 'fona', time: new Date(time).toISOString() } };
}

/** Waits until the run's requests have all arrived, then a little longer: anything sent twice would show. */
async function settle(receiver: Receiver): Promise<void> {
  await until(() => receiver.arrivals.length >= EXPECTED_REQUESTS, { timeoutMs: 20_000, what: `${EXPECTED_REQUESTS} requests` });
  await new Promise((r) => setTimeout(r, 700));
}

async function runService(props: ServiceProperties, receiver: Receiver): Promise<Arrival[]> {
  receiver.reset();
  const http = new HttpHandlers(props.routes, { logger: silentLogger });
  for (const event of EVENTS) http.onEvent(event);
  await settle(receiver);
  await http.stop(0);
  return receiver.arrivals;
}

async function runFlow(props: ServiceProperties, receiver: Receiver): Promise<{ arrivals: Arrival[]; warnings: string[] }> {
  const imported = flowFromProperties(props);
  assert.deepEqual(imported.warnings, [], 'everything of these handlers can be expressed');
  const controller = imported.flow.find((n) => n.type === 'failover-controller');
  const targets = (controller?.wires as string[][] | undefined)?.[0] ?? [];
  assert.ok(targets.length > 0, "the controller's events are wired");
  // No controller and no uplinks: nothing here probes or touches a route; the events are fed in by hand.
  const flow = imported.flow.filter((n) => n.type !== 'failover-controller' && n.type !== 'uplink') as FlowNode[];
  const types = [...new Set(flow.map((n) => n.type).filter((t) => t !== 'tab'))];
  receiver.reset();
  await helper.load(coreNodes(types), flow as unknown as Parameters<typeof helper.load>[1], imported.credentials);
  try {
    for (const event of EVENTS) for (const id of targets) helper.getNode(id).receive(controllerMessage(event));
    await settle(receiver);
    const queue = flow.find((n) => n.type === 'function' && n.name === 'http queue');
    const warnings = helper
      .log()
      .args.map((a: unknown[]) => a[0] as { level: number; id?: string; msg: unknown })
      .filter((e) => e.level === 30 && e.id === queue?.id)
      .map((e) => String(e.msg));
    return { arrivals: receiver.arrivals, warnings };
  } finally {
    await helper.unload();
  }
}

/** The gaps between consecutive requests, ms. */
const gaps = (arrivals: Arrival[]): number[] => arrivals.slice(1).map((a, i) => a.at - arrivals[i].at);

describe('import: the http handler in the flow posts what the headless service posts', () => {
  const receiver = new Receiver();
  let props: ServiceProperties;
  let service: Arrival[];
  let flow: { arrivals: Arrival[]; warnings: string[] };

  before(async () => {
    const port = await receiver.listen();
    props = parseServiceProperties(properties(port), 'http.properties');
    await helper.startServer();
    service = await runService(props, receiver);
    flow = await runFlow(props, receiver);
  });
  after(async () => {
    receiver.close();
    await helper.stopServer();
  });

  it('the service: every attempt in order, the retries spaced by retryDelay, timeout and maxRetry', () => {
    assert.deepEqual(
      service.map((a) => `${a.method} ${a.path}`),
      [
        'POST /myapp/contextroot/primaryteardown',
        'POST /myapp/contextroot/primaryteardown',
        'POST /myapp/contextroot/primaryteardown',
        'POST /other/fonasetup',
        'POST /other/fonasetup',
        'POST /myapp/contextroot/primaryconnectionfailed',
        'POST /other/fonaconnected',
        'POST /myapp/contextroot/primaryconnectionrestored',
      ],
    );
    const basic = `Basic ${Buffer.from('username:pass:wörd').toString('base64')}`;
    assert.deepEqual(service[0].headers, { 'content-type': 'application/json', 'x-device': 'pi-7', accept: 'text/plain', authorization: basic });
    assert.deepEqual(service[3].headers, { 'content-type': 'application/vnd.iff+json', 'x-route': 'fona' });
    assert.equal(service[5].body, '{"event":"connectionFailed","uplink":"primary","iface":"eth0","to":"fona","time":"2026-11-25T14:44:10.081Z"}');
  });

  it('the imported flow: the same requests (method, path, headers with auth, body) in the same order', () => {
    const strip = (a: Arrival) => ({ method: a.method, path: a.path, headers: a.headers, body: a.body });
    assert.deepEqual(flow.arrivals.map(strip), service.map(strip));
  });

  it('both space the retries alike: retryDelay doubled per failure, the hung request cut off after timeout', () => {
    for (const [who, arrivals] of [
      ['service', service],
      ['flow', flow.arrivals],
    ] as const) {
      const [afterFirst, afterHang, , afterSetupRetry] = gaps(arrivals);
      assert.ok(afterFirst >= 200 - 20 && afterFirst < 200 + 400, `${who}: first retry after retryDelay 0.2 s (${afterFirst} ms)`);
      assert.ok(afterHang >= 500 + 400 - 20 && afterHang < 900 + 600, `${who}: the hung request waited timeout 0.5 s, then 0.4 s (${afterHang} ms)`);
      assert.ok(afterSetupRetry >= 100 - 20 && afterSetupRetry < 100 + 400, `${who}: fona's retry after its retryDelay 0.1 s (${afterSetupRetry} ms)`);
    }
  });

  it("the flow's queue says what it dropped, as the service logs it", () => {
    const base = (props.routes[0].handlers[1] as { url: string }).url;
    const other = base.replace('/myapp/contextroot/', '/other/');
    assert.deepEqual(flow.warnings, [
      `giving up on ${other}fonasetup after 2 attempts`,
      `dropped ${base}primaryconnectionfailed: HTTP 404 (the same request would fail again)`,
      `dropped ${base}primaryconnectionrestored: HTTP 302 (redirects are not followed: use the final URL)`,
    ]);
  });
});
