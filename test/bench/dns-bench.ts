/**
 * How soon names follow a failover: per trial, from cutting the primary's upstream to (a) the kernel
 * announcing the default route on ppp0 (`ip -4 monitor route` in the device) and (b) `getent hosts
 * broker.lab` in the device answering the backup ISP's address (polled every 50 ms). The difference is
 * what the DNS step adds after the switch, plus up to one poll. `npm run bench` runs it; run alone:
 * `node dist/test/bench/dns-bench.js` (BENCH_TRIALS, default 5). Needs root and dnsmasq.
 */
import { NetLab, isRoot } from '../lab/netlab';
import { RouteMonitor } from '../lab/route-monitor';
import { DnsRig, ISP_DNS, dnsProperties, setUpDns } from '../lab/dns-rig';
import { RunningService, sleep, startService, waitForDefault } from '../lab/service-harness';

export async function benchResolve(trials: number): Promise<{ switchMs: number[]; resolveMs: number[] }> {
  const switchMs: number[] = [];
  const resolveMs: number[] = [];
  const lab = await NetLab.create({ targets: 2, wlan: false });
  let rig: DnsRig | undefined;
  let svc: RunningService | undefined;
  let watch: RouteMonitor | undefined;
  try {
    await lab.pppUp();
    rig = await setUpDns(lab);
    watch = new RouteMonitor(lab.spawn('dut', 'ip', ['-4', 'monitor', 'route']));
    svc = startService(lab, dnsProperties());
    await waitForDefault(lab, 'eth0');
    await rig.waitForAnswer(ISP_DNS.primary.answer);
    for (let i = 0; i < trials; i++) {
      // Outages start anywhere in a probe round.
      await sleep(1000 + Math.random() * 1000);
      const t0 = performance.now();
      await lab.cutUpstream('eth0');
      const answered = rig.waitForAnswer(ISP_DNS.fona.answer, 30_000);
      switchMs.push((await watch.waitFor('ppp0', t0)) - t0);
      resolveMs.push((await answered) - t0);
      await lab.restore('eth0');
      await watch.waitFor('eth0', performance.now());
      await rig.waitForAnswer(ISP_DNS.primary.answer, 30_000);
    }
    return { switchMs, resolveMs };
  } finally {
    if (svc) await svc.stop();
    if (watch) await watch.stop();
    await lab.destroy();
    rig?.cleanup();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

if (require.main === module) {
  const trials = Number(process.env.BENCH_TRIALS ?? 5);
  if (!isRoot()) {
    console.error('dns-bench: needs root (network namespaces)');
    process.exit(2);
  }
  benchResolve(trials).then(
    ({ switchMs, resolveMs }) => {
      const fmt = (xs: number[]) => `median ${median(xs).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`;
      console.log(`cut -> default route on ppp0: ${fmt(switchMs)} (${switchMs.map((x) => x.toFixed(0)).join(', ')})`);
      console.log(`cut -> broker.lab resolves via the backup ISP: ${fmt(resolveMs)} (${resolveMs.map((x) => x.toFixed(0)).join(', ')})`);
      const extra = resolveMs.map((r, i) => r - switchMs[i]);
      console.log(`DNS after the route: ${fmt(extra)}`);
      process.exit(0);
    },
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
