/**
 * LinkWatch's two parsers, on real `ip monitor link` text and a directory laid out like /sys/class/net.
 * No root needed: nothing here touches a real interface.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LinkState, LinkWatch, absentLink, parseMonitorLine, readLinkState } from '../../lib/linkwatch/link-watch';
import { RecordingLogger } from '../support/recorders';
import { until, waitFor } from '../support/wait';

// ───── parseMonitorLine ─────

test('parseMonitorLine: the interface name of each header line of `ip monitor link` (iproute2 6.1, captured)', () => {
  const lines: [string, string][] = [
    // a veth whose peer lives in another namespace (the lab's eth0)
    ['3: eth0@if2: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 qdisc noqueue state LOWERLAYERDOWN group default ', 'eth0'],
    ['3: eth0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default ', 'eth0'],
    // a veth whose peer is in the same namespace, and one whose peer is gone
    ['2: lan0@eth0: <BROADCAST,MULTICAST> mtu 1500 qdisc noqueue state DOWN group default ', 'lan0'],
    ['3: eth0@NONE: <BROADCAST,MULTICAST> mtu 1500 qdisc noqueue state DOWN group default ', 'eth0'],
    // TUN (socat's ppp0, pppd's ppp0) has no "@"
    ['4: ppp0: <POINTOPOINT,MULTICAST,NOARP> mtu 1500 qdisc noop state DOWN group default ', 'ppp0'],
    ['4: ppp0: <POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP> mtu 1500 qdisc pfifo_fast state UNKNOWN group default qlen 500', 'ppp0'],
    ['12: wlan0: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc mq state DORMANT mode DORMANT group default qlen 1000', 'wlan0'],
    ['123456: wwan0: <BROADCAST,MULTICAST,NOARP,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UNKNOWN group default qlen 1000', 'wwan0'],
    // interface removed
    ['Deleted 7: ppp0: <POINTOPOINT,MULTICAST,NOARP> mtu 1500 qdisc noop state DOWN group default ', 'ppp0'],
    ['Deleted 3: eth0@NONE: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default ', 'eth0'],
    // names with the characters Linux allows besides letters and digits
    ['9: br-lan.10@br-lan: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default ', 'br-lan.10'],
    ['10: usb_0: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default ', 'usb_0'],
    // Windows line ending (output piped through something that adds \r)
    ['5: eth1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default \r', 'eth1'],
  ];
  for (const [line, iface] of lines) assert.equal(parseMonitorLine(line), iface, JSON.stringify(line));
});

test('parseMonitorLine: continuation lines and noise give null', () => {
  const lines = [
    '    link/ether b6:e0:3b:eb:0a:6f brd ff:ff:ff:ff:ff:ff',
    '    link/ether 12:75:59:28:b4:91 brd ff:ff:ff:ff:ff:ff link-netns iff1-0-r1',
    '    link/ether 00:11:22:33:44:55 brd ff:ff:ff:ff:ff:ff link-netnsid 0',
    '    link/none ',
    '    link/ppp ',
    '    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00',
    '    altname enp0s3',
    '    alias uplink: fibre',
    '    prop list name2',
    '',
    '   ',
    'Deleted',
    'nsid 0 (iproute2 netns name: iff1-0-r1)',
  ];
  for (const line of lines) assert.equal(parseMonitorLine(line), null, JSON.stringify(line));
});

// ───── readLinkState ─────

const sysfs = mkdtempSync(join(tmpdir(), 'iff-sysfs-'));
after(() => rmSync(sysfs, { recursive: true, force: true }));

/** Lays out /sys/class/net/IFACE as the kernel does: one value per file, newline-terminated. Omitted = file absent. */
function fakeIface(root: string, iface: string, files: { operstate?: string; carrier?: string; flags?: string }): void {
  const dir = join(root, iface);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, value] of Object.entries(files)) {
    if (value !== undefined) writeFileSync(join(dir, name), `${value}\n`);
  }
}

test('readLinkState: an Ethernet with carrier, admin up, operstate up is up', async () => {
  fakeIface(sysfs, 'eth0', { operstate: 'up', carrier: '1', flags: '0x1003' });
  assert.deepEqual(await readLinkState('eth0', sysfs), {
    iface: 'eth0',
    exists: true,
    adminUp: true,
    carrier: true,
    operstate: 'up',
    up: true,
  } satisfies LinkState);
});

test('readLinkState: a missing directory means the interface is absent', async () => {
  const s = await readLinkState('ppp0', sysfs);
  assert.deepEqual(s, absentLink('ppp0'));
  assert.deepEqual(s, { iface: 'ppp0', exists: false, adminUp: false, carrier: null, operstate: 'absent', up: false });
});

test('readLinkState: no carrier file (the kernel refuses to read it while the link is down) gives carrier null, not up', async () => {
  fakeIface(sysfs, 'eth1', { operstate: 'down', flags: '0x1002' });
  const s = await readLinkState('eth1', sysfs);
  assert.equal(s.exists, true);
  assert.equal(s.carrier, null);
  assert.equal(s.up, false);
  // Even an operstate that claims up is not trusted without a carrier reading.
  fakeIface(sysfs, 'eth1', { operstate: 'up', flags: '0x1003' });
  assert.deepEqual(await readLinkState('eth1', sysfs), { iface: 'eth1', exists: true, adminUp: true, carrier: null, operstate: 'up', up: false });
});

test('readLinkState: a TUN-like device (ppp0, socat) reports operstate unknown; with carrier 1 it counts as up', async () => {
  // IFF_UP | IFF_POINTOPOINT | IFF_NOARP | IFF_MULTICAST
  fakeIface(sysfs, 'ppp0', { operstate: 'unknown', carrier: '1', flags: '0x1091' });
  assert.deepEqual(await readLinkState('ppp0', sysfs), { iface: 'ppp0', exists: true, adminUp: true, carrier: true, operstate: 'unknown', up: true });
  // ...but not when its carrier is 0 (the TUN's file descriptor was closed, the device kept: persist mode).
  fakeIface(sysfs, 'ppp0', { operstate: 'unknown', carrier: '0', flags: '0x1091' });
  assert.equal((await readLinkState('ppp0', sysfs)).up, false);
  rmSync(join(sysfs, 'ppp0'), { recursive: true });
});

test('readLinkState: flags without IFF_UP mean not up, whatever operstate and carrier say', async () => {
  for (const flags of ['0x1002', '0x0', '0x1090', '0x1000']) {
    fakeIface(sysfs, 'wlan0', { operstate: 'up', carrier: '1', flags });
    const s = await readLinkState('wlan0', sysfs);
    assert.equal(s.adminUp, false, flags);
    assert.equal(s.up, false, flags);
    assert.equal(s.carrier, true, flags);
  }
  // A missing flags file reads as 0: not admin up.
  fakeIface(sysfs, 'wlan0', { operstate: 'up', carrier: '1' });
  assert.equal((await readLinkState('wlan0', sysfs)).adminUp, false);
});

test('readLinkState: carrier lost, lower layer down, dormant or down are not up', async () => {
  const cases: { operstate: string; carrier: string }[] = [
    { operstate: 'lowerlayerdown', carrier: '0' }, // the lab's pullCable: peer veth end down
    { operstate: 'down', carrier: '0' },
    { operstate: 'dormant', carrier: '1' }, // Wi-Fi not yet associated
    { operstate: 'up', carrier: '0' },
    { operstate: 'notpresent', carrier: '1' },
    { operstate: 'testing', carrier: '1' },
  ];
  for (const c of cases) {
    fakeIface(sysfs, 'eth2', { ...c, flags: '0x1003' });
    const s = await readLinkState('eth2', sysfs);
    assert.equal(s.exists, true, JSON.stringify(c));
    assert.equal(s.adminUp, true, JSON.stringify(c));
    assert.equal(s.operstate, c.operstate);
    assert.equal(s.carrier, c.carrier === '1');
    assert.equal(s.up, false, JSON.stringify(c));
  }
});

test('readLinkState: an unexpected carrier value is not a carrier', async () => {
  fakeIface(sysfs, 'eth3', { operstate: 'up', carrier: '2', flags: '0x1003' });
  const s = await readLinkState('eth3', sysfs);
  assert.equal(s.carrier, false);
  assert.equal(s.up, false);
});

test('readLinkState: the real loopback of this machine (read-only)', async (t) => {
  if (!existsSync('/sys/class/net/lo/operstate')) {
    t.skip('no /sys/class/net/lo here');
    return;
  }
  const s = await readLinkState('lo');
  assert.equal(s.exists, true);
  assert.equal(s.operstate, 'unknown', 'loopback reports operstate unknown, like TUN');
  assert.equal(typeof s.adminUp, 'boolean');
  assert.equal(s.up, s.adminUp && s.carrier === true);
});

// ───── LinkWatch on a fake sysfs, driven by a real child process that prints monitor lines ─────

test('LinkWatch re-reads sysfs when the monitor names a watched interface and emits one change per difference', async () => {
  const root = mkdtempSync(join(tmpdir(), 'iff-sysfs-watch-'));
  const feed = join(root, 'monitor.txt');
  writeFileSync(feed, '');
  fakeIface(root, 'eth0', { operstate: 'up', carrier: '1', flags: '0x1003' });
  // `tail -f` plays `ip monitor link`: every line appended to the feed reaches the watch.
  const watch = new LinkWatch(['eth0', 'ppp0'], { sysfsRoot: root, pollMs: 0, monitorCommand: ['tail', '-n', '+1', '-f', feed] });
  const changes: LinkState[] = [];
  watch.on('change', (s) => changes.push(s));
  const next = (n: number, timeoutMs = 5000): Promise<void> =>
    new Promise((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      const tick = (): void => {
        if (changes.length >= n) resolve();
        else if (Date.now() > deadline) reject(new Error(`expected ${n} change events, got ${JSON.stringify(changes)}`));
        else setTimeout(tick, 10);
      };
      tick();
    });
  try {
    await watch.start();
    assert.equal(watch.state('eth0').up, true, 'initial state read at start, without an event');
    assert.equal(watch.state('ppp0').exists, false);
    assert.equal(changes.length, 0, 'no event for the initial read');

    fakeIface(root, 'eth0', { operstate: 'lowerlayerdown', carrier: '0', flags: '0x1003' });
    appendFileSync(feed, '3: eth0@if2: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 qdisc noqueue state LOWERLAYERDOWN group default \n');
    appendFileSync(feed, '    link/ether b6:e0:3b:eb:0a:6f brd ff:ff:ff:ff:ff:ff link-netnsid 0\n');
    await next(1);
    assert.deepEqual(changes[0], { iface: 'eth0', exists: true, adminUp: true, carrier: false, operstate: 'lowerlayerdown', up: false });
    assert.deepEqual(watch.state('eth0'), changes[0]);

    // A line for an interface nobody watches, and a repeat for eth0 with nothing changed: no event.
    fakeIface(root, 'wlan0', { operstate: 'up', carrier: '1', flags: '0x1003' });
    appendFileSync(feed, '5: wlan0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP group default qlen 1000\n');
    appendFileSync(feed, '3: eth0@if2: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 qdisc noqueue state LOWERLAYERDOWN group default \n');

    fakeIface(root, 'ppp0', { operstate: 'unknown', carrier: '1', flags: '0x1091' });
    appendFileSync(feed, '7: ppp0: <POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP> mtu 1500 qdisc pfifo_fast state UNKNOWN group default qlen 500\n');
    await next(2);
    rmSync(join(root, 'ppp0'), { recursive: true });
    appendFileSync(feed, 'Deleted 7: ppp0: <POINTOPOINT,MULTICAST,NOARP> mtu 1500 qdisc noop state DOWN group default \n');
    await next(3);
    // Give a stray event for wlan0 or the repeated eth0 line time to show up.
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(
      changes.map((c) => [c.iface, c.exists, c.up]),
      [
        ['eth0', true, false],
        ['ppp0', true, true],
        ['ppp0', false, false],
      ],
    );
  } finally {
    await watch.stop();
    rmSync(root, { recursive: true, force: true });
  }
  // After stop nothing more is emitted.
  const count = changes.length;
  await watch.refreshAll(true);
  assert.equal(changes.length, count);
});

test('LinkWatch: a re-read overtaken by a newer one does not overwrite the newer result', async () => {
  // ppp0 vanishing prints "state DOWN" and "Deleted" back to back. The first re-read still finds the directory
  // and has three files to read; the second finds nothing and finishes first. Here the first re-read's flags file
  // is a FIFO, so it provably stays stuck until the second one is done - no timing luck involved.
  const root = mkdtempSync(join(tmpdir(), 'iff-sysfs-race-'));
  const dir = join(root, 'ppp0');
  fakeIface(root, 'ppp0', { operstate: 'unknown', carrier: '1', flags: '0x1091' });
  const watch = new LinkWatch(['ppp0'], { sysfsRoot: root, pollMs: 0 });
  const changes: LinkState[] = [];
  watch.on('change', (s) => changes.push(s));
  try {
    assert.equal((await watch.refresh('ppp0')).up, true);
    // ppp0 going down: it still exists, and its flags file will stall the next reader.
    writeFileSync(join(dir, 'operstate'), 'down\n');
    writeFileSync(join(dir, 'carrier'), '0\n');
    rmSync(join(dir, 'flags'));
    execFileSync('mkfifo', [join(dir, 'flags')]);
    const first = watch.refresh('ppp0');
    await new Promise((r) => setTimeout(r, 100)); // first re-read: operstate read, now blocked opening flags
    renameSync(dir, `${dir}.gone`); // the device vanishes
    const second = await watch.refresh('ppp0');
    assert.equal(second.exists, false);
    const writer = await open(join(`${dir}.gone`, 'flags'), 'w'); // unblock the first re-read
    await writer.writeFile('0x1091\n');
    await writer.close();
    const firstResult = await first;
    assert.deepEqual(watch.state('ppp0'), absentLink('ppp0'), 'the watch ends on the newest reading');
    assert.deepEqual(firstResult, absentLink('ppp0'), 'the overtaken re-read resolves with the newest state');
    assert.deepEqual(
      changes.map((c) => [c.exists, c.up, c.operstate]),
      [
        [true, true, 'unknown'],
        [false, false, 'absent'],
      ],
      'no stale "exists, down" event after the "gone" one',
    );
  } finally {
    await watch.stop();
    rmSync(root, { recursive: true, force: true });
  }
});

test('LinkWatch takes a second look after a monitor line: a device still in sysfs when "Deleted" is read ends absent', async () => {
  // The kernel sends RTM_DELLINK before it removes the device from sysfs. A re-read that starts in between
  // finds "exists, down", and no further line comes to correct it; the settle re-read does (no poll here).
  const root = mkdtempSync(join(tmpdir(), 'iff-sysfs-settle-'));
  const feed = join(root, 'monitor.txt');
  writeFileSync(feed, '');
  fakeIface(root, 'ppp0', { operstate: 'unknown', carrier: '1', flags: '0x1091' });
  const watch = new LinkWatch(['ppp0'], { sysfsRoot: root, pollMs: 0, settleMs: 300, monitorCommand: ['tail', '-n', '+1', '-f', feed] });
  const changes: LinkState[] = [];
  watch.on('change', (s) => changes.push(s));
  const waitFor = async (pred: () => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + 3000;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify(changes)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  try {
    await watch.start();
    assert.equal(watch.state('ppp0').up, true);
    // ppp0 closed: down, and the kernel announces the deletion while the sysfs entry is still there.
    fakeIface(root, 'ppp0', { operstate: 'down', carrier: '0', flags: '0x1090' });
    appendFileSync(feed, 'Deleted 7: ppp0: <POINTOPOINT,MULTICAST,NOARP> mtu 1500 qdisc noop state DOWN group default \n');
    await waitFor(() => changes.length >= 1, 'the immediate re-read');
    assert.deepEqual(changes[0], { iface: 'ppp0', exists: true, adminUp: false, carrier: false, operstate: 'down', up: false });
    rmSync(join(root, 'ppp0'), { recursive: true }); // ...and now it is gone from sysfs too
    await waitFor(() => changes.length >= 2, 'the settle re-read');
    assert.deepEqual(changes[1], absentLink('ppp0'));
    assert.deepEqual(watch.state('ppp0'), absentLink('ppp0'));
  } finally {
    await watch.stop();
    rmSync(root, { recursive: true, force: true });
  }
});

// ───── the monitor ended by a stop signal: restarted with a warning while running, quietly left while stopping ─────

/** Pids of this process's children whose command line mentions `marker` (the monitor's unique feed file). */
function monitorsWith(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) pids.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}

test('LinkWatch: a monitor killed while running is restarted with a warning; once stopping begins, a killed monitor is neither restarted nor warned about', async () => {
  const root = mkdtempSync(join(tmpdir(), 'iff-sysfs-stop-'));
  const feed = join(root, 'monitor.txt');
  writeFileSync(feed, '');
  fakeIface(root, 'eth0', { operstate: 'up', carrier: '1', flags: '0x1003' });
  const logger = new RecordingLogger();
  const watch = new LinkWatch(['eth0'], { sysfsRoot: root, pollMs: 0, logger, monitorCommand: ['tail', '-n', '+1', '-f', feed] });
  try {
    await watch.start();
    const [first] = await waitFor(() => (monitorsWith(feed).length === 1 ? monitorsWith(feed) : undefined), { what: 'the monitor' });
    // Running: the monitor dies (SIGTERM from someone else): a warning, and a new monitor after the pause.
    process.kill(first, 'SIGTERM');
    await until(() => logger.at('WARN').length > 0, { what: 'the restart warning' });
    assert.deepEqual(logger.at('WARN'), ['WARN link monitor exited (SIGTERM); restarted']);
    const second = await waitFor(() => monitorsWith(feed).find((p) => p !== first), { what: 'the restarted monitor' });

    // The owner's stop has begun (a stop signal to the process group reaches the monitor too), stop() comes later.
    watch.prepareStop();
    process.kill(second, 'SIGTERM');
    await until(() => logger.lines.includes('DEBUG link monitor ended (SIGTERM) while stopping; not restarted'), { what: 'the quiet end' });
    assert.equal(watch.state('eth0').up, true, 'states are still known while stopping');
    await watch.stop();
    assert.deepEqual(logger.at('WARN'), ['WARN link monitor exited (SIGTERM); restarted'], 'no second warning');
    assert.deepEqual(monitorsWith(feed), [], 'no monitor was started again');
  } finally {
    await watch.stop();
    rmSync(root, { recursive: true, force: true });
  }
});
