/**
 * What probing costs (issue 10): CPU (% of one core) and resident memory of
 *   (a) the headless service with the long-lived prober (ContinuousIcmpProbe: one `fping -l` per uplink),
 *   (b) the same service with the previous spawn-per-echo prober (IcmpProbe: one `ping` per echo),
 *       both run by service-subject.js (bin/ifacefailover.js's code with the prober chosen), and
 *   (c) `fping -l -p 1000 -q -I IFACE targets...` alone, one process per uplink, pinned as the service pins
 *       its probes (a policy table per uplink, `ip rule oif IFACE`),
 * each for 1 uplink x 2 targets, 4 uplinks x 4 targets and 1 uplink x 64 targets, probing every 1 s, one after
 * the other in the same lab and for the same time (IFF_BENCH_COST_S, default 60 s, after a warm-up).
 * CPU and memory cover the process and all its descendants (proc-meter.ts); the process runs in the lab's
 * device namespace and probes the lab's internet targets.
 *
 * The lab has three uplinks (eth0, wlan0, ppp0); the fourth of the 4 x 4 case is eth1, a second veth from
 * the device to r1 (198.51.100.16/28, a second LAN port of the same router), added here.
 * Part of `npm run bench`; alone: `node dist/test/bench/cost-bench.js`.
 */
import { loadavg } from 'node:os';
import { LabProcess, NetLab } from '../lab/netlab';
import { sleep, waitForDefault } from '../lab/service-harness';
import { startSubject } from './subject';
import { measureTree, Cost } from './proc-meter';
import { PartResult, Row, Table, runPart } from './part';

const SECONDS = Number(process.env['IFF_BENCH_COST_S'] ?? 60);
const WARM_UP_MS = 5000;

interface LabUplink {
  name: string;
  iface: string;
  gateway: string | null;
}

/** The uplinks in priority order; the 4 x 4 case uses all four. */
const UPLINKS: readonly LabUplink[] = [
  { name: 'primary', iface: 'eth0', gateway: '192.0.2.1' },
  { name: 'wifi', iface: 'wlan0', gateway: '192.0.2.17' },
  { name: 'second', iface: 'eth1', gateway: '198.51.100.17' },
  { name: 'fona', iface: 'ppp0', gateway: null },
];

interface CostCase {
  label: string;
  uplinks: number;
  targetsPerUplink: number;
}

const CASES: readonly CostCase[] = [
  { label: '1 uplink x 2 targets', uplinks: 1, targetsPerUplink: 2 },
  { label: '4 uplinks x 4 targets', uplinks: 4, targetsPerUplink: 4 },
  { label: '1 uplink x 64 targets', uplinks: 1, targetsPerUplink: 64 },
];

type SubjectName = 'service' | 'spawn' | 'fping';

interface Plan {
  uplink: LabUplink;
  targets: string[];
}

function plansOf(lab: NetLab, c: CostCase): Plan[] {
  return UPLINKS.slice(0, c.uplinks).map((uplink, k) => ({ uplink, targets: lab.targets.slice(k * c.targetsPerUplink, (k + 1) * c.targetsPerUplink) }));
}

/** Every uplink probes its own targets every second, one attempt per round, down 3, up 3. */
function properties(plans: readonly Plan[]): string {
  return plans
    .map(
      ({ uplink, targets }) => `route.${uplink.name}.gateway=${uplink.gateway ?? '0.0.0.0'}
route.${uplink.name}.iface=${uplink.iface}
route.${uplink.name}.targets=${targets.join(',')}
route.${uplink.name}.verifierDelay=1
route.${uplink.name}.verifierKwargs={'timeout':1, 'maxRetry':1, 'down':3, 'up':3}
`,
    )
    .join('');
}

async function buildLab(c: CostCase): Promise<NetLab> {
  const total = c.uplinks * c.targetsPerUplink;
  if (c.uplinks === 1) return NetLab.create({ targets: total, wlan: false, carrier: false });
  const lab = await NetLab.create({ targets: total });
  try {
    await lab.pppUp();
    await addSecondEthernet(lab);
  } catch (e) {
    await lab.destroy();
    throw e;
  }
  return lab;
}

/** eth1: a second veth from the device to r1, its own /28 in 198.51.100.0/24, routed back by inet. */
async function addSecondEthernet(lab: NetLab): Promise<void> {
  await lab.exec('dut', 'ip', ['link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'lan1', 'netns', lab.ns.r1]);
  await lab.exec('dut', 'ip', ['addr', 'add', '198.51.100.18/28', 'dev', 'eth1']);
  await lab.exec('dut', 'ip', ['link', 'set', 'dev', 'eth1', 'up']);
  await lab.exec('r1', 'ip', ['addr', 'add', '198.51.100.17/28', 'dev', 'lan1']);
  await lab.exec('r1', 'ip', ['link', 'set', 'dev', 'lan1', 'up']);
  await lab.exec('inet', 'ip', ['route', 'add', '198.51.100.16/28', 'via', '192.0.2.33', 'dev', 'to-r1']);
  const gw = await lab.ping({ target: '198.51.100.17', dev: 'eth1', count: 1, waitSec: 2 });
  if (gw.received !== 1) throw new Error(`eth1 does not reach r1: ${gw.output}`);
}

/** Pins like the service's policy mode, for fping alone: table T (outside the service's range) and `oif IFACE lookup T`. */
async function pinForFping(lab: NetLab, plans: readonly Plan[]): Promise<() => Promise<void>> {
  const undo: string[][] = [];
  for (const [k, { uplink }] of plans.entries()) {
    const table = String(4300 + k);
    const via = uplink.gateway ? ['via', uplink.gateway] : [];
    await lab.exec('dut', 'ip', ['route', 'replace', 'default', ...via, 'dev', uplink.iface, 'table', table]);
    await lab.exec('dut', 'ip', ['rule', 'add', 'oif', uplink.iface, 'lookup', table, 'priority', table]);
    undo.push(['rule', 'del', 'priority', table], ['route', 'flush', 'table', table]);
  }
  return async () => {
    for (const args of undo) await lab.exec('dut', 'ip', args, { reject: false });
  };
}

interface Measured {
  cost: Cost;
  /** The machine's 1-minute load average at the end of the window (other work competes for the cores). */
  load: number;
  /** What went wrong with the subject's probing, if anything (lost echoes, a failover). */
  trouble: string;
}

async function measureSubject(lab: NetLab, plans: readonly Plan[], subject: SubjectName): Promise<Measured> {
  if (subject === 'fping') {
    const unpin = await pinForFping(lab, plans);
    const procs: LabProcess[] = [];
    try {
      for (const { uplink, targets } of plans) procs.push(lab.spawn('dut', 'fping', ['-l', '-p', '1000', '-q', '-I', uplink.iface, ...targets]));
      await sleep(WARM_UP_MS);
      const cost = await measureTree(
        procs.map((p) => p.pid),
        SECONDS,
      );
      const load = loadavg()[0];
      // SIGINT: fping prints each target's xmt/rcv/%loss and exits.
      await Promise.all(procs.map((p) => p.stop({ signal: 'SIGINT' })));
      const lossy = procs.flatMap((p) => p.output.stderr.split('\n').filter((l) => /xmt\/rcv\/%loss = \d+\/\d+\/([1-9]\d*)%/.test(l)));
      return { cost, load, trouble: lossy.length > 0 ? `fping lost echoes: ${lossy.join('; ')}` : '' };
    } finally {
      await Promise.all(procs.map((p) => p.stop()));
      await unpin();
    }
  }
  const proc = startSubject(lab, properties(plans), subject === 'service' ? 'continuous' : 'spawn').proc;
  try {
    await waitForDefault(lab, 'eth0', 30_000);
    await sleep(WARM_UP_MS);
    const cost = await measureTree([proc.pid], SECONDS);
    const load = loadavg()[0];
    const moved = proc.output.stdout.split('\n').filter((l) => /Failing over|No uplink/.test(l));
    return { cost, load, trouble: moved.length > 0 ? `${subject}: ${moved.join('; ')}` : '' };
  } finally {
    await proc.stop({ graceMs: 10_000 });
  }
}

function ratioText(a: number, b: number): string {
  return b > 0 ? (a / b).toFixed(2) : 'n/a (0 ticks)';
}

function loads(results: ReadonlyArray<{ by: Record<SubjectName, Measured> }>): string {
  const all = results.flatMap((r) => Object.values(r.by).map((m) => m.load));
  return `${Math.min(...all).toFixed(2)}..${Math.max(...all).toFixed(2)}`;
}

export async function costPart(): Promise<PartResult> {
  const subjects: SubjectName[] = ['service', 'spawn', 'fping'];
  const results: Array<{ c: CostCase; by: Record<SubjectName, Measured> }> = [];
  for (const c of CASES) {
    const lab = await buildLab(c);
    try {
      const plans = plansOf(lab, c);
      const by = {} as Record<SubjectName, Measured>;
      for (const s of subjects) {
        by[s] = await measureSubject(lab, plans, s);
        console.log(`${c.label}, ${s}: ${by[s].cost.cpuPct.toFixed(2)} % CPU, ${by[s].cost.rssPeakMb.toFixed(1)} MB (load average ${by[s].load.toFixed(2)})`);
      }
      results.push({ c, by });
    } finally {
      await lab.destroy();
    }
  }
  const cpu = (m: Measured): string => `${m.cost.cpuPct.toFixed(2)} %`;
  const rss = (m: Measured): string => `${m.cost.rssPeakMb.toFixed(1)}`;
  // The service's tree is its Node process plus `ip monitor` and the probers' children: both are shown.
  const serviceRss = (m: Measured): string => `${m.cost.memPeakMb.toFixed(1)} (node ${m.cost.rssRootsPeakMb.toFixed(1)}, RSS sum ${m.cost.rssPeakMb.toFixed(1)})`;
  const table: Table = {
    title: `Cost of probing every 1 s (CPU over ${SECONDS} s after a ${WARM_UP_MS / 1000} s warm-up; each measured alone, one after the other)`,
    header: ['case', 'service: CPU', 'memory MB', 'ping per echo: CPU', 'memory MB', 'fping -l: CPU', 'RSS MB', 'service / fping'],
    rows: results.map(({ c, by }) => [
      c.label,
      cpu(by.service),
      serviceRss(by.service),
      cpu(by.spawn),
      serviceRss(by.spawn),
      cpu(by.fping),
      rss(by.fping),
      ratioText(by.service.cost.cpuPct, by.fping.cost.cpuPct),
    ]),
    notes: [
      'CPU: % of one core, utime+stime of the process and all its descendants (children that exited in the window through',
      "the parent's cutime/cstime). Memory: peak of the Node process's VmRSS plus its live descendants' private memory (USS, from",
      '/proc/PID/smaps_rollup), sampled every 250 ms (MiB): what the service takes from the device. (node X): the Node process alone;',
      "RSS sum: VmRSS summed over the tree, which counts the C library's pages again for every fping and `ip monitor` (1.9 MB each, 0.3 MB their own).",
      'service = the headless service (bin/ifacefailover.js code) with ContinuousIcmpProbe (lib/probes/fping.ts, standard profile);',
      'ping per echo = the same service with the previous IcmpProbe (lib/probes/icmp.ts).',
      'fping -l = `fping -l -p 1000 -q -I IFACE targets...`, one process per uplink, pinned by a policy rule as the service pins.',
      'Run in the lab device against its inet targets; 4 uplinks = eth0, wlan0, ppp0 (socat tunnel) and eth1 (a second veth to r1).',
      `Load average (1 min) of the machine at the end of each window: ${loads(results)} (other work on the machine competes for the same cores).`,
      ...results.flatMap(({ c, by }) => subjects.filter((s) => by[s].trouble).map((s) => `TROUBLE ${c.label}: ${by[s].trouble}`)),
    ],
  };
  const find = (label: string): Record<SubjectName, Measured> => results.find((r) => r.c.label === label)!.by;
  const fourByFour = find('4 uplinks x 4 targets').service.cost.cpuPct;
  const wide = find('1 uplink x 64 targets');
  const ratio = wide.service.cost.cpuPct / wide.fping.cost.cpuPct;
  const peak = Math.max(...results.map((r) => r.by.service.cost.memPeakMb));
  const rssSumPeak = Math.max(...results.map((r) => r.by.service.cost.rssPeakMb));
  const nodePeak = Math.max(...results.map((r) => r.by.service.cost.rssRootsPeakMb));
  const rows: Row[] = [
    ['cost 4 uplinks x 4 targets at 1 s: service CPU (% of a core)', '<= 0.5 %', `${fourByFour.toFixed(2)} %`, '', '', fourByFour <= 0.5 ? 'yes' : 'NO'],
    ['cost 1 uplink x 64 targets: service CPU / fping -l CPU', '<= 2.00', ratioText(wide.service.cost.cpuPct, wide.fping.cost.cpuPct), '', '', ratio <= 2 ? 'yes' : 'NO'],
    ['service memory (peak over the three cases: Node RSS + children USS)', '<= 60 MB', `${peak.toFixed(1)} MB`, '', '', peak <= 60 ? 'yes' : 'NO'],
    ['  ... its Node process alone (reference)', '', `${nodePeak.toFixed(1)} MB`, '', '', ''],
    ['  ... VmRSS summed over the tree (reference)', '', `${rssSumPeak.toFixed(1)} MB`, '', '', ''],
  ];
  return { rows, tables: [table] };
}

if (require.main === module) runPart('cost', costPart);
