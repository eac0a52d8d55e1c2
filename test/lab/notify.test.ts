/**
 * Issue 5, notifications: the real headless service with the built-in httpHandler, in the network lab.
 * The receiver is a small HTTP server inside the lab's `inet` namespace (the internet), on a target
 * address the device can reach only through a working uplink. Events are born while the network is
 * changing; the tests check that the switch never waits for them, that none is lost while nothing gets
 * through, and that they arrive in order, with basic auth, once something does.
 * Needs root (network namespaces); CI is root and runs these.
 */
import { test, TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabProcess, NetLab, isRoot, missingTools } from './netlab';
import { RunningService, sleep, startService, waitForDefault } from './service-harness';

const ROOT = isRoot();
const MISSING = ROOT ? missingTools() : [];
if (!ROOT) console.warn('SKIPPED: the notification lab tests need root (network namespaces); CI runs them as root');
else if (MISSING.length > 0) console.warn(`SKIPPED: the notification lab tests need ${MISSING.join(', ')} (.ci/run installs them)`);

const T1 = '203.0.113.1';
const T2 = '203.0.113.2';
/** The receiver: on the internet side, never a probe target. */
const RECEIVER = '203.0.113.3';
const PORT = 8080;
const URL_BASE = `http://${RECEIVER}:${PORT}/app/`;
const BASIC = `Basic ${Buffer.from('username:password').toString('base64')}`;

/** One request as the receiver saw it. */
interface Hit {
  method: string;
  path: string;
  auth: string | null;
  type: string | null;
  body: Record<string, unknown> | null;
}

const RECEIVER_SCRIPT = `'use strict';
// Test receiver: prints one JSON line per request and answers 200.
const http = require('node:http');
const [host, port] = [process.argv[2], Number(process.argv[3])];
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    let parsed = null;
    try { parsed = body ? JSON.parse(body) : null; } catch { parsed = { unparsable: body }; }
    process.stdout.write(JSON.stringify({ method: req.method, path: req.url, auth: req.headers.authorization || null, type: req.headers['content-type'] || null, body: parsed }) + '\\n');
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
});
server.listen(port, host, () => process.stdout.write('listening\\n'));
process.on('SIGTERM', () => { server.closeAllConnections(); server.close(() => process.exit(0)); });
`;

class Receiver {
  private constructor(readonly proc: LabProcess) {}

  /** Starts the receiver in `inet` and waits until it listens. */
  static async start(lab: NetLab, dir: string): Promise<Receiver> {
    const script = join(dir, 'receiver.js');
    writeFileSync(script, RECEIVER_SCRIPT);
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const proc = lab.spawn('inet', process.execPath, [script, RECEIVER, String(PORT)], { env });
    await proc.waitFor(/^listening$/m, { timeoutMs: 10_000 });
    return new Receiver(proc);
  }

  hits(): Hit[] {
    return this.proc.output.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Hit);
  }

  paths(): string[] {
    return this.hits().map((h) => h.path.replace('/app/', ''));
  }

  async waitFor(path: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.paths().includes(path)) {
      if (Date.now() > deadline) throw new Error(`the receiver never got ${path}; it got ${JSON.stringify(this.paths())}`);
      await sleep(50);
    }
  }
}

function httpKwargs(suffixes: Record<string, string>, extra = ''): string {
  const s = Object.entries(suffixes)
    .map(([k, v]) => `'${k}':'${v}'`)
    .join(', ');
  return `{'auth':('username', 'password'), 'url':'${URL_BASE}', ${s}${extra}}`;
}

function properties(primary: Record<string, string>, fona: Record<string, string>, options: { extra?: string; fonaExtra?: string } = {}): string {
  const handlers = "['/opt/ifacefailover/config/logHandler.pkl','/opt/ifacefailover/config/httpHandler.pkl']";
  return `route.primary.gateway=192.0.2.1
route.primary.iface=eth0
route.primary.targets=${T1},${T2}
route.primary.verifierDelay=1
route.primary.verifierKwargs={'timeout':1, 'maxRetry':1}
route.primary.handlers=${handlers}
route.primary.handlerKwargs=[{'name':'primary'}, ${httpKwargs(primary, options.extra ?? '')}]
route.fona.gateway=0.0.0.0
route.fona.iface=ppp0
route.fona.handlers=${handlers}
route.fona.handlerKwargs=[{'name':'fona'}, ${httpKwargs(fona, options.extra ?? '')}]
${options.fonaExtra ?? ''}`;
}

async function withLab(t: TestContext, body: (lab: NetLab, dir: string) => Promise<void>): Promise<void> {
  if (!ROOT || MISSING.length > 0) {
    t.skip(!ROOT ? 'needs root' : `missing tools: ${MISSING.join(', ')}`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'iff-notify-'));
  const lab = await NetLab.create({ targets: 3, wlan: false });
  try {
    await body(lab, dir);
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

function logOf(svc: RunningService): string {
  return svc.lines().join('\n');
}

test('receiver down during the failover: the switch does not wait, the events arrive in order once it is up, with basic auth', async (t) => {
  await withLab(t, async (lab, dir) => {
    await lab.pppUp();
    const svc = startService(
      lab,
      properties(
        { onConnectionFailedUrlSuffix: 'primaryconnectionfailed', onConnectionRestoredUrlSuffix: 'primaryconnectionrestored' },
        { onConnectedUrlSuffix: 'fonaconnected' },
        { extra: ", 'retryDelay':0.25, 'timeout':2" },
      ),
    );
    let receiver: Receiver | undefined;
    try {
      await waitForDefault(lab, 'eth0');
      await svc.waitForLine(/^INFO Connected to primary$/);
      assert.ok(!svc.lines().some((l) => /WARNING .*http/i.test(l)), `the http handler is built in, not ignored:\n${logOf(svc)}`);

      await lab.cutUpstream('eth0');
      // The failover happens as it would without any handler: nobody has received anything yet, and
      // nobody could (the receiver is not even running).
      await waitForDefault(lab, 'ppp0');
      await svc.waitForLine(/^INFO Failing over to fona$/);
      // Meanwhile the notifications are refused (nothing listens yet) and retried, not lost.
      await svc.waitForLine(/^INFO Attempting POST request 2 \(primary connectionFailed\)$/, 10_000);
      assert.match(logOf(svc), /ERROR POST http:\/\/203\.0\.113\.3:8080\/app\/primaryconnectionfailed: ECONNREFUSED/);

      receiver = await Receiver.start(lab, dir);
      await receiver.waitFor('fonaconnected');
      assert.deepEqual(receiver.paths(), ['primaryconnectionfailed', 'fonaconnected']);

      await lab.restore('eth0');
      await waitForDefault(lab, 'eth0');
      await receiver.waitFor('primaryconnectionrestored');
    } finally {
      assert.equal(await svc.stop(), 0, `exit code; stderr: ${svc.proc.output.stderr}`);
    }
    assert.ok(receiver);
    const hits = receiver.hits();
    assert.deepEqual(receiver.paths(), ['primaryconnectionfailed', 'fonaconnected', 'primaryconnectionrestored'], 'in order, none twice');
    for (const hit of hits) {
      assert.equal(hit.method, 'POST');
      assert.equal(hit.auth, BASIC);
      assert.equal(hit.type, 'application/json');
    }
    assert.deepEqual(
      hits.map((h) => [h.body?.event, h.body?.uplink, h.body?.iface]),
      [
        ['connectionFailed', 'primary', 'eth0'],
        ['connected', 'fona', 'ppp0'],
        ['connectionRestored', 'primary', 'eth0'],
      ],
    );
    assert.equal(hits[0].body?.to, 'fona');
    assert.equal(hits[1].body?.from, 'primary');
    assert.equal(typeof hits[2].body?.duration, 'number');
    assert.ok(!svc.lines().some((l) => /not delivered/.test(l)), 'nothing left undelivered at stop');
  });
});

test('events born while no uplink works (ppp0 still to be dialled): requests hanging on the dead route time out, and go over ppp0 once it is up', async (t) => {
  await withLab(t, async (lab, dir) => {
    // The receiver is up all along: only the path to it is missing.
    const receiver = await Receiver.start(lab, dir);
    const svc = startService(
      lab,
      properties(
        { onTearDownUrlSuffix: 'primaryteardown', onConnectionFailedUrlSuffix: 'primaryconnectionfailed' },
        { onSetupUrlSuffix: 'fonasetup', onConnectedUrlSuffix: 'fonaconnected' },
        { extra: ", 'retryDelay':1, 'timeout':2", fonaExtra: 'route.fona.setupTimeout=30\n' },
      ),
    );
    try {
      await waitForDefault(lab, 'eth0');
      await svc.waitForLine(/^INFO Connected to primary$/);
      await lab.cutUpstream('eth0');
      // teardown (primary) and setup (fona) are born now, while the default route is the dead eth0.
      await svc.waitForLine(/^INFO Setting up connection to fona$/);
      await svc.waitForLine(/^ERROR POST http:\/\/203\.0\.113\.3:8080\/app\/primaryteardown: no answer within 2000 ms$/, 10_000);
      assert.deepEqual(receiver.paths(), [], 'nothing gets through the dead uplink');

      await lab.pppUp(); // what pon would do
      await waitForDefault(lab, 'ppp0');
      await svc.waitForLine(/^INFO Failing over to fona$/);
      await receiver.waitFor('fonaconnected');
    } finally {
      assert.equal(await svc.stop(), 0, `exit code; stderr: ${svc.proc.output.stderr}`);
    }
    assert.deepEqual(receiver.paths(), ['primaryteardown', 'fonasetup', 'primaryconnectionfailed', 'fonaconnected'], 'in order, none twice');
    assert.ok(receiver.hits().every((h) => h.auth === BASIC));
    await receiver.proc.stop();
  });
});
