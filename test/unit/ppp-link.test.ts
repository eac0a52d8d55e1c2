/**
 * PppLink's supervision logic with a stand-in link source (the interface appears and vanishes when the test
 * says so), real commands for the command dialer, and the fake pppd for the pppd dialer. The real interface
 * (a TUN ppp0 in the network lab) is supervised in test/nodes/ppp-control.test.ts and test/lab/fona-service.test.ts.
 * The link's own timers (up-wait, back-off, hang-up wait) run on a fake clock; the commands are real processes.
 */
import { describe, it, beforeEach, afterEach, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PppDownEvent, PppError, PppLink, PppLinkOptions, PppUpEvent } from '../../lib/ppp/ppp-link';
import { FakeLinks } from '../support/fakes';
import { FakeModem, pathWithFakes, runningFakes, setEnv, tempDir } from '../fakes/fake-tools';
import { FakeClock } from '../support/fake-clock';
import { until } from '../support/wait';

/** A command that appends a word to a file (no shell): how often did the dialer run it? */
function marker(file: string, word: string): string[] {
  return [process.execPath, '-e', `require('fs').appendFileSync(${JSON.stringify(file)}, ${JSON.stringify(`${word}\n`)})`];
}

function lines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

interface Rig {
  link: PppLink;
  clock: FakeClock;
  links: FakeLinks;
  ups: PppUpEvent[];
  downs: PppDownEvent[];
  file: string;
}

const rigs: PppLink[] = [];

function rig(options: Partial<PppLinkOptions> = {}): Rig {
  const links = new FakeLinks();
  const clock = new FakeClock();
  const file = join(tempDir('iff-ppp-unit-'), 'commands');
  const link = new PppLink({
    peer: 'fona',
    clock,
    dialer: 'command',
    startCommand: marker(file, 'start'),
    stopCommand: marker(file, 'stop'),
    upTimeoutMs: 2000,
    links,
    readAddress: (iface) => (links.state(iface).up ? { address: '10.64.64.2', cidr: '10.64.64.2/32' } : null),
    ...options,
  });
  rigs.push(link);
  const r: Rig = { link, clock, links, ups: [], downs: [], file };
  link.on('up', (e) => r.ups.push(e));
  link.on('down', (e) => r.downs.push(e));
  return r;
}

/** The link waits on its clock once it has a timer pending; with none, a real command is running. */
const waiting = (clock: FakeClock): Promise<void> => until(() => clock.pendingTimers > 0, { what: 'the link to wait on its clock' });

/** Moves fake time on whenever the link waits on its clock (real time passes while a command runs), until the check holds. */
async function runUntil(clock: FakeClock, check: () => boolean, what: string): Promise<void> {
  await until(
    async () => {
      if (!check() && clock.pendingTimers > 0) await clock.advance(50);
      return check();
    },
    { what, intervalMs: 5 },
  );
}

afterEach(async () => {
  await Promise.all(rigs.splice(0).map((l) => l.close()));
});

describe('PppLink', () => {
  it('dials, waits for the interface with an address, reports up once; a second start is a no-op', async () => {
    const r = rig();
    const starting = r.link.start();
    await waiting(r.clock);
    await r.clock.advance(150);
    r.links.up('ppp0');
    const up = await starting;
    assert.deepEqual(up, { state: 'up', iface: 'ppp0', peer: 'fona', address: '10.64.64.2', cidr: '10.64.64.2/32' });
    assert.equal(r.link.status().state, 'up');
    assert.deepEqual(await r.link.start(), up);
    assert.equal(r.ups.length, 1);
    assert.deepEqual(lines(r.file), ['start']);
  });

  it('adopts an interface that is already up without dialling', async () => {
    const r = rig();
    r.links.up('ppp0');
    await r.link.start();
    assert.deepEqual(lines(r.file), [], 'no start command');
  });

  it('bounded wait: no interface within upTimeout -> down "timeout", hung up, start rejects', async () => {
    const r = rig({ upTimeoutMs: 300 });
    const starting = r.link.start();
    await waiting(r.clock);
    await r.clock.advance(300);
    await assert.rejects(starting, (e: unknown) => e instanceof PppError && e.reason === 'timeout' && /did not come up within 0.3 s/.test(e.message));
    assert.deepEqual(
      r.downs.map((d) => [d.reason, d.redialInMs]),
      [['timeout', null]],
    );
    assert.deepEqual(lines(r.file), ['start', 'stop']);
    assert.equal(r.link.status().state, 'down');
  });

  it('reports a link that drops by itself at once', async () => {
    const r = rig();
    r.links.up('ppp0');
    await r.link.start();
    const t = Date.now();
    r.links.remove('ppp0');
    assert.equal(r.downs.length, 1, 'synchronously with the link event');
    assert.ok(Date.now() - t < 50);
    assert.equal(r.downs[0].reason, 'link-lost');
    assert.match(r.downs[0].message, /ppp0 vanished/);
    assert.equal(r.link.status().state, 'down');
  });

  it('takes the link back when it returns by itself while wanted (pppd persist)', async () => {
    const r = rig();
    r.links.up('ppp0');
    await r.link.start();
    r.links.remove('ppp0');
    r.links.up('ppp0');
    await until(() => r.ups.length === 2, { what: 'a second up' });
    assert.equal(r.link.status().state, 'up');
  });

  it('redials with back-off: 200, 400, 800 ms while it fails, then up; the delay starts over', async () => {
    const r = rig({ redial: true, redialDelayMs: 200, upTimeoutMs: 100 });
    r.links.up('ppp0');
    await r.link.start();
    r.links.remove('ppp0');
    await runUntil(r.clock, () => r.downs.length >= 3, 'three downs');
    assert.deepEqual(
      r.downs.slice(0, 3).map((d) => [d.reason, d.redialInMs]),
      [
        ['link-lost', 200],
        ['timeout', 400],
        ['timeout', 800],
      ],
    );
    await runUntil(r.clock, () => r.link.status().state === 'dialing', 'the fourth dial');
    r.links.up('ppp0');
    await until(() => r.ups.length === 2, { what: 'up after redial' });
    r.links.remove('ppp0');
    assert.equal(r.downs.at(-1)?.redialInMs, 200, 'back-off reset after a good link');
    // The first start adopted the interface. The first redial hung up what the lost session left, then
    // dialled; a dial that timed out was hung up at once, so the next redial just dials.
    assert.deepEqual(lines(r.file).slice(0, 6), ['stop', 'start', 'stop', 'start', 'stop', 'start']);
  });

  it('stop cancels a dial in progress at once, hangs up, and a second stop is a no-op', async () => {
    const r = rig({ upTimeoutMs: 30_000 });
    const starting = r.link.start();
    await waiting(r.clock);
    const t = Date.now();
    const down = await r.link.stop();
    assert.ok(Date.now() - t < 2000);
    await assert.rejects(starting, (e: unknown) => e instanceof PppError && e.reason === 'stopped');
    assert.equal(down.reason, 'stopped');
    assert.deepEqual(
      r.downs.map((d) => d.reason),
      ['stopped'],
    );
    await r.link.stop();
    assert.equal(r.downs.length, 1);
    assert.deepEqual(lines(r.file), ['start', 'stop']);
  });

  it('stop of an up link waits until the interface is gone', async () => {
    const links = new FakeLinks();
    const clock = new FakeClock();
    const file = join(tempDir('iff-ppp-unit-'), 'commands');
    const link = new PppLink({
      peer: 'fona',
      clock,
      dialer: 'command',
      startCommand: marker(file, 'start'),
      // The stop command "works" and the interface goes 300 ms later, like pppd ending LCP.
      stopCommand: marker(file, 'stop'),
      links,
      readAddress: (iface) => (links.state(iface).up ? { address: '10.64.64.2', cidr: null } : null),
    });
    rigs.push(link);
    links.up('ppp0');
    await link.start();
    const t = clock.now();
    const stopping = link.stop();
    await waiting(clock);
    await clock.advance(300);
    links.remove('ppp0');
    await clock.advanceUntilSettled(stopping);
    assert.ok(clock.now() - t >= 250, 'stop resolved after the interface went');
  });

  it('a start command that fails is reported with its output', async () => {
    const r = rig({ startCommand: [process.execPath, '-e', 'console.error("/etc/ppp/peers/fona: no such peer"); process.exit(1)'] });
    await assert.rejects(r.link.start(), (e: unknown) => e instanceof PppError && e.reason === 'start-failed' && /no such peer/.test(e.message));
    assert.equal(r.downs[0].reason, 'start-failed');
  });

  it('pon missing from PATH: start-failed with the install hint', async () => {
    const restore = setEnv({ PATH: tempDir('iff-empty-') });
    try {
      const r = rig({ dialer: 'pon' });
      await assert.rejects(r.link.start(), (e: unknown) => e instanceof PppError && e.reason === 'start-failed' && /pon was not found on PATH.*apt install ppp/.test(e.message));
    } finally {
      restore();
    }
  });

  it('rejects peer names that are paths or options', () => {
    for (const peer of ['../etc/passwd', '-debug', 'a b', '']) {
      assert.throws(() => new PppLink({ peer, links: new FakeLinks() }), PppError);
    }
  });

  it('close ends a pending redial: no more dials, no more events', async () => {
    const r = rig({ redial: true, redialDelayMs: 300 });
    r.links.up('ppp0');
    await r.link.start();
    r.links.remove('ppp0');
    await r.link.close();
    await r.clock.advance(500);
    assert.deepEqual(lines(r.file), [], 'the interface was adopted, and no redial ran');
    assert.equal(r.downs.length, 1);
  });
});

describe('PppLink with the pppd dialer (fake pppd, no lab)', () => {
  let restore: () => void;
  let modem: FakeModem;
  before(() => {
    modem = FakeModem.create();
    modem.setMode('never');
    restore = setEnv({ PATH: pathWithFakes(), ...modem.env() });
  });
  after(() => restore());
  beforeEach(() => modem.setMode('never'));

  it('explains pppd\'s exit status when it gives up while dialling', async () => {
    const undo = setEnv({ FAKE_PPP_EXIT: '8' });
    try {
      const r = rig({ dialer: 'pppd', startCommand: undefined, stopCommand: undefined });
      await assert.rejects(r.link.start(), (e: unknown) => e instanceof PppError && e.reason === 'pppd-exited' && /exited with 8: the connect script \(chat\) failed/.test(e.message));
      assert.deepEqual(modem.calls().slice(-1), ['pppd call fona nodetach']);
    } finally {
      undo();
    }
  });

  it('stops its pppd child on stop and on close: none is left', async () => {
    const dials = (): number => modem.calls().filter((c) => c === 'pppd call fona nodetach').length;
    const before = dials();
    const r = rig({ dialer: 'pppd', startCommand: undefined, stopCommand: undefined, upTimeoutMs: 30_000 });
    const starting = r.link.start();
    await until(() => dials() >= before + 1, { what: 'the fake pppd to start' });
    await r.link.stop();
    await assert.rejects(starting);
    const r2 = rig({ dialer: 'pppd', startCommand: undefined, stopCommand: undefined, upTimeoutMs: 30_000 });
    const starting2 = r2.link.start().catch(() => undefined);
    await until(() => dials() >= before + 2, { what: 'the second fake pppd to start' });
    await r2.link.close();
    await starting2;
    assert.ok(modem.calls().filter((c) => c === 'pppd call fona nodetach').length >= 2);
    assert.deepEqual(runningFakes('pppd', modem.dir), [], 'no fake pppd left');
  });
});
