/**
 * A metered backup in the network lab, run by the real headless service: its probes reach its router at the
 * idle rate while it carries no traffic (counted by an nft rule in the routers, beside the primary's), and once
 * it carries traffic the data that goes out through it shows in the service's usage lines, its budget alert and
 * the counters file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetLab, isRoot, missingTools } from './netlab';
import { labRunner } from './lab-runner';
import { startService, sleep, waitForDefault } from './service-harness';
import { waitFor } from '../support/wait';

const ROOT = isRoot();
const MISSING = ROOT ? missingTools() : [];
const runner = labRunner(ROOT, MISSING);

const T1 = '203.0.113.1';
const T2 = '203.0.113.2';
/** Where the test's own traffic goes: no probe target, so no pin applies to it. */
const SINK = '203.0.113.4';
const SINK_PORT = 9000;
const SENT_BYTES = 3_000_000;
const IDLE_S = 3;
const INTERVAL_S = 0.5;

/** Counts the echo requests a router forwards from the device (a table of its own: the lab's fault table is `ip iff`). */
async function countEchoes(lab: NetLab, router: string): Promise<void> {
  const rules = [
    'add table ip count',
    'add chain ip count forward { type filter hook forward priority -10; policy accept; }',
    'add rule ip count forward icmp type echo-request counter',
  ];
  await lab.exec(router, 'nft', ['-f', '-'], { input: `${rules.join('\n')}\n` });
}

async function echoes(lab: NetLab, router: string): Promise<number> {
  const r = await lab.exec(router, 'nft', ['list', 'chain', 'ip', 'count', 'forward']);
  const m = /counter packets (\d+) bytes/.exec(r.stdout);
  assert.ok(m, r.stdout);
  return Number(m[1]);
}

/** The bytes in a usage line (`3.1 MB`, `950.0 kB`, `12 B`). */
function bytesOf(text: string): number {
  const m = /^([\d.]+) (B|kB|MB|GB)$/.exec(text.trim());
  assert.ok(m, text);
  return Number(m[1]) * { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 }[m[2] as 'B' | 'kB' | 'MB' | 'GB'];
}

test('a metered backup: probed at its idle rate while idle; the data sent through it in its usage, budget alert and counters file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'iff-metered-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const usageFile = join(dir, 'usage.json');
  await runner.withLab(t, { targets: 4, wlan: true, carrier: false }, async (lab) => {
    await countEchoes(lab, 'r1');
    await countEchoes(lab, 'r2');
    const svc = startService(
      lab,
      `failover.usageFile=${usageFile}
failover.usageReport=1
route.primary.gateway=192.0.2.1
route.primary.iface=eth0
route.primary.targets=${T1}
route.primary.verifierDelay=${INTERVAL_S}
route.primary.verifierKwargs={'timeout':1, 'maxRetry':1, 'down':2}
route.backup.gateway=192.0.2.17
route.backup.iface=wlan0
route.backup.targets=${T2}
route.backup.verifierDelay=${INTERVAL_S}
route.backup.verifierKwargs={'timeout':1, 'maxRetry':1}
route.backup.metered=true
route.backup.idleInterval=${IDLE_S}
route.backup.budget=4
route.backup.budgetAlerts=50,100
`,
    );
    const sink = lab.spawn('inet', 'socat', ['-u', `TCP-LISTEN:${SINK_PORT},reuseaddr`, 'CREATE:/dev/null']);
    try {
      await waitForDefault(lab, 'eth0');
      await svc.waitForLine(/^INFO backup is metered: /);
      // One echo and its reply, 168 bytes, every 3 s while idle.
      assert.ok(svc.lines().includes(`INFO backup is metered: its probes cost about ${((168 * 86_400) / IDLE_S / 1e6).toFixed(1)} MB a day at the current rate`));

      // Both rates over one window, side by side.
      const [p0, b0] = [await echoes(lab, 'r1'), await echoes(lab, 'r2')];
      const windowS = 12;
      await sleep(windowS * 1000);
      const [primary, backup] = [(await echoes(lab, 'r1')) - p0, (await echoes(lab, 'r2')) - b0];
      t.diagnostic(`echo requests in ${windowS} s: primary ${primary}, metered backup ${backup}`);
      assert.ok(backup >= 2 && backup <= windowS / IDLE_S + 1, `backup at its idle rate (every ${IDLE_S} s): ${backup}`);
      assert.ok(primary >= (windowS / INTERVAL_S) * 0.75, `primary at its interval (${INTERVAL_S} s): ${primary}`);

      // The primary is cut: the backup carries traffic, probed at the normal rate again.
      await lab.cutUpstream('eth0');
      await waitForDefault(lab, 'wlan0');
      const b1 = await echoes(lab, 'r2');
      await sleep(3000);
      const busy = (await echoes(lab, 'r2')) - b1;
      assert.ok(busy >= 4, `carrying traffic, the backup is probed every ${INTERVAL_S} s: ${busy} echoes in 3 s`);

      // A known amount of data out through it, to a sink beyond its router.
      const sent = await lab.exec('dut', 'socat', ['-u', `OPEN:/dev/zero,readbytes=${SENT_BYTES}`, `TCP:${SINK}:${SINK_PORT}`], { timeoutMs: 20_000 });
      assert.equal(sent.exitCode, 0, sent.stderr);
      // A usage line a second while it carries traffic; one of them covers what was sent.
      const used = await waitFor(
        () =>
          svc
            .lines()
            .map((l) => /^INFO Data used on backup since it became active: ([^;]+); /.exec(l)?.[1])
            .filter((text): text is string => text !== undefined)
            .map(bytesOf)
            .find((bytes) => bytes >= SENT_BYTES),
        { what: `a usage line of at least ${SENT_BYTES} bytes`, timeoutMs: 10_000 },
      );
      t.diagnostic(`usage after sending ${SENT_BYTES} bytes: ${used} bytes`);
      // 3 MB of a 4 MB budget: the 50 % alert, not the 100 % one.
      await svc.waitForLine(/^WARNING backup has used 50 % of its data budget: [\d.]+ MB of 4\.0 MB since \d{4}-\d\d-\d\d$/);
      assert.ok(!svc.lines().some((l) => /has used 100 %/.test(l)));
    } finally {
      await sink.stop();
      assert.equal(await svc.stop(), 0, `exit code; stderr: ${svc.proc.output.stderr}`);
    }
    const stored = JSON.parse(readFileSync(usageFile, 'utf8')) as {
      uplinks: Record<string, { iface: string; periodBytes: number; alerted: number[]; session: { bytes: number } | null }>;
    };
    assert.deepEqual(Object.keys(stored.uplinks), ['backup'], 'only the metered uplink is counted');
    assert.equal(stored.uplinks.backup.iface, 'wlan0');
    assert.ok(stored.uplinks.backup.periodBytes >= SENT_BYTES);
    assert.ok((stored.uplinks.backup.session?.bytes ?? 0) >= SENT_BYTES, 'the session still open at stop, kept for a restart');
    assert.deepEqual(stored.uplinks.backup.alerted, [50]);
  });
});

test('no lab namespace is left behind', () => {
  assert.deepEqual(runner.leftNamespaces(), []);
});
