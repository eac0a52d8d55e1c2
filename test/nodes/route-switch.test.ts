/**
 * route-switch in the host namespace, always with dry run: it reads the host's default route (a real
 * `ip -j route show default`) and only logs the replace, so the host's routing is never changed (asserted).
 * Real switching, and ip's own errors, are proven in the lab (test/lab/route-nodes.test.ts). The link-type
 * rules are checked on the controller alone, with fake services.
 *
 * RED._ is wrapped to echo its parameters after the key, so tests assert the i18n key and the values.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { NodeMessage } from 'node-red';
import { initHelper, ourNode } from '../support/red-helper';
import { Sink, echoingParams, keyOf, logged as calls, paramsOf, sink as sinkAt, statuses } from '../support/node-sink';
import { FlowNode, nodeFlow, serverHooks, uplinkConfig } from '../support/flows';
import { RouteSwitchController, RouteSwitchServices } from '../../nodes/route-switch/controller';
import type { UplinkConfig } from '../../lib/uplink/model';
import { sleep } from '../support/wait';

/** The chosen Node-RED's test helper (see test/support/red-helper.ts); our nodes compiled in dist/nodes. */
const helper = initHelper();
const nodes = [echoingParams(ourNode('uplink')), ourNode('route-switch')];

interface Payload {
  route: { dev: string; gateway: string | null };
  replaced: { dev: string; gateway: string | null; metric: number } | null;
  dryRun: boolean;
}
type Msg = NodeMessage & { payload: Payload; error?: { message: string; source?: { id: string } } };


/** The host's IPv4 default routes as ip prints them: compared before and after to prove nothing changed. */
function hostDefaults(): string {
  return execFileSync('ip', ['-4', '-j', 'route', 'show', 'default'], { encoding: 'utf8' });
}

/** What RouteService.readDefault() should report for the host: the lowest metric, or null. */
function expectedReplaced(): Payload['replaced'] {
  const routes = JSON.parse(hostDefaults() || '[]') as { dev?: string; gateway?: string; metric?: number }[];
  const best = routes
    .filter((r) => r.dev)
    .map((r) => ({ dev: r.dev as string, gateway: r.gateway ?? null, metric: r.metric ?? 0 }))
    .sort((a, b) => a.metric - b.metric)[0];
  return best ?? null;
}

const WAN = uplinkConfig('u-wan', 'wan', 'eth9', '198.51.100.1', '');
const BACKUP = uplinkConfig('u-backup', 'backup', 'wwan9', '', '');
const LOOPBACK = uplinkConfig('u-lo', 'loop', 'lo', '', '');

function flow(sw: Record<string, unknown> = {}): FlowNode[] {
  return nodeFlow({ id: 's', type: 'route-switch', name: '', uplink: '', dryRun: true, ...sw }, ['out'], [WAN, BACKUP, LOOPBACK]);
}

/** Messages arriving at a helper node, from the moment this is called. */
const sink = (id: string): Sink<Msg> => sinkAt<Msg>(helper, id);

describe('route-switch (host namespace, dry run only)', () => {
  let before_: string;
  serverHooks(helper, {
    before: () => {
      before_ = hostDefaults();
    },
    afterEach: () => assert.equal(hostDefaults(), before_, 'the host default route is unchanged'),
  });

  it('configured uplink, dry run: payload with the replaced route, message kept, command logged, green badge', async () => {
    await helper.load(nodes, flow({ uplink: 'u-wan' }));
    const s = helper.getNode('s');
    const out = sink('out');
    const completed = sink('completed');
    s.receive({ payload: 'go', topic: 'wan', keep: [1] });
    const m = await out.next();
    assert.deepEqual(m.payload, { route: { dev: 'eth9', gateway: '198.51.100.1' }, replaced: expectedReplaced(), dryRun: true });
    assert.equal(m.topic, 'wan');
    assert.deepEqual(m.keep, [1]);
    await completed.next();
    assert.deepEqual(calls(s, 'log'), ['DRY-RUN: ip -4 route replace default via 198.51.100.1 dev eth9']);
    const last = statuses(s).at(-1);
    assert.deepEqual([last?.fill, last?.shape, keyOf(last?.text)], ['green', 'dot', 'route-switch.status.dryRun']);
    assert.deepEqual(paramsOf(last?.text), { iface: 'eth9' });
  });

  it('no uplink configured: msg.uplink {iface} or {iface, gateway}', async () => {
    await helper.load(nodes, flow());
    const s = helper.getNode('s');
    const out = sink('out');
    s.receive({ uplink: { iface: 'ppp0' } });
    assert.deepEqual((await out.next()).payload.route, { dev: 'ppp0', gateway: null });
    s.receive({ uplink: { iface: 'wlan0', gateway: '192.0.2.17' } });
    assert.deepEqual((await out.next()).payload.route, { dev: 'wlan0', gateway: '192.0.2.17' });
    s.receive({ uplink: { iface: 'ppp1', gateway: 'none' } });
    assert.deepEqual((await out.next()).payload.route, { dev: 'ppp1', gateway: null });
    assert.deepEqual(calls(s, 'log'), [
      'DRY-RUN: ip -4 route replace default dev ppp0',
      'DRY-RUN: ip -4 route replace default via 192.0.2.17 dev wlan0',
      'DRY-RUN: ip -4 route replace default dev ppp1',
    ]);
  });

  it('msg.uplink as the name of a deployed uplink config node', async () => {
    await helper.load(nodes, flow());
    const s = helper.getNode('s');
    const out = sink('out');
    const caught = sink('caught');
    s.receive({ uplink: 'backup' });
    assert.deepEqual((await out.next()).payload.route, { dev: 'wwan9', gateway: null });
    s.receive({ uplink: 'nosuchuplink' });
    const m = await caught.next();
    assert.equal(keyOf(m.error?.message), 'route-switch.errors.unknownUplink');
    assert.deepEqual(paramsOf(m.error?.message), { name: 'nosuchuplink' });
  });

  for (const [what, bad, named] of [
    ['an interface name of 16 characters', { iface: '1234567890123456', gateway: '192.168.1.1' }, '1234567890123456'],
    ['a gateway that is not IPv4', { iface: 'eth0', gateway: '192.168.1.300' }, '192.168.1.300'],
    ['an interface with a slash', { iface: 'eth0/1' }, 'eth0/1'],
  ] as const) {
    it(`msg.uplink with ${what}: done(err) to Catch naming it, nothing logged or sent`, async () => {
      await helper.load(nodes, flow());
      const s = helper.getNode('s');
      const out = sink('out');
      const caught = sink('caught');
      s.receive({ uplink: bad, topic: 'bad' });
      const m = await caught.next();
      assert.equal(keyOf(m.error?.message), 'route-switch.errors.badUplink');
      assert.ok(String(paramsOf(m.error?.message).problem).includes(named), String(m.error?.message));
      assert.equal(m.error?.source?.id, 's');
      assert.equal(m.topic, 'bad');
      await sleep(50); // time passes: nothing may be sent meanwhile
      assert.equal(out.msgs.length, 0);
      assert.deepEqual(calls(s, 'log'), [], 'no command, not even a dry-run one');
      const last = statuses(s).at(-1);
      assert.deepEqual([last?.fill, last?.shape, keyOf(last?.text)], ['red', 'ring', 'route-switch.status.invalid']);
    });
  }

  it('msg.uplink that is neither an object nor a name, or missing: done(err)', async () => {
    await helper.load(nodes, flow());
    const s = helper.getNode('s');
    const caught = sink('caught');
    s.receive({ uplink: 42 });
    assert.equal(keyOf((await caught.next()).error?.message), 'route-switch.errors.badUplink');
    s.receive({ uplink: ['eth0'] });
    assert.equal(keyOf((await caught.next()).error?.message), 'route-switch.errors.badUplink');
    s.receive({ payload: 'no uplink' });
    assert.equal(keyOf((await caught.next()).error?.message), 'route-switch.errors.noUplink');
  });

  it('config wins: with an uplink configured, msg.uplink is ignored with one warning', async () => {
    await helper.load(nodes, flow({ uplink: 'u-wan' }));
    const s = helper.getNode('s');
    const out = sink('out');
    s.receive({ uplink: { iface: 'ppp0' } });
    s.receive({ uplink: { iface: '1234567890123456' } });
    assert.deepEqual((await out.next()).payload.route, { dev: 'eth9', gateway: '198.51.100.1' });
    assert.deepEqual((await out.next()).payload.route, { dev: 'eth9', gateway: '198.51.100.1' }, 'not even validated');
    assert.deepEqual(calls(s, 'warn'), ['route-switch.warn.msgIgnored']);
  });

  it('a configured uplink that is not deployed: red ring at deploy, messages fail to Catch', async () => {
    await helper.load(nodes, flow({ uplink: 'u-gone' }));
    const s = helper.getNode('s');
    const first = statuses(s)[0];
    assert.deepEqual([first?.fill, first?.shape, keyOf(first?.text)], ['red', 'ring', 'route-switch.status.noUplink']);
    assert.equal(keyOf(calls(s, 'error')[0]), 'route-switch.errors.uplink');
    const caught = sink('caught');
    s.receive({ uplink: { iface: 'ppp0' } });
    assert.equal(keyOf((await caught.next()).error?.message), 'route-switch.errors.uplink');
  });

  it('messages are switched one after another, in order', async () => {
    await helper.load(nodes, flow());
    const s = helper.getNode('s');
    const out = sink('out');
    const ifaces = ['ppp0', 'ppp1', 'ppp2', 'ppp3'];
    for (const iface of ifaces) s.receive({ uplink: { iface } });
    const got: string[] = [];
    for (let i = 0; i < ifaces.length; i++) got.push((await out.next()).payload.route.dev);
    assert.deepEqual(got, ifaces);
    assert.deepEqual(
      calls(s, 'log'),
      ifaces.map((i) => `DRY-RUN: ip -4 route replace default dev ${i}`),
    );
  });

  it('re-deploy: the new configuration is used; close clears the badge', async () => {
    await helper.load(nodes, flow({ uplink: 'u-wan' }));
    const old = helper.getNode('s');
    sink('out');
    old.receive({});
    await sink('completed').next();
    await helper.setFlows(flow({ uplink: 'u-backup' }), 'full');
    assert.deepEqual(statuses(old).at(-1), {}, 'the old node cleared its badge on close');
    const s = helper.getNode('s');
    assert.notEqual(s, old);
    const out = sink('out');
    s.receive({});
    assert.deepEqual((await out.next()).payload.route, { dev: 'wwan9', gateway: null });
  });

  it('loopback is refused without "Any interface": msg.uplink or the configured uplink, an error naming lo and the setting, no command', async () => {
    await helper.load(nodes, flow());
    const s = helper.getNode('s');
    const out = sink('out');
    const caught = sink('caught');
    s.receive({ uplink: { iface: 'lo' }, topic: 'loop' });
    const m = await caught.next();
    assert.equal(keyOf(m.error?.message), 'route-switch.errors.notUplink');
    assert.deepEqual(paramsOf(m.error?.message), { iface: 'lo', kind: 'loopback' });
    assert.equal(m.topic, 'loop');
    const last = statuses(s).at(-1);
    assert.deepEqual([last?.fill, last?.shape, keyOf(last?.text)], ['red', 'ring', 'route-switch.status.notUplink']);
    s.receive({ uplink: 'loop' });
    assert.equal(keyOf((await caught.next()).error?.message), 'route-switch.errors.notUplink', 'by name too');
    await sleep(50); // time passes: nothing may be sent meanwhile
    assert.equal(out.msgs.length, 0);
    assert.deepEqual(calls(s, 'log'), [], 'refused before any route command, not even a dry-run one');

    await helper.unload();
    await helper.load(nodes, flow({ uplink: 'u-lo' }));
    const configured = helper.getNode('s');
    const caught2 = sink('caught');
    configured.receive({});
    assert.equal(keyOf((await caught2.next()).error?.message), 'route-switch.errors.notUplink');
    assert.deepEqual(calls(configured, 'log'), []);
  });

  it('loopback with "Any interface": switched (dry run), the command logged', async () => {
    await helper.load(nodes, flow({ allowAnyIface: true }));
    const s = helper.getNode('s');
    const out = sink('out');
    s.receive({ uplink: { iface: 'lo' } });
    assert.deepEqual((await out.next()).payload.route, { dev: 'lo', gateway: null });
    assert.deepEqual(calls(s, 'log'), ['DRY-RUN: ip -4 route replace default dev lo']);
    const last = statuses(s).at(-1);
    assert.deepEqual([last?.fill, last?.shape, keyOf(last?.text)], ['green', 'dot', 'route-switch.status.dryRun']);
  });
});

/**
 * The controller alone, with its services faked: the link type decides, and a refused interface never
 * reaches the route service. No Node-RED, no ip.
 */
describe('RouteSwitchController (services injected)', () => {
  interface Harness {
    controller: RouteSwitchController;
    routeCalls: string[];
    badges: { fill?: string; text?: string }[];
    run(msg: Record<string, unknown>): Promise<{ error?: Error; sent: unknown[] }>;
  }

  function harness(linkTypes: Record<string, number>, allowAnyIface = false): Harness {
    const routeCalls: string[] = [];
    const badges: { fill?: string; text?: string }[] = [];
    const node = {
      id: 'n1',
      status: (s: { fill?: string; text?: string }) => badges.push(s),
      warn: () => undefined,
      error: () => undefined,
      on: () => undefined,
    };
    const services: RouteSwitchServices = {
      translate: (key, params) => (params ? `${key} ${JSON.stringify(params)}` : key),
      getNode: () => null,
      uplinkIds: () => [],
      routes: {
        readDefault: async () => {
          routeCalls.push('readDefault');
          return null;
        },
        activate: async (uplink: UplinkConfig) => {
          routeCalls.push(`activate ${uplink.iface}`);
        },
      },
      linkType: async (iface) => linkTypes[iface] ?? null,
    };
    const controller = new RouteSwitchController(node as unknown as ConstructorParameters<typeof RouteSwitchController>[0], { id: 'n1', type: 'route-switch', name: '', z: '', allowAnyIface }, services);
    controller.start();
    return {
      controller,
      routeCalls,
      badges,
      run: (msg) =>
        new Promise((resolve) => {
          const sent: unknown[] = [];
          controller.input(msg as unknown as Parameters<RouteSwitchController['input']>[0], (m) => sent.push(m), (error) => resolve({ error, sent }));
        }),
    };
  }

  it('refuses loopback and link types that are no uplink (sit, GRE), before any route call', async () => {
    const h = harness({ lo: 772, sit0: 776, gre1: 778 });
    for (const [iface, kind] of [['lo', 'loopback'], ['sit0', 'link type 776'], ['gre1', 'link type 778']]) {
      const r = await h.run({ uplink: { iface } });
      assert.equal(keyOf(r.error?.message), 'route-switch.errors.notUplink', iface);
      assert.deepEqual(paramsOf(r.error?.message), { iface, kind });
      assert.deepEqual(r.sent, []);
      assert.equal(keyOf(h.badges.at(-1)?.text), 'route-switch.status.notUplink');
    }
    assert.deepEqual(h.routeCalls, []);
  });

  it('accepts Ethernet/Wi-Fi, PPP, raw IP and TUN links, and leaves a missing interface to ip', async () => {
    const h = harness({ eth0: 1, ppp0: 512, wwan0: 519, tun0: 65534 });
    for (const iface of ['eth0', 'ppp0', 'wwan0', 'tun0', 'nosuch0']) {
      const r = await h.run({ uplink: { iface } });
      assert.equal(r.error, undefined, iface);
      assert.equal(r.sent.length, 1);
    }
    assert.deepEqual(
      h.routeCalls.filter((c) => c.startsWith('activate')),
      ['activate eth0', 'activate ppp0', 'activate wwan0', 'activate tun0', 'activate nosuch0'],
    );
  });

  it('with allowAnyIface, loopback reaches the route service', async () => {
    const h = harness({ lo: 772 }, true);
    const r = await h.run({ uplink: { iface: 'lo' } });
    assert.equal(r.error, undefined);
    assert.deepEqual(h.routeCalls, ['readDefault', 'activate lo']);
  });
});
