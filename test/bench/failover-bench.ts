/**
 * `npm run bench`: the headless service in the network lab, timed from the outside.
 * Every time is taken from the fault being applied to the kernel reporting the new default route
 * (`ip monitor route` in the device namespace), so it includes detection, decision and the route change.
 * Settings: interval 1 s, timeout 1 s, one attempt per round (maxRetry 1), down 3, up 3.
 * The worst case by formula is interval x down + timeout = 4 s, for an outage that starts just after a good round.
 */
import { NetLab, isRoot } from '../lab/netlab';
import { RouteMonitor } from '../lab/route-monitor';
import { benchReconnect } from './connections-bench';
import { benchResolve } from './dns-bench';
import { benchFonaCut, benchRouteRestore } from './keep-bench';
import { benchMqttEvent } from './mqtt-bench';
import { RunningService, sleep, startService, waitForDefault } from '../lab/service-harness';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 5);
const INTERVAL = 1;
const TIMEOUT = 1;
const DOWN = 3;
const UP = 3;

function properties(targets: string[]): string {
  return `route.primary.gateway=192.0.2.1
route.primary.iface=eth0
route.primary.targets=${targets.join(',')}
route.primary.verifierDelay=${INTERVAL}
route.primary.verifierKwargs={'timeout':${TIMEOUT}, 'maxRetry':1, 'down':${DOWN}, 'up':${UP}}
route.primary.handlers=['/opt/ifacefailover/config/logHandler.pkl']
route.primary.handlerKwargs=[{'name':'primary'}]
route.fona.gateway=0.0.0.0
route.fona.iface=ppp0
`;
}

interface Sample {
  name: string;
  limit: string;
  ms: number[];
  ok: (ms: number[]) => boolean;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function scenario(targetCount: number, withCarrier: boolean): Promise<{ cut: number[]; restore: number[]; carrier: number[]; gap: number }> {
  const lab = await NetLab.create({ targets: Math.max(targetCount, 2), wlan: false });
  const cut: number[] = [];
  const restore: number[] = [];
  const carrier: number[] = [];
  let svc: RunningService | undefined;
  let monitor: RouteMonitor | undefined;
  try {
    await lab.pppUp();
    monitor = new RouteMonitor(lab.spawn('dut', 'ip', ['-4', 'monitor', 'route']));
    svc = startService(lab, properties(lab.targets.slice(0, targetCount)));
    await waitForDefault(lab, 'eth0');
    for (let i = 0; i < TRIALS; i++) {
      // An outage can start anywhere in a probe round: cut at phases spread over the interval, measured from
      // the end of a good round (its log line), the same phases for every scenario so they compare fairly.
      const phase = TRIALS > 1 ? 0.05 + (0.9 * i) / (TRIALS - 1) : 0.5;
      await sleep(1200);
      const rounds = svc.lines().filter((l) => l.startsWith('INFO upRoutes=')).length;
      await svc.waitForLine(new RegExp(`^INFO upRoutes=`), 5000);
      while (svc.lines().filter((l) => l.startsWith('INFO upRoutes=')).length === rounds) await sleep(2);
      await sleep(phase * INTERVAL * 1000);
      let t0 = performance.now();
      await lab.cutUpstream('eth0');
      cut.push((await monitor.waitFor('ppp0', t0)) - t0);
      await sleep(500 + Math.random() * 1000);
      t0 = performance.now();
      await lab.restore('eth0');
      restore.push((await monitor.waitFor('eth0', t0)) - t0);
      if (withCarrier) {
        await sleep(1500 + Math.random() * 1000);
        t0 = performance.now();
        await lab.pullCable('eth0');
        carrier.push((await monitor.waitFor('ppp0', t0)) - t0);
        await lab.restore('eth0');
        await monitor.waitFor('eth0', performance.now());
      }
    }
    return { cut, restore, carrier, gap: monitor.gapMs() };
  } finally {
    if (svc) await svc.stop();
    if (monitor) await monitor.stop();
    await lab.destroy();
  }
}

function fmt(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

async function main(): Promise<number> {
  if (!isRoot()) {
    console.error('bench: needs root (network namespaces)');
    return 2;
  }
  const started = Date.now();
  // What the device's applications see (issue 8), in the same lab and with the same settings. The Node-RED
  // (MQTT) rows run first: after the long service scenarios its first events did not reach the broker (not
  // understood yet; alone, or first, it is reliable).
  const mqtt = await benchMqttEvent(TRIALS);
  const one = await scenario(1, false);
  const sixteen = await scenario(16, true);
  const dns = await benchResolve(TRIALS);
  const tcp = await benchReconnect(TRIALS);
  const tamper = await benchRouteRestore(TRIALS * 2);
  const early = await benchFonaCut(TRIALS, 'early');
  const onFailure = await benchFonaCut(TRIALS, 'on-failure');
  const after = (xs: number[], base: number[]) => xs.map((x, i) => x - base[i]);
  const earlyLimit = Math.max(median(one.cut), 5000) + 1000;
  const restoreLimit = (UP * INTERVAL + TIMEOUT) * 1000;
  const samples: Sample[] = [
    { name: 'upstream cut -> default on backup (1 target)', limit: '<= 4 s', ms: one.cut, ok: (x) => Math.max(...x) <= 4000 },
    { name: 'upstream cut -> default on backup (16 targets)', limit: '<= 4 s', ms: sixteen.cut, ok: (x) => Math.max(...x) <= 4000 },
    { name: 'carrier loss -> default on backup', limit: '<= 200 ms', ms: sixteen.carrier, ok: (x) => Math.max(...x) <= 200 },
    { name: 'heal -> default back on primary (1 target)', limit: `<= ${fmt(restoreLimit)}`, ms: one.restore, ok: (x) => Math.max(...x) <= restoreLimit },
    { name: 'heal -> default back on primary (16 targets)', limit: `<= ${fmt(restoreLimit)}`, ms: sixteen.restore, ok: (x) => Math.max(...x) <= restoreLimit },
    { name: 'cut -> connectionFailed at an upstream MQTT broker', limit: '<= 6 s', ms: mqtt.eventMs, ok: (x) => Math.max(...x) <= 6000 },
    { name: '  ... after the route switch (same trial)', limit: '<= 1.5 s', ms: after(mqtt.eventMs, mqtt.switchMs), ok: (x) => Math.max(...x) <= 1500 },
    { name: 'cut -> name resolves via the backup DNS', limit: '<= 5 s', ms: dns.resolveMs, ok: (x) => Math.max(...x) <= 5000 },
    { name: '  ... after the route switch (same trial)', limit: '<= 1 s', ms: after(dns.resolveMs, dns.switchMs), ok: (x) => Math.max(...x) <= 1000 },
    { name: 'cut -> TCP client reconnected via backup', limit: '<= 5 s', ms: tcp.reconnectMs, ok: (x) => Math.max(...x) <= 5000 },
    { name: '  ... after the route switch (same trial)', limit: '<= 1 s', ms: after(tcp.reconnectMs, tcp.switchMs), ok: (x) => Math.max(...x) <= 1000 },
    { name: 'default route changed by another program -> ours back', limit: '<= 1 s', ms: tamper, ok: (x) => Math.max(...x) <= 1000 },
    { name: 'FONA (2 s key, 3 s dial) cut -> ppp0, prepare=early', limit: `<= ${fmt(earlyLimit)}`, ms: early, ok: (x) => Math.max(...x) <= earlyLimit },
    { name: 'FONA (2 s key, 3 s dial) cut -> ppp0, on-failure', limit: '(reference)', ms: onFailure, ok: () => true },
  ];
  const rows: string[][] = samples.map((s) => [s.name, s.limit, fmt(median(s.ms)), fmt(Math.max(...s.ms)), String(s.ms.length), s.ok(s.ms) ? 'yes' : 'NO']);
  const gap = one.gap + sixteen.gap;
  rows.push(['time without a default route (cut/heal/carrier switches)', '0 ms', fmt(gap), fmt(gap), String(TRIALS * 5), gap === 0 ? 'yes' : 'NO']);
  const ratio = median(sixteen.cut) / median(one.cut);
  rows.push(['detection 16 targets / 1 target (median)', '<= 1.10', ratio.toFixed(3), '', '', ratio <= 1.1 ? 'yes' : 'NO']);
  const header = ['measure', 'target', 'median', 'max', 'n', 'met'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(`ifacefailover benchmark: interval ${INTERVAL} s, timeout ${TIMEOUT} s, down ${DOWN}, up ${UP}, 1 attempt per round, ${TRIALS} trials each`);
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
