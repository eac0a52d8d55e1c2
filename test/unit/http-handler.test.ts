/**
 * The built-in httpHandler: the original's kwargs mapped onto the HTTP notifier, against a real HTTP
 * server on 127.0.0.1 (down at first, slow, or answering with errors), and its kwargs checked when the
 * properties file is read.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, IncomingMessage, Server } from 'node:http';
import { ConfigError } from '../../lib/errors';
import { FailoverEvent } from '../../lib/engine/events';
import { Logger } from '../../lib/log/logger';
import { HttpNotifier } from '../../lib/notify/http-notifier';
import { parseServiceProperties } from '../../lib/properties/ifacefailover-properties';
import { PyTuple, PyValue } from '../../lib/properties/python-literal';
import type { HandlerSpec } from '../../lib/properties/handler-specs';
import { HttpSettings, parseHttpKwargs } from '../../lib/properties/http-kwargs';
import { createHttpHandler, HttpHandlers } from '../../lib/service/http-handler';
import { freePort } from '../support/ports';

interface Received {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}


const servers: Server[] = [];
after(() => {
  for (const s of servers) s.closeAllConnections();
  for (const s of servers) s.close();
});

/** A receiver on 127.0.0.1:port; `answer(n)` picks the status of the n-th request (or 'hang'). */
async function receiver(port: number, answer: (n: number) => number | 'hang' = () => 200): Promise<{ got: Received[]; requests: () => number; server: Server }> {
  const got: Received[] = [];
  let count = 0;
  const server = createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += String(c)));
    req.on('end', () => {
      const status = answer(++count);
      if (status === 'hang') return;
      if (status >= 200 && status < 300) {
        got.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: JSON.parse(data) as Record<string, unknown> });
      }
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  servers.push(server);
  return { got, requests: () => count, server };
}

function recorder(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (m: string) => lines.push(`${level} ${m}`);
  return { lines, debug: log('DEBUG'), info: log('INFO'), warn: log('WARNING'), error: log('ERROR') };
}

const T = Date.parse('2026-11-25T14:44:10.081Z');
const ev = {
  setup: (uplink: string, iface: string): FailoverEvent => ({ type: 'setup', uplink, iface, time: T }),
  teardown: (uplink: string, iface: string): FailoverEvent => ({ type: 'teardown', uplink, iface, time: T }),
  failed: (uplink: string, iface: string, to: string | null): FailoverEvent => ({ type: 'connectionFailed', uplink, iface, to, time: T }),
  connected: (uplink: string, iface: string, from: string | null): FailoverEvent => ({ type: 'connected', uplink, iface, from, time: T }),
  restored: (uplink: string, iface: string, from: string | null): FailoverEvent => ({ type: 'connectionRestored', uplink, iface, from, duration: 52_000, time: T }),
};

/** Checked kwargs, as the properties reader hands them on. */
function settingsOf(kwargs: Record<string, PyValue>): HttpSettings {
  const { settings, issues } = parseHttpKwargs(kwargs);
  assert.deepEqual(issues, []);
  return settings!;
}

/** An http handler spec as the properties reader makes it. */
function httpSpec(kwargs: Record<string, PyValue>): HandlerSpec {
  return { kind: 'http', path: '/opt/x/httpHandler.pkl', line: 1, ...settingsOf(kwargs) };
}

/** The guide's kwargs for the primary, pointed at the local receiver. */
function primaryKwargs(port: number, extra: Record<string, PyValue> = {}): Record<string, PyValue> {
  return {
    auth: new PyTuple(['username', 'password']),
    url: `http://127.0.0.1:${port}/myapp/contextroot/`,
    onConnectionFailedUrlSuffix: 'primaryconnectionfailed',
    onConnectionRestoredUrlSuffix: 'primaryconnectionrestored',
    retryDelay: 0.05,
    timeout: 2,
    ...extra,
  };
}

const BASIC = `Basic ${Buffer.from('username:password').toString('base64')}`;

describe('httpHandler: events to POSTs', () => {
  it("posts url + suffix for its route's events with a suffix, JSON body, basic auth and headers", async () => {
    const port = await freePort();
    const { got, server } = await receiver(port);
    let sockets = 0;
    server.on('connection', () => sockets++);
    const connections = () => sockets;
    const log = recorder();
    const handler = createHttpHandler(settingsOf(primaryKwargs(port, { headers: { 'X-Device': 'pi-7' }, onSetupUrlSuffix: 'primarysetup' })), 'primary', log);
    handler.onEvent(ev.setup('primary', 'eth0'));
    handler.onEvent(ev.failed('primary', 'eth0', 'fona'));
    handler.onEvent(ev.teardown('primary', 'eth0')); // no suffix: not posted
    handler.onEvent(ev.connected('fona', 'ppp0', 'primary')); // another route's event
    handler.onEvent({ type: 'noUplink', time: T, active: 'primary' });
    handler.onEvent({ type: 'health', uplink: 'primary', iface: 'eth0', health: 'down', cause: 'probe', time: T });
    handler.onEvent(ev.restored('primary', 'eth0', 'fona'));
    await handler.stop(5000);
    // A new connection per request: none rides a socket opened over an uplink that may have died since.
    assert.equal(connections(), 3);
    assert.deepEqual(
      got.map((g) => `${g.method} ${g.path}`),
      ['POST /myapp/contextroot/primarysetup', 'POST /myapp/contextroot/primaryconnectionfailed', 'POST /myapp/contextroot/primaryconnectionrestored'],
    );
    for (const g of got) {
      assert.equal(g.headers.authorization, BASIC);
      assert.equal(g.headers['x-device'], 'pi-7');
      assert.equal(g.headers['content-type'], 'application/json');
    }
    assert.deepEqual(got[1].body, { event: 'connectionFailed', uplink: 'primary', iface: 'eth0', to: 'fona', time: '2026-11-25T14:44:10.081Z' });
    assert.deepEqual(got[2].body, { event: 'connectionRestored', uplink: 'primary', iface: 'eth0', from: 'fona', duration: 52_000, time: '2026-11-25T14:44:10.081Z' });
    assert.ok(log.lines.includes('INFO Attempting POST request 1 (primary connectionFailed)'), log.lines.join('\n'));
  });

  it('never waits: events queued while the receiver is down all arrive, in order, once it is up', async () => {
    const port = await freePort();
    const notifier = new HttpNotifier({ maxDelayMs: 200 });
    const handler = createHttpHandler(settingsOf(primaryKwargs(port)), 'primary', recorder(), notifier);
    handler.onEvent(ev.failed('primary', 'eth0', 'fona'));
    handler.onEvent(ev.restored('primary', 'eth0', 'fona'));
    handler.onEvent(ev.failed('primary', 'eth0', 'fona'));
    // onEvent only queues: all three are waiting when it returns (a switch is never held up by a POST).
    assert.equal(notifier.pending, 3);
    await new Promise((r) => setTimeout(r, 600)); // refused, retried: nothing lost
    assert.equal(notifier.pending, 3);
    const { got } = await receiver(port);
    await notifier.idle();
    assert.deepEqual(
      got.map((g) => g.path.split('/').pop()),
      ['primaryconnectionfailed', 'primaryconnectionrestored', 'primaryconnectionfailed'],
    );
    await handler.stop();
  });

  it('a request that hangs is cut off after `timeout` and retried; 503s are retried', async () => {
    const port = await freePort();
    const { got, requests } = await receiver(port, (n) => (n === 1 ? 'hang' : n === 2 ? 503 : 200));
    const log = recorder();
    const handler = createHttpHandler(settingsOf(primaryKwargs(port, { timeout: 0.3 })), 'primary', log);
    handler.onEvent(ev.failed('primary', 'eth0', 'fona'));
    await handler.stop(5000);
    assert.equal(requests(), 3);
    assert.equal(got.length, 1);
    assert.ok(log.lines.some((l) => l === 'ERROR POST http://127.0.0.1:' + port + '/myapp/contextroot/primaryconnectionfailed: no answer within 300 ms'), log.lines.join('\n'));
    assert.ok(log.lines.some((l) => /: HTTP 503$/.test(l)));
  });

  it('maxRetry bounds the attempts per event, as in the original ("Attempting POST request N of M")', async () => {
    const port = await freePort();
    const { requests } = await receiver(port, () => 500);
    const log = recorder();
    const handler = createHttpHandler(settingsOf(primaryKwargs(port, { maxRetry: 3 })), 'primary', log);
    handler.onEvent(ev.failed('primary', 'eth0', 'fona'));
    await handler.stop(5000);
    assert.equal(requests(), 3);
    assert.ok(log.lines.includes('INFO Attempting POST request 3 of 3 (primary connectionFailed)'));
    assert.ok(log.lines.some((l) => /giving up on primary connectionFailed after 3 attempts/.test(l)));
  });

  it('a 404 is final: that event is dropped and the next one still goes', async () => {
    const port = await freePort();
    const { got, requests } = await receiver(port, (n) => (n === 1 ? 404 : 200));
    const log = recorder();
    const handler = createHttpHandler(settingsOf(primaryKwargs(port)), 'primary', log);
    handler.onEvent(ev.failed('primary', 'eth0', 'fona'));
    handler.onEvent(ev.restored('primary', 'eth0', 'fona'));
    await handler.stop(5000);
    assert.equal(requests(), 2);
    assert.deepEqual(got.map((g) => g.path.split('/').pop()), ['primaryconnectionrestored']);
    assert.ok(log.lines.some((l) => /HTTP 404; dropping primary connectionFailed/.test(l)), log.lines.join('\n'));
  });

  it("all routes' handlers share one queue: a failover's events arrive in the order they happened", async () => {
    const port = await freePort();
    // The first request (primary's connectionFailed) fails: fona's connected must still come after it.
    const { got } = await receiver(port, (n) => (n === 1 ? 503 : 200));
    const url = `http://127.0.0.1:${port}/app/`;
    const auth = new PyTuple(['username', 'password']);
    const http = new HttpHandlers(
      [
        { uplink: { name: 'primary' }, handlers: [{ kind: 'log', path: 'logHandler.pkl', line: 1, name: 'primary' }, httpSpec({ url, auth, onConnectionFailedUrlSuffix: 'primaryconnectionfailed', onConnectionRestoredUrlSuffix: 'primaryconnectionrestored', retryDelay: 0.2 })] },
        { uplink: { name: 'fona' }, handlers: [httpSpec({ url, auth, onConnectedUrlSuffix: 'fonaconnected', onTearDownUrlSuffix: 'fonateardown', retryDelay: 0.01 })] },
      ],
      { logger: recorder() },
    );
    assert.equal(http.handlers.length, 2);
    // The engine's order for a failover to a ready ppp0, then the restore.
    for (const e of [ev.teardown('primary', 'eth0'), ev.setup('fona', 'ppp0'), ev.failed('primary', 'eth0', 'fona'), ev.connected('fona', 'ppp0', 'primary'), ev.teardown('fona', 'ppp0'), ev.setup('primary', 'eth0'), ev.restored('primary', 'eth0', 'fona')]) {
      http.onEvent(e);
    }
    assert.equal(http.pending, 4);
    await http.stop(5000);
    assert.deepEqual(
      got.map((g) => g.path),
      ['/app/primaryconnectionfailed', '/app/fonaconnected', '/app/fonateardown', '/app/primaryconnectionrestored'],
    );
  });

  it('dry run logs what it would post and sends nothing', async () => {
    const port = await freePort();
    const { requests } = await receiver(port);
    const log = recorder();
    const handler = createHttpHandler(settingsOf(primaryKwargs(port)), 'primary', log, undefined, { dryRun: true });
    handler.onEvent(ev.failed('primary', 'eth0', 'fona'));
    await handler.stop(1000);
    assert.equal(requests(), 0);
    assert.deepEqual(log.lines, [`INFO DRY-RUN: would POST http://127.0.0.1:${port}/myapp/contextroot/primaryconnectionfailed (primary connectionFailed)`]);
  });

  it('stop() is bounded while nothing can be delivered, and says what was lost', async () => {
    const port = await freePort(); // nobody listens, ever
    const log = recorder();
    const http = new HttpHandlers([{ uplink: { name: 'primary' }, handlers: [httpSpec(primaryKwargs(port, { retryDelay: 10 }))] }], { logger: log });
    http.onEvent(ev.failed('primary', 'eth0', 'fona'));
    http.onEvent(ev.restored('primary', 'eth0', 'fona'));
    await http.stop(200);
    await http.stop(200); // once only
    assert.deepEqual(log.lines.filter((l) => /not delivered/.test(l)), ['WARNING 2 notification(s) not delivered before stop']);
  });
});

describe('httpHandler kwargs', () => {
  it("the guide's kwargs give the settings, with our defaults (retry until delivered)", () => {
    const { settings, issues } = parseHttpKwargs({
      auth: new PyTuple(['username', 'password']),
      url: 'https://localhost:5000/myapp/contextroot/',
      onConnectionFailedUrlSuffix: 'primaryconnectionfailed',
      onConnectedUrlSuffix: null, // None: not posted
    });
    assert.deepEqual(issues, []);
    assert.deepEqual(settings, {
      url: 'https://localhost:5000/myapp/contextroot/',
      auth: { user: 'username', password: 'password' },
      headers: {},
      suffixes: { connectionFailed: 'primaryconnectionfailed' },
      maxRetry: 0,
      retryDelayMs: 500,
      timeoutMs: 10_000,
    });
  });

  it('reports unknown options, a url that is not http(s), an auth that is not a 2-tuple of strings, bad headers', () => {
    const problems = (kwargs: Record<string, PyValue>) => parseHttpKwargs({ url: 'http://h/', ...kwargs }).issues.map((i) => `${i.field}: ${i.message}`);
    assert.match(problems({ onConnectionFailedSuffix: 'x' }).join(), /^onConnectionFailedSuffix: unknown http handler option; did you mean "onConnectionFailedUrlSuffix"\?$/);
    assert.match(problems({ maxretry: 3 }).join(), /did you mean "maxRetry"/);
    assert.match(problems({ url: 'ftp://h/' }).join(), /^url: must be an http:\/\/ or https:\/\/ address, not ftp:$/);
    assert.match(problems({ url: 'localhost:5000/app' }).join(), /^url: must be an http/);
    assert.match(problems({ url: '/app/' }).join(), /^url: is not a URL/);
    assert.match(problems({ url: 'http://u:p@h/' }).join(), /put them in 'auth'/);
    assert.match(problems({ auth: ['username', 'password'] }).join(), /^auth: must be a tuple of two strings/);
    assert.match(problems({ auth: new PyTuple(['username']) }).join(), /^auth: must be a tuple of two strings/);
    assert.match(problems({ auth: new PyTuple(['username', 5]) }).join(), /^auth: must be a tuple of two strings/);
    assert.match(problems({ headers: { 'Bad Name': 'x' } }).join(), /^headers\.Bad Name: is not a valid HTTP header name$/);
    assert.match(problems({ headers: { 'X-A': 1 } }).join(), /^headers\.X-A: must be a string/);
    assert.match(problems({ headers: { Host: 'x' } }).join(), /^headers\.Host: is set by the handler itself/);
    assert.match(problems({ maxRetry: 0 }).join(), /^maxRetry: must be a whole number of attempts, at least 1/);
    assert.match(problems({ retryDelay: 'soon' }).join(), /^retryDelay: must be a number of seconds/);
    assert.match(problems({ timeout: 0 }).join(), /^timeout: must be a number of seconds from 0.1/);
    assert.match(problems({ onSetupUrlSuffix: 5 }).join(), /^onSetupUrlSuffix: must be a string/);
    assert.deepEqual(parseHttpKwargs({}).issues.map((i) => i.field), ['url']);
  });

  it('are checked when the properties file is read: one error naming file, line and value', () => {
    const file = '/etc/ifacefailover/ifacefailover.properties';
    const text = [
      'route.primary.gateway=192.168.1.1',
      'route.primary.iface=eth0',
      "route.primary.handlers=['/opt/ifacefailover/config/logHandler.pkl','/opt/ifacefailover/config/httpHandler.pkl']",
      "route.primary.handlerKwargs=[{'name':'primary'}, {'auth':('username',), 'url':'ftp://localhost:5000/app/', 'onConnectionFailedUrlSufix':'x'}]",
    ].join('\n');
    let error: unknown;
    try {
      parseServiceProperties(text, file);
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof ConfigError, String(error));
    const lines = error.message.split('\n');
    assert.deepEqual(lines, [
      `${file}:4: uplink "primary" handlerKwargs.onConnectionFailedUrlSufix="x": unknown http handler option; did you mean "onConnectionFailedUrlSuffix"?`,
      `${file}:4: uplink "primary" handlerKwargs.url="ftp://localhost:5000/app/": must be an http:// or https:// address, not ftp:`,
      `${file}:4: uplink "primary" handlerKwargs.auth="(\\"username\\")": must be a tuple of two strings, ('user', 'password'), as requests expects for basic auth`,
    ]);
  });

  it('a handler without any suffix posts nothing: a warning with file and line', () => {
    const props = parseServiceProperties(
      ['route.primary.gateway=192.168.1.1', 'route.primary.iface=eth0', "route.primary.handlers=['/opt/h/httpHandler.pkl']", "route.primary.handlerKwargs=[{'url':'https://host/app/'}]"].join('\n'),
      'f.properties',
    );
    assert.equal(props.warnings.length, 1);
    assert.match(props.warnings[0], /^f\.properties:4: route "primary" no onSetupUrlSuffix, .*: this http handler posts nothing/);
  });
});
