/**
 * ContinuousIcmpProbe against a fake fping (test/fakes/fake-fping, a real child process printing fping's
 * lines, told by files what to answer and when to die): parsing, rounds, the fast profile's cut, restarts,
 * replacement on a change, the idle stop, and close() leaving no child. The real fping runs in
 * test/lab/fping-probe.test.ts.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ContinuousIcmpProbe, ContinuousIcmpProbeOptions, cutRunLength, fpingPlan } from '../../lib/probes/fping';
import { parseFpingLine } from '../../lib/probes/fping-output';
import { Probe, ProbeResult } from '../../lib/probes/probe';
import { UplinkConfig, UplinkInput } from '../../lib/uplink/model';
import { setEnv, tempDir } from '../fakes/fake-tools';
import { uplinks } from '../support/fakes';
import { RecordingLogger } from '../support/recorders';
import { sleep, until, waitFor } from '../support/wait';

const FAKE_FPING = resolve(__dirname, '../../../test/fakes/fake-fping');
const A = '203.0.113.1';
const B = '203.0.113.2';

function uplink(probe: UplinkInput['probe'] = {}, extra: Partial<UplinkInput> = {}): UplinkConfig {
  return uplinks({ name: 'primary', iface: 'eth0', gateway: '192.0.2.1', targets: [A, B], probe: { interval: 0.5, timeout: 0.2, ...probe }, ...extra })[0];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Rig {
  dir: string;
  probe: ContinuousIcmpProbe;
  logger: RecordingLogger;
  /** Each start of the fake: [pid, args]. */
  starts(): { pid: number; args: string }[];
  set(name: string, text?: string): void;
  clear(name: string): void;
  /** The uplinks of the rounds the one-shot probe took (never a real ping from a unit test). */
  oneShots: string[];
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function rig(options: ContinuousIcmpProbeOptions = {}): Rig {
  const dir = tempDir('iff-fping-');
  const restoreEnv = setEnv({ FAKE_FPING_DIR: dir });
  const logger = new RecordingLogger();
  const oneShots: string[] = [];
  const fallback: Probe = {
    run: async (u) => {
      oneShots.push(u.name);
      return { up: [...u.targets], down: [], rtt: 1, loss: 0, targets: [], ok: true };
    },
  };
  const probe = new ContinuousIcmpProbe({ command: [FAKE_FPING], logger, restartMs: 50, killGraceMs: 1000, fallback, ...options });
  cleanups.push(restoreEnv, () => probe.close());
  return {
    dir,
    probe,
    logger,
    oneShots,
    starts: () => {
      const log = join(dir, 'starts.log');
      if (!existsSync(log)) return [];
      return readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => ({ pid: Number(l.split(' ')[0]), args: l.slice(l.indexOf(' ') + 1) }));
    },
    set: (name, text = '') => writeFileSync(join(dir, name), text),
    clear: (name) => rmSync(join(dir, name), { force: true }),
  };
}

/** Rounds until one satisfies `check` (the fake answers within a round or two). */
async function roundWhere(probe: Probe, u: UplinkConfig, check: (r: ProbeResult) => boolean, what: string): Promise<ProbeResult> {
  return waitFor(async () => {
    const r = await probe.run(u);
    return check(r) ? r : undefined;
  }, { what, timeoutMs: 15_000, intervalMs: 0 });
}

describe('fping output', () => {
  it('reads replies and timeouts, IPv4 and IPv6, padded or not', () => {
    assert.deepEqual(parseFpingLine('[1796208351.07732] 192.0.2.1   : [0], 64 bytes, 0.105 ms (0.105 avg, 0% loss)'), {
      at: 1796208351077,
      target: '192.0.2.1',
      seq: 0,
      rtt: 0.105,
    });
    assert.deepEqual(parseFpingLine('[1796208351.29806] 2001:db8::9 : [12], timed out (NaN avg, 100% loss)'), {
      at: 1796208351298,
      target: '2001:db8::9',
      seq: 12,
      rtt: null,
    });
    assert.equal(parseFpingLine('[1796208351.29806] 203.0.113.1 : [3], 64 bytes, 12 ms (12.0 avg, 0% loss)')?.rtt, 12);
  });

  it('finds no outcome in what else fping prints', () => {
    for (const line of [
      'ICMP Host Unreachable from 192.0.2.1 for ICMP Echo sent to 203.0.113.1',
      '203.0.113.1 : xmt/rcv/%loss = 3/3/0%, min/avg/max = 0.05/0.07/0.09',
      'binding to specific interface (SO_BINTODEVICE): No such device',
      '',
      '[1796208351.29806] 203.0.113.1 : [x], timed out',
    ]) {
      assert.equal(parseFpingLine(line), null, line);
    }
  });
});

describe('probe plans', () => {
  it('standard: retries + 1 echoes per target per interval, each waited for the timeout (longer than the period too)', () => {
    const plan = fpingPlan(uplink({ interval: 1, timeout: 3, retries: 1 }));
    assert.deepEqual(plan.args, ['-l', '-D', '-p', '500', '-t', '3000', '-I', 'eth0', A, B]);
    assert.equal(plan.cut, null);
  });

  it('fast: about 40 echoes a second across the targets, at most every 50 ms per target, waited for at most 0.3 s', () => {
    const two = fpingPlan(uplink({ profile: 'fast', interval: 1, timeout: 1 }));
    assert.deepEqual(two.args, ['-l', '-D', '-p', '50', '-t', '300', '-I', 'eth0', A, B]);
    assert.equal(two.cut?.run, 16);
    const four = fpingPlan(uplink({ profile: 'fast' }, { targets: [A, B, '203.0.113.3', '203.0.113.4'] }));
    assert.equal(four.periodMs, 100);
    assert.equal(four.cut?.run, 16);
  });

  it('the cut run keeps a false cut in 10 minutes at 40 % loss under 1 %, and is the shortest that does', () => {
    for (const rate of [10, 20, 40]) {
      const n = cutRunLength(rate);
      const falseCut = (run: number): number => rate * 600 * 0.6 * 0.4 ** run;
      assert.ok(falseCut(n) < 0.01, `${rate}/s: ${n}`);
      assert.ok(falseCut(n - 1) >= 0.01, `${rate}/s: ${n - 1} would do`);
    }
  });
});

describe('rounds', () => {
  it('one fping serves every round; figures are the round\'s own; a lost target is down, the uplink still good', async () => {
    const r = rig();
    const u = uplink({ retries: 1 });
    const first = await roundWhere(r.probe, u, (x) => x.up.length === 2, 'both targets up');
    assert.equal(first.ok, true);
    const a = first.targets.find((t) => t.target === A)!;
    assert.ok(a.sent >= 1 && a.lost === 0 && a.rtt === 0.105, JSON.stringify(a));

    r.set('lost', `${B}\n`);
    const lossy = await roundWhere(r.probe, u, (x) => x.down.includes(B), `${B} down`);
    assert.equal(lossy.ok, true, 'reliability 1: one answering target is enough');
    const b = lossy.targets.find((t) => t.target === B)!;
    assert.ok(b.sent >= 1 && b.lost === b.sent && b.rtt === null, JSON.stringify(b));
    assert.ok(lossy.loss > 0);

    r.set('lost', '*');
    const dead = await roundWhere(r.probe, u, (x) => x.up.length === 0, 'no target up');
    assert.equal(dead.ok, false);
    assert.equal(dead.cut, undefined, 'the standard profile reports no cut');
    assert.equal(r.starts().length, 1, 'no process per echo or per round');
  });

  it('a target without any outcome in a round keeps its last state and counts no loss', async () => {
    const r = rig();
    const u = uplink();
    await roundWhere(r.probe, u, (x) => x.up.length === 2, 'both targets up');
    r.set('mute', `${B}\n`);
    const muted = await roundWhere(r.probe, u, (x) => x.targets.find((t) => t.target === B)!.sent === 0, `a round without ${B}`);
    assert.deepEqual(muted.targets.find((t) => t.target === B), { target: B, alive: true, rtt: null, sent: 0, lost: 0 });
    assert.equal(muted.ok, true);
  });

  it('an aborted round ends at once with what it has', async () => {
    const r = rig();
    const u = uplink({ interval: 4, timeout: 1 });
    const abort = new AbortController();
    const round = r.probe.run(u, abort.signal);
    abort.abort();
    const result = await round;
    assert.equal(result.targets.length, 2);
  });
});

describe('the fast profile', () => {
  it('a run of losses on every target ends the round at once with a cut; a reply clears it', async () => {
    const r = rig();
    const u = uplink({ profile: 'fast', interval: 1, timeout: 0.1 });
    const good = await roundWhere(r.probe, u, (x) => x.ok, 'a good round');
    assert.equal(good.cut, undefined);
    assert.ok(good.targets.every((t) => t.sent >= 5), 'several echoes a second per target');

    r.set('lost', '*');
    const cut = await roundWhere(r.probe, u, (x) => x.cut === true, 'a cut');
    assert.equal(cut.ok, false);
    assert.deepEqual(cut.up, []);
    assert.ok(r.logger.at('INFO').some((l) => /^INFO primary is cut: \d+ echoes lost in a row on every target, no reply for \d+ ms$/.test(l)), r.logger.lines.join('\n'));

    r.clear('lost');
    const back = await roundWhere(r.probe, u, (x) => x.ok, 'answers again');
    assert.equal(back.cut, undefined);
  });

  it('losses on one target alone are no cut', async () => {
    const r = rig();
    const u = uplink({ profile: 'fast', interval: 0.5, timeout: 0.1 });
    r.set('lost', `${A}\n`);
    for (let i = 0; i < 6; i++) {
      const round = await r.probe.run(u);
      assert.equal(round.cut, undefined, `round ${i}`);
    }
    assert.ok(!r.logger.lines.some((l) => / is cut/.test(l)));
  });
});

describe('the fping child', () => {
  it('is restarted when it exits, with one warning, and probing goes on', async () => {
    const r = rig();
    const u = uplink();
    await roundWhere(r.probe, u, (x) => x.ok, 'a good round');
    const [first] = r.starts();
    r.set('exit', 'fping: something went wrong');
    await until(() => r.starts().length === 2, { what: 'a restart' });
    assert.equal(alive(first.pid), false);
    await roundWhere(r.probe, u, (x) => x.ok && x.targets.every((t) => t.sent > 0), 'a good round after the restart');
    assert.deepEqual(r.logger.at('WARN'), ['WARN fping of primary (eth0) ended (exit 1: fping: something went wrong); restarting it']);
    assert.ok(r.logger.lines.includes('INFO fping of primary reports again'));
  });

  it('that keeps failing is warned about once, restarted with growing pauses', async () => {
    const r = rig();
    r.set('fail');
    const u = uplink();
    const rounds = (async () => {
      while (r.starts().length < 4) await r.probe.run(u);
    })();
    await rounds;
    assert.equal(r.logger.at('WARN').length, 1, r.logger.lines.join('\n'));
    assert.match(r.logger.at('WARN')[0], /No such device\); restarting it$/);
    r.clear('fail');
    await roundWhere(r.probe, u, (x) => x.ok, 'a good round once it works');
  });

  it('that falls silent is restarted at once, with one warning', async () => {
    const r = rig();
    const u = uplink({ profile: 'fast', interval: 0.5, timeout: 0.1 });
    await roundWhere(r.probe, u, (x) => x.ok, 'a good round');
    r.set('mute', '*');
    await until(async () => {
      await r.probe.run(u);
      return r.starts().length >= 2;
    }, { what: 'a restart after the silence' });
    assert.deepEqual(r.logger.at('WARN'), ['WARN fping of primary reported nothing for 700 ms; restarting it']);
    r.clear('mute');
    await roundWhere(r.probe, u, (x) => x.ok, 'a good round after the restart');
  });

  it('is replaced when the uplink\'s targets or settings change', async () => {
    const r = rig();
    await roundWhere(r.probe, uplink(), (x) => x.ok, 'a good round');
    const [first] = r.starts();
    const changed = uplink({}, { targets: [A, '203.0.113.3'] });
    await roundWhere(r.probe, changed, (x) => x.up.includes('203.0.113.3'), 'the new target up');
    const starts = r.starts();
    assert.equal(starts.length, 2);
    assert.match(starts[1].args, / 203\.0\.113\.1 203\.0\.113\.3$/);
    await until(() => !alive(first.pid), { what: 'the old fping gone' });
    await roundWhere(r.probe, uplink({ profile: 'fast' }, { targets: [A, '203.0.113.3'] }), (x) => x.ok, 'a good fast round');
    assert.equal(r.starts().length, 3, 'a new profile is a new fping');
    assert.equal(r.probe.children, 1);
  });

  it('is stopped once its uplink is no longer probed', async () => {
    const r = rig();
    const u = uplink({ interval: 0.2 });
    await roundWhere(r.probe, u, (x) => x.ok, 'a good round');
    const [first] = r.starts();
    await until(() => r.probe.children === 0 && !alive(first.pid), { what: 'the idle fping stopped' });
    // A round after a pause longer than the idle time is one-shot; rounds close together stream again.
    await r.probe.run(u);
    assert.deepEqual(r.oneShots, ['primary']);
    assert.equal(r.starts().length, 1);
    await roundWhere(r.probe, u, (x) => x.ok, 'probing again starts a new one');
    assert.equal(r.starts().length, 2);
  });

  it('rounds far apart are one-shot: an interval over 5 s never streams, nor does a metered uplink that starts idle', async () => {
    const r = rig();
    await r.probe.run(uplink({ interval: 300 }));
    await r.probe.run(uplink({ interval: 300 }));
    const metered = uplinks({ name: 'cell', iface: 'ppp0', targets: [A], metered: true, probe: { interval: 0.2 } })[0];
    await r.probe.run(metered);
    assert.deepEqual(r.oneShots, ['primary', 'primary', 'cell']);
    assert.equal(r.starts().length, 0, 'no fping started');
    // The metered uplink carries traffic: its rounds come every interval, and the second one streams.
    await roundWhere(r.probe, metered, (x) => x.ok && r.starts().length === 1, 'a stream for the active metered uplink');
  });

  it('close() ends every child, even one that ignores SIGTERM, and no round or timer is left', async () => {
    const r = rig({ killGraceMs: 300 });
    r.set('ignore-term');
    const primary = uplink();
    const backup = uplinks({ name: 'backup', iface: 'wlan0', gateway: '192.0.2.17', targets: [B], probe: { interval: 0.5, timeout: 0.2 } })[0];
    await Promise.all([roundWhere(r.probe, primary, (x) => x.ok, 'primary up'), roundWhere(r.probe, backup, (x) => x.ok, 'backup up')]);
    const pids = r.starts().map((s) => s.pid);
    assert.equal(pids.length, 2);
    assert.ok(pids.every(alive));
    r.set('mute', '*');
    const open = r.probe.run(primary);
    await r.probe.close();
    assert.ok(!pids.some(alive), 'no fping left');
    assert.equal(r.probe.children, 0);
    await open;
    const after = await r.probe.run(primary);
    assert.equal(after.ok, false, 'a closed probe starts nothing');
    await sleep(300);
    assert.equal(r.starts().length, 2, 'nothing restarted after close');
  });
});

describe('without fping', () => {
  it('falls back to the spawn-per-echo probe with one warning naming the Debian package', async () => {
    const fallbackRuns: string[] = [];
    const fallback: Probe = {
      run: async (u) => {
        fallbackRuns.push(u.name);
        return { up: [...u.targets], down: [], rtt: 1, loss: 0, targets: [], ok: true };
      },
    };
    const r = rig({ command: ['/nonexistent/fping'], fallback });
    const u = uplink();
    const first = await r.probe.run(u);
    assert.equal(first.ok, true);
    await r.probe.run(u);
    assert.deepEqual(fallbackRuns, ['primary', 'primary']);
    assert.equal(r.logger.at('WARN').length, 1);
    assert.match(r.logger.at('WARN')[0], /\/nonexistent\/fping was not found: install the Debian package fping/);
  });
});
