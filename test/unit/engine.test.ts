import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FailoverEngine } from '../../lib/engine/engine';
import { FailoverEvent } from '../../lib/engine/events';
import { FakeClock } from '../support/fake-clock';
import { FakeLinks, FakeProbe, FakeRoutes, uplinks } from '../support/fakes';

const probe = { interval: 1, timeout: 1, retries: 0, down: 3, up: 2 };

function lab(names: { name: string; iface: string; gateway?: string; targets?: string[] }[], setupTimeout = 30) {
  const clock = new FakeClock();
  const links = new FakeLinks();
  const pr = new FakeProbe();
  const routes = new FakeRoutes();
  const config = uplinks(...names.map((n) => ({ ...n, probe, setupTimeout })));
  const engine = new FailoverEngine({ uplinks: config, probe: pr, routes, links, clock, setupRetryMs: 60_000 });
  const events: FailoverEvent[] = [];
  engine.on((e) => events.push(e));
  /** Lifecycle events as "type:uplink", the way the original's log reads them. */
  const lifecycle = () =>
    events
      .filter((e) => ['setup', 'teardown', 'connectionFailed', 'connectionRestored', 'connected', 'setupFailed', 'noUplink'].includes(e.type))
      .map((e) => ('uplink' in e ? `${e.type}:${e.uplink}` : e.type));
  return { clock, links, probe: pr, routes, engine, events, lifecycle };
}

/** Brings the given links up, sets which uplinks' probes answer, starts the engine and runs the clock `ms` past start. */
async function started(t: ReturnType<typeof lab>, ifaces: string[], reachable: Record<string, boolean>, ms = 10): Promise<void> {
  for (const iface of ifaces) t.links.up(iface);
  for (const [name, ok] of Object.entries(reachable)) t.probe.reachable.set(name, ok);
  await t.engine.start();
  await t.clock.advance(ms);
}

const PRIMARY = { name: 'primary', iface: 'eth0', gateway: '192.0.2.1', targets: ['203.0.113.1', '203.0.113.2'] };
const WLAN = { name: 'wlan', iface: 'wlan0', gateway: '192.0.2.17', targets: ['203.0.113.3'] };
const FONA = { name: 'fona', iface: 'ppp0' };

test('start: the primary is chosen after its first good round', async () => {
  const t = lab([PRIMARY, WLAN]);
  await started(t, ['eth0', 'wlan0'], { primary: true, wlan: true });
  assert.equal(t.routes.current, 'primary');
  assert.deepEqual(t.lifecycle(), ['setup:primary', 'connected:primary']);
  assert.deepEqual([...t.routes.pinned].sort(), ['primary', 'wlan']);
});

test('failover needs `down` bad rounds, then follows the original order of events', async () => {
  const t = lab([PRIMARY, WLAN]);
  await started(t, ['eth0', 'wlan0'], { primary: true, wlan: true });
  t.events.length = 0;
  t.probe.reachable.set('primary', false);
  await t.clock.advance(2000); // rounds at 1 s and 2 s fail: 2 of 3
  assert.equal(t.routes.current, 'primary', 'two bad rounds must not fail over');
  await t.clock.advance(1000);
  assert.equal(t.routes.current, 'wlan');
  assert.deepEqual(t.lifecycle(), ['teardown:primary', 'setup:wlan', 'connectionFailed:primary', 'connected:wlan']);
  const available = t.events.filter((e) => e.type === 'available' && e.uplink === 'primary');
  assert.deepEqual(available.at(-1) && 'down' in available.at(-1)! ? (available.at(-1) as { down: string[] }).down : [], PRIMARY.targets);
});

test('restore after `up` good rounds, with the outage duration', async () => {
  const t = lab([PRIMARY, WLAN]);
  await started(t, ['eth0', 'wlan0'], { primary: false, wlan: true });
  assert.equal(t.routes.current, 'wlan');
  t.events.length = 0;
  t.probe.reachable.set('primary', true);
  await t.clock.advance(1000);
  assert.equal(t.routes.current, 'wlan', 'one good round must not restore');
  await t.clock.advance(1000);
  assert.equal(t.routes.current, 'primary');
  assert.deepEqual(t.lifecycle(), ['teardown:wlan', 'setup:primary', 'connectionRestored:primary']);
});

test('three uplinks: skips a dead second, returns straight to the primary', async () => {
  const third = { name: 'lte', iface: 'wwan0', gateway: '198.51.100.1', targets: ['203.0.113.9'] };
  const t = lab([PRIMARY, WLAN, third]);
  await started(t, ['eth0', 'wlan0', 'wwan0'], { primary: true, wlan: false, lte: true });
  assert.equal(t.routes.current, 'primary');
  t.probe.reachable.set('primary', false);
  await t.clock.advance(3000);
  assert.equal(t.routes.current, 'lte');
  t.probe.reachable.set('wlan', true);
  await t.clock.advance(2000);
  assert.equal(t.routes.current, 'wlan', 'a healthier higher-priority backup is preferred');
  t.probe.reachable.set('primary', true);
  await t.clock.advance(2000);
  assert.equal(t.routes.current, 'primary');
  assert.deepEqual(t.routes.activations, ['primary', 'lte', 'wlan', 'primary']);
});

test('carrier loss fails over at once, without waiting for probe rounds', async () => {
  const t = lab([PRIMARY, WLAN]);
  await started(t, ['eth0', 'wlan0'], { primary: true, wlan: true });
  t.links.noCarrier('eth0');
  await t.clock.advance(0);
  assert.equal(t.routes.current, 'wlan');
  const health = t.events.find((e) => e.type === 'health' && e.uplink === 'primary' && e.cause === 'link');
  assert.ok(health && health.type === 'health' && health.cause === 'link' && health.health === 'down');
  // Carrier back is not trust: the primary must earn `up` good rounds.
  t.links.up('eth0');
  await t.clock.advance(0);
  assert.equal(t.routes.current, 'wlan');
  await t.clock.advance(1000);
  assert.equal(t.routes.current, 'primary');
});

test('a dormant FONA uplink: setup, bounded wait for ppp0, then the route; no spinning', async () => {
  const t = lab([PRIMARY, FONA]);
  await started(t, ['eth0'], { primary: true }, 60_000);
  assert.equal(t.probe.calls.get('fona'), undefined, 'an uplink without targets is never probed');
  assert.ok(t.clock.pendingTimers <= 2, `timers stay bounded (${t.clock.pendingTimers})`);
  t.events.length = 0;
  t.probe.reachable.set('primary', false);
  await t.clock.advance(3000);
  assert.deepEqual(t.lifecycle(), ['teardown:primary', 'setup:fona']);
  assert.equal(t.routes.current, 'primary', 'no route to ppp0 before it exists');
  assert.ok(t.events.some((e) => e.type === 'waiting' && e.uplink === 'fona' && e.timeoutMs === 30_000));
  await t.clock.advance(5000);
  t.links.up('ppp0');
  await t.clock.advance(0);
  assert.equal(t.routes.current, 'fona');
  assert.deepEqual(t.lifecycle(), ['teardown:primary', 'setup:fona', 'connectionFailed:primary', 'connected:fona']);
  // Primary heals: ppp0 is torn down only after the route is back on eth0.
  t.events.length = 0;
  t.probe.reachable.set('primary', true);
  await t.clock.advance(2000);
  assert.equal(t.routes.current, 'primary');
  assert.deepEqual(t.lifecycle(), ['teardown:fona', 'setup:primary', 'connectionRestored:primary']);
  const restored = t.events.find((e) => e.type === 'connectionRestored');
  assert.ok(restored && restored.type === 'connectionRestored' && restored.duration !== null && restored.duration >= 5000);
});

test('ppp0 that never comes up: the next healthy uplink carries traffic meanwhile; setupFailed and teardown', async () => {
  const t = lab([PRIMARY, FONA, WLAN], 10);
  await started(t, ['eth0', 'wlan0'], { primary: true, wlan: true });
  t.events.length = 0;
  t.probe.reachable.set('primary', false);
  await t.clock.advance(3000);
  assert.equal(t.routes.current, 'wlan', 'no waiting on the modem while wlan works');
  assert.deepEqual(t.lifecycle(), ['teardown:primary', 'setup:wlan', 'connectionFailed:primary', 'connected:wlan', 'setup:fona']);
  await t.clock.advance(10_000);
  assert.equal(t.routes.current, 'wlan');
  assert.deepEqual(t.lifecycle().slice(5), ['setupFailed:fona', 'teardown:fona']);
});

test('nothing usable: says so once and keeps the current route', async () => {
  const t = lab([PRIMARY, WLAN]);
  await started(t, ['eth0', 'wlan0'], { primary: true, wlan: false });
  t.probe.reachable.set('primary', false);
  await t.clock.advance(10_000);
  assert.equal(t.routes.current, 'primary');
  assert.equal(t.lifecycle().filter((x) => x === 'noUplink').length, 1);
});

test('flapping probes (one bad round in two) never fail over with down=3', async () => {
  const t = lab([PRIMARY, WLAN]);
  await started(t, ['eth0', 'wlan0'], { primary: true, wlan: true });
  for (let i = 0; i < 20; i++) {
    t.probe.reachable.set('primary', i % 3 !== 0);
    await t.clock.advance(1000);
  }
  assert.deepEqual(t.routes.activations, ['primary']);
});

test('a listener that never settles or throws does not hold up a switch', async () => {
  const t = lab([PRIMARY, WLAN]);
  t.engine.on(() => new Promise(() => undefined) as unknown as void);
  t.engine.on(() => {
    throw new Error('listener bug');
  });
  await started(t, ['eth0', 'wlan0'], { primary: true, wlan: true });
  t.links.noCarrier('eth0');
  await t.clock.advance(0);
  assert.equal(t.routes.current, 'wlan');
});

test('pppd dying while the FONA is active re-dials it when the primary is still down', async () => {
  const t = lab([PRIMARY, FONA]);
  await started(t, ['eth0'], { primary: false });
  t.links.up('ppp0');
  await t.clock.advance(0);
  assert.equal(t.routes.current, 'fona');
  t.events.length = 0;
  t.links.remove('ppp0');
  await t.clock.advance(0);
  assert.deepEqual(t.lifecycle(), ['setup:fona']);
  t.links.up('ppp0');
  await t.clock.advance(0);
  assert.deepEqual(t.lifecycle(), ['setup:fona', 'connected:fona']);
  assert.deepEqual(t.routes.activations, ['fona', 'fona']);
});

test('the primary recovering while the FONA dials cancels the dial', async () => {
  const t = lab([PRIMARY, FONA]);
  await started(t, ['eth0'], { primary: true });
  t.probe.reachable.set('primary', false);
  await t.clock.advance(3000);
  t.events.length = 0;
  t.probe.reachable.set('primary', true);
  await t.clock.advance(2000);
  assert.deepEqual(t.lifecycle(), ['teardown:fona']);
  assert.deepEqual(t.routes.activations, ['primary']);
  assert.equal(t.engine.status().pending, null);
});

test('a failed route change is reported and retried, never half-applied', async () => {
  const t = lab([PRIMARY, WLAN]);
  await started(t, ['eth0', 'wlan0'], { primary: true, wlan: true });
  t.routes.failNext = true;
  t.links.noCarrier('eth0');
  await t.clock.advance(0);
  assert.equal(t.routes.current, 'primary');
  assert.equal(t.engine.activeUplink, 'primary');
  assert.ok(t.events.some((e) => e.type === 'switchFailed' && e.uplink === 'wlan'));
  await t.clock.advance(1000);
  assert.equal(t.routes.current, 'wlan');
});

test('force, pause and resume', async () => {
  const t = lab([PRIMARY, WLAN]);
  await started(t, ['eth0', 'wlan0'], { primary: true, wlan: true });
  t.engine.force('wlan');
  await t.clock.advance(0);
  assert.equal(t.routes.current, 'wlan');
  assert.ok(!t.lifecycle().includes('connectionFailed:primary'), 'a forced move is not a failure');
  t.engine.force(null);
  await t.clock.advance(0);
  assert.equal(t.routes.current, 'primary');
  t.engine.pause();
  t.links.noCarrier('eth0');
  await t.clock.advance(5000);
  assert.equal(t.routes.current, 'primary');
  t.engine.resume();
  await t.clock.advance(0);
  assert.equal(t.routes.current, 'wlan');
  assert.throws(() => t.engine.force('nope'), /unknown uplink "nope"/);
});

test('stop leaves the route on the primary when it is up, and removes every pin', async () => {
  const t = lab([PRIMARY, WLAN]);
  await started(t, ['eth0', 'wlan0'], { primary: false, wlan: true });
  assert.equal(t.routes.current, 'wlan');
  t.probe.reachable.set('primary', true);
  await t.clock.advance(1000); // one good round: not yet trusted, so stop keeps wlan
  await t.engine.stop();
  assert.equal(t.routes.current, 'wlan');
  assert.equal(t.routes.pinned.size, 0);
  assert.equal(t.clock.pendingTimers, 0);
});

test('a slow dial while the old uplink still works: setup once, teardown of the old one after the switch', async () => {
  const t = lab([FONA, PRIMARY]);
  await started(t, ['eth0'], { primary: true });
  assert.equal(t.routes.current, 'primary');
  // The preferred (first) uplink is a modem: eth0 carries traffic at once while it is dialled.
  assert.deepEqual(t.lifecycle(), ['setup:primary', 'connected:primary', 'setup:fona']);
  await t.clock.advance(30_000);
  assert.deepEqual(t.lifecycle().slice(3), ['setupFailed:fona', 'teardown:fona']);
  t.events.length = 0;
  await t.clock.advance(60_000); // backoff over: dialled again
  assert.deepEqual(t.lifecycle(), ['setup:fona']);
  t.links.up('ppp0');
  await t.clock.advance(0);
  assert.equal(t.routes.current, 'fona');
  const lines = t.lifecycle();
  assert.equal(lines.filter((l) => l === 'setup:fona').length, 1, `setup once: ${lines.join(', ')}`);
  assert.ok(lines.indexOf('teardown:primary') > lines.indexOf('setup:fona'));
  assert.ok(lines.includes('connectionRestored:fona'));
  assert.equal(t.clock.pendingTimers <= 3, true);
  await t.engine.stop();
  assert.equal(t.clock.pendingTimers, 0, 'stop clears every timer, the setup retry included');
});

test('ppp0 appearing before it is up does not cancel its setup', async () => {
  const t = lab([PRIMARY, FONA]);
  await started(t, ['eth0'], { primary: true });
  t.probe.reachable.set('primary', false);
  await t.clock.advance(3000);
  t.events.length = 0;
  t.links.set({ iface: 'ppp0', exists: true, adminUp: false, carrier: null, operstate: 'down', up: false });
  await t.clock.advance(100);
  assert.deepEqual(t.lifecycle(), []);
  t.links.up('ppp0');
  await t.clock.advance(0);
  assert.deepEqual(t.lifecycle(), ['connectionFailed:primary', 'connected:fona']);
});
