/**
 * The real LinkWatch and IcmpProbe inside the lab's device namespace: real veth carrier loss, a real TUN ppp0
 * coming and going, real pings pinned to eth0 by the real RouteService, real upstream cuts.
 *
 * LinkWatch and IcmpProbe read the namespace they run in (sysfs, `ip monitor`, ping -I), so they run in small
 * driver processes started in the dut (test/lab/drivers). Needs root (network namespaces); CI is root and runs
 * these. Times are printed for information only: speed is the benchmark's business, not these tests'.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { NetLab, LabProcess, isRoot, missingTools, pidAlive } from './netlab';
import { labRunner } from './lab-runner';
import { leftovers, sleep } from './service-harness';
import type { LinkState } from '../../lib/linkwatch/link-watch';
import type { ProbeResult } from '../../lib/probes/probe';
import { silentLogger } from '../../lib/log/logger';
import { NamespaceRunner } from './ns-runner';
import { RouteService } from '../../lib/routes/route-service';
import { UplinkConfig, UplinkInput, validateUplinks } from '../../lib/uplink/model';

const DRIVERS = resolve(__dirname, 'drivers');
const LINKWATCH_DRIVER = join(DRIVERS, 'linkwatch-driver.js');
const PROBE_DRIVER = join(DRIVERS, 'probe-driver.js');

const ROOT = isRoot();
const MISSING = ROOT ? missingTools() : [];
if (!ROOT) console.warn('SKIPPED: the link-watch/probe lab tests need root (network namespaces); CI runs them as root');
else if (MISSING.length > 0) console.warn(`SKIPPED: the link-watch/probe lab tests need ${MISSING.join(', ')}`);

const { withLab, createdNamespaces, leftNamespaces } = labRunner(ROOT, MISSING);

// ───── link watch driver ─────

interface WatchEvent {
  event: 'ready' | 'change' | 'stopped';
  t: number;
  state?: LinkState;
  states?: LinkState[];
}

interface Watch {
  proc: LabProcess;
  label: string;
  events(): WatchEvent[];
  /** First event at index >= `from` matching `pred` (polls the collected output). */
  waitFor(pred: (e: WatchEvent) => boolean, from: number, what: string, timeoutMs?: number): Promise<{ event: WatchEvent; index: number }>;
}

function parseEvents(stdout: string): WatchEvent[] {
  const lines = stdout.split('\n');
  lines.pop(); // the last element is an incomplete line (or '')
  return lines.filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as WatchEvent);
}

async function startWatch(lab: NetLab, label: string, args: string[]): Promise<Watch> {
  const proc = lab.spawn('dut', process.execPath, [LINKWATCH_DRIVER, ...args]);
  const w: Watch = {
    proc,
    label,
    events: () => parseEvents(proc.output.stdout),
    async waitFor(pred, from, what, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const all = w.events();
        const index = all.findIndex((e, i) => i >= from && pred(e));
        if (index >= 0) return { event: all[index], index };
        if (!proc.running) throw new Error(`[${label}] driver exited before ${what}: ${JSON.stringify(proc.exitStatus)}\n${proc.output.stdout}\n${proc.output.stderr}`);
        if (Date.now() > deadline) throw new Error(`[${label}] no ${what} within ${timeoutMs} ms; events: ${proc.output.stdout}\nstderr: ${proc.output.stderr}`);
        await sleep(5);
      }
    },
  };
  await w.waitFor((e) => e.event === 'ready', 0, 'ready line', 15_000);
  return w;
}

/** Live (non-zombie) child processes of `pid`, as `pid: command line`. */
function childrenOf(pid: number): { pid: number; cmd: string }[] {
  const found: { pid: number; cmd: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) !== pid || state === 'Z') continue;
      found.push({ pid: Number(entry), cmd: readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim() });
    } catch {
      /* raced with exit */
    }
  }
  return found;
}

/**
 * SIGTERM to the driver's node process only (not its process group), so the driver must end its own
 * `ip monitor` child through LinkWatch.stop() and then exit by itself: no timer or child left holding it.
 */
async function stopWatch(w: Watch): Promise<void> {
  const monitors = childrenOf(w.proc.pid).filter((c) => /\bip monitor link\b/.test(c.cmd));
  const exitPromise = w.proc.exited;
  process.kill(w.proc.pid, 'SIGTERM');
  const exit = await Promise.race([exitPromise, sleep(5000).then(() => null)]);
  try {
    assert.equal(monitors.length, 1, `[${w.label}] the driver ran one ip monitor: ${JSON.stringify(monitors)}`);
    assert.ok(exit, `[${w.label}] driver did not exit within 5 s of SIGTERM; stderr: ${w.proc.output.stderr}`);
    assert.deepEqual(exit, { code: 0, signal: null }, `[${w.label}] exit; stderr: ${w.proc.output.stderr}`);
    assert.equal(w.events().at(-1)?.event, 'stopped');
    assert.deepEqual(
      monitors.filter((m) => pidAlive(m.pid)),
      [],
      `[${w.label}] LinkWatch.stop() ended its ip monitor`,
    );
  } finally {
    await w.proc.stop({ graceMs: 1000 });
  }
}

const isIface = (iface: string) => (e: WatchEvent) => e.event === 'change' && e.state?.iface === iface;

/** The ready line. Monitor lines seen while start() runs may already have produced change events before it. */
function readyOf(w: Watch): WatchEvent {
  const ready = w.events().find((e) => e.event === 'ready');
  assert.ok(ready, `[${w.label}] ready line`);
  return ready;
}

/** What the watch last said about `iface` (its ready line, then its change events). */
function latest(w: Watch, iface: string): LinkState | undefined {
  let state: LinkState | undefined;
  for (const e of w.events()) {
    if (e.event === 'ready') state = e.states?.find((s) => s.iface === iface) ?? state;
    if (e.event === 'change' && e.state?.iface === iface) state = e.state;
  }
  return state;
}

/**
 * Waits until the watch says eth0 is up. NetLab.create() returns as soon as the veth has carrier; the kernel
 * sets operstate `up` a little later (link-watch work is deferred), so a watch started right away may first
 * read eth0 as down and then report it coming up. That is correct behaviour, but not what these tests are about.
 */
async function settled(w: Watch): Promise<LinkState | undefined> {
  const initial = readyOf(w).states?.find((s) => s.iface === 'eth0');
  const deadline = Date.now() + 5000;
  while (latest(w, 'eth0')?.up !== true) {
    if (Date.now() > deadline) throw new Error(`[${w.label}] eth0 never reported up: ${w.proc.output.stdout}`);
    await sleep(10);
  }
  return initial;
}

// ───── probe driver ─────

interface ProbeRun {
  elapsedMs: number;
  uplink: UplinkConfig;
  result: ProbeResult;
}

async function probe(lab: NetLab, input: UplinkInput): Promise<ProbeRun> {
  const r = await lab.exec('dut', process.execPath, [PROBE_DRIVER, JSON.stringify(input)], { timeoutMs: 60_000 });
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `one JSON line from the probe driver: ${r.stdout}\nstderr: ${r.stderr}`);
  return JSON.parse(lines[0]) as ProbeRun;
}

/** CommandRunner that runs every command in a lab namespace, so the real RouteService configures the dut. */
function primary(targets: string[], probeSettings: Record<string, number> = {}): UplinkInput {
  return { name: 'primary', iface: 'eth0', gateway: '192.0.2.1', targets, probe: { timeout: 1, retries: 1, ...probeSettings } };
}

/** Pins eth0 the way the service does (table 4200 + `ip rule oif eth0`); returns the undo. */
async function pinEth0(lab: NetLab, targets: string[]): Promise<() => Promise<void>> {
  const routes = new RouteService({ runner: new NamespaceRunner(lab), logger: silentLogger });
  const [uplink] = validateUplinks([primary(targets)]);
  await routes.pin(uplink);
  assert.deepEqual(await lab.defaultRoutes(), [], 'the dut has no default route: only the pin can carry the probes');
  assert.deepEqual(
    (await lab.defaultRoutes('4200')).map((r) => [r.dev, r.gateway]),
    [['eth0', '192.0.2.1']],
    'table 4200 holds the uplink default',
  );
  assert.equal((await lab.routeGet(targets[0], { oif: 'eth0' })).gateway, '192.0.2.1', 'probes bound to eth0 go via r1');
  return async () => {
    await routes.unpin(uplink);
    assert.deepEqual(await leftovers(lab, targets), [], 'unpin removed the rule and table');
  };
}

// ───── tests ─────

test('the drivers are built next to this test', () => {
  // Guards the harness: a wrong path would make every test below fail for the wrong reason.
  assert.ok(existsSync(LINKWATCH_DRIVER), LINKWATCH_DRIVER);
  assert.ok(existsSync(PROBE_DRIVER), PROBE_DRIVER);
});

test('link watch in the dut: a pulled cable is eth0 down, restore is eth0 up', async (t) => {
  await withLab(t, { targets: 1, wlan: false, carrier: false }, async (lab) => {
    // The product's default (ip monitor + 1 s poll) and the monitor alone, side by side:
    // the second proves the events come from `ip monitor link`, not from the safety-net poll.
    const watches = [await startWatch(lab, 'default', ['eth0', 'ppp0']), await startWatch(lab, 'monitor only', ['--poll-ms=0', 'eth0', 'ppp0'])];
    try {
      for (const w of watches) {
        const ready = readyOf(w);
        assert.deepEqual(
          ready.states?.map((s) => [s.iface, s.exists]),
          [
            ['eth0', true],
            ['ppp0', false],
          ],
          `[${w.label}] initial states`,
        );
        assert.deepEqual(ready.states?.[1], { iface: 'ppp0', exists: false, adminUp: false, carrier: null, operstate: 'absent', up: false });
        const initial = await settled(w);
        t.diagnostic(`[${w.label}] eth0 at start: ${initial?.operstate}, carrier ${String(initial?.carrier)} -> up`);
      }
      const marks = watches.map((w) => w.events().length);
      const pulledAt = Date.now();
      await lab.pullCable('eth0');
      for (const [i, w] of watches.entries()) {
        const { event, index } = await w.waitFor((e) => isIface('eth0')(e) && e.state?.up === false, marks[i], 'eth0 down event');
        assert.equal(event.state?.exists, true);
        assert.equal(event.state?.adminUp, true, 'the dut side is still admin up');
        assert.equal(event.state?.carrier, false);
        // A veth whose peer went down: LOWERLAYERDOWN in `ip link`, though the kernel may say DOWN first.
        assert.ok(['lowerlayerdown', 'down'].includes(event.state?.operstate ?? ''), `operstate ${event.state?.operstate}`);
        marks[i] = index + 1;
        t.diagnostic(`[${w.label}] cable pulled -> eth0 up:false (${event.state?.operstate}) after ${event.t - pulledAt} ms`);
      }

      const restoredAt = Date.now();
      await lab.restore('eth0');
      for (const [i, w] of watches.entries()) {
        const { event } = await w.waitFor((e) => isIface('eth0')(e) && e.state?.up === true, marks[i], 'eth0 up event');
        assert.deepEqual(event.state, { iface: 'eth0', exists: true, adminUp: true, carrier: true, operstate: 'up', up: true });
        t.diagnostic(`[${w.label}] cable back -> eth0 up:true after ${event.t - restoredAt} ms`);
      }
      // Nothing about ppp0 happened, so nothing about ppp0 was said.
      for (const w of watches) assert.equal(w.events().filter(isIface('ppp0')).length, 0, `[${w.label}] no ppp0 event`);
    } finally {
      for (const w of watches) await stopWatch(w);
    }
  });
});

test('link watch in the dut: ppp0 appears up with pppUp and vanishes with pppDown', async (t) => {
  await withLab(t, { targets: 1, wlan: false }, async (lab) => {
    const watches = [await startWatch(lab, 'default', []), await startWatch(lab, 'monitor only', ['--poll-ms=0'])];
    try {
      for (const w of watches) await settled(w);
      const marks = watches.map((w) => w.events().length);
      const upAt = Date.now();
      await lab.pppUp();
      for (const [i, w] of watches.entries()) {
        const { event, index } = await w.waitFor((e) => isIface('ppp0')(e) && e.state?.exists === true && e.state.up, marks[i], 'ppp0 up event');
        assert.equal(event.state?.carrier, true);
        assert.equal(event.state?.adminUp, true);
        assert.equal(event.state?.operstate, 'unknown', 'TUN reports operstate unknown');
        marks[i] = index + 1;
        t.diagnostic(`[${w.label}] pppUp -> ppp0 exists:true up:true after ${event.t - upAt} ms (pppUp resolved after ${Date.now() - upAt} ms)`);
      }
      // Let stragglers of the creation burst settle: the last word on ppp0 must still be "up".
      await sleep(300);
      for (const w of watches) {
        const last = w.events().filter(isIface('ppp0')).at(-1);
        assert.equal(last?.state?.up, true, `[${w.label}] last ppp0 event after pppUp: ${JSON.stringify(last)}`);
        marks[watches.indexOf(w)] = w.events().length;
      }

      const downAt = Date.now();
      await lab.pppDown();
      for (const [i, w] of watches.entries()) {
        const { event } = await w.waitFor((e) => isIface('ppp0')(e) && e.state?.exists === false, marks[i], 'ppp0 gone event');
        assert.deepEqual(event.state, { iface: 'ppp0', exists: false, adminUp: false, carrier: null, operstate: 'absent', up: false });
        t.diagnostic(`[${w.label}] pppDown -> ppp0 exists:false after ${event.t - downAt} ms`);
      }
      await sleep(300);
      for (const w of watches) {
        const last = w.events().filter(isIface('ppp0')).at(-1);
        assert.equal(last?.state?.exists, false, `[${w.label}] last ppp0 event after pppDown: ${JSON.stringify(last)}`);
        assert.equal(latest(w, 'eth0')?.up, true, `[${w.label}] eth0 untouched`);
      }
    } finally {
      for (const w of watches) await stopWatch(w);
    }
  });
});

test('link watch in the dut, monitor only: after each of 10 quick ppp0 up/down cycles its last word is the truth', async (t) => {
  // ppp0 vanishing prints two lines back to back (link down, then Deleted); the re-reads they start race each
  // other. Whatever order they finish in, the watch must end on what sysfs says now - with no poll to mend it.
  await withLab(t, { targets: 1, wlan: false }, async (lab) => {
    const w = await startWatch(lab, 'monitor only', ['--poll-ms=0', 'ppp0']);
    try {
      const wrong: string[] = [];
      for (let cycle = 0; cycle < 10; cycle++) {
        await lab.pppUp();
        await w.waitFor(() => latest(w, 'ppp0')?.up === true, 0, `ppp0 up (cycle ${cycle})`, 3000);
        await sleep(100);
        if (latest(w, 'ppp0')?.up !== true) wrong.push(`cycle ${cycle} after pppUp: ${JSON.stringify(latest(w, 'ppp0'))}`);
        await lab.pppDown();
        await w.waitFor(() => latest(w, 'ppp0')?.exists === false, 0, `ppp0 gone (cycle ${cycle})`, 3000);
        await sleep(100);
        if (latest(w, 'ppp0')?.exists !== false) wrong.push(`cycle ${cycle} after pppDown: ${JSON.stringify(latest(w, 'ppp0'))}`);
      }
      t.diagnostic(`${w.events().length - 1} change events over 10 cycles`);
      assert.deepEqual(wrong, [], 'a stale re-read finished last and overwrote the newer state');
    } finally {
      await stopWatch(w);
    }
  });
});

test('ICMP probe pinned to eth0: all up, then an upstream cut is all down, then the pin is removed', async (t) => {
  await withLab(t, { targets: 4, wlan: false, carrier: false }, async (lab) => {
    const targets = lab.targets.slice(0, 4);
    assert.deepEqual(targets, ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4']);

    // Without the pin nothing routes these targets out of eth0 (no default route anywhere in the dut).
    const unpinned = await probe(lab, primary(targets, { timeout: 0.5, retries: 0 }));
    assert.deepEqual(unpinned.result.up, [], `unpinned: ${JSON.stringify(unpinned.result)}`);

    const unpin = await pinEth0(lab, targets);
    const up = await probe(lab, primary(targets));
    t.diagnostic(`4 targets up: round ${up.elapsedMs} ms, mean rtt ${up.result.rtt} ms`);
    assert.deepEqual(up.result.up, targets);
    assert.deepEqual(up.result.down, []);
    assert.equal(up.result.loss, 0);
    assert.equal(up.result.ok, true);
    assert.equal(typeof up.result.rtt, 'number');
    for (const tr of up.result.targets) {
      assert.equal(tr.alive, true, tr.target);
      assert.equal(typeof tr.rtt, 'number', `${tr.target} rtt`);
      assert.ok((tr.rtt as number) >= 0 && (tr.rtt as number) < 1000, `${tr.target} rtt ${tr.rtt}`);
      assert.deepEqual([tr.sent, tr.lost], [1, 0], `${tr.target}: answered the first echo`);
    }

    await lab.cutUpstream('eth0');
    const cut = await probe(lab, primary(targets));
    t.diagnostic(`4 targets, upstream cut (timeout 1 s, retries 1): round ${cut.elapsedMs} ms`);
    assert.deepEqual(cut.result.up, []);
    assert.deepEqual(cut.result.down, targets);
    assert.equal(cut.result.loss, 1);
    assert.equal(cut.result.ok, false);
    assert.equal(cut.result.rtt, null);
    for (const tr of cut.result.targets) assert.deepEqual([tr.alive, tr.rtt, tr.sent, tr.lost], [false, null, 2, 2], tr.target);

    await lab.restore('eth0');
    const back = await probe(lab, primary(targets));
    assert.deepEqual(back.result.up, targets, 'answers again after restore');
    await unpin();
  });
});

test('ICMP probe: with reliability 3 and only 2 of 4 targets answering, the round is not ok', async (t) => {
  await withLab(t, { targets: 2, wlan: false, carrier: false }, async (lab) => {
    // 203.0.113.200/.201 are in the documentation range but nowhere in the lab: inet has no route for them.
    const missing = ['203.0.113.200', '203.0.113.201'];
    for (const m of missing) assert.ok(!lab.targets.includes(m), `${m} is not a lab target`);
    const targets = [...lab.targets, ...missing];
    const unpin = await pinEth0(lab, targets);
    const run = await probe(lab, primary(targets, { reliability: 3 }));
    t.diagnostic(`2 of 4 answering: round ${run.elapsedMs} ms`);
    assert.equal(run.uplink.probe.reliability, 3);
    assert.deepEqual(run.result.up, lab.targets);
    assert.deepEqual(run.result.down, missing);
    assert.equal(run.result.ok, false, '2 answers < reliability 3');
    assert.equal(run.result.loss, 4 / 6, '2 targets x 2 attempts lost of 6 sent');
    assert.equal(typeof run.result.rtt, 'number');

    const two = await probe(lab, primary(targets, { reliability: 2 }));
    assert.equal(two.result.ok, true, 'the same answers are enough for reliability 2');
    await unpin();
  });
});

test('ICMP probe of an interface that does not exist: every target down, nothing thrown', async (t) => {
  await withLab(t, { targets: 2, wlan: false, carrier: false }, async (lab) => {
    assert.equal((await lab.linkState('nosuch0')).exists, false);
    const run = await probe(lab, { name: 'ghost', iface: 'nosuch0', gateway: '192.0.2.1', targets: lab.targets, probe: { timeout: 1, retries: 1 } });
    t.diagnostic(`missing interface: round ${run.elapsedMs} ms`);
    assert.deepEqual(run.result.up, []);
    assert.deepEqual(run.result.down, lab.targets);
    assert.equal(run.result.ok, false);
    assert.equal(run.result.loss, 1);
    assert.equal(run.result.rtt, null);
    for (const tr of run.result.targets) assert.deepEqual([tr.alive, tr.sent, tr.lost], [false, 2, 2], tr.target);
  });
});

test('ICMP probe: 16 targets on a cut uplink are probed in parallel (structure asserted, time printed)', async (t) => {
  await withLab(t, { targets: 16, wlan: false, carrier: false }, async (lab) => {
    const targets = lab.targets;
    assert.equal(targets.length, 16);
    const unpin = await pinEth0(lab, targets);
    const up = await probe(lab, primary(targets, { timeout: 1, retries: 0 }));
    assert.equal(up.result.up.length, 16, `all 16 answer before the cut: ${JSON.stringify(up.result.down)}`);
    t.diagnostic(`16 targets up: round ${up.elapsedMs} ms`);

    await lab.cutUpstream('eth0');
    const cut = await probe(lab, primary(targets, { timeout: 1, retries: 0 }));
    t.diagnostic(`16 targets, upstream cut, timeout 1 s, retries 0: round ${cut.elapsedMs} ms (serial would be >= 16000 ms)`);
    assert.equal(cut.result.down.length, 16);
    assert.deepEqual(cut.result.down, targets);
    assert.deepEqual(cut.result.up, []);
    assert.equal(cut.result.loss, 1);
    assert.equal(cut.result.ok, false);
    for (const tr of cut.result.targets) assert.deepEqual([tr.sent, tr.lost], [1, 1], tr.target);
    await lab.restore('eth0');
    await unpin();
  });
});

test('nothing is left behind: no lab namespace, no driver process', async (t) => {
  if (!ROOT || MISSING.length > 0) {
    t.skip('needs root');
    return;
  }
  assert.ok(createdNamespaces.length > 0, 'the lab tests above ran');
  assert.deepEqual(
    leftNamespaces(),
    [],
    'every namespace the tests created is gone',
  );
  for (const pattern of ['linkwatch-driver\\.js', 'probe-driver\\.js']) {
    const r = await execa('pgrep', ['-af', pattern], { reject: false });
    assert.equal(r.stdout.trim(), '', `no ${pattern} process left`);
  }
});
