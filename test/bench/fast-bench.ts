/**
 * The fast profile (issue 10): the service with the long-lived prober (ContinuousIcmpProbe) and
 * `route.primary.profile=fast` (eth0 primary probing two
 * targets, ppp0 backup; otherwise the detection rows' settings), timed from the outside as every row is:
 *   - upstream cut -> the kernel announces the default route on ppp0 (cuts at random moments, no rounds
 *     to align with); target <= 1 s;
 *   - false failovers (the default route announced on ppp0) while the primary stays up for IFF_BENCH_SOAK_S
 *     seconds (default 600), once at 20 % random loss on the primary (lab.setLoss) and once under a flood ping
 *     from the device to one of the primary's targets (`ping -f`, another program's echoes); target 0.
 *     The two soaks run at the same time, each in its own lab, so the bench takes 10 minutes for both.
 * Part of `npm run bench`; alone: `node dist/test/bench/fast-bench.js` (BENCH_TRIALS, IFF_BENCH_SOAK_S).
 */
import { NetLab } from '../lab/netlab';
import { RouteMonitor } from '../lab/route-monitor';
import { RunningService, sleep, waitForDefault } from '../lab/service-harness';
import { startSubject } from './subject';
import { properties } from './detection-bench';
import { PartResult, TRIALS, runPart, timedRow } from './part';

const SOAK_S = Number(process.env['IFF_BENCH_SOAK_S'] ?? 600);
const LOSS_PCT = 20;

function fastProperties(targets: string[]): string {
  return `${properties(targets)}route.primary.profile=fast\n`;
}

interface Rig {
  lab: NetLab;
  svc: RunningService;
  monitor: RouteMonitor;
}

async function withFastService<T>(use: (rig: Rig) => Promise<T>): Promise<T> {
  const lab = await NetLab.create({ targets: 2, wlan: false });
  let svc: RunningService | undefined;
  let monitor: RouteMonitor | undefined;
  try {
    await lab.pppUp();
    monitor = new RouteMonitor(lab.spawn('dut', 'ip', ['-4', 'monitor', 'route']));
    svc = startSubject(lab, fastProperties(lab.targets.slice(0, 2)), 'continuous');
    await waitForDefault(lab, 'eth0');
    return await use({ lab, svc, monitor });
  } finally {
    if (svc) await svc.stop();
    if (monitor) await monitor.stop();
    await lab.destroy();
  }
}

/** Per trial: ms from the upstream cut to the default route on ppp0. */
export function benchFastCut(trials: number): Promise<number[]> {
  return withFastService(async ({ lab, monitor }) => {
    const times: number[] = [];
    for (let i = 0; i < trials; i++) {
      // Probing is continuous: a cut at a random moment, after the primary has been trusted for a while.
      await sleep(1500 + Math.random() * 1000);
      const t0 = performance.now();
      await lab.cutUpstream('eth0');
      times.push((await monitor.waitFor('ppp0', t0)) - t0);
      await lab.restore('eth0');
      await monitor.waitFor('eth0', performance.now());
    }
    return times;
  });
}

interface Soak {
  /** Times the default route was announced on the backup while the primary never went down. */
  falseFailovers: number;
  /** What was measured of the disturbance itself, to show it was there. */
  evidence: string;
}

/** 20 % random loss on the primary for `seconds`; the loss is measured afterwards with 200 echoes. */
async function soakLoss(seconds: number): Promise<Soak> {
  return withFastService(async ({ lab, monitor }) => {
    const since = performance.now();
    await lab.setLoss('eth0', LOSS_PCT);
    await sleep(seconds * 1000);
    const check = await lab.ping({ target: lab.targets[1], dev: 'eth0', count: 200, intervalSec: 0.01, waitSec: 1 });
    await lab.restore('eth0');
    return { falseFailovers: backupAnnouncements(monitor, since), evidence: `measured loss ${check.lossPct.toFixed(0)} % (200 echoes)` };
  });
}

/** `ping -f` from the device to the primary's first target for `seconds`. */
async function soakFlood(seconds: number): Promise<Soak> {
  return withFastService(async ({ lab, monitor }) => {
    const since = performance.now();
    const flood = lab.spawn('dut', 'ping', ['-f', '-q', '-n', lab.targets[0]]);
    await sleep(seconds * 1000);
    // SIGINT: ping prints its summary and exits.
    await flood.stop({ signal: 'SIGINT' });
    const m = /(\d+) packets transmitted, (\d+) received/.exec(flood.output.stdout);
    const evidence = m ? `flood ping: ${m[1]} echoes sent, ${m[2]} answered` : `flood ping: no summary (${flood.output.stderr.trim()})`;
    return { falseFailovers: backupAnnouncements(monitor, since), evidence };
  });
}

function backupAnnouncements(monitor: RouteMonitor, since: number): number {
  return monitor.events.filter((e) => e.at >= since && !e.line.startsWith('Deleted') && / dev ppp0( |$)/.test(e.line)).length;
}

export async function fastPart(): Promise<PartResult> {
  const cut = await benchFastCut(TRIALS * 2);
  const [loss, flood] = await Promise.all([soakLoss(SOAK_S), soakFlood(SOAK_S)]);
  const span = SOAK_S % 60 === 0 ? `${SOAK_S / 60} min` : `${SOAK_S} s`;
  const count = (s: Soak): string => String(s.falseFailovers);
  return {
    rows: [
      timedRow('fast profile: upstream cut -> default on backup', '<= 1 s', cut, (x) => Math.max(...x) <= 1000),
      [`fast profile: false failovers in ${span} at ${LOSS_PCT} % loss on the primary`, '0', count(loss), count(loss), '1', loss.falseFailovers === 0 ? 'yes' : 'NO'],
      [`fast profile: false failovers in ${span} under a flood ping`, '0', count(flood), count(flood), '1', flood.falseFailovers === 0 ? 'yes' : 'NO'],
    ],
    notes: [`fast profile rows: route.primary.profile=fast, 2 targets; loss soak: ${loss.evidence}; ${flood.evidence}`],
  };
}

if (require.main === module) runPart('fast', fastPart);
