/**
 * Issue 10, probe kinds other than ICMP, with the real headless service in the network lab. The primary's
 * router drops ICMP (an nft rule in r1, as many cellular and corporate networks do), so pinging is no
 * proof there; a TCP, an HTTP or a DNS check against a server upstream (in the lab's `inet` namespace, on
 * an address reached only through an uplink) keeps the primary in use, and a cut still fails over, with the
 * kernel's default route checked in the device. Checks are sent from the uplink's own address: the backup's
 * check goes down when the backup's path is cut while the primary carries the default route, so it never
 * leaks out of the primary.
 * Needs root (network namespaces); CI is root and runs these.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dnsmasqMissing } from './dns-rig';
import { labRunner } from './lab-runner';
import { LabProcess, NetLab, isRoot, missingTools } from './netlab';
import { RunningService, leftovers, startService, waitForDefault } from './service-harness';
import { until } from '../support/wait';

const ROOT = isRoot();
const MISSING = ROOT ? [...missingTools(), ...(dnsmasqMissing() ? ['dnsmasq'] : [])] : [];
if (!ROOT) console.warn('SKIPPED: the probe-kind lab tests need root (network namespaces); CI runs them as root');
else if (MISSING.length > 0) console.warn(`SKIPPED: the probe-kind lab tests need ${MISSING.join(', ')} (.ci/run installs them)`);
const runner = labRunner(ROOT, MISSING);

/** The servers the checks talk to: upstream, never a probe target of ICMP. */
const SERVER = '203.0.113.2';
const DNS_SERVER = '203.0.113.3';
const PRIMARY_TCP = 8443;
const BACKUP_TCP = 8444;
const HTTP_PORT = 8080;
const NAME = 'probe.lab';

const SERVER_SCRIPT = `'use strict';
// Test servers upstream: TCP listeners that accept and close, and an HTTP server whose /health answers 204.
const net = require('node:net');
const http = require('node:http');
const [host, ...ports] = process.argv.slice(2);
const [tcpA, tcpB, httpPort] = ports.map(Number);
const servers = [tcpA, tcpB].map((port) => net.createServer((s) => { s.on('error', () => {}); s.end(); }).listen(port, host));
const web = http.createServer((req, res) => res.writeHead(req.url === '/health' ? 204 : 404).end()).listen(httpPort, host);
let pending = servers.length + 1;
for (const s of [...servers, web]) s.on('listening', () => { if (--pending === 0) process.stdout.write('listening\\n'); });
process.on('SIGTERM', () => { web.closeAllConnections(); for (const s of [...servers, web]) s.close(); process.exit(0); });
`;

const dir = mkdtempSync(join(tmpdir(), 'iff-kinds-lab-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function startServers(lab: NetLab): Promise<LabProcess> {
  const script = join(dir, 'servers.js');
  writeFileSync(script, SERVER_SCRIPT);
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const proc = lab.spawn('inet', process.execPath, [script, SERVER, String(PRIMARY_TCP), String(BACKUP_TCP), String(HTTP_PORT)], { env });
  await proc.waitFor(/^listening$/m, { timeoutMs: 10_000 });
  return proc;
}

async function startDnsmasq(lab: NetLab): Promise<LabProcess> {
  const proc = lab.spawn('inet', 'dnsmasq', [
    '--no-daemon',
    '--conf-file=/dev/null',
    '--pid-file=',
    '--no-resolv',
    '--no-hosts',
    `--listen-address=${DNS_SERVER}`,
    '--bind-interfaces',
    `--address=/${NAME}/203.0.113.200`,
  ]);
  await proc.waitFor(/started, version/, { timeoutMs: 5000 });
  return proc;
}

/** The primary's router forwards no ICMP any more (its own table, apart from the lab's fault table). */
async function dropIcmp(lab: NetLab): Promise<void> {
  const rules = [
    'add table ip iffkinds',
    'add chain ip iffkinds forward { type filter hook forward priority 0; policy accept; }',
    'add rule ip iffkinds forward meta l4proto icmp counter drop',
  ];
  await lab.exec('r1', 'nft', ['-f', '-'], { input: `${rules.join('\n')}\n` });
}

function properties(primaryChecks: string[], backupChecks: string[] = [], extra = ''): string {
  const list = (checks: string[]): string => `[${checks.map((c) => `'${c}'`).join(', ')}]`;
  return `route.primary.gateway=192.0.2.1
route.primary.iface=eth0
route.primary.checks=${list(primaryChecks)}
route.primary.verifierDelay=1
route.primary.verifierKwargs={'timeout':1, 'maxRetry':1}
route.primary.handlers=['/opt/ifacefailover/config/logHandler.pkl']
route.primary.handlerKwargs=[{'name':'primary'}]
route.fona.gateway=0.0.0.0
route.fona.iface=ppp0
${backupChecks.length > 0 ? `route.fona.checks=${list(backupChecks)}\nroute.fona.verifierKwargs={'timeout':1, 'maxRetry':1}\n` : ''}route.fona.handlers=['/opt/ifacefailover/config/logHandler.pkl']
route.fona.handlerKwargs=[{'name':'fona'}]
${extra}`;
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Log lines of rounds in which `spec` answered (up) or did not (down). */
function rounds(svc: RunningService, spec: string, answered: boolean): number {
  const line = answered ? new RegExp(`^INFO upRoutes=${escape(spec)}; downRoutes=$`) : new RegExp(`^INFO upRoutes=; downRoutes=${escape(spec)}$`);
  return svc.lines().filter((l) => line.test(l)).length;
}

/** Waits for `count` more rounds in which `spec` answered (or not) than there were when called. */
async function moreRounds(svc: RunningService, spec: string, answered: boolean, count: number): Promise<void> {
  const from = rounds(svc, spec, answered);
  await until(() => rounds(svc, spec, answered) >= from + count, { timeoutMs: 20_000, what: `${count} rounds with ${spec} ${answered ? 'up' : 'down'}` });
}

/**
 * ICMP dropped on the primary's path, `spec` the primary's only probe: the primary stays in use round after
 * round, a cut fails over to ppp0, a heal comes back; nothing of ours is left after stop.
 */
async function primaryWithoutIcmp(lab: NetLab, spec: string, hosts: string[], extra = ''): Promise<RunningService> {
  await lab.pppUp();
  const svc = startService(lab, properties([spec], [], extra));
  try {
    await waitForDefault(lab, 'eth0');
    await svc.waitForLine(/^INFO Connected to primary$/);
    const control = await lab.ping({ target: SERVER, count: 1, waitSec: 2 });
    assert.equal(control.received, 1, `ICMP gets through before the drop: ${control.output}`);
    await dropIcmp(lab);
    const dropped = await lab.ping({ target: SERVER, count: 2, waitSec: 1 });
    assert.equal(dropped.received, 0, `the primary's router drops ICMP: ${dropped.output}`);
    await moreRounds(svc, spec, true, 3);
    assert.ok(!svc.lines().some((l) => /Connection failed/.test(l)), svc.lines().join('\n'));
    assert.deepEqual((await lab.defaultRoutes()).map((r) => r.dev), ['eth0']);

    await lab.cutUpstream('eth0');
    await waitForDefault(lab, 'ppp0');
    await svc.waitForLine(/^INFO Failing over to fona$/);
    assert.ok(rounds(svc, spec, false) >= 3, 'the cut was seen by the check');

    await lab.restore('eth0');
    await waitForDefault(lab, 'eth0');
    await svc.waitForLine(/^INFO Connection restored to primary$/);
  } finally {
    assert.equal(await svc.stop(), 0, `exit code; stderr: ${svc.proc.output.stderr}`);
  }
  assert.deepEqual(await leftovers(lab, hosts), [], 'no rule, table or host route of ours after stop');
  return svc;
}

test('TCP-only primary where ICMP is dropped: stays up, a cut fails over; the backup\'s check leaves by the backup', async (t) => {
  await runner.withLab(t, { targets: 4, wlan: false }, async (lab) => {
    const servers = await startServers(lab);
    const primary = `tcp://${SERVER}:${PRIMARY_TCP}`;
    const backup = `tcp://${SERVER}:${BACKUP_TCP}`;
    await lab.pppUp();
    const svc = startService(lab, properties([primary], [backup]));
    try {
      await waitForDefault(lab, 'eth0');
      await dropIcmp(lab);
      await moreRounds(svc, primary, true, 3);
      await moreRounds(svc, backup, true, 1);
      // The backup's path is cut while the primary carries the default route: its check fails, so it went by ppp0.
      await lab.cutUpstream('ppp0');
      await moreRounds(svc, backup, false, 2);
      assert.deepEqual((await lab.defaultRoutes()).map((r) => r.dev), ['eth0']);
      await lab.restore('ppp0');
      await moreRounds(svc, backup, true, 3);

      await lab.cutUpstream('eth0');
      const route = await waitForDefault(lab, 'ppp0');
      assert.equal(route.gateway, undefined);
      await svc.waitForLine(/^INFO Failing over to fona$/);
      await lab.restore('eth0');
      await waitForDefault(lab, 'eth0');
      await svc.waitForLine(/^INFO Connection restored to primary$/);
    } finally {
      assert.equal(await svc.stop(), 0, `exit code; stderr: ${svc.proc.output.stderr}`);
      await servers.stop();
    }
    assert.deepEqual(await leftovers(lab, [SERVER]), []);
  });
});

test('HTTP-only primary where ICMP is dropped (GET /health answered 204): stays up, a cut fails over, a heal restores', async (t) => {
  await runner.withLab(t, { targets: 4, wlan: false }, async (lab) => {
    const servers = await startServers(lab);
    try {
      await primaryWithoutIcmp(lab, `http://${SERVER}:${HTTP_PORT}/health expect=204`, [SERVER]);
    } finally {
      await servers.stop();
    }
  });
});

test('DNS-only primary against dnsmasq upstream, host-route pins: the server gets a /32 via the primary, a cut fails over', async (t) => {
  await runner.withLab(t, { targets: 4, wlan: false }, async (lab) => {
    const dns = await startDnsmasq(lab);
    const servers = await startServers(lab);
    try {
      const spec = `dns://${DNS_SERVER}/${NAME}`;
      await lab.pppUp();
      const svc = startService(lab, properties([spec], [], 'failover.pinMode=host-route'));
      try {
        await waitForDefault(lab, 'eth0');
        await moreRounds(svc, spec, true, 2);
        const hostRoute = (await lab.tables()).find((r) => (r as { dst?: string }).dst === DNS_SERVER) as { dev?: string; gateway?: string } | undefined;
        assert.deepEqual([hostRoute?.dev, hostRoute?.gateway], ['eth0', '192.0.2.1'], 'the check\'s server has a host route via the primary');
      } finally {
        assert.equal(await svc.stop(), 0, `exit code; stderr: ${svc.proc.output.stderr}`);
      }
      await primaryWithoutIcmp(lab, spec, [DNS_SERVER], 'failover.pinMode=host-route');
    } finally {
      await servers.stop();
      await dns.stop();
    }
  });
});

test('no lab namespace is left behind', () => {
  assert.deepEqual(runner.leftNamespaces(), []);
});
