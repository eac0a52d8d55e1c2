/**
 * DNS follows the active uplink, with the real headless service in the network lab: a DNS server at each
 * ISP answering `broker.lab` differently, the device's resolv.conf written by the service (a bind mount, as
 * `ip netns exec` gives it), and name lookups in the device that follow cut and heal. Needs root and dnsmasq.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { isRoot, missingTools } from './netlab';
import { labRunner } from './lab-runner';
import { DnsRig, ISP_DNS, ORIGINAL_RESOLV_CONF, dnsProperties, dnsmasqMissing, setUpDns } from './dns-rig';
import { startService, waitForDefault } from './service-harness';

const ROOT = isRoot();
const MISSING = ROOT ? [...missingTools(), ...(dnsmasqMissing() ? ['dnsmasq (dnsmasq-base)'] : [])] : [];
const runner = labRunner(ROOT, MISSING);

test('resolv.conf follows the active uplink: primary ISP, backup ISP after the cut, primary after heal; original back on stop', { timeout: 60_000 }, async (t) => {
  await runner.withLab(t, { targets: 2, wlan: false }, async (lab) => {
    await lab.pppUp();
    let rig: DnsRig | undefined;
    try {
      rig = await setUpDns(lab);
      // The device as it starts: its own file, which names neither ISP.
      assert.equal(await rig.lookup(), null, 'nothing resolves before the service');
      const svc = startService(lab, dnsProperties());
      let stopped = false;
      try {
        await waitForDefault(lab, 'eth0');
        await svc.waitForLine(/^INFO DNS: /);
        assert.ok(svc.lines().includes(`INFO DNS: ${ISP_DNS.primary.server} (primary), ${ISP_DNS.fona.server} (fona) via /etc/resolv.conf`), svc.lines().join('\n'));
        assert.equal(
          readFileSync(rig.resolvConf, 'utf8'),
          `# written by ifacefailover: primary is active\nnameserver ${ISP_DNS.primary.server}\nnameserver ${ISP_DNS.fona.server}\nsearch lab.example\noptions timeout:1 attempts:1\n`,
        );
        assert.ok(existsSync(rig.backupFile), 'the original is kept on disk while ours is in place');
        assert.equal(await rig.lookup(), ISP_DNS.primary.answer);

        // Both servers stay reachable over their own links: only the order in the file decides the answer.
        await lab.cutUpstream('eth0');
        await waitForDefault(lab, 'ppp0');
        await svc.waitForLine(/^INFO DNS: 198\.51\.100\.1 \(fona\)/);
        assert.match(readFileSync(rig.resolvConf, 'utf8'), /^# written by ifacefailover: fona is active\nnameserver 198\.51\.100\.1\nnameserver 192\.0\.2\.1\n/);
        await rig.waitForAnswer(ISP_DNS.fona.answer, 5000);

        await lab.restore('eth0');
        await waitForDefault(lab, 'eth0');
        await rig.waitForAnswer(ISP_DNS.primary.answer, 5000);
        assert.equal(svc.lines().filter((l) => /^INFO DNS: /.test(l)).length, 3, 'one line per switch');
        assert.deepEqual(svc.lines().filter((l) => /^(WARNING|ERROR)/.test(l)), []);
        stopped = true;
        assert.equal(await svc.stop(), 0, `exit code; stderr: ${svc.proc.output.stderr}`);
      } finally {
        if (!stopped) await svc.stop();
      }
      assert.equal(readFileSync(rig.resolvConf, 'utf8'), ORIGINAL_RESOLV_CONF, 'the exact original is back after SIGTERM');
      assert.equal(existsSync(rig.backupFile), false, 'and its backup is gone');
    } finally {
      rig?.cleanup();
    }
  });
  assert.deepEqual(runner.leftNamespaces(), []);
  assert.equal(existsSync(`/etc/netns/${runner.createdNamespaces.find((n) => n.endsWith('dut')) ?? 'none'}`), false, 'the device resolver directory is removed');
});
