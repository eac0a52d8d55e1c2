import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { encryptCredentials, flowFromProperties, FlowNode } from '../../lib/migrate/flow-from-properties';
import { parseServiceProperties } from '../../lib/properties/ifacefailover-properties';

const SAMPLE = join(resolve(__dirname, '../../..'), 'test/fixtures/ifacefailover.properties.sample');

function imported() {
  return flowFromProperties(parseServiceProperties(readFileSync(SAMPLE, 'utf8'), SAMPLE));
}

function byType(flow: FlowNode[], type: string): FlowNode[] {
  return flow.filter((n) => n.type === type);
}

describe('ifacefailover import', () => {
  it('turns the guide sample into uplinks in file order and one controller', () => {
    const { flow } = imported();
    const uplinks = byType(flow, 'uplink');
    assert.deepEqual(
      uplinks.map((u) => [u.name, u.iface, u.gateway, u.targets, u.interval]),
      [
        ['primary', 'eth0', '192.168.1.1', '8.8.8.8,8.8.4.4', 10],
        ['fona', 'ppp0', '', '', 1],
      ],
    );
    const [controller] = byType(flow, 'failover-controller');
    assert.deepEqual(controller.uplinks, uplinks.map((u) => u.id));
    assert.equal(controller.dryRun, false);
  });

  it('maps each handler: log lines, http posts per suffix, the FONA to fona-power and ppp-control', () => {
    const { flow } = imported();
    const functions = byType(flow, 'function');
    assert.deepEqual(functions.map((f) => f.name), ['log primary', 'log fona', 'http queue']);
    const posts = byType(flow, 'change').filter((c) => /connection|connected/.test(String(c.name)));
    assert.deepEqual(
      posts.map((c) => (c.rules as { to: string }[])[0].to),
      [
        'https://localhost:5000/myapp/contextroot/primaryconnectionfailed',
        'https://localhost:5000/myapp/contextroot/primaryconnectionrestored',
        'https://localhost:5000/myapp/contextroot/fonaconnected',
      ],
    );
    const requests = byType(flow, 'http request');
    assert.equal(requests.length, 2);
    assert.ok(requests.every((r) => r.authType === 'basic' && r.method === 'POST'));
    // One queue for all http handlers (as the service's one notifier): one output per POST node, then the back-off.
    const [queue] = functions.filter((f) => f.name === 'http queue');
    assert.deepEqual((queue.wires as string[][]).slice(0, 2), requests.map((r) => [r.id]));
    const power = byType(flow, 'fona-power');
    assert.ok(power.length >= 1 && power.every((p) => p.powerStatusPin === 23 && p.keyPin === 24));
    assert.ok(byType(flow, 'ppp-control').every((p) => p.peer === 'fona' && p.iface === 'ppp0'));
    // Every wire points at a node of the flow.
    const ids = new Set(flow.map((n) => n.id));
    for (const n of flow) for (const out of (n.wires as string[][] | undefined) ?? []) for (const to of out) assert.ok(ids.has(to), `${n.type} wired to ${to}`);
  });

  it('keeps every option a flow can express: headers, timeout, retries, DNS, bring-up, connection resets', () => {
    const props = parseServiceProperties(
      [
        'failover.resetConnections=false',
        'failover.dns=off',
        'route.primary.gateway=192.168.1.1',
        'route.primary.iface=eth0',
        'route.primary.dns=192.168.1.1,9.9.9.9',
        "route.primary.handlers=['/opt/h/httpHandler.pkl']",
        "route.primary.handlerKwargs=[{'url':'https://host/app/', 'onConnectedUrlSuffix':'up', 'headers':{'X-Device':'pi-7', 'Content-Type':'text/plain'}, 'maxRetry':5, 'retryDelay':0.25, 'timeout':2}]",
        'route.fona.gateway=0.0.0.0',
        'route.fona.iface=ppp1',
        'route.fona.prepare=early',
        'route.fona.setupTimeout=100',
        "route.fona.handlers=['/opt/h/fonaRaspberryPiHandler.pkl', '/opt/h/httpHandler.pkl']",
        "route.fona.handlerKwargs=[{'powerStatusPin':5, 'keyPin':6, 'peer':'lte'}, {'url':'http://other/', 'onSetupUrlSuffix':'s', 'auth':('u', 'p'), 'headers':{'Authorization':'Bearer x'}}]",
      ].join('\n'),
      'all.properties',
    );
    const { flow, warnings } = flowFromProperties(props);
    assert.deepEqual(warnings, []);
    const [primary, fona] = byType(flow, 'uplink');
    assert.deepEqual([primary.dns, primary.prepare, fona.dns, fona.prepare], ['192.168.1.1,9.9.9.9', 'on-failure', '', 'early']);
    const [controller] = byType(flow, 'failover-controller');
    assert.deepEqual([controller.resetConnections, controller.dns], [false, 'off']);
    const header = (keyValue: string, valueValue: string) => ({ keyType: 'other', keyValue, valueType: 'other', valueValue });
    const [post1, post2] = byType(flow, 'http request');
    // The body goes out as the service's JSON text: Content-Type is the file's, or application/json.
    assert.deepEqual(post1.headers, [header('X-Device', 'pi-7'), header('Content-Type', 'text/plain')]);
    assert.equal(post1.authType, '');
    // Basic auth replaces the file's own Authorization header, as in the service.
    assert.deepEqual(post2.headers, [header('Content-Type', 'application/json')]);
    assert.equal(post2.authType, 'basic');
    const [queue] = byType(flow, 'function').filter((f) => f.name === 'http queue');
    assert.match(String(queue.func), /\{ route: "primary", timeoutMs: 2000, retryDelayMs: 250, maxRetry: 5 \},\n {4}\{ route: "fona", timeoutMs: 10000, retryDelayMs: 500, maxRetry: 0 \},/);
    assert.ok(byType(flow, 'ppp-control').every((p) => p.iface === 'ppp1' && p.peer === 'lte' && p.upTimeout === 105));
    assert.ok(byType(flow, 'fona-power').every((p) => p.powerStatusPin === 5 && p.keyPin === 6));
  });

  it('warns, with file and line, about what a flow cannot carry', () => {
    const props = parseServiceProperties(
      [
        'route.primary.gateway=192.168.1.1',
        'route.primary.iface=eth0',
        "route.primary.handlers=['/opt/h/httpHandler.pkl', '/opt/h/smsHandler.pkl']",
        "route.primary.handlerKwargs=[{'url':'https://host/app/', 'onConnectedUrlSuffix':'up', 'headers':{'X-Empty':''}}, {}]",
      ].join('\n'),
      'gaps.properties',
    );
    assert.deepEqual(flowFromProperties(props).warnings, [
      'gaps.properties:4: route "primary" http handler: header "X-Empty" has an empty value, which the http request node leaves out',
      'gaps.properties:4: route "primary" handler "/opt/h/smsHandler.pkl" has no Node-RED equivalent; left out',
    ]);
  });

  it('never puts the password into the flow; credentials come separately, encrypted like Node-RED does', () => {
    const { flow, credentials } = imported();
    assert.doesNotMatch(JSON.stringify(flow), /password/);
    const requests = byType(flow, 'http request');
    assert.deepEqual(Object.keys(credentials).sort(), requests.map((r) => r.id).sort());
    assert.deepEqual(credentials[requests[0].id], { user: 'username', password: 'password' });

    const sealed = encryptCredentials(credentials, 'a secret') as { $: string };
    const iv = Buffer.from(sealed.$.slice(0, 32), 'hex');
    const key = createHash('sha256').update('a secret').digest();
    const decipher = createDecipheriv('aes-256-ctr', key, iv);
    const plain = decipher.update(sealed.$.slice(32), 'base64', 'utf8') + decipher.final('utf8');
    assert.deepEqual(JSON.parse(plain), credentials);
    assert.deepEqual(encryptCredentials(credentials, false), credentials);
  });
});
