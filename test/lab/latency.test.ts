/**
 * The lab's latency knob (`NetLab.latency()`): a userspace relay in an uplink's router holds what the dut sends
 * through it, so pings from the dut through that uplink come back later; the other uplinks are untouched.
 * Needs root (network namespaces, TUN); CI is root and runs these.
 */
import { describe, it, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { NetLab, isRoot, missingTools, listNamespaces, pidAlive, removeStaleLabs } from './netlab';

const missing = isRoot() ? missingTools() : [];
const skipReason = !isRoot() ? 'needs root' : missing.length > 0 ? `missing tools: ${missing.join(', ')}` : undefined;

const T_ETH = '203.0.113.1';
const T_PPP = '203.0.113.2';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

if (skipReason !== undefined) {
  console.warn(`\n*** SKIPPED: ${skipReason} — the lab latency tests did not run ***\n`);
  test.skip(`lab latency knob (SKIPPED: ${skipReason})`);
} else {
  describe('NetLab.latency', () => {
    let lab: NetLab;

    before(async () => {
      await removeStaleLabs();
      lab = await NetLab.create({ targets: 2, wlan: false });
      await lab.pppUp();
      // one target per uplink, so each ping goes through the router it names
      await lab.exec('dut', 'ip', ['route', 'add', `${T_ETH}/32`, 'via', lab.gateways.eth0, 'dev', 'eth0']);
      await lab.exec('dut', 'ip', ['route', 'add', `${T_PPP}/32`, 'dev', 'ppp0']);
    });

    after(async () => {
      if (!lab) return;
      await lab.destroy();
      assert.deepEqual(
        listNamespaces().filter((n) => lab.namespaces.includes(n)),
        [],
        'namespaces left after destroy()',
      );
    });

    const rtts = (dev: 'eth0' | 'ppp0', count = 10): Promise<number[]> =>
      lab.rtts({ target: dev === 'eth0' ? T_ETH : T_PPP, dev, count, intervalSec: 0.1 });

    /** Processes in a namespace (the relay and its socat while latency is on). */
    const pidsIn = (role: string): number[] =>
      execFileSync('ip', ['netns', 'pids', lab.nsName(role)], { encoding: 'utf8' })
        .split('\n')
        .map((l) => Number(l.trim()))
        .filter((n) => n > 0);
    const rulesIn = async (role: string): Promise<string> => (await lab.exec(role, 'ip', ['rule', 'show'])).stdout;

    it('delays the carrier path (ppp0) by about the delay, only there, and removes itself', async () => {
      const before = await rtts('ppp0', 5);
      assert.equal(before.length, 5, 'ppp0 answers without latency');

      await lab.latency('ppp0', { delayMs: 300 });
      const delayed = await rtts('ppp0');
      assert.equal(delayed.length, 10, `every echo answered: ${delayed.join(' ')}`);
      assert.ok(median(delayed) >= 280, `median rtt ${median(delayed)} ms with 300 ms delay: ${delayed.join(' ')}`);
      assert.ok(Math.min(...delayed) >= 280, `no echo faster than the delay: ${delayed.join(' ')}`);
      const eth = await rtts('eth0', 5);
      assert.ok(median(eth) < 100, `eth0 is not delayed: ${eth.join(' ')}`);
      assert.match(await rulesIn('carrier'), /iif ppp0 lookup 77/);
      assert.equal(pidsIn('carrier').length, 3, 'the ppp0 socat, the relay and its socat run in the carrier');

      await lab.latency('ppp0', { delayMs: 0 });
      const after = await rtts('ppp0');
      assert.ok(median(after) < 100, `rtt back to small after removing the delay: ${after.join(' ')}`);
      assert.doesNotMatch(await rulesIn('carrier'), /lookup 77/);
      assert.equal((await lab.linkState('lat0', 'carrier')).exists, false, 'the relay TUN is gone');
      assert.equal(pidsIn('carrier').length, 1, 'only the ppp0 socat is left in the carrier');
    });

    it('jitter spreads the rtt around the delay; figures change without restarting the relay', async () => {
      await lab.latency('eth0', { delayMs: 200 });
      const steady = await rtts('eth0');
      assert.ok(median(steady) >= 180, `median rtt ${median(steady)} ms with 200 ms delay: ${steady.join(' ')}`);
      const relayPids = pidsIn('r1');

      await lab.latency('eth0', { delayMs: 200, jitterMs: 100 });
      assert.deepEqual(pidsIn('r1'), relayPids, 'the same relay takes the new figures');
      const spread = await rtts('eth0', 20);
      assert.equal(spread.length, 20, `every echo answered: ${spread.join(' ')}`);
      // uniform 100..300 ms: 20 echoes all within a 100 ms band is next to impossible
      assert.ok(Math.max(...spread) - Math.min(...spread) >= 100, `rtts spread by the jitter: ${spread.join(' ')}`);
      assert.ok(Math.min(...spread) >= 80, `no echo faster than delay - jitter: ${spread.join(' ')}`);
      assert.ok(median(spread) >= 150, `median near the delay: ${spread.join(' ')}`);
    });

    it('the loss knob still applies with the relay in the path; restore() removes both', async () => {
      await lab.setLoss('eth0', 100);
      assert.deepEqual(await rtts('eth0', 3), [], 'no echo passes 100 % loss');
      await lab.restore('eth0');
      const healed = await rtts('eth0', 5);
      assert.equal(healed.length, 5);
      assert.ok(median(healed) < 100, `restore() removed the delay too: ${healed.join(' ')}`);
      assert.doesNotMatch(await rulesIn('r1'), /lookup 77/);
      assert.deepEqual(pidsIn('r1'), [], 'nothing runs in r1 after restore()');
    });

    it('rejects figures it cannot honour', async () => {
      await assert.rejects(lab.latency('eth0', { delayMs: -1 }), /delayMs must be an integer/);
      await assert.rejects(lab.latency('eth0', { delayMs: 10, jitterMs: 1.5 }), /jitterMs must be an integer/);
    });

    it('destroy() ends a running relay', async () => {
      await lab.latency('ppp0', { delayMs: 50, jitterMs: 10 });
      const pids = pidsIn('carrier');
      assert.equal(pids.length, 3);
      await lab.destroy();
      assert.deepEqual(
        pids.filter((p) => pidAlive(p)),
        [],
        'no relay or socat outlives the lab',
      );
    });
  });
}
