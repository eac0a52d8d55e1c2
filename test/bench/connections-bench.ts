/**
 * How long a long-lived connection (an MQTT client, say) is cut off by an upstream failure, measured from the
 * outside: from the fault being applied to the server upstream (in `inet`) accepting the client's new
 * connection through the backup. It includes detection, the route change, the reset of the old uplink's
 * connections and the client's reconnect. Without the reset the client would hang until its keep-alive.
 *
 * The headless service in the network lab, with the failover benchmark's settings: eth0 primary probing one
 * target (interval 1 s, timeout 1 s, one attempt, down 3, up 3), wlan0 backup (trusted while up).
 * Run on its own: `node dist/test/bench/connections-bench.js` (BENCH_TRIALS, default 5); needs root.
 */
import { NetLab } from '../lab/netlab';
import { RouteMonitor } from '../lab/route-monitor';
import { RunningService, sleep, startService, waitForDefault } from '../lab/service-harness';
import { PartResult, TRIALS, runPart, timedRow } from './part';
import { ETH0_ADDRESS, EventLog, WLAN0_ADDRESS, addressOf, serviceProperties, startClient, startEchoServer } from '../lab/drivers/connection-rig';

const PORT = 7000;
const INTERVAL_MS = 1000;

/**
 * Per trial: ms from the upstream cut to the default route on wlan0 (the kernel's announcement) and to the
 * server seeing the client's new connection through wlan0.
 */
export async function benchReconnect(trials: number): Promise<{ switchMs: number[]; reconnectMs: number[] }> {
  const lab = await NetLab.create({ targets: 2, wlan: true, carrier: false });
  const samples: number[] = [];
  const switches: number[] = [];
  const monitor = new RouteMonitor(lab.spawn('dut', 'ip', ['-4', 'monitor', 'route']));
  let svc: RunningService | undefined;
  let client: EventLog | undefined;
  try {
    const [target, serverAddress] = lab.targets;
    const server = await startEchoServer(lab, 'inet', serverAddress, PORT);
    svc = startService(lab, serviceProperties({ eth0Targets: [target], wlan0Targets: [], down: 3, up: 3 }));
    await waitForDefault(lab, 'eth0');
    client = startClient(lab, serverAddress, PORT);
    let since = 0;
    for (let i = 0; i < trials; i++) {
      // Connected through eth0 (first, or again after the previous heal) before the next cut.
      await server.waitFor((e) => e.event === 'accepted' && e.t >= since && addressOf(e.peer) === ETH0_ADDRESS, 'a connection through eth0', 15_000);
      // Cut at phases spread over the probe round, as the failover benchmark does, so the numbers compare.
      const phase = trials > 1 ? 0.05 + (0.9 * i) / (trials - 1) : 0.5;
      await nextProbeRound(svc);
      await sleep(phase * INTERVAL_MS);
      const cutAt = Date.now();
      const cutPerf = performance.now();
      await lab.cutUpstream('eth0');
      switches.push((await monitor.waitFor('wlan0', cutPerf)) - cutPerf);
      const moved = await server.waitFor((e) => e.event === 'accepted' && e.t >= cutAt && addressOf(e.peer) === WLAN0_ADDRESS, 'the reconnect through wlan0', 30_000);
      samples.push(moved.t - cutAt);
      await sleep(500);
      since = Date.now();
      await lab.restore('eth0');
      await waitForDefault(lab, 'eth0', 30_000);
    }
    return { switchMs: switches, reconnectMs: samples };
  } finally {
    await monitor.stop();
    await client?.stop();
    await svc?.stop();
    await lab.destroy();
  }
}

/** Resolves just after the service logs the end of a probe round of the primary. */
async function nextProbeRound(svc: RunningService): Promise<void> {
  const count = (): number => svc.lines().filter((l) => l.startsWith('INFO upRoutes=')).length;
  const before = count();
  const deadline = Date.now() + 5000;
  while (count() === before) {
    if (Date.now() > deadline) throw new Error('no probe round logged within 5 s');
    await sleep(2);
  }
}

/** Rows: cut -> the long-lived TCP client reconnected through the backup, and the part after the route switch. */
export async function connectionsPart(): Promise<PartResult> {
  const tcp = await benchReconnect(TRIALS);
  const after = tcp.reconnectMs.map((x, i) => x - tcp.switchMs[i]);
  const max = (x: readonly number[]): number => Math.max(...x);
  return {
    rows: [
      timedRow('cut -> TCP client reconnected via backup', '<= 5 s', tcp.reconnectMs, (x) => max(x) <= 5000),
      timedRow('  ... after the route switch (same trial)', '<= 1 s', after, (x) => max(x) <= 1000),
    ],
  };
}

if (require.main === module) runPart('connections', connectionsPart);
