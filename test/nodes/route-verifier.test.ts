/**
 * route-verifier in the host namespace, with `pin: false` so nothing touches the host's routing: probes of
 * 127.0.0.1 bound to `lo` (answers) and to `nosuch0` (no such interface: down without a packet).
 * Pinning itself is proven in the lab (test/lab/route-nodes.test.ts), inside a network namespace.
 *
 * RED._ is wrapped to echo its parameters after the key, so tests assert the i18n key and the values.
 */
import { after, before, describe, it } from 'node:test';
import { AddressInfo, createServer, Server } from 'node:net';
import assert from 'node:assert/strict';
import type { Node, NodeMessage } from 'node-red';
import { initHelper, ourNode } from '../support/red-helper';
import { Sink, echoingParams, keyOf, logged as calls, paramsOf, sink as sinkAt, statuses } from '../support/node-sink';
import { FlowNode, nodeFlow, serverHooks, uplinkConfig } from '../support/flows';
import { sleep } from '../support/wait';
import { FakeClock } from '../support/fake-clock';
import { validateUplinks } from '../../lib/uplink/model';
import { RouteVerifierDef, VerifierController } from '../../nodes/route-verifier/controller';

/** The chosen Node-RED's test helper (see test/support/red-helper.ts); our nodes compiled in dist/nodes. */
const helper = initHelper();
/** RED._ echoes its parameters after the key: 'route-verifier.status.up {"up":1,...}'. */
const nodes = [echoingParams(ourNode('uplink')), ourNode('route-verifier')];

interface Payload {
  uplink: string;
  iface: string;
  up: string[];
  down: string[];
  rtt: number | null;
  loss: number;
  ok: boolean;
}

type Msg = NodeMessage & { payload: Payload; error?: { message: string; source?: { id: string } } };


function uplink(id: string, iface: string, targets: string): FlowNode {
  return uplinkConfig(id, `${iface}-up`, iface, '', targets, { timeout: 0.5, retries: 0 });
}

const LO = uplink('u-lo', 'lo', '127.0.0.1');
const GHOST = uplink('u-ghost', 'nosuch0', '127.0.0.1');

/** The verifier wired to ok/notok sinks, with Catch and Complete nodes scoped to it. */
function flow(verifier: Record<string, unknown> = {}, uplinks: FlowNode[] = [LO]): FlowNode[] {
  const v = { id: 'v', type: 'route-verifier', name: '', uplink: 'u-lo', interval: 0, targets: '', targetsType: 'str', pin: false };
  return nodeFlow({ ...v, ...verifier }, ['ok', 'notok'], uplinks);
}

/** Messages arriving at a helper node, from the moment this is called. */
const sink = (id: string): Sink<Msg> => sinkAt<Msg>(helper, id);

/**
 * Records calls of one method of this node instance, also after the helper's spies are gone (unload
 * restores them before it stops the flows, so calls made while closing are seen only here).
 */
function record<K extends 'send' | 'status'>(node: Node, method: K): Parameters<Node[K]>[] {
  const seen: Parameters<Node[K]>[] = [];
  const original = (node[method] as (...a: unknown[]) => void).bind(node);
  (node as unknown as Record<K, (...a: unknown[]) => void>)[method] = (...args: unknown[]) => {
    seen.push(args as Parameters<Node[K]>);
    original(...args);
  };
  return seen;
}

describe('route-verifier (host namespace, pin off)', () => {
  serverHooks(helper);

  it('lo with 127.0.0.1: output 1, payload, the message kept, blue then green badge', async () => {
    await helper.load(nodes, flow());
    const v = helper.getNode('v');
    const ok = sink('ok');
    const notok = sink('notok');
    const completed = sink('completed');
    v.receive({ payload: 'check', topic: 'lan', extra: { keep: 1 } });
    const m = await ok.next();
    assert.equal(m.topic, 'lan');
    assert.deepEqual(m.extra, { keep: 1 });
    assert.equal(m.payload.uplink, 'lo-up');
    assert.equal(m.payload.iface, 'lo');
    assert.deepEqual(m.payload.up, ['127.0.0.1']);
    assert.deepEqual(m.payload.down, []);
    assert.equal(m.payload.loss, 0);
    assert.equal(m.payload.ok, true);
    assert.equal(typeof m.payload.rtt, 'number');
    assert.deepEqual(Object.keys(m.payload).sort(), ['down', 'iface', 'loss', 'ok', 'rtt', 'up', 'uplink']);
    await completed.next();
    assert.equal(notok.msgs.length, 0);

    const s = statuses(v);
    assert.deepEqual(
      s.map((x) => [x.fill, x.shape, keyOf(x.text)]),
      [
        ['blue', 'dot', 'route-verifier.status.probing'],
        ['green', 'dot', 'route-verifier.status.up'],
      ],
    );
    const p = paramsOf(s[1].text);
    assert.deepEqual([p.up, p.total], [1, 1]);
    assert.equal(typeof p.rtt, 'number');
  });

  it('127.0.0.1 on nosuch0: output 2, every target down, red ring', async () => {
    await helper.load(nodes, flow({ uplink: 'u-ghost' }, [GHOST]));
    const v = helper.getNode('v');
    const ok = sink('ok');
    const notok = sink('notok');
    v.receive({ payload: 1 });
    const m = await notok.next();
    assert.deepEqual(m.payload, { uplink: 'nosuch0-up', iface: 'nosuch0', up: [], down: ['127.0.0.1'], rtt: null, loss: 1, ok: false });
    assert.equal(ok.msgs.length, 0);
    const last = statuses(v).at(-1);
    assert.deepEqual([last?.fill, last?.shape, keyOf(last?.text)], ['red', 'ring', 'route-verifier.status.down']);
    assert.deepEqual(paramsOf(last?.text), { up: 0, total: 1 });
  });

  it('targets from msg (TypedInput): an array or a string replaces the uplink targets; missing = the uplink targets', async () => {
    await helper.load(nodes, flow({ targets: 'targets', targetsType: 'msg' }));
    const v = helper.getNode('v');
    const ok = sink('ok');
    v.receive({ targets: ['127.0.0.2', '127.0.0.3'] });
    assert.deepEqual((await ok.next()).payload.up, ['127.0.0.2', '127.0.0.3']);
    v.receive({ targets: '127.0.0.4, 127.0.0.5' });
    assert.deepEqual((await ok.next()).payload.up, ['127.0.0.4', '127.0.0.5']);
    v.receive({});
    assert.deepEqual((await ok.next()).payload.up, ['127.0.0.1'], 'no msg.targets: the uplink targets');
  });

  it('targets from the node (str) and from JSON', async () => {
    await helper.load(nodes, flow({ targets: '127.0.0.7', targetsType: 'str' }));
    const ok = sink('ok');
    helper.getNode('v').receive({});
    assert.deepEqual((await ok.next()).payload.up, ['127.0.0.7']);
    await helper.unload();
    await helper.load(nodes, flow({ targets: '["127.0.0.8","127.0.0.9"]', targetsType: 'json' }));
    const ok2 = sink('ok');
    helper.getNode('v').receive({});
    assert.deepEqual((await ok2.next()).payload.up, ['127.0.0.8', '127.0.0.9']);
  });

  it('targets from env and global context', async () => {
    process.env.IFF_VERIFIER_TEST_TARGETS = '127.0.0.6';
    try {
      await helper.load(nodes, flow({ targets: 'IFF_VERIFIER_TEST_TARGETS', targetsType: 'env' }));
      const ok = sink('ok');
      helper.getNode('v').receive({});
      assert.deepEqual((await ok.next()).payload.up, ['127.0.0.6']);
    } finally {
      delete process.env.IFF_VERIFIER_TEST_TARGETS;
    }
    await helper.unload();
    await helper.load(nodes, flow({ targets: 'probeTargets', targetsType: 'global' }));
    const v = helper.getNode('v');
    v.context().global.set('probeTargets', ['127.0.0.10']);
    const ok2 = sink('ok');
    v.receive({});
    assert.deepEqual((await ok2.next()).payload.up, ['127.0.0.10']);
  });

  it('a bad override address reaches the Catch node, naming it; nothing probed or sent', async () => {
    await helper.load(nodes, flow({ targets: 'targets', targetsType: 'msg' }));
    const v = helper.getNode('v');
    const ok = sink('ok');
    const notok = sink('notok');
    const caught = sink('caught');
    v.receive({ targets: '127.0.0.1,192.168.1.300', topic: 'bad' });
    const m = await caught.next();
    assert.equal(keyOf(m.error?.message), 'route-verifier.errors.targets');
    assert.match(String(paramsOf(m.error?.message).problem), /192\.168\.1\.300.*not an IPv4 or IPv6 address/);
    assert.equal(m.error?.source?.id, 'v');
    assert.equal(m.topic, 'bad');
    v.receive({ targets: { not: 'a list' } });
    const m2 = await caught.next();
    assert.equal(keyOf(m2.error?.message), 'route-verifier.errors.targets');
    assert.equal(ok.msgs.length + notok.msgs.length, 0);
    assert.ok(!statuses(v).some((s) => keyOf(s.text) === 'route-verifier.status.probing'), 'no round ran');
    assert.equal(keyOf(statuses(v).at(-1)?.text), 'route-verifier.status.error');
  });

  it('three messages at once: one round, then one shared round for the two that waited; each gets its own output', async () => {
    await helper.load(nodes, flow());
    const v = helper.getNode('v');
    const ok = sink('ok');
    const completed = sink('completed');
    v.receive({ topic: 'a' });
    v.receive({ topic: 'b' });
    v.receive({ topic: 'c' });
    const got = [await ok.next(), await ok.next(), await ok.next()];
    assert.deepEqual(got.map((m) => m.topic), ['a', 'b', 'c']);
    assert.notEqual(got[1].payload, got[2].payload, 'each message has its own payload object');
    for (let i = 0; i < 3; i++) await completed.next();
    const rounds = statuses(v).filter((s) => keyOf(s.text) === 'route-verifier.status.probing').length;
    assert.equal(rounds, 2);
  });

  it('interval mode sends fresh messages on its own; after close nothing more is sent', async () => {
    await helper.load(nodes, flow({ interval: 0.1 }));
    const v = helper.getNode('v');
    const sends = record(v, 'send');
    const badges = record(v, 'status');
    const ok = sink('ok');
    const first = await ok.next();
    const second = await ok.next();
    assert.notEqual(first._msgid, second._msgid, 'a fresh message each time');
    assert.equal(first.payload.ok, true);
    await helper.unload();
    const atClose = sends.length;
    await sleep(400); // time passes (4 intervals): the closed node's timer may not fire
    assert.equal(sends.length, atClose, 'no send after close');
    assert.deepEqual(badges.at(-1), [{}], 'badge cleared on close');
    await helper.load(nodes, flow()); // afterEach unloads
  });

  it('re-deploy: the old timer stops, the new configuration is used', async () => {
    await helper.load(nodes, flow({ interval: 0.1 }));
    const old = helper.getNode('v');
    const oldSends = record(old, 'send');
    await sink('ok').next();
    await helper.setFlows(flow({ interval: 0, targets: '127.0.0.2' }), 'full');
    const atRedeploy = oldSends.length;
    const v = helper.getNode('v');
    assert.notEqual(v, old, 'a new node instance');
    const ok = sink('ok');
    await sleep(300); // time passes (3 old intervals): neither node may send on its own
    assert.equal(ok.msgs.length, 0, 'interval 0: nothing of its own');
    assert.equal(oldSends.length, atRedeploy, 'the old node sends nothing after its close');
    v.receive({});
    assert.deepEqual((await ok.next()).payload.up, ['127.0.0.2']);
  });

  it('without its uplink config node: red ring, and each message fails to Catch', async () => {
    await helper.load(nodes, flow({ uplink: 'missing' }));
    const v = helper.getNode('v');
    const caught = sink('caught');
    const s = statuses(v);
    assert.deepEqual([s[0]?.fill, s[0]?.shape, keyOf(s[0]?.text)], ['red', 'ring', 'route-verifier.status.noUplink']);
    assert.equal(keyOf(calls(v, 'error')[0]), 'route-verifier.errors.uplink');
    v.receive({});
    const m = await caught.next();
    assert.equal(keyOf(m.error?.message), 'route-verifier.errors.uplink');
  });

  it('an invalid repeat interval: an error at deploy, and each message fails to Catch', async () => {
    await helper.load(nodes, flow({ interval: 'soon' }));
    const v = helper.getNode('v');
    assert.equal(keyOf(calls(v, 'error')[0]), 'route-verifier.errors.interval');
    assert.equal(keyOf(statuses(v)[0]?.text), 'route-verifier.status.invalid');
    const caught = sink('caught');
    v.receive({});
    assert.equal(keyOf((await caught.next()).error?.message), 'route-verifier.errors.interval');
  });

  for (const [what, targets] of [
    ['65 targets (an array)', Array.from({ length: 65 }, (_, i) => `127.0.0.${i + 1}`)],
    ['100 000 targets (an array, all the same address)', new Array<string>(100_000).fill('127.0.0.1')],
    ['100 000 targets (a string)', Array.from({ length: 100_000 }, () => '127.0.0.1').join(',')],
  ] as const) {
    it(`${what}: refused at once for Catch, with the count and the limit; nothing probed`, async () => {
      await helper.load(nodes, flow({ targets: 'targets', targetsType: 'msg' }));
      const v = helper.getNode('v');
      const ok = sink('ok');
      const notok = sink('notok');
      const caught = sink('caught');
      const started = Date.now();
      v.receive({ targets, topic: 'many' });
      const m = await caught.next();
      // Before the limit 100 000 targets held the event loop (and the admin API) for 28 s.
      assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
      assert.equal(keyOf(m.error?.message), 'route-verifier.errors.targets');
      const count = Array.isArray(targets) ? targets.length : 100_000;
      // The limit comes first: no entry was looked at, so no "listed twice" for 99 999 duplicates.
      assert.equal(paramsOf(m.error?.message).problem, `${count} targets: at most 64 per uplink`);
      assert.equal(m.topic, 'many');
      await sleep(50); // time passes: nothing may be probed meanwhile
      assert.equal(ok.msgs.length + notok.msgs.length, 0);
      assert.ok(!statuses(v).some((s) => keyOf(s.text) === 'route-verifier.status.probing'), 'no round ran');
      assert.equal(keyOf(statuses(v).at(-1)?.text), 'route-verifier.status.error');
    });
  }

  it('64 targets are within the limit: their entries are checked one by one', async () => {
    await helper.load(nodes, flow({ targets: 'targets', targetsType: 'msg' }));
    const v = helper.getNode('v');
    const caught = sink('caught');
    // One bad entry, so nothing is pinged: the error it gets shows the list passed the limit.
    const targets = [...Array.from({ length: 63 }, (_, i) => `127.0.1.${i + 1}`), '127.0.1.300'];
    v.receive({ targets });
    const m = await caught.next();
    assert.equal(keyOf(m.error?.message), 'route-verifier.errors.targets');
    assert.match(String(paramsOf(m.error?.message).problem), /127\.0\.1\.300.*not an IPv4 or IPv6 address/);
  });
});

/** The controller alone on a fake clock: the interval's grid without waiting for it. No Node-RED, no ping. */
describe('VerifierController on a fake clock (services injected)', () => {
  it('interval rounds on a fixed grid from the clock; after close no timer is left and nothing more is sent', async () => {
    const clock = new FakeClock();
    const [uplink] = validateUplinks([{ name: 'lo-up', iface: 'lo', gateway: null, targets: ['127.0.0.1'] }]);
    const sent: unknown[] = [];
    const node = { id: 'v', status: () => undefined, warn: () => undefined, error: () => undefined, on: () => undefined, send: (m: unknown) => sent.push(m) };
    const def: RouteVerifierDef = { id: 'v', type: 'route-verifier', name: '', z: '', uplink: 'u', interval: 10, targets: '', targetsType: 'str', pin: false };
    const controller = new VerifierController(node as unknown as ConstructorParameters<typeof VerifierController>[0], def, {
      translate: (key) => key,
      getNode: () => ({ uplink, problem: null }),
      evaluate: async () => undefined,
      routes: () => assert.fail('pin is off'),
      probe: { run: async (u) => ({ up: [...u.targets], down: [], rtt: 1, loss: 0, targets: [], ok: true }) },
      readLink: async (iface) => ({ iface, exists: true, adminUp: true, carrier: true, operstate: 'up', up: true }),
      clock,
    });
    controller.start();
    await clock.advance(0);
    assert.equal(sent.length, 1, 'a round at once');
    await clock.advance(9_999);
    assert.equal(sent.length, 1, 'not before the interval');
    await clock.advance(1);
    assert.equal(sent.length, 2, 'one at 10 s');
    await clock.advance(20_000);
    assert.equal(sent.length, 4, 'at 20 s and 30 s');
    await controller.close();
    assert.equal(clock.pendingTimers, 0, 'no timer left');
    await clock.advance(60_000);
    assert.equal(sent.length, 4, 'nothing after close');
  });
});

describe('route-verifier: verdicts from any flow, and the uplink\'s checks', () => {
  let listener: Server;
  let port = 0;
  serverHooks(helper, {});
  before(async () => {
    listener = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    port = (listener.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => listener.close(() => resolve())));

  it('{topic: "verdict", payload: true|false}: sent on at once as a round of one target, without probing', async () => {
    await helper.load(nodes, flow());
    const v = helper.getNode('v');
    const ok = sink('ok');
    const notok = sink('notok');
    const completed = sink('completed');
    v.receive({ topic: 'verdict', payload: true, keep: 1 });
    const m = await ok.next();
    assert.deepEqual(m.payload, { uplink: 'lo-up', iface: 'lo', up: ['flow'], down: [], rtt: null, loss: 0, ok: true });
    assert.equal((m as Msg & { keep?: number }).keep, 1);
    await completed.next();
    v.receive({ topic: 'verdict', payload: { ok: false, check: 'my http check', rtt: 12 } });
    assert.deepEqual((await notok.next()).payload, { uplink: 'lo-up', iface: 'lo', up: [], down: ['my http check'], rtt: null, loss: 1, ok: false });
    v.receive({ topic: 'verdict', payload: { uplink: 'lo-up', ok: true, rtt: 12.5, check: 'my http check' } });
    assert.deepEqual((await ok.next()).payload.rtt, 12.5);
    const s = statuses(v);
    assert.ok(!s.some((x) => keyOf(x.text) === 'route-verifier.status.probing'), 'no round ran');
    assert.deepEqual(
      s.map((x) => [x.fill, x.shape, keyOf(x.text)]),
      [
        ['green', 'dot', 'route-verifier.status.linkUp'],
        ['red', 'ring', 'route-verifier.status.down'],
        ['green', 'dot', 'route-verifier.status.up'],
      ],
    );
    assert.deepEqual(paramsOf(s[2].text), { up: 1, total: 1, rtt: 12.5 });
  });

  it('a bad verdict reaches the Catch node saying what is wrong; nothing is sent', async () => {
    await helper.load(nodes, flow());
    const v = helper.getNode('v');
    const ok = sink('ok');
    const notok = sink('notok');
    const caught = sink('caught');
    const cases: [unknown, RegExp][] = [
      ['yes', /payload is "yes", not true, false or \{ok, rtt, check\}/],
      [undefined, /payload is \(missing\)/],
      [{ ok: 'true' }, /payload\.ok is "true", not true or false/],
      [{ ok: true, rtt: -1 }, /payload\.rtt is -1, not a number of milliseconds/],
      [{ ok: true, rtt: '5' }, /payload\.rtt is "5"/],
      [{ ok: true, uplink: 'wan2' }, /payload\.uplink is "wan2", but this node verifies "lo-up"/],
      [{ ok: true, check: 'a\nb' }, /payload\.check must be printable characters on one line/],
      [{ ok: true, check: 5 }, /payload\.check must be a string/],
    ];
    for (const [payload, problem] of cases) {
      v.receive({ topic: 'verdict', payload });
      const m = await caught.next();
      assert.equal(keyOf(m.error?.message), 'route-verifier.errors.verdict');
      assert.match(String(paramsOf(m.error?.message).problem), problem, JSON.stringify(payload));
    }
    assert.equal(ok.msgs.length + notok.msgs.length, 0);
    assert.equal(keyOf(statuses(v).at(-1)?.text), 'route-verifier.status.error');
  });

  it("the uplink's checks run in its rounds (a TCP listener on loopback, and a closed port)", async () => {
    const spec = `tcp://127.0.0.1:${port}`;
    const withCheck = uplinkConfig('u-lo', 'lo-up', 'lo', '', '', { checks: spec, timeout: 0.5, retries: 0 });
    await helper.load(nodes, flow({}, [withCheck]));
    const v = helper.getNode('v');
    const ok = sink('ok');
    v.receive({});
    const m = await ok.next();
    assert.deepEqual([m.payload.up, m.payload.down, m.payload.ok], [[spec], [], true]);
    assert.equal(typeof m.payload.rtt, 'number');
    await helper.unload();

    const closed = `tcp://127.0.0.1:${await closedPort()}`;
    await helper.load(nodes, flow({}, [uplinkConfig('u-lo', 'lo-up', 'lo', '', '127.0.0.1', { checks: `${spec}\n${closed}`, reliability: 3, timeout: 0.5, retries: 0 })]));
    const notok = sink('notok');
    helper.getNode('v').receive({});
    const m2 = await notok.next();
    assert.deepEqual([m2.payload.up, m2.payload.down], [['127.0.0.1', spec], [closed]], 'ICMP and checks in one round; 2 of 3 answered, 3 must');
  });

  it('an uplink whose checks are bad is refused at deploy, naming the check', async () => {
    await helper.load(nodes, flow({}, [uplinkConfig('u-lo', 'lo-up', 'lo', '', '', { checks: 'tcp://127.0.0.1' })]));
    const caught = sink('caught');
    helper.getNode('v').receive({});
    const m = await caught.next();
    assert.equal(keyOf(m.error?.message), 'route-verifier.errors.uplink');
    assert.equal(paramsOf(m.error?.message).problem, 'uplink "lo-up" checks="tcp://127.0.0.1": needs a port: tcp://HOST:PORT');
  });
});

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
