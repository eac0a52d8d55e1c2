/**
 * Connections follow the switch: the real headless service in the network lab, with long-lived TCP clients in
 * the device (drivers/long-lived-client.js) talking to echo servers (drivers/line-echo-server.js): one upstream
 * in `inet` (203.0.113.x, reached through the default route), one on eth0's own subnet (r1, 192.0.2.1, like a
 * LAN broker).
 *
 * After an upstream cut of eth0 the upstream connection keeps eth0's address and is dead; the service's reset
 * (ss -K) makes the client reconnect through wlan0 at once, while the LAN connection is the same socket and
 * keeps exchanging data. With failover.resetConnections=false the same connection just hangs. Needs root
 * (network namespaces); CI is root and runs these.
 */
import { test, TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { labRunner } from './lab-runner';
import { NetLab, isRoot, missingTools } from './netlab';
import { RunningService, sleep, startService, waitForDefault } from './service-harness';
import { ETH0_ADDRESS, EventLog, LAN_PEER, WLAN0_ADDRESS, addressOf, serviceProperties, startClient, startEchoServer } from './drivers/connection-rig';

const ROOT = isRoot();
const MISSING = ROOT ? missingTools() : [];
if (!ROOT) console.warn('SKIPPED: the connection lab tests need root (network namespaces); CI runs them as root');
const runner = labRunner(ROOT, MISSING);

const UPSTREAM_PORT = 7000;
const LAN_PORT = 7001;
/** From the kernel showing the new default route to the client's reconnect: the reset runs right after the route change. */
const WINDOW_MS = 3000;

interface Rig {
  lab: NetLab;
  svc: RunningService;
  /** Echo server in `inet`, and the device's client of it. */
  upstreamServer: EventLog;
  upstream: EventLog;
  /** Echo server on r1 (eth0's subnet), and the device's client of it. */
  lanServer: EventLog;
  lan: EventLog;
}

async function withRig(t: TestContext, resetConnections: boolean | undefined, body: (rig: Rig) => Promise<void>): Promise<void> {
  await runner.withLab(t, { targets: 4, wlan: true, carrier: false }, async (lab) => {
    const [t1, t2, t3, serverAddress] = lab.targets;
    const upstreamServer = await startEchoServer(lab, 'inet', serverAddress, UPSTREAM_PORT);
    const lanServer = await startEchoServer(lab, 'r1', LAN_PEER, LAN_PORT);
    const svc = startService(lab, serviceProperties({ resetConnections, eth0Targets: [t1, t2], wlan0Targets: [t1, t3], down: 2, up: 2 }));
    const clients: EventLog[] = [];
    try {
      await waitForDefault(lab, 'eth0');
      const upstream = startClient(lab, serverAddress, UPSTREAM_PORT);
      const lan = startClient(lab, LAN_PEER, LAN_PORT);
      clients.push(upstream, lan);
      // Both connected from eth0's address and exchanging data before anything happens.
      for (const client of clients) {
        const first = await client.waitFor((e) => e.event === 'connected', 'a first connection');
        assert.equal(addressOf(first.local), ETH0_ADDRESS, 'first connection from eth0');
        await client.waitFor((e) => e.event === 'echo', 'a first echo');
      }
      await body({ lab, svc, upstreamServer, upstream, lanServer, lan });
    } finally {
      for (const client of clients) await client.stop();
      assert.equal(await svc.stop(), 0, `service exit code; stderr: ${svc.proc.output.stderr}`);
    }
  });
}

/** The LAN client still has its one and only connection and got an echo on it after `since`. */
async function lanKeptItsConnection(lan: EventLog, since: number): Promise<void> {
  const connections = lan.events().filter((e) => e.event === 'connected');
  assert.equal(connections.length, 1, `the LAN connection is the same socket: ${JSON.stringify(connections)}`);
  await lan.waitFor((e) => e.event === 'echo' && e.t > since + 400 && e.local === connections[0].local, 'an echo from the LAN peer after the switch', 2000);
  assert.deepEqual(
    lan.events().filter((e) => e.event === 'closed'),
    [],
    'the LAN connection was never closed',
  );
}

test('upstream cut: the upstream connection is reset and reconnects through wlan0 at once, the LAN one stays; the heal brings it back to eth0', async (t) => {
  await withRig(t, undefined, async ({ lab, svc, upstreamServer, upstream, lan }) => {
    const cutAt = Date.now();
    await lab.cutUpstream('eth0');
    await waitForDefault(lab, 'wlan0', 15_000);
    const switchedAt = Date.now();

    const closed = await upstream.waitFor((e) => e.event === 'closed', 'end of the upstream connection', WINDOW_MS);
    assert.equal(closed.code, 'ECONNABORTED', 'destroyed by the kernel (ss -K), not timed out');
    const moved = await upstream.waitFor((e) => e.event === 'connected' && addressOf(e.local) === WLAN0_ADDRESS, 'a reconnect through wlan0', WINDOW_MS);
    assert.ok(moved.t >= cutAt && moved.t - switchedAt <= WINDOW_MS, `reconnected ${moved.t - switchedAt} ms after the switch was seen`);
    // Seen from the outside: the server has the new connection, and data flows on it.
    const accepted = await upstreamServer.waitFor((e) => e.event === 'accepted' && addressOf(e.peer) === WLAN0_ADDRESS, 'the server seeing the new connection', WINDOW_MS);
    assert.ok(accepted.t - switchedAt <= WINDOW_MS);
    await upstream.waitFor((e) => e.event === 'echo' && e.local === moved.local, 'echoes through the new connection', 2000);
    await svc.waitForLine(/^INFO Reset 1 connection\(s\) of eth0 \(192\.0\.2\.2\) so they reconnect through wlan0$/, 2000);
    assert.ok(!svc.lines().some((l) => /CONFIG_INET_DIAG_DESTROY/.test(l)), 'this kernel destroys sockets: no warning');
    await lanKeptItsConnection(lan, switchedAt);

    await lab.restore('eth0');
    await waitForDefault(lab, 'eth0', 15_000);
    const healedAt = Date.now();
    const back = await upstream.waitFor((e) => e.event === 'connected' && e.t > moved.t && addressOf(e.local) === ETH0_ADDRESS, 'a reconnect through eth0', WINDOW_MS);
    assert.ok(back.t - healedAt <= WINDOW_MS);
    await upstreamServer.waitFor((e) => e.event === 'accepted' && e.t > accepted.t && addressOf(e.peer) === ETH0_ADDRESS, 'the server seeing the connection from eth0', WINDOW_MS);
    await svc.waitForLine(/^INFO Reset 1 connection\(s\) of wlan0 \(192\.0\.2\.18\) so they reconnect through eth0$/, 2000);
    await lanKeptItsConnection(lan, healedAt);
  });
});

test('failover.resetConnections=false: the upstream connection is not reset and hangs on eth0 address', async (t) => {
  await withRig(t, false, async ({ lab, svc, upstreamServer, upstream, lan }) => {
    await lab.cutUpstream('eth0');
    await waitForDefault(lab, 'wlan0', 15_000);
    const switchedAt = Date.now();
    await sleep(WINDOW_MS);
    const events = upstream.events();
    assert.deepEqual(
      events.filter((e) => e.event === 'closed' || e.event === 'connected').map((e) => [e.event, addressOf(e.local)]),
      [['connected', ETH0_ADDRESS]],
      'still the first connection, never closed',
    );
    assert.ok(!events.some((e) => e.event === 'echo' && e.t > switchedAt), 'and it is dead: no echo since the switch');
    assert.equal(upstreamServer.events().filter((e) => e.event === 'accepted').length, 1, 'the server saw no new connection');
    assert.ok(!svc.lines().some((l) => /Reset \d+ connection/.test(l)), 'nothing was reset');
    await lanKeptItsConnection(lan, switchedAt);
  });
});

test('no lab namespace is left behind', { skip: !ROOT }, () => {
  assert.deepEqual(runner.leftNamespaces(), []);
});
