/**
 * The long-lived fping prober for real, in the network lab: the headless service (its default probe) with the
 * fast profile on the primary, against a real cut, 20 % random loss, another program's flood ping, and a
 * killed fping; and the prober itself running fping in the device's namespace. After every stop, no fping is
 * left in the device (read from /proc). Needs root and fping (Debian package fping).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { NetLab, isRoot, missingTools } from './netlab';
import { labRunner } from './lab-runner';
import { RunningService, sleep, startService, waitForDefault } from './service-harness';
import { ContinuousIcmpProbe } from '../../lib/probes/fping';
import { ProbeResult } from '../../lib/probes/probe';
import { validateUplinks } from '../../lib/uplink/model';
import { until, waitFor } from '../support/wait';

function fpingMissing(): string[] {
  try {
    execFileSync('fping', ['-v'], { stdio: 'ignore' });
    return [];
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? ['fping'] : [];
  }
}

const ROOT = isRoot();
const lab = labRunner(ROOT, [...missingTools(), ...fpingMissing()]);

const T1 = '203.0.113.1';
const T2 = '203.0.113.2';

/** The primary probed the fast way, the FONA on ppp0 behind it. */
const FAST = `route.primary.gateway=192.0.2.1
route.primary.iface=eth0
route.primary.targets=${T1},${T2}
route.primary.profile=fast
route.primary.handlers=['/opt/ifacefailover/config/logHandler.pkl']
route.primary.handlerKwargs=[{'name':'primary'}]
route.fona.gateway=0.0.0.0
route.fona.iface=ppp0
route.fona.handlers=['/opt/ifacefailover/config/logHandler.pkl']
route.fona.handlerKwargs=[{'name':'fona'}]
`;

interface ProcInfo {
  pid: number;
  ppid: number;
}

/** fping processes in the lab's device namespace (same network namespace inode), from /proc. */
function fpingsIn(netlab: NetLab): ProcInfo[] {
  const dutNet = statSync(`/run/netns/${netlab.nsName('dut')}`).ino;
  const found: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'fping') continue;
      const net = readlinkSync(`/proc/${entry}/ns/net`); // net:[4026532...]
      if (Number(/\[(\d+)\]/.exec(net)?.[1]) !== dutNet) continue;
      const ppid = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1]);
      found.push({ pid: Number(entry), ppid });
    } catch {
      /* gone meanwhile */
    }
  }
  return found;
}

/** Stops the service (exit 0) and checks that it left no fping behind. */
async function stopAndCheck(netlab: NetLab, svc: RunningService): Promise<void> {
  assert.equal(await svc.stop(), 0, `exit code; stderr: ${svc.proc.output.stderr}`);
  assert.deepEqual(fpingsIn(netlab), [], 'no fping left in the device after stop');
}

test('fast profile: a cut primary moves the kernel default route to the backup on the first bad round', async (t) => {
  await lab.withLab(t, { targets: 2, wlan: false }, async (netlab) => {
    await netlab.pppUp();
    const svc = startService(netlab, FAST);
    try {
      await waitForDefault(netlab, 'eth0');
      await svc.waitForLine(/^INFO Connected to primary$/);
      const probers = fpingsIn(netlab);
      assert.equal(probers.length, 1, 'one fping for the probed primary (the FONA has no targets)');
      assert.equal(probers[0].ppid, svc.proc.pid, "the service's own child");
      const cmdline = readFileSync(`/proc/${probers[0].pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      assert.deepEqual(cmdline.slice(1), ['-l', '-D', '-p', '50', '-t', '300', '-I', 'eth0', T1, T2]);

      await netlab.cutUpstream('eth0');
      const route = await waitForDefault(netlab, 'ppp0');
      assert.equal(route.dev, 'ppp0');
      await svc.waitForLine(/^INFO Failing over to fona$/);
      assert.ok(svc.lines().some((l) => /^INFO primary is cut: \d+ echoes lost in a row on every target, no reply for \d+ ms$/.test(l)));
      const moved = svc.lines().indexOf('INFO Adding route ppp0');
      const badRounds = svc.lines().slice(0, moved).filter((l) => l === `INFO upRoutes=; downRoutes=${T1}, ${T2}`);
      assert.equal(badRounds.length, 1, 'the cut round alone fails the primary (down=3 would need three)');

      await netlab.restore('eth0');
      await waitForDefault(netlab, 'eth0');
      await svc.waitForLine(/^INFO Connection restored to primary$/);
      assert.equal(fpingsIn(netlab).length, 1, 'one fping probes the primary (restarted if it fell silent)');
    } finally {
      await stopAndCheck(netlab, svc);
    }
  });
});

test('fast profile: 20 % random loss on the primary for 20 s is no cut and no failover', async (t) => {
  await lab.withLab(t, { targets: 2, wlan: false }, async (netlab) => {
    await netlab.pppUp();
    const svc = startService(netlab, FAST);
    try {
      await waitForDefault(netlab, 'eth0');
      await svc.waitForLine(/^INFO Connected to primary$/);
      await netlab.setLoss('eth0', 20);
      const measured = await netlab.ping({ target: T1, dev: 'eth0', count: 50, intervalSec: 0.02, waitSec: 0.5 });
      assert.ok(measured.lossPct >= 4 && measured.lossPct <= 45, `about 20 % lost (${measured.lossPct} %)`);
      const before = svc.lines().length;
      await sleep(20_000);
      const rounds = svc.lines().slice(before).filter((l) => l.includes('upRoutes='));
      assert.ok(rounds.length >= 12, `about one round a second (${rounds.length})`);
      assert.deepEqual((await netlab.defaultRoutes()).map((r) => r.dev), ['eth0']);
      assert.ok(!svc.lines().some((l) => / is cut:|Connection failed/.test(l)), svc.lines().join('\n'));
    } finally {
      await stopAndCheck(netlab, svc);
    }
  });
});

test("fast profile: another program's flood ping to a target is neither taken for fping's replies nor a failover", async (t) => {
  await lab.withLab(t, { targets: 2, wlan: false }, async (netlab) => {
    await netlab.pppUp();
    const svc = startService(netlab, FAST);
    // The prober itself too, running fping in the device, so its figures can be read round by round.
    const [primary] = validateUplinks([{ name: 'watch', iface: 'eth0', gateway: '192.0.2.1', targets: [T1, T2], probe: { profile: 'fast' } }]);
    const probe = new ContinuousIcmpProbe({ command: ['ip', 'netns', 'exec', netlab.nsName('dut'), 'fping'] });
    try {
      await waitForDefault(netlab, 'eth0');
      await svc.waitForLine(/^INFO Connected to primary$/);
      await waitFor(async () => ((await probe.run(primary)).ok ? true : undefined), { what: 'the watching prober answered' });

      const started = Date.now();
      const flood = netlab.exec('dut', 'ping', ['-f', '-q', '-w', '10', T1], { reject: false, timeoutMs: 20_000 });
      let flooding = true;
      void flood.then(() => (flooding = false));
      const rounds: ProbeResult[] = [];
      while (flooding) rounds.push(await probe.run(primary));
      const elapsed = Date.now() - started;
      const summary = /(\d+) packets transmitted, (\d+) received/.exec((await flood).stdout);
      assert.ok(summary, (await flood).stdout);
      const floodReplies = Number(summary[2]);

      // fping sends T1 an echo every 50 ms: whatever it reports cannot exceed that, however many replies the
      // flood brings back. It keeps its own ICMP identifier, so the flood's replies are not its outcomes.
      const outcomes = rounds.flatMap((r) => r.targets.filter((x) => x.target === T1)).reduce((n, x) => n + x.sent, 0);
      const sendable = Math.ceil((elapsed + 1000) / 50) + 2;
      assert.ok(floodReplies > 10 * sendable, `a real flood: ${floodReplies} replies to ping -f`);
      assert.ok(outcomes > 0 && outcomes <= sendable, `${outcomes} outcomes for ${T1}, at most ${sendable} echoes sent`);
      assert.ok(rounds.every((r) => r.cut === undefined && r.ok), JSON.stringify(rounds.filter((r) => !r.ok)));
      assert.deepEqual((await netlab.defaultRoutes()).map((r) => r.dev), ['eth0']);
      assert.ok(!svc.lines().some((l) => / is cut:|Connection failed|downRoutes=\S/.test(l)), svc.lines().join('\n'));
    } finally {
      await probe.close();
      await stopAndCheck(netlab, svc);
    }
  });
});

test('a killed fping (kill -9) is restarted and probing goes on; none is left after stop', async (t) => {
  await lab.withLab(t, { targets: 2, wlan: false }, async (netlab) => {
    await netlab.pppUp();
    const svc = startService(netlab, FAST);
    try {
      await waitForDefault(netlab, 'eth0');
      await svc.waitForLine(/^INFO Connected to primary$/);
      const [first] = fpingsIn(netlab);
      assert.ok(first, 'an fping probes the primary');
      process.kill(first.pid, 'SIGKILL');
      const second = await waitFor(() => fpingsIn(netlab).find((p) => p.pid !== first.pid && p.ppid === svc.proc.pid), {
        what: 'a new fping',
      });
      await svc.waitForLine(/^WARNING fping of primary \(eth0\) ended \(signal SIGKILL\); restarting it$/);
      await svc.waitForLine(/^INFO fping of primary reports again$/);
      const after = svc.lines().length;
      await until(() => svc.lines().slice(after).filter((l) => l === `INFO upRoutes=${T1}, ${T2}; downRoutes=`).length >= 3, {
        what: 'good rounds after the restart',
      });
      assert.deepEqual(fpingsIn(netlab).map((p) => p.pid), [second.pid]);
      assert.deepEqual((await netlab.defaultRoutes()).map((r) => r.dev), ['eth0']);
      assert.ok(!svc.lines().some((l) => /Connection failed/.test(l)));
    } finally {
      await stopAndCheck(netlab, svc);
    }
  });
});

test('no lab namespace is left', () => {
  assert.deepEqual(lab.leftNamespaces(), []);
});
