/**
 * Detection under CPU load (issue 10): the service with the long-lived prober (ContinuousIcmpProbe), the
 * standard profile and the detection rows' settings (interval 1 s, timeout 1 s, one attempt, down 3, up 3;
 * eth0 primary probing two targets, ppp0 backup), the
 * primary's upstream cut, timed to the kernel announcing the default route on ppp0 (`ip monitor` in the
 * device). Trials alternate between an idle machine and one with every core busy (one `node -e 'for(;;){}'`
 * per core, started before the cut and killed after the switch), the cut phases spread over the probe
 * round the same way for both. Target: loaded median <= 1.2 x idle median.
 * Part of `npm run bench`; alone: `node dist/test/bench/load-bench.js` (BENCH_TRIALS per condition, default 5).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { NetLab } from '../lab/netlab';
import { RouteMonitor } from '../lab/route-monitor';
import { RunningService, sleep, waitForDefault } from '../lab/service-harness';
import { startSubject } from './subject';
import { INTERVAL, nextRound, phaseOf, properties } from './detection-bench';
import { PartResult, TRIALS, fmt, median, runPart, timedRow } from './part';

const hogs = new Set<ChildProcess>();
process.on('exit', () => {
  for (const h of hogs) h.kill('SIGKILL');
});

/** One busy loop per core, outside the lab (the whole machine is busy). */
function startHogs(): ChildProcess[] {
  return Array.from({ length: availableParallelism() }, () => {
    const hog = spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' });
    hogs.add(hog);
    return hog;
  });
}

async function stopHogs(list: ChildProcess[]): Promise<void> {
  await Promise.all(
    list.map(
      (hog) =>
        new Promise<void>((done) => {
          hogs.delete(hog);
          if (hog.exitCode !== null || hog.signalCode !== null) return done();
          hog.once('exit', () => done());
          hog.kill('SIGKILL');
        }),
    ),
  );
}

export async function benchLoad(trials: number): Promise<{ idle: number[]; loaded: number[] }> {
  const idle: number[] = [];
  const loaded: number[] = [];
  const lab = await NetLab.create({ targets: 2, wlan: false });
  let svc: RunningService | undefined;
  let monitor: RouteMonitor | undefined;
  try {
    await lab.pppUp();
    monitor = new RouteMonitor(lab.spawn('dut', 'ip', ['-4', 'monitor', 'route']));
    svc = startSubject(lab, properties(lab.targets.slice(0, 2)), 'continuous');
    await waitForDefault(lab, 'eth0');
    for (let i = 0; i < 2 * trials; i++) {
      const busy = i % 2 === 1;
      await sleep(1200);
      const running = busy ? startHogs() : [];
      try {
        // Let the hogs settle on the cores before the cut.
        if (busy) await sleep(1000);
        await nextRound(svc);
        await sleep(phaseOf(Math.floor(i / 2), trials) * INTERVAL * 1000);
        const t0 = performance.now();
        await lab.cutUpstream('eth0');
        (busy ? loaded : idle).push((await monitor.waitFor('ppp0', t0)) - t0);
      } finally {
        await stopHogs(running);
      }
      await lab.restore('eth0');
      await monitor.waitFor('eth0', performance.now());
    }
    return { idle, loaded };
  } finally {
    if (svc) await svc.stop();
    if (monitor) await monitor.stop();
    await lab.destroy();
  }
}

export async function loadPart(): Promise<PartResult> {
  const { idle, loaded } = await benchLoad(TRIALS);
  const ratio = median(loaded) / median(idle);
  const cores = availableParallelism();
  return {
    rows: [
      timedRow('upstream cut -> default on backup, idle machine', '(reference)', idle),
      timedRow(`  ... with all ${cores} cores busy (CPU hogs)`, `<= ${fmt(1.2 * median(idle))}`, loaded, (x) => median(x) <= 1.2 * median(idle)),
      ['detection busy / idle (median)', '<= 1.20', ratio.toFixed(3), '', '', ratio <= 1.2 ? 'yes' : 'NO'],
    ],
  };
}

if (require.main === module) runPart('load', loadPart);
