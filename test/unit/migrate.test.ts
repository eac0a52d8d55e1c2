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
    assert.deepEqual(functions.map((f) => f.name), ['log primary', 'log fona']);
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
    const power = byType(flow, 'fona-power');
    assert.ok(power.length >= 1 && power.every((p) => p.powerStatusPin === 23 && p.keyPin === 24));
    assert.ok(byType(flow, 'ppp-control').every((p) => p.peer === 'fona' && p.iface === 'ppp0'));
    // Every wire points at a node of the flow.
    const ids = new Set(flow.map((n) => n.id));
    for (const n of flow) for (const out of (n.wires as string[][] | undefined) ?? []) for (const to of out) assert.ok(ids.has(to), `${n.type} wired to ${to}`);
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
