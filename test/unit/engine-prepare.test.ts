/**
 * The engine's issue-8 behaviour on a fake clock: modems set up early or kept on standby, a route adopted at
 * start, a stop before the first verdict, and a default route changed behind the engine's back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FailoverEngine } from '../../lib/engine/engine';
import { FailoverEvent } from '../../lib/engine/events';
import { UplinkInput } from '../../lib/uplink/model';
import { FakeClock } from '../support/fake-clock';
import { FakeKernelRoutes, FakeLinks, FakeProbe, uplinks } from '../support/fakes';

const probe = { interval: 1, timeout: 1, retries: 0, down: 3, up: 2 };
const PRIMARY = { name: 'primary', iface: 'eth0', gateway: '192.0.2.1', targets: ['203.0.113.1', '203.0.113.2'] };
const WLAN = { name: 'wlan', iface: 'wlan0', gateway: '192.0.2.17', targets: ['203.0.113.3'] };
const fona = (prepare: string) => ({ name: 'fona', iface: 'ppp0', prepare });
const HOLD = 30_000;

function rig(inputs: UplinkInput[]) {
  const clock = new FakeClock();
  const links = new FakeLinks();
  const pr = new FakeProbe();
  const routes = new FakeKernelRoutes();
  const config = uplinks(...inputs.map((n) => ({ ...n, probe, setupTimeout: 20 })));
  const engine = new FailoverEngine({ uplinks: config, probe: pr, routes, links, clock, setupRetryMs: 60_000, prepareHoldMs: HOLD });
  const events: FailoverEvent[] = [];
  engine.on((e) => events.push(e));
  const lifecycle = () =>
    events
      .filter((e) => ['setup', 'teardown', 'connectionFailed', 'connectionRestored', 'connected', 'setupFailed', 'waiting', 'routeChanged'].includes(e.type))
      .map((e) => ('uplink' in e ? `${e.type}:${e.uplink}${'reason' in e && e.reason ? `(${e.reason})` : ''}` : e.type));
  return { clock, links, probe: pr, routes, engine, events, lifecycle };
}

type Rig = ReturnType<typeof rig>;

async function start(t: Rig, ifaces: string[], reachable: Record<string, boolean>): Promise<void> {
  for (const iface of ifaces) t.links.up(iface);
  for (const [name, ok] of Object.entries(reachable)) t.probe.reachable.set(name, ok);
  await t.engine.start();
  await t.clock.advance(10);
}

test('prepare=early: the modem is set up at the first bad round and takes over without a second setup', async () => {
  const t = rig([PRIMARY, fona('early')]);
  await start(t, ['eth0'], { primary: true });
  t.events.length = 0;
  t.probe.reachable.set('primary', false);
  await t.clock.advance(1000);
  assert.deepEqual(t.lifecycle(), ['setup:fona(early)'], 'one bad round: the modem is powered and dialled, the route stays');
  assert.equal(t.routes.current, 'primary');
  assert.deepEqual(t.engine.status().prepared, ['fona']);
  t.links.up('ppp0'); // dialled while the primary is still only suspect
  await t.clock.advance(2000);
  assert.equal(t.routes.current, 'fona', 'the third bad round switches straight to the ready modem');
  assert.deepEqual(t.lifecycle(), ['setup:fona(early)', 'teardown:primary', 'connectionFailed:primary', 'connected:fona']);
  assert.deepEqual(t.engine.status().prepared, []);
});

test('prepare=early: a modem still dialling when the primary fails is waited for, not set up again', async () => {
  const t = rig([PRIMARY, fona('early')]);
  await start(t, ['eth0'], { primary: true });
  t.events.length = 0;
  t.probe.reachable.set('primary', false);
  await t.clock.advance(3000);
  assert.deepEqual(t.lifecycle(), ['setup:fona(early)', 'teardown:primary', 'waiting:fona']);
  const waiting = t.events.find((e) => e.type === 'waiting');
  assert.ok(waiting && waiting.type === 'waiting' && waiting.timeoutMs === 18_000, 'the wait counts from the early setup');
  t.links.up('ppp0');
  await t.clock.advance(0);
  assert.equal(t.routes.current, 'fona');
  assert.deepEqual(t.lifecycle(), ['setup:fona(early)', 'teardown:primary', 'waiting:fona', 'connectionFailed:primary', 'connected:fona']);
});

test('prepare=early: a primary that recovers releases the modem after the hold time, and a new blip keeps it', async () => {
  const t = rig([PRIMARY, fona('early')]);
  await start(t, ['eth0'], { primary: true });
  t.events.length = 0;
  t.probe.reachable.set('primary', false);
  await t.clock.advance(1000);
  t.links.up('ppp0');
  t.probe.reachable.set('primary', true);
  await t.clock.advance(HOLD - 5000);
  t.probe.reachable.set('primary', false); // another blip inside the hold: the modem stays up, no cycling
  await t.clock.advance(1000);
  t.probe.reachable.set('primary', true);
  await t.clock.advance(HOLD - 1000);
  assert.deepEqual(t.lifecycle(), ['setup:fona(early)'], 'not released before the primary has been fine for the whole hold');
  await t.clock.advance(2000);
  assert.deepEqual(t.lifecycle(), ['setup:fona(early)', 'teardown:fona(released)']);
  assert.equal(t.routes.current, 'primary');
  assert.deepEqual(t.routes.activations, ['primary']);
});

test('prepare=on-failure (the default) sets nothing up before the failure', async () => {
  const t = rig([PRIMARY, fona('on-failure')]);
  await start(t, ['eth0'], { primary: true });
  t.events.length = 0;
  t.probe.reachable.set('primary', false);
  await t.clock.advance(2000);
  assert.deepEqual(t.lifecycle(), []);
  await t.clock.advance(1000);
  assert.deepEqual(t.lifecycle(), ['teardown:primary', 'setup:fona', 'waiting:fona']);
});

test('prepare=early with a working uplink in between: nothing to prepare', async () => {
  const t = rig([PRIMARY, WLAN, fona('early')]);
  await start(t, ['eth0', 'wlan0'], { primary: true, wlan: true });
  t.events.length = 0;
  t.probe.reachable.set('primary', false);
  await t.clock.advance(1000);
  assert.deepEqual(t.lifecycle(), []);
});

test('prepare=standby: set up at start, kept through failover and restore, set up again when it drops, torn down at stop', async () => {
  const t = rig([PRIMARY, fona('standby')]);
  await start(t, ['eth0'], { primary: true });
  assert.deepEqual(t.lifecycle(), ['setup:fona(standby)', 'setup:primary', 'connected:primary']);
  t.links.up('ppp0');
  t.probe.reachable.set('primary', false);
  await t.clock.advance(3000);
  assert.equal(t.routes.current, 'fona');
  t.probe.reachable.set('primary', true);
  await t.clock.advance(2000);
  assert.equal(t.routes.current, 'primary');
  assert.ok(!t.lifecycle().includes('teardown:fona'), `the standby modem is never hung up while running: ${t.lifecycle()}`);
  t.events.length = 0;
  t.links.remove('ppp0');
  await t.clock.advance(0);
  assert.deepEqual(t.lifecycle(), ['teardown:fona', 'setup:fona(standby)'], 'a dropped standby modem is dialled again');
  t.events.length = 0;
  await t.engine.stop();
  assert.deepEqual(t.lifecycle(), ['teardown:fona']);
});

test('start: an uplink the kernel already routes through keeps the down hysteresis', async () => {
  const t = rig([PRIMARY, WLAN]);
  t.routes.kernel = { dev: 'eth0', gateway: '192.0.2.1' };
  await start(t, ['eth0', 'wlan0'], { primary: false, wlan: true });
  await t.clock.advance(1000);
  assert.equal(t.routes.current, 'primary', 'bad rounds right after a restart do not fail over at once');
  assert.equal(t.engine.status().uplinks[0].health, 'up');
  await t.clock.advance(1000);
  assert.equal(t.routes.current, 'wlan', 'after `down` bad rounds it does');
});

test('start: without the kernel route the first bad round decides (as before)', async () => {
  const t = rig([PRIMARY, WLAN]);
  await start(t, ['eth0', 'wlan0'], { primary: false, wlan: true });
  assert.equal(t.routes.current, 'wlan');
});

test('a stop before the first verdict leaves the default route as found', async () => {
  const t = rig([PRIMARY, fona('on-failure')]);
  t.links.up('eth0');
  t.links.up('ppp0');
  let release: () => void = () => undefined;
  t.probe.run = () => new Promise((resolve) => (release = () => resolve({ up: [], down: PRIMARY.targets, rtt: null, loss: 1, ok: false, targets: [] } as never)));
  await t.engine.start();
  await t.clock.advance(500);
  const stopped = t.engine.stop();
  release();
  await stopped;
  assert.deepEqual(t.routes.activations, [], 'never moved to the backup');
  assert.deepEqual(t.lifecycle(), []);
});

test('a default route deleted or replaced by someone else is put back, with a warning event', async () => {
  const t = rig([PRIMARY, WLAN]);
  await start(t, ['eth0', 'wlan0'], { primary: true, wlan: true });
  t.events.length = 0;
  t.routes.kernel = null; // ip route del default
  t.links.emit('route');
  await t.clock.advance(0);
  assert.deepEqual(t.routes.kernel, { dev: 'eth0', gateway: '192.0.2.1' });
  const changed = t.events.find((e) => e.type === 'routeChanged');
  assert.ok(changed && changed.type === 'routeChanged');
  assert.deepEqual({ found: changed.found, expected: changed.expected, restored: changed.restored }, { found: null, expected: 'default via 192.0.2.1 dev eth0', restored: true });
  t.routes.kernel = { dev: 'lo', gateway: null }; // ip route replace default dev lo
  t.links.emit('route');
  await t.clock.advance(0);
  assert.equal(t.routes.kernel?.dev, 'eth0');
  assert.equal(t.engine.status().route, 'default via 192.0.2.1 dev eth0');
  const second = t.events.filter((e) => e.type === 'routeChanged').at(-1);
  assert.ok(second && second.type === 'routeChanged' && second.found === 'default dev lo');
  // Our own changes announce themselves too, and are left alone.
  const before = t.routes.activations.length;
  t.links.emit('route');
  await t.clock.advance(0);
  assert.equal(t.routes.activations.length, before);
});

test('paused: a changed route is reported in status but left to the admin', async () => {
  const t = rig([PRIMARY, WLAN]);
  await start(t, ['eth0', 'wlan0'], { primary: true, wlan: true });
  t.engine.pause();
  t.routes.kernel = { dev: 'lo', gateway: null };
  t.links.emit('route');
  await t.clock.advance(0);
  assert.equal(t.routes.kernel.dev, 'lo');
  assert.equal(t.engine.status().route, 'default dev lo');
  t.engine.resume();
  t.links.emit('route');
  await t.clock.advance(0);
  assert.equal(t.routes.kernel.dev, 'eth0');
});

test('stop puts back a route someone else changed', async () => {
  const t = rig([PRIMARY, WLAN]);
  await start(t, ['eth0', 'wlan0'], { primary: true, wlan: true });
  t.engine.pause();
  t.routes.kernel = { dev: 'lo', gateway: null };
  await t.engine.stop();
  assert.equal(t.routes.kernel.dev, 'eth0');
});
