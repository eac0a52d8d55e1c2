/**
 * Self-test of the network lab (needs root: network namespaces, veth, nftables, TUN).
 */
import { describe, it, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import * as path from 'node:path';
import { NetLab, isRoot, missingTools, removeStaleLabs, listNamespaces, pidAlive } from './netlab';

/** Zombie children of this process (an un-reaped socat would show up here). */
function zombieChildren(): number[] {
  const zombies: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z' && Number(fields[1]) === process.pid) zombies.push(Number(entry));
    } catch {
      /* raced with exit */
    }
  }
  return zombies;
}

const missing = isRoot() ? missingTools() : [];
const skipReason = !isRoot() ? 'needs root' : missing.length > 0 ? `missing tools: ${missing.join(', ')}` : undefined;

if (skipReason !== undefined) {
  console.warn(`\n*** SKIPPED: ${skipReason} — the network lab self-test did not run ***\n`);
  test.skip(`network lab self-test (SKIPPED: ${skipReason})`);
} else {
  describe('NetLab', () => {
    let lab: NetLab;

    before(async () => {
      await removeStaleLabs();
      const t0 = performance.now();
      lab = await NetLab.create();
      console.log(`lab created in ${(performance.now() - t0).toFixed(0)} ms: ${lab.namespaces.join(' ')}`);
    });

    after(async () => {
      if (!lab) return;
      const t0 = performance.now();
      await lab.destroy();
      console.log(`lab destroyed in ${(performance.now() - t0).toFixed(0)} ms`);
      const left = listNamespaces().filter((n) => lab.namespaces.includes(n));
      assert.deepEqual(left, [], 'namespaces left after destroy()');
    });

    const operstate = async (dev: string): Promise<string> => (await lab.exec(lab.ns.dut, 'cat', [`/sys/class/net/${dev}/operstate`])).stdout.trim();
    const carrier = async (dev: string): Promise<string> => {
      const r = await lab.exec(lab.ns.dut, 'cat', [`/sys/class/net/${dev}/carrier`], { reject: false });
      return r.exitCode === 0 ? r.stdout.trim() : 'unreadable';
    };
    const pingOnce = async (dev: string, target = lab.targets[0] ?? '203.0.113.1'): Promise<boolean> =>
      (await lab.exec(lab.ns.dut, 'ping', ['-n', '-c1', '-W1', '-I', dev, target], { reject: false })).exitCode === 0;

    it('starts with connected routes only and the documented shape', async () => {
      assert.equal(lab.targets.length, 16);
      assert.equal(lab.targets[0], '203.0.113.1');
      assert.equal(lab.targets[15], '203.0.113.16');
      assert.deepEqual(lab.gateways, { eth0: '192.0.2.1', wlan0: '192.0.2.17' });
      assert.deepEqual(await lab.defaultRoutes(), []);
      assert.deepEqual(await lab.defaultRoutes('all'), []);
      assert.equal((await lab.linkState('ppp0')).exists, false, 'ppp0 must not exist before pppUp()');
      for (const dev of ['eth0', 'wlan0', 'wwan0']) assert.equal(await operstate(dev), 'up', dev);
      await assert.rejects(lab.routeGet('203.0.113.1'), /unreachable/i);
      // every target answers from inet itself
      const r = await lab.exec(lab.ns.inet, 'ping', ['-n', '-c1', '-W1', lab.targets[15] ?? '']);
      assert.equal(r.exitCode, 0);
    });

    it('dut reaches a target through eth0 once a route exists', async () => {
      await lab.exec(lab.ns.dut, 'ip', ['route', 'add', '203.0.113.0/24', 'via', lab.gateways.eth0, 'dev', 'eth0']);
      assert.deepEqual(await lab.routeGet('203.0.113.1'), { dev: 'eth0', gateway: '192.0.2.1', table: 'main', prefsrc: '192.0.2.2' });
      assert.equal(await pingOnce('eth0'), true);
      const p = await lab.ping({ dev: 'eth0', target: '203.0.113.7', count: 3, intervalSec: 0.05 });
      assert.equal(p.received, 3, p.output);
    });

    it('cutUpstream drops forwarding while the link stays up; restore heals', async () => {
      await lab.cutUpstream('eth0');
      assert.equal(await pingOnce('eth0'), false, 'target must be unreachable after cutUpstream');
      assert.equal(await operstate('eth0'), 'up');
      assert.equal(await carrier('eth0'), '1');
      // the router itself still answers: only upstream is gone
      assert.equal(await pingOnce('eth0', lab.gateways.eth0), true);
      await lab.restore('eth0');
      assert.equal(await pingOnce('eth0'), true);
    });

    it('pullCable takes the carrier away (operstate down, carrier 0); restore heals', async () => {
      await lab.pullCable('eth0');
      assert.equal(await operstate('eth0'), 'down');
      assert.equal(await carrier('eth0'), '0');
      assert.ok((await lab.linkState('eth0')).flags.includes('NO-CARRIER'));
      assert.equal(await pingOnce('eth0'), false);
      await lab.restore('eth0');
      assert.equal(await operstate('eth0'), 'up');
      assert.equal(await carrier('eth0'), '1');
      assert.equal(await pingOnce('eth0'), true);
    });

    it('wlan0 works through a per-uplink policy table, and rules()/tables() show leftovers', async () => {
      const rulesBefore = await lab.rules();
      const tablesBefore = await lab.tables();
      await lab.exec(lab.ns.dut, 'ip', ['route', 'add', 'default', 'via', lab.gateways.wlan0, 'dev', 'wlan0', 'table', '102']);
      await lab.exec(lab.ns.dut, 'ip', ['rule', 'add', 'oif', 'wlan0', 'lookup', '102', 'priority', '1002']);
      assert.equal(await pingOnce('wlan0'), true);
      assert.deepEqual(await lab.routeGet('203.0.113.1', { oif: 'wlan0' }), {
        dev: 'wlan0',
        gateway: '192.0.2.17',
        table: '102',
        prefsrc: '192.0.2.18',
      });
      assert.deepEqual(await lab.defaultRoutes('all'), [{ dev: 'wlan0', gateway: '192.0.2.17', table: '102' }]);
      assert.deepEqual(await lab.defaultRoutes(), []);
      assert.equal((await lab.rules()).length, rulesBefore.length + 1);
      await lab.cutUpstream('wlan0');
      assert.equal(await pingOnce('wlan0'), false);
      await lab.restore('wlan0');
      assert.equal(await pingOnce('wlan0'), true);
      await lab.exec(lab.ns.dut, 'ip', ['rule', 'del', 'priority', '1002']);
      await lab.exec(lab.ns.dut, 'ip', ['route', 'flush', 'table', '102']);
      assert.deepEqual(await lab.rules(), rulesBefore);
      assert.deepEqual(await lab.tables(), tablesBefore);
    });

    it('pppUp creates ppp0 that carries traffic; pppDown removes it without zombies', async () => {
      await lab.pppUp();
      const s = await lab.linkState('ppp0');
      assert.equal(s.exists, true);
      assert.ok(s.flags.includes('POINTOPOINT') && s.flags.includes('UP'), s.flags.join(','));
      assert.deepEqual(s.addresses, ['198.51.100.2/30']);
      await lab.exec(lab.ns.dut, 'ip', ['route', 'replace', '203.0.113.0/24', 'dev', 'ppp0']);
      assert.deepEqual(await lab.routeGet('203.0.113.3'), { dev: 'ppp0', table: 'main', prefsrc: '198.51.100.2' });
      assert.equal(await pingOnce('ppp0', '203.0.113.3'), true);
      await lab.cutUpstream('ppp0');
      assert.equal(await pingOnce('ppp0', '203.0.113.3'), false);
      await lab.restore('ppp0');
      assert.equal(await pingOnce('ppp0', '203.0.113.3'), true);

      await lab.pppDown();
      assert.equal((await lab.linkState('ppp0')).exists, false);
      assert.equal(lab.pppIsUp, false);
      assert.deepEqual(zombieChildren(), []);
      // the route via ppp0 went away with the device
      await assert.rejects(lab.routeGet('203.0.113.3'), /unreachable/i);
    });

    it('ppp0 can be redialled; pullCable(ppp0) drops it and restore(ppp0) dials again', async () => {
      await lab.pppUp();
      await lab.exec(lab.ns.dut, 'ip', ['route', 'replace', '203.0.113.0/24', 'dev', 'ppp0']);
      assert.equal(await pingOnce('ppp0', '203.0.113.4'), true);
      await lab.pullCable('ppp0');
      assert.equal((await lab.linkState('ppp0')).exists, false);
      await lab.restore('ppp0');
      assert.equal((await lab.linkState('ppp0')).exists, true);
      await lab.exec(lab.ns.dut, 'ip', ['route', 'replace', '203.0.113.0/24', 'dev', 'ppp0']);
      assert.equal(await pingOnce('ppp0', '203.0.113.4'), true);
      await lab.pppDown();
      assert.deepEqual(zombieChildren(), []);
      await lab.exec(lab.ns.dut, 'ip', ['route', 'replace', '203.0.113.0/24', 'via', lab.gateways.eth0, 'dev', 'eth0']);
    });

    it('setLoss(50) loses roughly half of 40 quick pings; restore removes the loss', async () => {
      await lab.setLoss('eth0', 50);
      const lossy = await lab.exec(lab.ns.dut, 'ping', ['-n', '-q', '-c', '40', '-i', '0.05', '-W', '1', '-I', 'eth0', '203.0.113.2'], {
        reject: false,
      });
      const m = /(\d+) packets transmitted, (\d+) received/.exec(lossy.stdout);
      assert.ok(m, lossy.stdout);
      const lostPct = (100 * (Number(m[1]) - Number(m[2]))) / Number(m[1]);
      console.log(`setLoss(50): ${lostPct.toFixed(0)} % of 40 pings lost`);
      assert.ok(lostPct >= 20 && lostPct <= 80, `lost ${lostPct} %`);
      await lab.restore('eth0');
      const clean = await lab.ping({ dev: 'eth0', target: '203.0.113.2', count: 20, intervalSec: 0.02 });
      assert.equal(clean.lossPct, 0, clean.output);
    });

    it('healAll clears combined faults on every uplink', async () => {
      await lab.cutUpstream('eth0');
      await lab.setLoss('wlan0', 100);
      await lab.pullCable('wlan0');
      await lab.healAll();
      assert.equal(await pingOnce('eth0'), true);
      assert.equal(await operstate('wlan0'), 'up');
      const nft = await lab.exec(lab.ns.r1, 'nft', ['list', 'tables']);
      assert.equal(nft.stdout.trim(), '');
    });

    it('spawn() tracks processes and exposes their output', async () => {
      const p = lab.spawn(lab.ns.dut, 'sh', ['-c', 'echo ready; ip -br link show dev eth0; exec sleep 300']);
      const m = await p.waitFor(/eth0\S*\s+UP/);
      assert.ok(m);
      assert.equal(p.running, true);
      const exit = await p.stop();
      assert.equal(exit.signal, 'SIGTERM');
      assert.equal(pidAlive(p.pid), false);
      assert.deepEqual(zombieChildren(), []);
    });

    it('removeStaleLabs() removes namespaces of dead owners only', async () => {
      // a pid that certainly is gone: a child that has exited and been reaped
      const dead = spawn('true');
      const deadPid = dead.pid ?? 0;
      await new Promise((resolve) => dead.once('exit', resolve));
      const staleName = `iff${deadPid}-0-dut`;
      const liveName = `iff${process.pid}-999-dut`;
      execFileSync('ip', ['netns', 'add', staleName]);
      execFileSync('ip', ['netns', 'add', liveName]);
      try {
        const removed = await removeStaleLabs();
        assert.ok(removed.includes(staleName), `removed: ${removed.join(' ')}`);
        assert.ok(!removed.includes(liveName));
        for (const n of lab.namespaces) assert.ok(!removed.includes(n), `live lab namespace ${n} removed`);
        assert.ok(listNamespaces().includes(lab.ns.dut));
      } finally {
        execFileSync('ip', ['netns', 'del', liveName]);
        try {
          execFileSync('ip', ['netns', 'del', staleName], { stdio: 'ignore' });
        } catch {
          /* already removed */
        }
      }
    });

    it('a lab spawned process dies on destroy()', async () => {
      const lab2 = await NetLab.create({ wlan: false, carrier: false, targets: 2, prefix: `iff${process.pid}-77-` });
      assert.deepEqual(lab2.uplinks(), ['eth0']);
      assert.equal(lab2.ns.r2, undefined);
      assert.equal(lab2.ns.carrier, undefined);
      const p = lab2.spawn('dut', 'sleep', ['300']);
      await lab2.destroy();
      await lab2.destroy(); // idempotent
      assert.equal(p.running, false);
      assert.equal(pidAlive(p.pid), false);
      assert.deepEqual(listNamespaces().filter((n) => lab2.namespaces.includes(n)), []);
      assert.throws(() => lab2.spawn('dut', 'true', []), /destroyed/);
    });
  });

  describe('NetLab failure and crash cleanup', () => {
    it('create() refuses to adopt an existing namespace and leaves it alone', async () => {
      const prefix = `iff${process.pid}-88-`;
      execFileSync('ip', ['netns', 'add', `${prefix}inet`]);
      try {
        await assert.rejects(NetLab.create({ prefix }), /already exists/);
        assert.deepEqual(
          listNamespaces().filter((n) => n.startsWith(prefix)),
          [`${prefix}inet`],
        );
      } finally {
        execFileSync('ip', ['netns', 'del', `${prefix}inet`]);
      }
    });

    it('create() removes what it made when building fails half-way', async () => {
      const prefix = `iff${process.pid}-89-`;
      const savedPath = process.env['PATH'];
      process.env['PATH'] = '/usr/sbin:/sbin'; // ip, sysctl, nft are found; socat (/usr/bin) is not
      try {
        await assert.rejects(NetLab.create({ prefix }), /socat/);
      } finally {
        process.env['PATH'] = savedPath;
      }
      assert.deepEqual(
        listNamespaces().filter((n) => n.startsWith(prefix)),
        [],
      );
      assert.deepEqual(zombieChildren(), []);
    });

    // A child process builds a lab (with ppp0 up and a spawned process), then dies in various ways.
    const childScript = `
      const { NetLab } = require(process.argv[1]);
      NetLab.create().then(async (lab) => {
        await lab.pppUp();
        const p = lab.spawn('dut', 'sleep', ['300']);
        process.stdout.write(JSON.stringify({ ns: lab.namespaces, pids: [p.pid] }) + '\\n');
        if (process.argv[2] === 'throw') setTimeout(() => { throw new Error('boom'); }, 20);
        else setInterval(() => {}, 1000);
      });
    `;
    const netlabJs = path.join(__dirname, 'netlab.js');

    for (const mode of ['SIGTERM', 'SIGINT', 'throw'] as const) {
      it(`cleans up when the process gets ${mode === 'throw' ? 'an uncaught exception' : mode}`, async () => {
        const child = spawn(process.execPath, ['-e', childScript, netlabJs, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
          child.once('exit', (code, signal) => resolve({ code, signal })),
        );
        const line = await new Promise<string>((resolve, reject) => {
          createInterface({ input: child.stdout }).once('line', resolve);
          void exited.then(() => reject(new Error(`child exited early: ${stderr}`)));
        });
        const info = JSON.parse(line) as { ns: string[]; pids: number[] };
        assert.ok(info.ns.every((n) => listNamespaces().includes(n)));
        if (mode !== 'throw') child.kill(mode);
        const exit = await exited;
        if (mode === 'throw') {
          assert.equal(exit.code, 1);
          assert.match(stderr, /boom/);
        } else {
          assert.equal(exit.signal, mode, `exit ${JSON.stringify(exit)} ${stderr}`);
        }
        assert.deepEqual(listNamespaces().filter((n) => info.ns.includes(n)), []);
        for (const pid of info.pids) assert.equal(pidAlive(pid), false, `pid ${pid} survived`);
      });
    }
  });
}
