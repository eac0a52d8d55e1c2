/**
 * `ifacefailover import` on the guide's sample: the flow it writes is sound, loads in Node-RED with every
 * node type known and no error, and the auth of the properties file ends up in Node-RED credentials only.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { checkLoads, checkOurProperties, checkWiring, FlowNode } from '../support/flow-check';

const ROOT = resolve(__dirname, '../../..');
/** The CLI of the same build as this test (dist/, or a parallel --outDir build). */
const BIN = join(resolve(__dirname, '../..'), 'bin', 'ifacefailover.js');
const SAMPLE = join(ROOT, 'test', 'fixtures', 'ifacefailover.properties.sample');

function runImport(args: string[]): FlowNode[] {
  const stdout = execFileSync(process.execPath, [BIN, 'import', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(stdout) as FlowNode[];
}

describe('ifacefailover import FILE.properties', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iff-import-'));
  const credFile = join(dir, 'flows_cred.json');
  const flow = runImport([SAMPLE, '--credentials', credFile]);
  const credentials = JSON.parse(readFileSync(credFile, 'utf8')) as Record<string, Record<string, string>>;

  it('writes a sound flow with our nodes exactly as their editors define them', () => {
    checkWiring(flow);
    checkOurProperties(flow);
    assert.deepEqual(
      flow.filter((n) => n.type === 'uplink').map((n) => n.name),
      ['primary', 'fona'],
    );
  });

  it('keeps the password out of the flow and in a private credentials file', () => {
    assert.doesNotMatch(JSON.stringify(flow), /password/);
    const requests = flow.filter((n) => n.type === 'http request').map((n) => n.id);
    assert.deepEqual(Object.keys(credentials).sort(), requests.sort());
    assert.equal(statSync(credFile).mode & 0o077, 0, 'only the owner may read it');
  });

  it('loads in Node-RED with every node type known and no error at start', async () => {
    await checkLoads(flow, credentials);
    rmSync(dir, { recursive: true, force: true });
  });

  it('what a flow cannot carry is a warning on stderr naming file and line; the flow is still written', () => {
    const file = join(tmpdir(), `iff-gap-${process.pid}.properties`);
    try {
      writeFileSync(
        file,
        [
          'route.primary.gateway=192.168.1.1',
          'route.primary.iface=eth0',
          "route.primary.handlers=['/opt/h/httpHandler.pkl']",
          "route.primary.handlerKwargs=[{'url':'https://host/app/', 'onConnectedUrlSuffix':'up', 'headers':{'X-Device':'pi-7', 'X-Empty':''}, 'timeout':3}]",
        ].join('\n'),
      );
      const r = spawnSync(process.execPath, [BIN, 'import', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, `ifacefailover: warning: ${file}:4: route "primary" http handler: header "X-Empty" has an empty value, which the http request node leaves out\n`);
      const post = (JSON.parse(r.stdout) as FlowNode[]).find((n) => n.type === 'http request');
      assert.deepEqual(
        (post?.headers as { keyValue: string; valueValue: string }[]).map((h) => `${h.keyValue}: ${h.valueValue}`),
        ['Content-Type: application/json', 'X-Device: pi-7', 'X-Empty: '],
      );
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('a bad file is one clear error and exit code 2, and nothing on stdout', () => {
    const bad = join(tmpdir(), `iff-bad-${process.pid}.properties`);
    try {
      writeFileSync(bad, 'route.primary.gateway=192.168.1.300\nroute.primary.iface=eth0\n');
      assert.throws(
        () => execFileSync(process.execPath, [BIN, 'import', bad], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
        (e: { status?: number; stdout?: string; stderr?: string }) => {
          assert.equal(e.status, 2);
          assert.equal(e.stdout, '');
          assert.match(String(e.stderr), /:1: uplink "primary" gateway="192\.168\.1\.300"/);
          return true;
        },
      );
    } finally {
      rmSync(bad, { force: true });
    }
  });
});
