/**
 * The headless service in the network lab, timed from the outside: every time is taken from the fault
 * being applied to the kernel reporting the new default route (`ip monitor route` in the device namespace),
 * so it includes detection, decision and the route change.
 * Settings: interval 1 s, timeout 1 s, one attempt per round (maxRetry 1), down 3, up 3.
 * The worst case by formula is interval x down + timeout = 4 s, for an outage that starts just after a good round.
 * Part of `npm run bench`; alone: `node dist/test/bench/detection-bench.js` (BENCH_TRIALS, default 5).
 */
import { NetLab } from '../lab/netlab';
import { RouteMonitor } from '../lab/route-monitor';
import { RunningService, sleep, startService, waitForDefault } from '../lab/service-harness';
import { PartResult, Row, TRIALS, fmt, median, runPart, timedRow } from './part';

export const INTERVAL = 1;
export const TIMEOUT = 1;
export const DOWN = 3;
export const UP = 3;

/** The service's properties: eth0 primary probing `targets`, ppp0 backup (trusted while up). */
export function properties(targets: string[]): string {
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

/** Number of probe rounds of the primary the service has logged so far (its log handler's lines). */
export function roundsLogged(svc: RunningService): number {
  return svc.lines().filter((l) => l.startsWith('INFO upRoutes=')).length;
}

/** Resolves just after the service logs the end of a probe round of the primary. */
export async function nextRound(svc: RunningService): Promise<void> {
  const before = roundsLogged(svc);
  const deadline = Date.now() + 5000;
  while (roundsLogged(svc) === before) {
    if (Date.now() > deadline) throw new Error(`no probe round logged within 5 s:\n${svc.lines().slice(-20).join('\n')}`);
    await sleep(2);
  }
}

/** The cut phases of trial i of n: spread over the probe interval, the same in every scenario so they compare. */
export function phaseOf(i: number, n: number): number {
  return n > 1 ? 0.05 + (0.9 * i) / (n - 1) : 0.5;
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
      // the end of a good round (its log line).
      await sleep(1200);
      await nextRound(svc);
      await sleep(phaseOf(i, TRIALS) * INTERVAL * 1000);
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

export async function detectionPart(): Promise<PartResult> {
  const one = await scenario(1, false);
  const sixteen = await scenario(16, true);
  const restoreLimit = (UP * INTERVAL + TIMEOUT) * 1000;
  const max = (x: readonly number[]): number => Math.max(...x);
  const rows: Row[] = [
    timedRow('upstream cut -> default on backup (1 target)', '<= 4 s', one.cut, (x) => max(x) <= 4000),
    timedRow('upstream cut -> default on backup (16 targets)', '<= 4 s', sixteen.cut, (x) => max(x) <= 4000),
    timedRow('carrier loss -> default on backup', '<= 200 ms', sixteen.carrier, (x) => max(x) <= 200),
    timedRow('heal -> default back on primary (1 target)', `<= ${fmt(restoreLimit)}`, one.restore, (x) => max(x) <= restoreLimit),
    timedRow('heal -> default back on primary (16 targets)', `<= ${fmt(restoreLimit)}`, sixteen.restore, (x) => max(x) <= restoreLimit),
  ];
  const gap = one.gap + sixteen.gap;
  rows.push(['time without a default route (cut/heal/carrier switches)', '0 ms', fmt(gap), fmt(gap), String(TRIALS * 5), gap === 0 ? 'yes' : 'NO']);
  const ratio = median(sixteen.cut) / median(one.cut);
  rows.push(['detection 16 targets / 1 target (median)', '<= 1.10', ratio.toFixed(3), '', '', ratio <= 1.1 ? 'yes' : 'NO']);
  return {
    rows,
    notes: [`service rows: interval ${INTERVAL} s, timeout ${TIMEOUT} s, down ${DOWN}, up ${UP}, 1 attempt per round, ${TRIALS} trials each`],
  };
}

if (require.main === module) runPart('detection', detectionPart);
