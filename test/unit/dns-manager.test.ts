/**
 * DNS that follows the active uplink: the lease/ppp readers on fixture text, the order of servers, the file
 * method on real temporary files (regular, symlinked, "bind-mounted"), crash recovery from the backup, dry
 * run, and the resolvconf/resolvectl methods and auto-detection against a recording CommandRunner. Nothing
 * here reads or writes the host's own resolver files: every path points into a temporary directory.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DnsManager, DnsManagerOptions, orderServers } from '../../lib/dns/dns-manager';
import { learnServers, parseDhclientLeases, parseDhcpcdLease, parseNameserverLines, parseNetworkdLease, parseNmcliDns } from '../../lib/dns/dns-sources';
import { buildResolvConf, parseMountPoints } from '../../lib/dns/resolv-conf';
import { Logger } from '../../lib/log/logger';
import { CommandRunner, ProcessRunner } from '../../lib/process/runner';
import { UplinkConfig } from '../../lib/uplink/model';
import { tempDir } from '../fakes/fake-tools';
import { uplinks } from '../support/fakes';
import { Answer, RecordedCall, RecordingLogger, RecordingRunner } from '../support/recorders';

/** A runner whose `changes()` leave out the read-only probing (`--version`, `dhcpcd -U`, `nmcli`). */
class DnsRunner extends RecordingRunner {
  changes(): RecordedCall[] {
    return this.calls.filter((c) => !c.argv.includes('--version') && c.argv[0] !== 'dhcpcd' && c.argv[0] !== 'nmcli');
  }
}

/** No dhcpcd, no resolvconf, no resolvectl on this "system". */
const nothingInstalled = (argv: string[]): Answer =>
  ['dhcpcd', 'nmcli', 'resolvconf', 'resolvectl'].includes(argv[0]) ? { exitCode: -1, stderr: 'not found' } : undefined;

/** primary (eth0), wifi (wlan0), fona (ppp0) in priority order. */
function threeUplinks(dns: { primary?: string[]; wifi?: string[]; fona?: string[] } = {}): UplinkConfig[] {
  return uplinks(
    { name: 'primary', iface: 'eth0', gateway: '192.0.2.1', dns: dns.primary ?? [] },
    { name: 'wifi', iface: 'wlan0', gateway: '192.0.2.17', dns: dns.wifi ?? [] },
    { name: 'fona', iface: 'ppp0', gateway: null, dns: dns.fona ?? [] },
  );
}

const byName = (list: UplinkConfig[], name: string): UplinkConfig => list.find((u) => u.name === name)!;

/** A sandbox: resolv.conf, state dir and every source path in one temporary directory. */
function sandbox(resolvConf: string | null = 'nameserver 10.0.0.1\nsearch lan.example\noptions edns0\n') {
  const dir = tempDir('iff-dns-');
  const path = join(dir, 'etc', 'resolv.conf');
  mkdirSync(join(dir, 'etc'));
  if (resolvConf !== null) writeFileSync(path, resolvConf, { mode: 0o644 });
  const stateDir = join(dir, 'state');
  const options = (runner: CommandRunner, logger: Logger, extra: Partial<DnsManagerOptions> = {}): DnsManagerOptions => ({
    runner,
    logger,
    method: 'file',
    resolvConfPath: path,
    stateDir,
    namespaceId: 'test',
    mountInfoPath: join(dir, 'mountinfo'),
    resolvedDir: join(dir, 'run-systemd-resolve'),
    sysClassNet: join(dir, 'sys-class-net'),
    sources: { pppResolvConf: join(dir, 'ppp-resolv.conf'), dhclientLeaseDir: join(dir, 'dhcp'), networkdLeaseDir: join(dir, 'leases') },
    ...extra,
  });
  return { dir, path, stateDir, backup: join(stateDir, 'resolv.conf.test.json'), options };
}

describe('DNS sources', () => {
  it('reads pppd usepeerdns, dhcpcd, dhclient and networkd text', () => {
    assert.deepEqual(parseNameserverLines('nameserver 198.51.100.53\n  nameserver 198.51.100.54 \n# nameserver 1.1.1.1\nnameserver bogus\n'), [
      '198.51.100.53',
      '198.51.100.54',
    ]);
    assert.deepEqual(parseDhcpcdLease("ip_address=192.0.2.2\ndomain_name_servers='192.0.2.53 192.0.2.54'\ndomain_name=lan\n"), ['192.0.2.53', '192.0.2.54']);
    assert.deepEqual(parseDhcpcdLease('domain_name_servers=192.0.2.53\n'), ['192.0.2.53'], 'older dhcpcd prints it bare');
    assert.deepEqual(parseDhcpcdLease('ip_address=192.0.2.2\n'), []);
    assert.deepEqual(parseNmcliDns('192.0.2.53 | 192.0.2.54\n'), ['192.0.2.53', '192.0.2.54'], 'NetworkManager (nmcli -g IP4.DNS)');
    assert.deepEqual(parseNmcliDns('\n'), []);
    const leases = `lease {
  interface "eth0";
  fixed-address 192.0.2.2;
  option domain-name-servers 192.0.2.1;
}
lease {
  interface "wlan0";
  option domain-name-servers 192.0.2.17;
}
lease {
  interface "eth0";
  option subnet-mask 255.255.255.240;
  option domain-name-servers 192.0.2.53, 192.0.2.54;
  renew 4 2024/01/04 10:00:00;
}
`;
    assert.deepEqual(parseDhclientLeases(leases, 'eth0'), ['192.0.2.53', '192.0.2.54'], 'the last lease of the interface');
    assert.deepEqual(parseDhclientLeases(leases, 'wlan0'), ['192.0.2.17']);
    assert.deepEqual(parseDhclientLeases(leases, 'usb0'), []);
    assert.deepEqual(parseNetworkdLease('# This is private data. Do not parse.\nADDRESS=192.0.2.2\nDNS=192.0.2.53 192.0.2.54\nNTP=192.0.2.1\n'), ['192.0.2.53', '192.0.2.54']);
  });

  it('learns per interface kind from files in place of the system ones, and a missing tool is nothing learnt', async () => {
    const dir = tempDir('iff-dns-src-');
    const ppp = join(dir, 'ppp-resolv.conf');
    writeFileSync(ppp, 'nameserver 198.51.100.53\nnameserver 198.51.100.54\n');
    mkdirSync(join(dir, 'dhcp'));
    writeFileSync(join(dir, 'dhcp', 'dhclient.eth0.leases'), 'lease {\n  option domain-name-servers 192.0.2.53;\n}\n');
    writeFileSync(join(dir, 'dhcp', 'dhclient.leases'), 'lease {\n  interface "wlan0";\n  option domain-name-servers 192.0.2.57;\n}\n');
    mkdirSync(join(dir, 'sys', 'usb0'), { recursive: true });
    writeFileSync(join(dir, 'sys', 'usb0', 'ifindex'), '7\n');
    mkdirSync(join(dir, 'leases'));
    writeFileSync(join(dir, 'leases', '7'), 'DNS=192.0.2.99\n');
    // The real runner and a dhcpcd that does not exist: "not installed" must mean "nothing learnt", not an error.
    const runner = new ProcessRunner();
    const opts = { runner, pppResolvConf: ppp, dhclientLeaseDir: join(dir, 'dhcp'), networkdLeaseDir: join(dir, 'leases'), sysClassNet: join(dir, 'sys'), dhcpcdCommand: 'iff-no-such-dhcpcd', nmcliCommand: 'iff-no-such-nmcli' };
    assert.deepEqual(await learnServers('ppp0', opts), { servers: ['198.51.100.53', '198.51.100.54'], source: ppp });
    assert.deepEqual(await learnServers('eth0', opts), { servers: ['192.0.2.53'], source: join(dir, 'dhcp', 'dhclient.eth0.leases') });
    assert.deepEqual(await learnServers('wlan0', opts), { servers: ['192.0.2.57'], source: join(dir, 'dhcp', 'dhclient.leases') });
    assert.deepEqual(await learnServers('usb0', opts), { servers: ['192.0.2.99'], source: join(dir, 'leases', '7') });
    assert.equal(await learnServers('eth1', opts), null);
    // dhcpcd, where it answers, comes first.
    const dhcpcd = new DnsRunner((argv) => (argv[0] === 'dhcpcd' ? { stdout: "domain_name_servers='192.0.2.60'\n" } : undefined));
    assert.deepEqual(await learnServers('eth0', { ...opts, runner: dhcpcd, dhcpcdCommand: 'dhcpcd' }), { servers: ['192.0.2.60'], source: 'dhcpcd -U eth0' });
    assert.deepEqual(dhcpcd.calls, [{ argv: ['dhcpcd', '-U', 'eth0'] }]);
    // NetworkManager (Raspberry Pi OS bookworm) next, before the lease files.
    const nm = new DnsRunner((argv) => (argv[0] === 'nmcli' ? { stdout: '192.0.2.61 | 192.0.2.62\n' } : argv[0] === 'dhcpcd' ? { exitCode: 1 } : undefined));
    assert.deepEqual(await learnServers('eth0', { ...opts, runner: nm, dhcpcdCommand: 'dhcpcd', nmcliCommand: 'nmcli' }), {
      servers: ['192.0.2.61', '192.0.2.62'],
      source: 'nmcli device show eth0',
    });
    assert.deepEqual(nm.calls.at(-1), { argv: ['nmcli', '-g', 'IP4.DNS', 'device', 'show', 'eth0'] });
  });

  it('the runner writes `input` to stdin (used for resolvconf -a)', async () => {
    const r = await new ProcessRunner().run('cat', [], { input: 'nameserver 192.0.2.53\n' });
    assert.equal(r.stdout, 'nameserver 192.0.2.53');
  });
});

describe('DNS order', () => {
  it('active first, then the others in priority order, each server once', () => {
    const list = threeUplinks();
    const servers = new Map([
      ['primary', ['192.0.2.53', '203.0.113.53']],
      ['wifi', ['192.0.2.57', '203.0.113.53']],
      ['fona', ['198.51.100.53', '192.0.2.53']],
    ]);
    assert.deepEqual(orderServers(byName(list, 'fona'), list, servers), [
      { address: '198.51.100.53', uplink: 'fona' },
      { address: '192.0.2.53', uplink: 'fona' },
      { address: '203.0.113.53', uplink: 'primary' },
      { address: '192.0.2.57', uplink: 'wifi' },
    ]);
    assert.deepEqual(
      orderServers(byName(list, 'wifi'), list, servers).map((s) => s.address),
      ['192.0.2.57', '203.0.113.53', '192.0.2.53', '198.51.100.53'],
    );
  });

  it('resolv.conf content: header, three servers at most, the original search and options kept', () => {
    const text = buildResolvConf('# from DHCP\nnameserver 10.0.0.1\nsearch lan.example\noptions edns0 trust-ad\n', ['a', 'b', 'c', 'd'], 'fona');
    assert.equal(text, '# written by ifacefailover: fona is active\nnameserver a\nnameserver b\nnameserver c\nsearch lan.example\noptions edns0 trust-ad\n');
    assert.deepEqual([...parseMountPoints('36 35 98:0 /x /etc/resolv.conf rw - ext4 /dev/a rw\n37 35 98:0 / /mnt/with\\040space rw - ext4 /dev/a rw\n')], [
      '/etc/resolv.conf',
      '/mnt/with space',
    ]);
  });
});

describe('DNS file method', () => {
  const ORIGINAL = '# generated by dhcpcd\nnameserver 10.0.0.1\nsearch lan.example\noptions edns0\n';

  it('regular file: written atomically (new inode, same mode), backup kept, restore puts the exact original back', async () => {
    const s = sandbox(ORIGINAL);
    const log = new RecordingLogger();
    const list = threeUplinks({ primary: ['192.0.2.53'], fona: ['198.51.100.53'] });
    const dns = new DnsManager(s.options(new DnsRunner(nothingInstalled), log));
    const inode = statSync(s.path).ino;
    await dns.apply(byName(list, 'fona'), list);
    assert.equal(readFileSync(s.path, 'utf8'), '# written by ifacefailover: fona is active\nnameserver 198.51.100.53\nnameserver 192.0.2.53\nsearch lan.example\noptions edns0\n');
    assert.notEqual(statSync(s.path).ino, inode, 'renamed into place');
    assert.equal(statSync(s.path).mode & 0o777, 0o644);
    assert.deepEqual(JSON.parse(readFileSync(s.backup, 'utf8')), { path: s.path, content: ORIGINAL });
    assert.deepEqual(log.at('INFO'), [`INFO DNS: 198.51.100.53 (fona), 192.0.2.53 (primary) via ${s.path}`]);
    assert.deepEqual(readdirSync(join(s.dir, 'etc')), ['resolv.conf'], 'no temp file left');

    const before = statSync(s.path).mtimeMs;
    await dns.apply(byName(list, 'fona'), list);
    assert.equal(statSync(s.path).mtimeMs, before, 'the same content is not written again');
    assert.match(log.at('INFO')[1], /\(unchanged\)$/);

    await dns.apply(byName(list, 'primary'), list);
    assert.match(readFileSync(s.path, 'utf8'), /^# written by ifacefailover: primary is active\nnameserver 192\.0\.2\.53\nnameserver 198\.51\.100\.53\n/);

    await dns.restore();
    assert.equal(readFileSync(s.path, 'utf8'), ORIGINAL);
    assert.equal(existsSync(s.backup), false, 'backup removed after a clean restore');
    assert.deepEqual(log.at('WARN'), []);
  });

  it('symlink: the target is rewritten and the link stays', async () => {
    const s = sandbox(null);
    const targetDir = join(s.dir, 'run-resolved');
    mkdirSync(targetDir);
    const target = join(targetDir, 'resolv.conf');
    writeFileSync(target, ORIGINAL);
    symlinkSync(target, s.path);
    const list = threeUplinks({ primary: ['192.0.2.53'], fona: ['198.51.100.53'] });
    const dns = new DnsManager(s.options(new DnsRunner(nothingInstalled), new RecordingLogger()));
    await dns.apply(byName(list, 'fona'), list);
    assert.ok(lstatSync(s.path).isSymbolicLink(), 'still a link');
    assert.equal(readlinkSync(s.path), target);
    assert.match(readFileSync(target, 'utf8'), /^# written by ifacefailover: fona is active\nnameserver 198\.51\.100\.53\n/);
    await dns.restore();
    assert.ok(lstatSync(s.path).isSymbolicLink());
    assert.equal(readFileSync(target, 'utf8'), ORIGINAL);
  });

  it('bind mount (the path is a mount point): written in place, same inode', async () => {
    const s = sandbox(ORIGINAL);
    writeFileSync(join(s.dir, 'mountinfo'), `22 1 0:21 / / rw - ext4 /dev/root rw\n600 22 0:21 /netns/dut/resolv.conf ${s.path} rw - ext4 /dev/root rw\n`);
    const list = threeUplinks({ primary: ['192.0.2.53'] });
    const dns = new DnsManager(s.options(new DnsRunner(nothingInstalled), new RecordingLogger()));
    const inode = statSync(s.path).ino;
    await dns.apply(byName(list, 'primary'), list);
    assert.equal(statSync(s.path).ino, inode, 'not renamed over (that fails with EBUSY on a real bind mount)');
    assert.equal(readFileSync(s.path, 'utf8'), '# written by ifacefailover: primary is active\nnameserver 192.0.2.53\nsearch lan.example\noptions edns0\n');
    await dns.restore();
    assert.equal(readFileSync(s.path, 'utf8'), ORIGINAL, 'a longer original is written back whole');
    assert.equal(statSync(s.path).ino, inode);
  });

  it('after a crash, the next start puts the original back before anything else', async () => {
    const s = sandbox(ORIGINAL);
    const list = threeUplinks({ primary: ['192.0.2.53'], fona: ['198.51.100.53'] });
    const crashed = new DnsManager(s.options(new DnsRunner(nothingInstalled), new RecordingLogger()));
    await crashed.apply(byName(list, 'fona'), list);
    assert.match(readFileSync(s.path, 'utf8'), /fona is active/);
    // The process dies here: no restore(). The next run has no server at all, so it writes nothing of its own.
    const log = new RecordingLogger();
    const next = new DnsManager(s.options(new DnsRunner(nothingInstalled), log));
    await next.apply(byName(threeUplinks(), 'primary'), threeUplinks());
    assert.equal(readFileSync(s.path, 'utf8'), ORIGINAL);
    assert.deepEqual(log.at('INFO'), [`INFO DNS: put back ${s.path} as it was before an earlier run that did not stop cleanly`]);
    // With servers: ours again, and its restore still ends with the true original (not the crashed run's file).
    const third = new DnsManager(s.options(new DnsRunner(nothingInstalled), new RecordingLogger()));
    await crashed.apply(byName(list, 'fona'), list);
    await third.apply(byName(list, 'primary'), list);
    assert.match(readFileSync(s.path, 'utf8'), /primary is active/);
    await third.restore();
    assert.equal(readFileSync(s.path, 'utf8'), ORIGINAL);
    assert.equal(existsSync(s.backup), false);
  });

  it('a backup of another resolv.conf (another namespace or path) is left alone', async () => {
    const s = sandbox(ORIGINAL);
    mkdirSync(s.stateDir);
    writeFileSync(s.backup, JSON.stringify({ path: '/somewhere/else/resolv.conf', content: 'nameserver 10.9.9.9\n' }));
    const dns = new DnsManager(s.options(new DnsRunner(nothingInstalled), new RecordingLogger()));
    await dns.apply(byName(threeUplinks(), 'primary'), threeUplinks());
    assert.equal(readFileSync(s.path, 'utf8'), ORIGINAL);
  });

  it('a rewrite by someone else (DHCP renewal) while we run becomes the original', async () => {
    const s = sandbox(ORIGINAL);
    const list = threeUplinks({ primary: ['192.0.2.53'] });
    const dns = new DnsManager(s.options(new DnsRunner(nothingInstalled), new RecordingLogger()));
    await dns.apply(byName(list, 'primary'), list);
    const renewed = 'nameserver 10.0.0.2\nsearch new.example\n';
    writeFileSync(s.path, renewed);
    await dns.apply(byName(list, 'primary'), list);
    assert.match(readFileSync(s.path, 'utf8'), /nameserver 192\.0\.2\.53\nsearch new\.example\n$/);
    await dns.restore();
    assert.equal(readFileSync(s.path, 'utf8'), renewed);
  });

  it('dry run: logs what it would write and changes nothing', async () => {
    const s = sandbox(ORIGINAL);
    const log = new RecordingLogger();
    const list = threeUplinks({ primary: ['192.0.2.53'], fona: ['198.51.100.53'] });
    const dns = new DnsManager(s.options(new DnsRunner(nothingInstalled), log, { dryRun: true }));
    const mtime = statSync(s.path).mtimeMs;
    await dns.apply(byName(list, 'fona'), list);
    await dns.restore();
    assert.equal(readFileSync(s.path, 'utf8'), ORIGINAL);
    assert.equal(statSync(s.path).mtimeMs, mtime);
    assert.equal(existsSync(s.stateDir), false, 'no backup either');
    assert.deepEqual(log.at('INFO').slice(0, 1), [
      `INFO DRY-RUN: write ${s.path}: # written by ifacefailover: fona is active | nameserver 198.51.100.53 | nameserver 192.0.2.53 | search lan.example | options edns0`,
    ]);
    assert.ok(log.lines.includes(`INFO DRY-RUN: put back the original ${s.path}`));
  });

  it('no server anywhere (none configured, none learnt): nothing is touched', async () => {
    const s = sandbox(ORIGINAL);
    const runner = new DnsRunner(nothingInstalled);
    const log = new RecordingLogger();
    for (const method of ['file', 'auto', 'resolvconf', 'resolvectl'] as const) {
      const dns = new DnsManager(s.options(runner, log, { method }));
      const mtime = statSync(s.path).mtimeMs;
      await dns.apply(byName(threeUplinks(), 'fona'), threeUplinks());
      await dns.restore();
      assert.equal(statSync(s.path).mtimeMs, mtime, method);
    }
    assert.equal(readFileSync(s.path, 'utf8'), ORIGINAL);
    assert.equal(existsSync(s.stateDir), false);
    assert.deepEqual(runner.changes(), [], 'no command that changes anything');
    assert.deepEqual([...log.at('INFO'), ...log.at('WARN')], []);
  });

  it('learnt servers are used when none are configured (ppp usepeerdns)', async () => {
    const s = sandbox(ORIGINAL);
    writeFileSync(join(s.dir, 'ppp-resolv.conf'), 'nameserver 198.51.100.53\n');
    const list = threeUplinks({ primary: ['192.0.2.53'] });
    const dns = new DnsManager(s.options(new DnsRunner(nothingInstalled), new RecordingLogger()));
    await dns.apply(byName(list, 'fona'), list);
    assert.match(readFileSync(s.path, 'utf8'), /^# written by ifacefailover: fona is active\nnameserver 198\.51\.100\.53\nnameserver 192\.0\.2\.53\n/);
    await dns.restore();
  });

  it('a failure is one warning, never an exception', async () => {
    const s = sandbox(ORIGINAL);
    const log = new RecordingLogger();
    const list = threeUplinks({ primary: ['192.0.2.53'] });
    // The "file" is a directory: reading it fails.
    const dns = new DnsManager(s.options(new DnsRunner(nothingInstalled), log, { resolvConfPath: join(s.dir, 'etc') }));
    await dns.apply(byName(list, 'primary'), list);
    assert.equal(log.at('WARN').length, 1);
    assert.match(log.at('WARN')[0], /^WARN DNS: could not apply primary's servers: .*EISDIR/);
  });
});

describe('DNS resolvconf and resolvectl methods', () => {
  it('resolvconf: one exclusive record with every server on stdin; deleted on restore', async () => {
    const s = sandbox();
    const runner = new DnsRunner();
    const log = new RecordingLogger();
    const list = threeUplinks({ primary: ['192.0.2.53', '192.0.2.54'], wifi: ['192.0.2.57'], fona: ['198.51.100.53'] });
    const dns = new DnsManager(s.options(runner, log, { method: 'resolvconf' }));
    await dns.apply(byName(list, 'fona'), list);
    await dns.apply(byName(list, 'fona'), list);
    await dns.apply(byName(list, 'primary'), list);
    await dns.restore();
    assert.deepEqual(runner.changes(), [
      {
        argv: ['resolvconf', '-m', '0', '-x', '-a', 'ifacefailover'],
        input: '# written by ifacefailover: fona is active\nnameserver 198.51.100.53\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nnameserver 192.0.2.57\n',
      },
      {
        argv: ['resolvconf', '-m', '0', '-x', '-a', 'ifacefailover'],
        input: '# written by ifacefailover: primary is active\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nnameserver 192.0.2.57\nnameserver 198.51.100.53\n',
      },
      { argv: ['resolvconf', '-f', '-d', 'ifacefailover'] },
    ]);
    assert.equal(log.at('INFO')[0], 'INFO DNS: 198.51.100.53 (fona), 192.0.2.53 (primary), 192.0.2.54 (primary), 192.0.2.57 (wifi) via resolvconf');
    assert.equal(readFileSync(s.path, 'utf8'), 'nameserver 10.0.0.1\nsearch lan.example\noptions edns0\n', 'the file is resolvconf\'s business');
  });

  it('resolvectl: the active link gets the servers, ~. and the default route; the others lose it; revert on restore', async () => {
    const s = sandbox();
    for (const iface of ['eth0', 'ppp0']) mkdirSync(join(s.dir, 'sys-class-net', iface), { recursive: true }); // no wlan0
    const runner = new DnsRunner();
    const list = threeUplinks({ primary: ['192.0.2.53'], fona: ['198.51.100.53'] });
    const dns = new DnsManager(s.options(runner, new RecordingLogger(), { method: 'resolvectl' }));
    await dns.apply(byName(list, 'primary'), list);
    await dns.apply(byName(list, 'fona'), list);
    await dns.restore();
    assert.deepEqual(
      runner.changes().map((c) => c.argv),
      [
        ['resolvectl', 'dns', 'eth0', '192.0.2.53', '198.51.100.53'],
        ['resolvectl', 'domain', 'eth0', '~.'],
        ['resolvectl', 'default-route', 'eth0', 'true'],
        ['resolvectl', 'default-route', 'ppp0', 'false'],
        ['resolvectl', 'dns', 'ppp0', '198.51.100.53', '192.0.2.53'],
        ['resolvectl', 'domain', 'ppp0', '~.'],
        ['resolvectl', 'default-route', 'ppp0', 'true'],
        ['resolvectl', 'revert', 'eth0'],
        ['resolvectl', 'default-route', 'eth0', 'false'],
        ['resolvectl', 'revert', 'eth0'],
        ['resolvectl', 'revert', 'ppp0'],
      ],
    );
  });

  it('dry run with resolvconf: the command and its stdin are logged, nothing is run', async () => {
    const s = sandbox();
    const runner = new DnsRunner();
    const log = new RecordingLogger();
    const list = threeUplinks({ primary: ['192.0.2.53'] });
    await new DnsManager(s.options(runner, log, { method: 'resolvconf', dryRun: true })).apply(byName(list, 'primary'), list);
    assert.deepEqual(runner.changes(), []);
    assert.equal(log.at('INFO')[0], 'INFO DRY-RUN: resolvconf -m 0 -x -a ifacefailover <<< "# written by ifacefailover: primary is active\\nnameserver 192.0.2.53\\n"');
  });

  it('a failing command is one warning', async () => {
    const s = sandbox();
    const log = new RecordingLogger();
    const runner = new DnsRunner((argv) => (argv[0] === 'resolvconf' ? { exitCode: 1, stderr: 'resolvconf: signature mismatch' } : undefined));
    const list = threeUplinks({ primary: ['192.0.2.53'] });
    await new DnsManager(s.options(runner, log, { method: 'resolvconf' })).apply(byName(list, 'primary'), list);
    assert.deepEqual(log.at('WARN'), [
      "WARN DNS: could not apply primary's servers: resolvconf -m 0 -x -a ifacefailover failed (exit 1): resolvconf: signature mismatch",
    ]);
  });
});

describe('DNS auto-detection', () => {
  const list = threeUplinks({ primary: ['192.0.2.53'] });

  async function detect(answer: (argv: string[]) => Answer, resolved: boolean): Promise<{ method: string | undefined; runner: DnsRunner }> {
    const s = sandbox();
    if (resolved) mkdirSync(join(s.dir, 'run-systemd-resolve'));
    mkdirSync(join(s.dir, 'sys-class-net', 'eth0'), { recursive: true });
    const runner = new DnsRunner(answer);
    const dns = new DnsManager(s.options(runner, new RecordingLogger(), { method: 'auto' }));
    await dns.apply(byName(list, 'primary'), list);
    return { method: dns.method, runner };
  }

  it('openresolv wins where it is installed', async () => {
    const { method, runner } = await detect((a) => (a[0] === 'resolvconf' ? { stdout: 'openresolv 3.12.0\n' } : undefined), true);
    assert.equal(method, 'resolvconf');
    assert.deepEqual(runner.changes()[0].argv, ['resolvconf', '-m', '0', '-x', '-a', 'ifacefailover']);
  });

  it('systemd-resolved (running, resolvectl present) when resolvconf is not openresolv', async () => {
    // systemd's own resolvconf link answers --version as systemd.
    const { method, runner } = await detect((a) => (a[0] === 'resolvconf' ? { stdout: 'systemd 252 (252.30-1~deb12u2)\n' } : undefined), true);
    assert.equal(method, 'resolvectl');
    assert.deepEqual(runner.changes()[0].argv, ['resolvectl', 'dns', 'eth0', '192.0.2.53']);
  });

  it('the file when resolved does not run or resolvectl is missing', async () => {
    assert.equal((await detect(nothingInstalled, false)).method, 'file');
    assert.equal((await detect(nothingInstalled, true)).method, 'file', 'resolved directory but no resolvectl');
    assert.equal((await detect((a) => (a[0] === 'resolvconf' ? { stdout: 'systemd 252\n' } : undefined), false)).method, 'file');
  });
});
