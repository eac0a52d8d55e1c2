/**
 * How soon names follow a failover: per trial, from cutting the primary's upstream to (a) the kernel
 * announcing the default route on ppp0 (`ip -4 monitor route` in the device) and (b) `getent hosts
 * broker.lab` in the device answering the backup ISP's address (polled every 50 ms). The difference is
 * what the DNS step adds after the switch, plus up to one poll. `npm run bench` runs it; run alone:
 * `node dist/test/bench/dns-bench.js` (BENCH_TRIALS, default 5), in its own process. Needs root and dnsmasq.
 */
import { NetLab } from '../lab/netlab';
import { RouteMonitor } from '../lab/route-monitor';
import { DnsRig, ISP_DNS, dnsProperties, setUpDns } from '../lab/dns-rig';
import { RunningService, sleep, startService, waitForDefault } from '../lab/service-harness';
import { PartResult, TRIALS, runPart, timedRow } from './part';

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

/** Rows: cut -> the name resolves via the backup ISP's DNS, and the part of it after the route switch. */
export async function dnsPart(): Promise<PartResult> {
  const dns = await benchResolve(TRIALS);
  const after = dns.resolveMs.map((x, i) => x - dns.switchMs[i]);
  const max = (x: readonly number[]): number => Math.max(...x);
  return {
    rows: [
      timedRow('cut -> name resolves via the backup DNS', '<= 5 s', dns.resolveMs, (x) => max(x) <= 5000),
      timedRow('  ... after the route switch (same trial)', '<= 1 s', after, (x) => max(x) <= 1000),
    ],
  };
}

if (require.main === module) runPart('dns', dnsPart);
