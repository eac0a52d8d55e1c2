/**
 * The probe kinds against real servers on loopback: a TCP listener, an HTTP(S) server, and a tiny DNS
 * responder over UDP written here. Checks bind to the uplink's address: `lo` has 127.0.0.1. The mixed probe
 * folds them with an ICMP prober's round (a recording stand-in: only the Probe interface matters to it).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createSocket, Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { AddressInfo, createServer as createTcpServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetworkCheck } from '../../lib/probes/check-spec';
import { encodeQuestion } from '../../lib/probes/dns';
import { ipv4Of } from '../../lib/probes/local-address';
import { checkAttempt, MixedProbe } from '../../lib/probes/mixed-probe';
import { Probe, ProbeResult, summarise } from '../../lib/probes/probe';
import { VerdictBoard } from '../../lib/probes/verdicts';
import { probedHosts } from '../../lib/routes/route-service';
import { UplinkConfig, validateUplinks } from '../../lib/uplink/model';

const LOOPBACK = '127.0.0.1';

function uplink(checks: string[], extra: { targets?: string; reliability?: number; retries?: number; iface?: string } = {}): UplinkConfig {
  const [u] = validateUplinks([
    {
      name: 'u',
      iface: extra.iface ?? 'lo',
      targets: extra.targets,
      checks,
      probe: { timeout: 1, retries: extra.retries ?? 0, reliability: extra.reliability },
    },
  ]);
  return u;
}

function check(spec: string): NetworkCheck {
  const [c] = uplink([spec]).checks;
  assert.notEqual(c.kind, 'flow');
  return c as NetworkCheck;
}

function listen(server: Server | HttpServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, LOOPBACK, () => resolve((server.address() as AddressInfo).port)));
}

function close(server: Server | HttpServer): Promise<void> {
  return new Promise((resolve) => {
    if ('closeAllConnections' in server) server.closeAllConnections();
    server.close(() => resolve());
  });
}

/** A DNS responder: `good.test` has an A record, `aaaa.test` none (NOERROR, no answer), anything else NXDOMAIN. */
interface Responder {
  socket: Socket;
  port: number;
  queries: string[];
  /** Answer with the wrong id first (a forged or stale reply), then the right one. */
  forgeFirst: boolean;
}

function nameOf(question: Buffer): string {
  const labels: string[] = [];
  for (let i = 0; question[i] !== 0; i += question[i] + 1) labels.push(question.toString('ascii', i + 1, i + 1 + question[i]));
  return labels.join('.');
}

async function dnsResponder(): Promise<Responder> {
  const socket = createSocket('udp4');
  const r: Responder = { socket, port: 0, queries: [], forgeFirst: false };
  socket.on('message', (query, from) => {
    const question = query.subarray(12);
    const name = nameOf(question);
    r.queries.push(name);
    const qtype = question.readUInt16BE(question.indexOf(0) + 1);
    const known = name === 'good.test' || name === 'aaaa.test';
    const answers = name === 'good.test' && qtype === 1 ? 1 : 0;
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    header.writeUInt16BE(0x8180 | (known ? 0 : 3), 2); // QR RD RA, NOERROR or NXDOMAIN
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers, 6);
    const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 99]);
    const reply = Buffer.concat([header, question, ...(answers ? [answer] : [])]);
    if (r.forgeFirst) {
      const forged = Buffer.from(reply);
      forged.writeUInt16BE((reply.readUInt16BE(0) + 1) & 0xffff, 0);
      socket.send(forged, from.port, from.address);
      setTimeout(() => socket.send(reply, from.port, from.address), 50);
    } else {
      socket.send(reply, from.port, from.address);
    }
  });
  await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, resolve));
  r.port = socket.address().port;
  return r;
}

/** A port nothing listens on: a listener opened and closed. */
async function closedPort(): Promise<number> {
  const s = createTcpServer();
  const port = await listen(s);
  await close(s);
  return port;
}

/** An ICMP prober stand-in: answers for the targets it is told, and records the uplinks it was asked about. */
class RecordingIcmp implements Probe {
  readonly asked: UplinkConfig[] = [];
  closed = 0;
  constructor(
    private readonly alive: readonly string[],
    private readonly cut = false,
  ) {}
  async run(u: UplinkConfig): Promise<ProbeResult> {
    this.asked.push(u);
    const result = summarise(
      u,
      u.targets.map((t) => ({ target: t, alive: this.alive.includes(t), rtt: this.alive.includes(t) ? 5 : null, sent: 1, lost: this.alive.includes(t) ? 0 : 1 })),
    );
    return this.cut ? { ...result, cut: true } : result;
  }
  async close(): Promise<void> {
    this.closed++;
  }
}

describe('probe kinds on loopback', () => {
  let tcp: Server;
  let tcpPort: number;
  let http: HttpServer;
  let httpPort: number;
  let https: HttpServer;
  let httpsPort: number;
  let dns: Responder;
  const accepted: string[] = [];
  const bodiesSent: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'iff-kinds-'));

  before(async () => {
    tcp = createTcpServer((socket) => {
      accepted.push(`${socket.localAddress} <- ${socket.remoteAddress}`);
      socket.on('error', () => undefined);
    });
    tcpPort = await listen(tcp);
    http = createHttpServer((req, res) => {
      const code = Number(/^\/status\/(\d{3})$/.exec(req.url ?? '')?.[1] ?? 200);
      bodiesSent.push(req.url ?? '');
      // A body that is never read: the check drops the connection at the status line.
      res.writeHead(code, { 'content-type': 'text/plain' });
      if (code !== 204) res.write('x'.repeat(1 << 16));
      if (req.url !== '/slow-body') res.end();
    });
    httpPort = await listen(http);
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    // A self-signed certificate for 127.0.0.1, made for this run (openssl: Debian's openssl package).
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    https = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => res.writeHead(200).end('ok'));
    httpsPort = await listen(https);
    dns = await dnsResponder();
  });

  after(async () => {
    await Promise.all([close(tcp), close(http), close(https)]);
    dns.socket.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the uplink address comes from the interface, none for an interface that does not exist', () => {
    assert.equal(ipv4Of('lo'), LOOPBACK);
    assert.equal(ipv4Of('nosuch0'), null);
  });

  it('tcp: a connect answers (from the bound address), a closed port does not', async () => {
    const rtt = await checkAttempt(check(`tcp://127.0.0.1:${tcpPort}`), LOOPBACK, 1000);
    assert.equal(typeof rtt, 'number');
    assert.ok(accepted.some((a) => a.endsWith(`<- ${LOOPBACK}`)), JSON.stringify(accepted));
    assert.equal(await checkAttempt(check(`tcp://127.0.0.1:${await closedPort()}`), LOOPBACK, 1000), null);
  });

  it('http: a 2xx answers by default, another status only when expected; the body is not read', async () => {
    assert.equal(typeof (await checkAttempt(check(`http://127.0.0.1:${httpPort}/health`), LOOPBACK, 1000)), 'number');
    assert.equal(await checkAttempt(check(`http://127.0.0.1:${httpPort}/status/503`), LOOPBACK, 1000), null);
    assert.equal(typeof (await checkAttempt(check(`http://127.0.0.1:${httpPort}/status/503 expect=503`), LOOPBACK, 1000)), 'number');
    assert.equal(typeof (await checkAttempt(check(`http://127.0.0.1:${httpPort}/status/301 expect=3xx`), LOOPBACK, 1000)), 'number');
    assert.equal(await checkAttempt(check(`http://127.0.0.1:${httpPort}/status/200 expect=204`), LOOPBACK, 1000), null);
    // A body that never ends does not hold the check: the status line decides.
    assert.equal(typeof (await checkAttempt(check(`http://127.0.0.1:${httpPort}/slow-body`), LOOPBACK, 1000)), 'number');
    assert.equal(await checkAttempt(check(`http://127.0.0.1:${await closedPort()}/`), LOOPBACK, 1000), null);
    assert.ok(bodiesSent.includes('/health'));
  });

  it('https: a self-signed certificate fails unless the check is insecure', async () => {
    assert.equal(await checkAttempt(check(`https://127.0.0.1:${httpsPort}/`), LOOPBACK, 2000), null);
    assert.equal(typeof (await checkAttempt(check(`https://127.0.0.1:${httpsPort}/ insecure`), LOOPBACK, 2000)), 'number');
  });

  it('dns: NOERROR with a record answers; NXDOMAIN, no record, or no server does not; a forged id is ignored', async () => {
    const at = (name: string, extra = ''): NetworkCheck => check(`dns://127.0.0.1:${dns.port}/${name}${extra}`);
    assert.equal(typeof (await checkAttempt(at('good.test'), LOOPBACK, 1000)), 'number');
    assert.equal(dns.queries.at(-1), 'good.test');
    assert.equal(await checkAttempt(at('nosuch.test'), LOOPBACK, 1000), null);
    assert.equal(await checkAttempt(at('aaaa.test', ' type=AAAA'), LOOPBACK, 1000), null);
    dns.forgeFirst = true;
    try {
      assert.equal(typeof (await checkAttempt(at('good.test'), LOOPBACK, 1000)), 'number', 'the forged reply came first, the real one answered');
    } finally {
      dns.forgeFirst = false;
    }
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, LOOPBACK, resolve));
    try {
      assert.equal(await checkAttempt(check(`dns://127.0.0.1:${silent.address().port}/good.test timeout=0.3`), LOOPBACK, 300), null);
    } finally {
      silent.close();
    }
    assert.deepEqual([...encodeQuestion('good.test', 'AAAA')], [4, 103, 111, 111, 100, 4, 116, 101, 115, 116, 0, 0, 28, 0, 1]);
  });

  it('an aborted round ends its checks at once', async () => {
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, LOOPBACK, resolve));
    try {
      const abort = new AbortController();
      const attempt = checkAttempt(check(`dns://127.0.0.1:${silent.address().port}/good.test`), LOOPBACK, 60_000, abort.signal);
      abort.abort();
      assert.equal(await attempt, null);
    } finally {
      silent.close();
    }
  });

  it('mixed probe: ICMP targets and checks in one round; reliability over both; rtt per check; targets named by their text', async () => {
    const icmp = new RecordingIcmp(['203.0.113.1']);
    const probe = new MixedProbe({ icmp });
    const specs = [`tcp://127.0.0.1:${tcpPort}`, `http://127.0.0.1:${httpPort}/health`, `dns://127.0.0.1:${dns.port}/good.test`, `tcp://127.0.0.1:${await closedPort()}`];
    const u = uplink(specs, { targets: '203.0.113.1,203.0.113.2', reliability: 4 });
    const r = await probe.run(u);
    assert.deepEqual(r.up, ['203.0.113.1', ...specs.slice(0, 3)]);
    assert.deepEqual(r.down, ['203.0.113.2', specs[3]]);
    assert.equal(r.ok, true, '4 of 6 answered, 4 must');
    assert.equal(r.loss, 2 / 6);
    for (const t of r.targets.slice(2, 5)) assert.equal(typeof t.rtt, 'number', t.target);
    assert.deepEqual(icmp.asked.map((a) => a.targets), [['203.0.113.1', '203.0.113.2']]);
    assert.equal((await probe.run(uplink(specs, { targets: '203.0.113.1,203.0.113.2', reliability: 5 }))).ok, false, '4 of 6 answered, 5 must');
    await probe.close();
    assert.equal(icmp.closed, 1, 'close reaches the ICMP prober');
  });

  it('mixed probe: checks only, no ICMP round; without checks the ICMP round is passed on untouched (its cut too)', async () => {
    const icmp = new RecordingIcmp([], true);
    const probe = new MixedProbe({ icmp });
    const onlyChecks = await probe.run(uplink([`tcp://127.0.0.1:${tcpPort}`]));
    assert.equal(onlyChecks.ok, true);
    assert.equal(icmp.asked.length, 0, 'no ICMP round for an uplink without targets');
    const [plain] = validateUplinks([{ name: 'p', iface: 'lo', targets: '203.0.113.1' }]);
    const passed = await probe.run(plain);
    assert.equal(passed.cut, true);
    assert.equal(passed.ok, false);
    // A cut seen by ICMP is no cut while a check gets through.
    const mixed = await probe.run(uplink([`tcp://127.0.0.1:${tcpPort}`], { targets: '203.0.113.1' }));
    assert.equal(mixed.cut, undefined);
    assert.equal(mixed.ok, true);
  });

  it('mixed probe: an interface without an address fails its checks at once, as lost', async () => {
    const probe = new MixedProbe({ icmp: new RecordingIcmp([]) });
    const r = await probe.run(uplink([`tcp://127.0.0.1:${tcpPort}`], { iface: 'nosuch0' }));
    assert.equal(r.ok, false);
    assert.deepEqual(r.targets, [{ target: `tcp://127.0.0.1:${tcpPort}`, alive: false, rtt: null, sent: 1, lost: 1 }]);
  });

  it('mixed probe: retries get their own slot; a refused check is sent again in the same round', async () => {
    const probe = new MixedProbe({ icmp: new RecordingIcmp([]) });
    const port = await closedPort();
    const r = await probe.run(uplink([`tcp://127.0.0.1:${port} timeout=0.2`], { retries: 2 }));
    assert.deepEqual(r.targets.map((t) => [t.sent, t.lost]), [[3, 3]]);
  });

  it('mixed probe: a flow check answers with its last verdict while it counts; left out without a board', async () => {
    let now = 0;
    const board = new VerdictBoard(() => now);
    const probe = new MixedProbe({ icmp: new RecordingIcmp([]), verdicts: board });
    const u = uplink(['flow://web timeout=5', `tcp://127.0.0.1:${tcpPort}`], { reliability: 2 });
    const target = (r: ProbeResult) => r.targets.find((t) => t.target === 'flow://web timeout=5');
    assert.deepEqual(target(await probe.run(u)), { target: 'flow://web timeout=5', alive: false, rtt: null, sent: 1, lost: 1 }, 'no verdict yet');
    board.record('u', 'web', true, 7);
    let r = await probe.run(u);
    assert.deepEqual([target(r)?.alive, target(r)?.rtt, r.ok], [true, 7, true]);
    board.record('other', 'web', false);
    assert.equal(target(await probe.run(u))?.alive, true, "another uplink's verdict is its own");
    now += 5001;
    r = await probe.run(u);
    assert.deepEqual([target(r)?.alive, r.ok], [false, false], 'the verdict is older than the timeout');
    board.record('u', 'web', false);
    assert.equal(target(await probe.run(u))?.alive, false);
    const without = await new MixedProbe({ icmp: new RecordingIcmp([]) }).run(u);
    assert.deepEqual(without.targets.map((t) => t.target), [`tcp://127.0.0.1:${tcpPort}`]);
    assert.deepEqual(probedHosts(uplink(['flow://web', 'tcp://192.0.2.1:1', 'dns://192.0.2.1/a.b'], { targets: '192.0.2.1,192.0.2.2' })), ['192.0.2.1', '192.0.2.2']);
  });
});
