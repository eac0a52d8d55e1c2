/**
 * The HTTP notifier against a real HTTP server on loopback that is down for the first seconds.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, IncomingMessage, Server } from 'node:http';
import { HttpNotifier } from '../../lib/notify/http-notifier';
import { freePort } from '../support/ports';

interface Received {
  path: string;
  auth: string | undefined;
  body: unknown;
}


function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += String(c)));
    req.on('end', () => resolve(data));
  });
}

async function receiver(port: number, behave: (n: number) => number | 'hang' = () => 200): Promise<{ server: Server; got: Received[] }> {
  const got: Received[] = [];
  let count = 0;
  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const status = behave(++count);
      if (status === 'hang') return;
      if (status === 200) got.push({ path: req.url ?? '', auth: req.headers.authorization, body: body ? JSON.parse(body) : undefined });
      res.writeHead(status).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { server, got };
}

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.closeAllConnections?.();
  for (const s of servers) s.close();
});

describe('HttpNotifier', () => {
  it('returns at once, delivers in order once the receiver comes up, with basic auth', async () => {
    const port = await freePort();
    const notifier = new HttpNotifier({ retryDelayMs: 50, maxDelayMs: 200, timeoutMs: 1000 });
    const base = `http://127.0.0.1:${port}/myapp/contextroot/`;
    const started = Date.now();
    for (const suffix of ['primaryconnectionfailed', 'fonaconnected', 'primaryconnectionrestored']) {
      notifier.enqueue({ url: base + suffix, auth: { user: 'username', password: 'password' }, body: { event: suffix }, label: suffix });
    }
    assert.ok(Date.now() - started < 50, 'enqueue never waits');
    assert.equal(notifier.pending, 3);
    await new Promise((r) => setTimeout(r, 700)); // receiver down: retries pile up, nothing is lost
    assert.equal(notifier.pending, 3);
    const { server, got } = await receiver(port);
    servers.push(server);
    await notifier.idle();
    assert.deepEqual(
      got.map((g) => g.path),
      ['/myapp/contextroot/primaryconnectionfailed', '/myapp/contextroot/fonaconnected', '/myapp/contextroot/primaryconnectionrestored'],
    );
    assert.equal(got[0].auth, `Basic ${Buffer.from('username:password').toString('base64')}`);
    assert.deepEqual(got[1].body, { event: 'fonaconnected' });
    await notifier.stop();
  });

  it('retries a 500 and a request that hangs (timeout), keeping the order', async () => {
    const port = await freePort();
    const { server, got } = await receiver(port, (n) => (n === 1 ? 500 : n === 2 ? 'hang' : 200));
    servers.push(server);
    const lines: string[] = [];
    const log = (m: string) => lines.push(m);
    const notifier = new HttpNotifier({ retryDelayMs: 20, timeoutMs: 300, logger: { debug: log, info: log, warn: log, error: log } });
    notifier.enqueue({ url: `http://127.0.0.1:${port}/a`, label: 'a' });
    notifier.enqueue({ url: `http://127.0.0.1:${port}/b`, label: 'b' });
    await notifier.idle();
    assert.deepEqual(got.map((g) => g.path), ['/a', '/b']);
    assert.ok(lines.includes('Attempting POST request 3 (a)'), lines.join('\n'));
    assert.ok(lines.some((l) => /HTTP 500/.test(l)));
    assert.ok(lines.some((l) => /no answer within 300 ms/.test(l)));
    await notifier.stop();
  });

  // A stop that waited for the 10 s retry would run into the test's timeout.
  it('gives up after maxRetry when asked to, and stop() ends retries at once', { timeout: 5000 }, async () => {
    const port = await freePort(); // nobody listens
    const notifier = new HttpNotifier({ retryDelayMs: 10, maxRetry: 3 });
    notifier.enqueue({ url: `http://127.0.0.1:${port}/x` });
    await notifier.idle();
    assert.equal(notifier.pending, 0);
    const forever = new HttpNotifier({ retryDelayMs: 10_000 });
    forever.enqueue({ url: `http://127.0.0.1:${port}/y` });
    await new Promise((r) => setTimeout(r, 100));
    await forever.stop(50);
    assert.equal(forever.pending, 1, 'not delivered, and said so');
  });
});
