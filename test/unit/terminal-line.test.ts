/**
 * `npm start`'s terminal: one line per message (demo/terminal-line.ts), for the controller's events, the
 * modem's power and the PPP link, as the demo's function node prints them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import { startFlow } from '../../demo/start';
import { terminalLine } from '../../demo/terminal-line';
import { eventMessage } from '../../nodes/failover-controller/controller';

test('controller events: event, uplink/iface, the event fields, active; never more than one line', () => {
  const at = Date.parse('2026-12-02T13:40:03.720Z');
  const lines = [
    terminalLine(eventMessage({ type: 'connected', time: at, uplink: 'primary', iface: 'eth0', from: null }, 'primary')),
    terminalLine(eventMessage({ type: 'connectionFailed', time: at, uplink: 'primary', iface: 'eth0', to: 'fona' }, 'fona')),
    terminalLine(eventMessage({ type: 'waiting', time: at, uplink: 'fona', iface: 'ppp0', timeoutMs: 120000 }, 'primary')),
    terminalLine(eventMessage({ type: 'noUplink', time: at, active: 'primary' }, 'primary')),
  ];
  assert.deepEqual(lines, [
    'connected primary/eth0 from=- active=primary',
    'connectionFailed primary/eth0 to=fona active=fona',
    'waiting fona/ppp0 timeoutMs=120000 active=primary',
    'noUplink active=primary',
  ]);
  // a nested field is written as JSON, on the same line
  const nested = terminalLine({ topic: 'budget', payload: { event: 'budget', uplink: 'fona', iface: 'ppp0', usage: { used: 1, of: 2 }, active: 'fona' } });
  assert.equal(nested, 'budget fona/ppp0 usage={"used":1,"of":2} active=fona');
});

test("the modem: fona-power's answers and ppp-control's up and down", () => {
  assert.equal(terminalLine({ topic: 'on', payload: { power: 'on', changed: true, driver: 'libgpiod' } }), 'modem power on (switched)');
  assert.equal(terminalLine({ payload: { power: 'off', changed: false, driver: 'libgpiod' } }), 'modem power off (already off)');
  assert.equal(
    terminalLine({ topic: 'up', payload: { state: 'up', iface: 'ppp0', peer: 'fona', address: '198.51.100.2', cidr: '198.51.100.2/32' } }),
    'ppp fona up ppp0 198.51.100.2',
  );
  assert.equal(
    terminalLine({ topic: 'down', payload: { state: 'down', iface: 'ppp0', peer: 'fona', reason: 'stopped', message: 'hung up (poff fona)', redialIn: null } }),
    'ppp fona down ppp0 (stopped: hung up (poff fona))',
  );
  // ppp-control with a modem: its power steps and a failed step
  assert.equal(
    terminalLine({ topic: 'power', payload: { state: 'power', power: 'off', changed: true, driver: 'libgpiod', iface: 'ppp0', peer: 'fona' } }),
    'modem power off (switched)',
  );
  assert.equal(
    terminalLine({ topic: 'failed', payload: { state: 'failed', step: 'power', iface: 'ppp0', peer: 'fona', message: 'the modem did not switch on' } }),
    'ppp fona failed ppp0 (power: the modem did not switch on)',
  );
});

test('anything else: topic and compact JSON on one line', () => {
  assert.equal(terminalLine({ topic: 'x', payload: { a: [1, 2], b: 'c\nd' } }), 'x {"a":[1,2],"b":"c\\nd"}');
  assert.equal(terminalLine({ topic: 'hello', payload: 'world' }), 'hello world');
});

test("the demo's terminal node: wired to the controller's events and every output of the modem's nodes, it logs the line", () => {
  for (const mode of ['lab', 'dry-run'] as const) {
    const flow = startFlow(mode, '/nonexistent/lab-control', null);
    const terminal = flow.find((n) => n.type === 'function' && n['name'] === 'terminal');
    assert.ok(terminal, `${mode}: the terminal node`);
    const into = (n: (typeof flow)[number]): boolean[] => (n.wires ?? []).map((w) => w.includes(terminal.id));
    const controller = flow.find((n) => n.type === 'failover-controller');
    assert.deepEqual(controller && into(controller), [true, false], `${mode}: the events, not every probe round`);
    for (const n of flow.filter((x) => x.type === 'fona-power' || x.type === 'ppp-control')) assert.ok(into(n).every(Boolean), `${mode}: ${n.type} ${n.id}`);
    assert.ok(!flow.some((n) => n.type === 'debug' && n['console'] === true), `${mode}: no debug node prints objects to the terminal`);
    // the node's code, run as a function node runs it (node.log, msg): one line
    const logged: string[] = [];
    const result: unknown = runInNewContext(`(function () {\n${String(terminal['func'])}\n})()`, {
      msg: { topic: 'on', payload: { power: 'on', changed: true, driver: 'libgpiod' } },
      node: { log: (line: string) => logged.push(line) },
    });
    assert.equal(result, null);
    assert.deepEqual(logged, ['modem power on (switched)']);
  }
});
