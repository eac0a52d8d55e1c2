/**
 * The failover-controller node in a real Node-RED runtime (node-red-node-test-helper), with the compiled
 * nodes from dist/nodes. Nothing here changes the host's network: every controller runs in dry-run mode
 * (route commands are only logged) and probes loopback: an uplink on `lo` probing 127.0.0.1 is healthy,
 * one on the missing `nosuch0` never comes up (the engine treats it as an uplink to set up, like ppp0
 * before dialling). Tests that ping need CAP_NET_RAW and skip without root.
 */
import { after, afterEach, before, describe, it, TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as capabilities from '../../lib/runtime/capabilities';
import { validateUplinks } from '../../lib/uplink/model';
import { readFlowVerdict } from '../../nodes/failover-controller/controller';
import type { Node, NodeAPI, NodeMessage, NodeStatus } from '../../nodes/shared/red';
import { initHelper, ourNode } from '../support/red-helper';
import { sleep, until, waitFor } from '../support/wait';

const helper = initHelper();
const controllerNode = ourNode('failover-controller');
const uplinkNode = ourNode('uplink');

const ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
if (!ROOT) console.warn('SKIPPED: failover-controller tests that ping loopback need root (CAP_NET_RAW); CI runs them as root');

const K = 'failover-controller';
const LIFECYCLE = new Set(['setup', 'teardown', 'connectionFailed', 'connected', 'connectionRestored', 'waiting', 'setupFailed', 'noUplink', 'switchFailed']);

// ---- flows ---------------------------------------------------------------------------------------

type FlowItem = { id: string; type: string; z?: string; wires?: string[][] } & Record<string, unknown>;

interface UplinkSpec {
  id: string;
  name: string;
  iface: string;
  targets?: string;
  interval?: number;
  setupTimeout?: number;
  dns?: string;
  prepare?: string;
  latencyHigh?: number;
  latencyLow?: number;
  onDegraded?: string;
  metered?: boolean;
  idleInterval?: number;
  budget?: number;
}

function uplink(spec: UplinkSpec): FlowItem {
  return {
    type: 'uplink',
    gateway: '',
    targets: '',
    interval: 0.2,
    timeout: 0.5,
    retries: 0,
    down: 1,
    up: 1,
    reliability: 1,
    setupTimeout: 0.6,
    pinMode: 'policy',
    ...spec,
  };
}

/**
 * A controller `ctl` with its outputs on helper nodes `events` and `rounds`, scoped Catch and Complete nodes.
 * Flow nodes carry x/y: Node-RED takes a node without a position for a config node.
 */
function flow(uplinks: FlowItem[], controller: Record<string, unknown> = {}): FlowItem[] {
  const at = { x: 100, y: 100 };
  return [
    { id: 'f1', type: 'tab', label: 'test' },
    ...uplinks,
    {
      id: 'ctl',
      type: 'failover-controller',
      z: 'f1',
      name: 'failover',
      uplinks: uplinks.map((u) => u.id),
      dryRun: true,
      setupRetry: 60,
      ...at,
      ...controller,
      wires: [['events'], ['rounds']],
    },
    { id: 'events', type: 'helper', z: 'f1', ...at },
    { id: 'rounds', type: 'helper', z: 'f1', ...at },
    { id: 'catch', type: 'catch', z: 'f1', ...at, scope: ['ctl'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'f1', ...at },
    { id: 'complete', type: 'complete', z: 'f1', ...at, scope: ['ctl'], uncaught: false, wires: [['completed']] },
    { id: 'completed', type: 'helper', z: 'f1', ...at },
  ];
}

/** Primary on a missing interface (set up, waited for, given up), backup on lo. */
const dormantPrimary = (setupTimeout = 0.6): FlowItem[] => [
  uplink({ id: 'up1', name: 'primary', iface: 'nosuch0', targets: '127.0.0.1', setupTimeout }),
  uplink({ id: 'up2', name: 'backup', iface: 'lo', targets: '127.0.0.1' }),
];

/** Primary on lo (healthy), backup on a missing interface without targets; rounds only at start and on recheck. */
const healthyPrimary = (): FlowItem[] => [
  uplink({ id: 'up1', name: 'primary', iface: 'lo', targets: '127.0.0.1', interval: 300 }),
  uplink({ id: 'up2', name: 'backup', iface: 'nosuch0', setupTimeout: 30 }),
];

async function load(items: FlowItem[], nodes = [uplinkNode, controllerNode]): Promise<void> {
  await helper.load(nodes, items as unknown as Parameters<typeof helper.load>[1]);
  for (const r of recorders) r.attach();
}

// ---- observing -----------------------------------------------------------------------------------

type Msg = NodeMessage & { payload?: unknown; error?: { message: string } };


/** Every message a helper node received (re-attached after each deploy, since a full deploy makes new helpers). */
class Recorder {
  readonly messages: Msg[] = [];
  constructor(readonly id: string) {}
  attach(): void {
    helper.getNode(this.id).on('input', (msg: Msg) => this.messages.push(msg));
  }
  reset(): void {
    this.messages.length = 0;
  }
  waitFor(what: string, match: (m: Msg) => boolean, timeoutMs = 5000): Promise<Msg> {
    return waitFor(() => this.messages.find(match), { what, timeoutMs });
  }
}

const events = new Recorder('events');
const rounds = new Recorder('rounds');
const caught = new Recorder('caught');
const completed = new Recorder('completed');
const recorders = [events, rounds, caught, completed];

const payloadOf = (m: Msg) => m.payload as Record<string, unknown>;
const is = (topic: string, uplinkName?: string) => (m: Msg) => m.topic === topic && (uplinkName === undefined || payloadOf(m).uplink === uplinkName);
const lifecycle = () => events.messages.filter((m) => LIFECYCLE.has(m.topic ?? '')).map((m) => `${m.topic} ${String(payloadOf(m).uplink)}`);

/** The helper turns Node.prototype methods into sinon spies; their calls are kept from the first one on. */
interface SpyCall {
  thisValue: unknown;
  args: unknown[];
}
function callsOf(node: Node, method: 'status' | 'error' | 'send'): unknown[][] {
  const spy = node[method] as unknown as { getCalls(): SpyCall[] };
  return spy
    .getCalls()
    .filter((c) => c.thisValue === node)
    .map((c) => c.args);
}
/** Output-1 messages a node sent, as "topic uplink", seen through the send spy. */
const sentEvents = (node: Node) =>
  callsOf(node, 'send')
    .map((a) => (a[0] as (Msg | null)[])[0])
    .filter((m): m is Msg => m !== null && LIFECYCLE.has(m.topic ?? ''))
    .map((m) => `${m.topic} ${String(payloadOf(m).uplink)}`);
const statuses = (node: Node) => callsOf(node, 'status').map((a) => a[0] as NodeStatus);
const lastStatus = (node: Node) => statuses(node).at(-1);
function waitForStatus(node: Node, fill: string, shape: string, text: string, timeoutMs = 5000): Promise<NodeStatus> {
  return waitFor(
    () => {
      const s = lastStatus(node);
      return s && s.fill === fill && s.shape === shape && s.text === text ? s : undefined;
    },
    { what: `status ${fill} ${shape} ${text}`, timeoutMs },
  );
}

function send(msg: Record<string, unknown>): void {
  helper.getNode('ctl').receive(msg as NodeMessage);
}

/** Pids of `ip monitor link` processes that are children of this process (one per running controller). */
function ipMonitors(): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) !== process.pid || state === 'Z') continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (argv.join(' ') === 'ip monitor link route') found.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return found;
}

function needsPing(t: TestContext): boolean {
  if (ROOT) return true;
  t.skip('pinging loopback needs CAP_NET_RAW (root)');
  return false;
}

// ---- tests ---------------------------------------------------------------------------------------

describe('failover-controller', () => {
  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(async () => {
    await helper.unload();
    for (const r of recorders) r.reset();
  });

  it('registers with its two outputs', async () => {
    await load(flow([uplink({ id: 'up1', name: 'primary', iface: 'lo', targets: '127.0.0.1' })], { dryRun: true, uplinks: [] }));
    const ctl = helper.getNode('ctl');
    assert.equal(ctl.type, 'failover-controller');
    assert.equal((ctl as Node & { wires: string[][] }).wires.length, 2);
  });

  it('a dormant primary is set up, waited for and given up on while the backup carries traffic', async (t) => {
    if (!needsPing(t)) return;
    await load(flow(dormantPrimary()));
    const ctl = helper.getNode('ctl');
    await events.waitFor('teardown of the primary', is('teardown', 'primary'));
    assert.deepEqual(lifecycle(), ['setup backup', 'connected backup', 'setup primary', 'waiting primary', 'setupFailed primary', 'teardown primary']);

    const connected = payloadOf(await events.waitFor('connected', is('connected')));
    assert.deepEqual(Object.keys(connected).sort(), ['active', 'event', 'from', 'iface', 'time', 'uplink']);
    assert.equal(connected.event, 'connected');
    assert.equal(connected.uplink, 'backup');
    assert.equal(connected.iface, 'lo');
    assert.equal(connected.from, null);
    assert.equal(connected.active, 'backup');
    assert.match(String(connected.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const waiting = payloadOf(await events.waitFor('waiting', is('waiting')));
    assert.equal(waiting.timeoutMs, 600);
    assert.equal(waiting.iface, 'nosuch0');
    const failed = payloadOf(await events.waitFor('setupFailed', is('setupFailed')));
    assert.ok(typeof failed.waitedMs === 'number' && failed.waitedMs >= 550, `waited ${String(failed.waitedMs)} ms`);
    const health = events.messages.filter((m) => m.topic === 'health').map((m) => [payloadOf(m).uplink, payloadOf(m).health]);
    assert.deepEqual(health.sort(), [['backup', 'up'], ['primary', 'down']]);

    // Output 2: one message per round, with exactly the contract's fields.
    const good = payloadOf(await rounds.waitFor('a round of the backup', (m) => payloadOf(m).uplink === 'backup'));
    const bad = payloadOf(await rounds.waitFor('a round of the primary', (m) => payloadOf(m).uplink === 'primary'));
    for (const p of [good, bad]) assert.deepEqual(Object.keys(p).sort(), ['active', 'down', 'health', 'iface', 'loss', 'ok', 'rtt', 'up', 'uplink', 'window']);
    assert.ok(rounds.messages.every((m) => m.topic === 'available'));
    assert.deepEqual([good.ok, good.up, good.down, good.health, good.loss], [true, ['127.0.0.1'], [], 'up', 0]);
    assert.equal(typeof good.rtt, 'number');
    // The quality window (default 10 s): the backup's echoes so far, none lost; the primary has none (it is down).
    const goodWindow = good.window as { seconds: number; sent: number; loss: number | null; rtt: number | null };
    assert.deepEqual([goodWindow.seconds, goodWindow.loss, goodWindow.sent > 0, typeof goodWindow.rtt], [10, 0, true, 'number']);
    assert.deepEqual(bad.window, { seconds: 10, sent: 0, loss: null, rtt: null });
    assert.deepEqual([bad.ok, bad.up, bad.down, bad.health, bad.rtt, bad.iface], [false, [], ['127.0.0.1'], 'down', null, 'nosuch0']);
    await until(() => rounds.messages.filter((m) => payloadOf(m).uplink === 'backup').length >= 3, { what: 'several rounds (interval 0.2 s)', timeoutMs: 5000 });

    // Badge: starting, waiting for the primary's interface, then on the backup.
    await waitForStatus(ctl, 'yellow', 'ring', `${K}.status.backup`);
    const texts = statuses(ctl).map((s) => `${s.fill} ${s.shape} ${s.text}`);
    assert.deepEqual(texts, [`blue dot ${K}.status.starting`, `blue dot ${K}.status.waiting`, `yellow ring ${K}.status.backup`]);
    assert.equal(callsOf(ctl, 'error').length, 0, 'no error in a dry run');
  });

  it('when no uplink can work: noUplink on output 1 and a red ring', async () => {
    // One uplink, without targets, on a missing interface: set up, waited for, given up on; nothing is left.
    await load(flow([uplink({ id: 'up1', name: 'only', iface: 'nosuch0', setupTimeout: 0.2 })]));
    const ctl = helper.getNode('ctl');
    const none = payloadOf(await events.waitFor('noUplink', is('noUplink')));
    assert.deepEqual(lifecycle(), ['setup only', 'waiting only', 'setupFailed only', 'teardown only', 'noUplink null']);
    assert.deepEqual(Object.keys(none).sort(), ['active', 'event', 'iface', 'time', 'uplink']);
    assert.deepEqual([none.event, none.uplink, none.iface, none.active], ['noUplink', null, null, null]);
    await waitForStatus(ctl, 'red', 'ring', `${K}.status.noUplink`);
    assert.equal(rounds.messages.length, 0, 'an uplink without targets is never probed');
  });

  it('commands: status, force, auto, pause, resume, recheck; each completes', async (t) => {
    if (!needsPing(t)) return;
    await load(flow(healthyPrimary()));
    const ctl = helper.getNode('ctl');
    await waitForStatus(ctl, 'green', 'dot', `${K}.status.active`);
    assert.deepEqual(lifecycle(), ['setup primary', 'connected primary']);

    send({ payload: 'status', _msgid: 'm1' });
    const status = await events.waitFor('status', is('status'));
    assert.equal(status._msgid, 'm1', 'the incoming message is answered, not a new one');
    const s = payloadOf(status);
    assert.equal(s.event, 'status');
    assert.equal(s.active, 'primary');
    assert.equal(s.uplink, 'primary');
    assert.equal(s.iface, 'lo');
    assert.equal(s.paused, false);
    assert.equal(s.forced, null);
    assert.equal(s.pending, null);
    assert.equal(s.onBackupMs, null, 'the first uplink carries the route');
    const ups = s.uplinks as { name: string; link: string; usable: boolean; active: boolean }[];
    assert.deepEqual(
      ups.map((u) => [u.name, u.link, u.usable, u.active]),
      [
        ['primary', 'up', true, true],
        ['backup', 'absent', false, false],
      ],
    );
    await completed.waitFor('status completed', (m) => m._msgid === 'm1');

    // force: the backup's interface is missing, so it is set up and waited for while the primary keeps the route.
    send({ payload: 'force', uplink: 'backup', _msgid: 'm2' });
    await events.waitFor('waiting for the backup', is('waiting', 'backup'));
    await waitForStatus(ctl, 'blue', 'dot', `${K}.status.waiting`);
    send({ topic: 'status', payload: 17 });
    const forced = payloadOf(await events.waitFor('second status', (m) => m.topic === 'status' && m !== status));
    assert.equal(forced.forced, 'backup');
    assert.equal(forced.pending, 'backup');
    assert.equal(forced.active, 'primary');

    send({ payload: { command: 'auto' }, _msgid: 'm3' });
    await events.waitFor('teardown of the abandoned setup', is('teardown', 'backup'));
    await waitForStatus(ctl, 'green', 'dot', `${K}.status.active`);

    send({ payload: 'pause', _msgid: 'm4' });
    await waitForStatus(ctl, 'grey', 'ring', `${K}.status.paused`);
    send({ payload: 'resume', _msgid: 'm5' });
    await waitForStatus(ctl, 'green', 'dot', `${K}.status.active`);

    const before = rounds.messages.length;
    send({ payload: 'recheck', _msgid: 'm6' });
    const again = await waitFor(() => rounds.messages[before], { what: 'a round after recheck (the interval is 300 s)', timeoutMs: 5000 });
    assert.equal(payloadOf(again).uplink, 'primary');

    for (const id of ['m2', 'm3', 'm4', 'm5', 'm6']) await completed.waitFor(`${id} completed`, (m) => m._msgid === id);
    assert.deepEqual(lifecycle(), ['setup primary', 'connected primary', 'setup backup', 'waiting backup', 'teardown backup']);
    assert.equal(caught.messages.length, 0);
  });

  it('an unknown command, an unknown uplink or a force without one reach a Catch node via done(err)', async (t) => {
    if (!needsPing(t)) return;
    await load(flow(healthyPrimary()));
    const ctl = helper.getNode('ctl');
    await waitForStatus(ctl, 'green', 'dot', `${K}.status.active`);
    send({ payload: 'bogus', _msgid: 'e1' });
    send({ payload: 'force', uplink: 'nope', _msgid: 'e2' });
    send({ payload: 'force', _msgid: 'e3' });
    send({ payload: 42, _msgid: 'e4' });
    // A Catch node sees String(err): "Error: <message>".
    const err = async (id: string) => (await caught.waitFor(id, (m) => m._msgid === id)).error?.message;
    assert.equal(await err('e1'), `Error: ${K}.errors.unknownCommand`);
    assert.equal(await err('e2'), `Error: ${K}.errors.unknownUplink`);
    assert.equal(await err('e3'), `Error: ${K}.errors.forceWithoutUplink`);
    assert.equal(await err('e4'), `Error: ${K}.errors.noCommand`);
    assert.equal(completed.messages.length, 0, 'a failed command does not complete');
    assert.equal(events.messages.filter((m) => m.topic === 'status').length, 0);
    // done(err) reports through node.error(err, msg); nothing else is reported, and nothing twice.
    const errors = callsOf(ctl, 'error');
    assert.equal(errors.length, 4);
    assert.ok(errors.every((a) => a[0] instanceof Error && (a[1] as Msg)._msgid?.startsWith('e')));
  });

  it('texts come from the catalog and name what was wrong', async (t) => {
    if (!needsPing(t)) return;
    await load(flow(healthyPrimary()), [uplinkNode, (RED: NodeAPI) => controllerNode(withCatalog(RED))]);
    const ctl = helper.getNode('ctl');
    await waitForStatus(ctl, 'green', 'dot', 'primary (lo)');
    send({ payload: 'bogus', _msgid: 'e1' });
    send({ payload: { command: 'force', uplink: 'nope' }, _msgid: 'e2' });
    const err = async (id: string) => (await caught.waitFor(id, (m) => m._msgid === id)).error?.message;
    assert.equal(await err('e1'), 'Error: unknown command "bogus" (known: status, force, auto, pause, resume, recheck)');
    assert.equal(await err('e2'), 'Error: unknown uplink "nope" (known: primary, backup)');
    send({ payload: 'force', uplink: 'backup' });
    await waitForStatus(ctl, 'blue', 'dot', 'waiting for nosuch0 (backup)');
    send({ payload: 'pause' });
    await waitForStatus(ctl, 'grey', 'ring', 'paused on primary');
  });

  describe('invalid configuration: red ring with the reason, one error, no engine, close still works', () => {
    const cases: [string, FlowItem[], Record<string, unknown>][] = [
      ['no uplink selected', [uplink({ id: 'up1', name: 'primary', iface: 'lo' })], { uplinks: [] }],
      ['a config node that is not deployed', [uplink({ id: 'up1', name: 'primary', iface: 'lo' })], { uplinks: ['up1', 'gone'] }],
      ['an invalid uplink', [uplink({ id: 'up1', name: 'primary', iface: 'bad/name' })], {}],
      ['the same uplink twice', [uplink({ id: 'up1', name: 'primary', iface: 'lo' })], { uplinks: ['up1', 'up1'] }],
      ['a setup retry of 0 s', [uplink({ id: 'up1', name: 'primary', iface: 'lo' })], { setupRetry: 0 }],
      ['an unknown DNS method', [uplink({ id: 'up1', name: 'primary', iface: 'lo' })], { dns: 'dnsmasq' }],
      ['an uplink with a bad DNS server', [uplink({ id: 'up1', name: 'primary', iface: 'lo', dns: '192.0.2.1,not-an-ip' })], {}],
      ['an uplink with an unknown bring-up mode', [uplink({ id: 'up1', name: 'primary', iface: 'lo', prepare: 'sometimes' })], {}],
      ['an uplink whose low latency threshold exceeds its high one', [uplink({ id: 'up1', name: 'primary', iface: 'lo', latencyHigh: 300, latencyLow: 400 })], {}],
      ['an uplink with an unknown action when degraded', [uplink({ id: 'up1', name: 'primary', iface: 'lo', onDegraded: 'panic' })], {}],
    ];
    for (const [what, uplinks, controller] of cases) {
      it(what, async () => {
        await load(flow(uplinks, controller));
        const ctl = helper.getNode('ctl');
        await waitForStatus(ctl, 'red', 'ring', `${K}.status.invalid`);
        assert.deepEqual(
          callsOf(ctl, 'error').map((a) => a[0]),
          [`${K}.errors.invalid`],
        );
        assert.deepEqual(ipMonitors(), [], 'no link watch');
        send({ payload: 'status', _msgid: 'x' });
        const m = await caught.waitFor('not running', (c) => c._msgid === 'x');
        assert.equal(m.error?.message, `Error: ${K}.errors.notRunning`);
        assert.equal(events.messages.length + rounds.messages.length, 0);
      });
    }

    it('says which uplink is wrong and why', async () => {
      await load(flow([uplink({ id: 'up1', name: 'primary', iface: 'lo' })], { uplinks: ['up1', 'gone'] }), [uplinkNode, (RED: NodeAPI) => controllerNode(withCatalog(RED))]);
      const ctl = helper.getNode('ctl');
      const s = await waitFor(() => lastStatus(ctl), { what: 'a status', timeoutMs: 5000 });
      assert.equal(s.text, 'invalid: uplink 2: uplink config node gone is not deployed');
      assert.deepEqual(callsOf(ctl, 'error'), [['invalid configuration: uplink 2: uplink config node gone is not deployed']]);
    });
  });

  describe('without CAP_NET_ADMIN/CAP_NET_RAW', () => {
    const caps = capabilities as unknown as { missingNetCapabilities: typeof capabilities.missingNetCapabilities };
    const real = caps.missingNetCapabilities;
    let asked = 0;
    before(() => {
      caps.missingNetCapabilities = async () => {
        asked++;
        return ['CAP_NET_ADMIN', 'CAP_NET_RAW'];
      };
    });
    after(() => {
      caps.missingNetCapabilities = real;
    });

    it('a real (not dry) run shows a red ring and one clear error, and starts nothing', async () => {
      await load(flow(healthyPrimary(), { dryRun: false }), [uplinkNode, (RED: NodeAPI) => controllerNode(withCatalog(RED))]);
      const ctl = helper.getNode('ctl');
      await waitForStatus(ctl, 'red', 'ring', 'needs CAP_NET_ADMIN and CAP_NET_RAW');
      const errors = callsOf(ctl, 'error').map((a) => String(a[0]));
      assert.equal(errors.length, 1);
      assert.match(errors[0], /^changing routes needs root or CAP_NET_ADMIN and CAP_NET_RAW \(e\.g\. sudo setcap cap_net_admin,cap_net_raw\+ep .*\), or tick Dry run$/);
      await sleep(300); // time passes: nothing may start meanwhile
      assert.deepEqual(ipMonitors(), []);
      assert.equal(events.messages.length + rounds.messages.length, 0);
    });

    it('a dry run does not need them', async (t) => {
      if (!needsPing(t)) return;
      asked = 0;
      await load(flow(healthyPrimary()));
      await events.waitFor('connected', is('connected', 'primary'));
      assert.equal(asked, 0);
    });
  });

  it('close stops the engine and the link watch; nothing is sent afterwards', async (t) => {
    if (!needsPing(t)) return;
    await load(flow(dormantPrimary(30)));
    const ctl = helper.getNode('ctl');
    await events.waitFor('waiting for the primary', is('waiting', 'primary'));
    await until(() => rounds.messages.length >= 4, { what: 'a few rounds', timeoutMs: 5000 });
    assert.equal(ipMonitors().length, 1, 'one ip monitor for the controller');
    await helper.clearFlows(); // stops the flows (close handlers done) and keeps the spies, unlike unload()
    assert.deepEqual(ipMonitors(), [], 'ip monitor has exited when close is done');
    // The pending setup was abandoned on close and its teardown sent (on a full stop the wired nodes are
    // closing too, so only the send itself can be seen).
    assert.deepEqual(sentEvents(ctl).slice(-1), ['teardown primary']);
    assert.deepEqual(lastStatus(ctl), {}, 'badge cleared');
    const sent = callsOf(ctl, 'send').length;
    await sleep(800); // time passes: no timer of the closed node may fire
    assert.equal(callsOf(ctl, 'send').length, sent, 'no round or timer of the closed node fires');
  });

  it('a "modified nodes" deploy that changes one of its uplinks restarts its engine with the new settings', async (t) => {
    if (!needsPing(t)) return;
    const setFlows = (items: FlowItem[]) => helper.setFlows(items as unknown as Parameters<typeof helper.setFlows>[0], 'nodes');
    await load(flow(healthyPrimary()));
    const ctl = helper.getNode('ctl');
    await events.waitFor('connected primary', is('connected', 'primary'));

    // A change elsewhere leaves it alone.
    await setFlows([...flow(healthyPrimary()), { id: 'other', type: 'helper', z: 'f1', x: 1, y: 1 }]);
    await sleep(300); // time passes: the deploy must not restart it meanwhile
    assert.equal(helper.getNode('ctl'), ctl);
    assert.deepEqual(lifecycle(), ['setup primary', 'connected primary']);

    // Node-RED does not see the ids inside the array, so it keeps the node: the node restarts its engine.
    const [primary, backup] = healthyPrimary();
    await setFlows([...flow([{ ...primary, name: 'main' }, backup]), { id: 'other', type: 'helper', z: 'f1', x: 1, y: 1 }]);
    assert.equal(helper.getNode('ctl'), ctl, 'the same node instance');
    await events.waitFor('connected main', is('connected', 'main'));
    assert.deepEqual(lifecycle(), ['setup primary', 'connected primary', 'setup main', 'connected main']);
    await waitForStatus(ctl, 'green', 'dot', `${K}.status.active`);
    assert.equal(ipMonitors().length, 1, 'the old link watch has stopped');
    send({ payload: 'force', uplink: 'primary', _msgid: 'old' });
    assert.equal((await caught.waitFor('old name', (m) => m._msgid === 'old')).error?.message, `Error: ${K}.errors.unknownUplink`);
  });

  it('a redeploy while waiting for an interface leaves one engine and no timers of the old node', async (t) => {
    if (!needsPing(t)) return;
    const version = (tag: string, setupTimeout: number): FlowItem[] =>
      flow([
        uplink({ id: 'up1', name: `primary-${tag}`, iface: 'nosuch0', targets: '127.0.0.1', setupTimeout }),
        uplink({ id: 'up2', name: `backup-${tag}`, iface: 'lo', targets: '127.0.0.1' }),
      ]);
    await load(version('a', 1.2));
    const old = helper.getNode('ctl');
    await events.waitFor('the old controller waits for the primary', is('waiting', 'primary-a'));
    assert.equal(ipMonitors().length, 1);
    const firstMonitor = ipMonitors()[0];

    await helper.setFlows(version('b', 30) as unknown as Parameters<typeof helper.setFlows>[0], 'full');
    const deployedAt = events.messages.length;
    const roundsAt = rounds.messages.length;
    const oldSends = callsOf(old, 'send').length;
    for (const r of recorders) r.attach(); // a full deploy made new helper nodes
    assert.notEqual(helper.getNode('ctl'), old);
    assert.deepEqual(sentEvents(old).slice(-1), ['teardown primary-a'], 'the old controller abandoned its setup on close');

    await events.waitFor('the new controller waits for the primary', is('waiting', 'primary-b'));
    const monitors = ipMonitors();
    assert.equal(monitors.length, 1, 'one ip monitor per controller');
    assert.notEqual(monitors[0], firstMonitor, 'the old one has exited');

    // The old setup would have timed out 1.2 s after it began; its timer must be gone with the node.
    await sleep(1800);
    const late = [...events.messages.slice(deployedAt), ...rounds.messages.slice(roundsAt)].filter((m) => String(payloadOf(m).uplink).endsWith('-a'));
    assert.deepEqual(late.map((m) => m.topic), [], 'nothing from the old controller after the redeploy');
    assert.equal(callsOf(old, 'send').length, oldSends, 'the old node sent nothing after its close');
    assert.ok(rounds.messages.slice(roundsAt).some((m) => payloadOf(m).uplink === 'backup-b'), 'the new controller probes');
    assert.equal(ipMonitors().length, 1);
  });

  it('a metered backup: usage events on output 1, usage in the status answer and the badge, counters in the usage file', async (t) => {
    if (!needsPing(t)) return;
    const dir = mkdtempSync(join(tmpdir(), 'iff-usage-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'usage.json');
    await load(
      flow(
        [
          uplink({ id: 'up1', name: 'primary', iface: 'nosuch0', targets: '127.0.0.1', setupTimeout: 0.6 }),
          // The probes on lo are traffic on lo: its counters grow while it carries the route.
          uplink({ id: 'up2', name: 'backup', iface: 'lo', targets: '127.0.0.1', metered: true, idleInterval: 5, budget: 1000 }),
        ],
        { usageFile: file, usageReport: 1 },
      ),
    );
    const ctl = helper.getNode('ctl');
    const usage = payloadOf(await events.waitFor('a usage event of the backup', is('usage', 'backup'), 8000));
    assert.equal(usage.reason, 'periodic');
    assert.equal(usage.iface, 'lo');
    assert.ok(typeof usage.sessionBytes === 'number' && usage.sessionBytes > 0, `session bytes ${String(usage.sessionBytes)}`);
    assert.ok(typeof usage.periodBytes === 'number' && usage.periodBytes >= usage.sessionBytes);
    assert.equal(usage.budgetBytes, 1000 * 1_000_000);
    // Carrying traffic: probed every 0.2 s, one echo and its reply (84 bytes each) per round.
    assert.equal(usage.probeBytesPerDay, (168 * 86_400) / 0.2);
    await waitForStatus(ctl, 'yellow', 'ring', `${K}.status.backupMetered`);

    send({ payload: 'status', _msgid: 'st' });
    const status = payloadOf(await events.waitFor('the status answer', (m) => m._msgid === 'st'));
    const entries = status.uplinks as Record<string, unknown>[];
    assert.equal(entries[0].usage, undefined, 'an uplink that is not metered has no usage');
    const used = entries[1].usage as Record<string, unknown>;
    assert.equal(used.active, true);
    assert.ok(typeof used.sessionBytes === 'number' && used.sessionBytes >= (usage.sessionBytes as number));
    // The backup has carried the route since it connected, before the usage event.
    const connected = payloadOf(await events.waitFor('connected backup', is('connected', 'backup')));
    const onBackup = Date.parse(status.time as string) - Date.parse(connected.time as string);
    assert.equal(status.onBackupMs, onBackup, 'time on the backup in the status answer');

    await helper.unload();
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { uplinks: Record<string, { periodBytes: number }> };
    assert.deepEqual(Object.keys(stored.uplinks), ['backup']);
    assert.ok(stored.uplinks.backup.periodBytes >= (used.periodBytes as number), 'written on close');
  });
});

/** The node API with RED._ reading the real catalog, so texts and their parameters can be checked. */
function withCatalog(RED: NodeAPI): NodeAPI {
  const file = join(__dirname, '../../nodes/locales/en-US/failover-controller.json');
  const catalog = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const translate = (key: string, substitutions?: Record<string, string | number>): string => {
    const text = key.split('.').reduce<unknown>((node, part) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined), catalog);
    if (typeof text !== 'string') return `MISSING ${key}`;
    return text.replace(/__(\w+)__/g, (whole, name: string) => (substitutions && name in substitutions ? String(substitutions[name]) : whole));
  };
  return Object.create(RED, { _: { value: translate } }) as NodeAPI;
}

describe('failover-controller: flow checks fed by verdict messages', () => {
  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(async () => {
    await helper.unload();
    for (const r of recorders) r.reset();
  });

  /** Primary on lo whose only check is the user's own (flow://web); backup on a missing interface, never probed. */
  const flowPrimary = (): FlowItem[] => [
    { ...uplink({ id: 'up1', name: 'primary', iface: 'lo' }), checks: 'flow://web timeout=5' },
    uplink({ id: 'up2', name: 'backup', iface: 'nosuch0', setupTimeout: 30 }),
  ];
  const roundsOf = (ok: boolean) => rounds.messages.filter((m) => payloadOf(m).uplink === 'primary' && payloadOf(m).ok === ok);

  it('rounds count the last verdict like a target: none yet is down, ok:true is up, ok:false is down again', async () => {
    await load(flow(flowPrimary()));
    const first = payloadOf(await rounds.waitFor('a round of the primary', (m) => payloadOf(m).uplink === 'primary'));
    assert.deepEqual([first.ok, first.up, first.down], [false, [], ['flow://web timeout=5']], 'no verdict yet: not answering');

    send({ topic: 'verdict', payload: { uplink: 'primary', ok: true, rtt: 42 } });
    const good = payloadOf(await rounds.waitFor('a good round', (m) => payloadOf(m).uplink === 'primary' && payloadOf(m).ok === true));
    assert.deepEqual([good.up, good.down, good.rtt], [['flow://web timeout=5'], [], 42]);
    await events.waitFor('the primary is used', is('connected', 'primary'));
    await completed.waitFor('the verdict message is done', (m) => m.topic === 'verdict');

    send({ topic: 'verdict', payload: { uplink: 'primary', check: 'web', ok: false } });
    await until(() => roundsOf(false).length > 1, { what: 'a bad round after ok:false', timeoutMs: 5000 });
    await events.waitFor('the primary is down', (m) => m.topic === 'health' && payloadOf(m).uplink === 'primary' && payloadOf(m).health === 'down');
    assert.equal(caught.messages.length, 0);
  });

  it('a bad verdict fails to Catch saying what is wrong, and changes nothing', async () => {
    await load(flow(flowPrimary()));
    await rounds.waitFor('a round of the primary', (m) => payloadOf(m).uplink === 'primary');
    const uplinks = validateUplinks([
      { name: 'primary', iface: 'lo', checks: 'flow://web timeout=5' },
      { name: 'backup', iface: 'nosuch0' },
    ]);
    const cases: [unknown, string][] = [
      ['up', 'payload is "up", not {uplink, ok, check, rtt}'],
      [{ uplink: 'wan9', ok: true }, 'payload.uplink is "wan9", not one of primary, backup'],
      [{ uplink: 'backup', ok: true }, 'uplink "backup" has no flow check (flow://NAME); these do: primary'],
      [{ uplink: 'primary', ok: 'yes' }, 'payload.ok is "yes", not true or false'],
      [{ uplink: 'primary', ok: true, rtt: -3 }, 'payload.rtt is -3, not a number of milliseconds (or null)'],
      [{ uplink: 'primary', ok: true, check: 'db' }, 'payload.check is "db", not a flow check of uplink "primary" (web)'],
    ];
    assert.deepEqual(readFlowVerdict({ uplink: 'primary', ok: true }, uplinks), { uplink: 'primary', check: 'web', ok: true, rtt: null });
    for (const [payload, problem] of cases) {
      assert.deepEqual(readFlowVerdict(payload, uplinks), { problem }, JSON.stringify(payload));
      const before = caught.messages.length;
      send({ topic: 'verdict', payload });
      const m = await waitFor(() => caught.messages[before], { what: `the error for ${JSON.stringify(payload)}` });
      assert.equal(m.error?.message, `Error: ${K}.errors.verdict`);
    }
    // Nothing was recorded: rounds after all of that still find no verdict.
    const seen = rounds.messages.length;
    await until(() => rounds.messages.length > seen + 2, { what: 'more rounds', timeoutMs: 5000 });
    assert.equal(roundsOf(true).length, 0);
    assert.equal(lifecycle().filter((l) => l.endsWith(' primary') && l.startsWith('connected')).length, 0, 'no switch to the primary');
  });
});
