/**
 * The package installed into a real Node-RED, as a user installs it (a link in <userDir>/node_modules):
 * Node-RED 4 on Node 20 loads node files with require(), Node-RED 5 on Node 22 (test/compat/nr5) with
 * import(). Both must list all seven node types, enabled and without a load error, and offer the examples
 * under Import > Examples. No flow is deployed (an empty flow file), so nothing touches the network.
 * The test helper never goes through this loader, hence this test.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { freePort } from '../support/ports';

const ROOT = resolve(__dirname, '../../..');
const PACKAGE = 'node-red-contrib-ifacefailover';
const TYPES = ['failover-controller', 'failover-mqtt', 'fona-power', 'ppp-control', 'route-switch', 'route-verifier', 'uplink'];
const COMPAT = join(ROOT, 'test/compat/nr5/node_modules');

interface Runtime {
  title: string;
  node: string;
  redJs: string;
  skip: string | false;
}

function compatRuntime(): Runtime {
  const nodeLink = join(COMPAT, 'node/bin/node');
  const redJs = join(COMPAT, 'node-red/red.js');
  const installed = existsSync(nodeLink) && existsSync(redJs);
  const skip = installed ? false : 'the compat project is not installed (npm ci --prefix test/compat/nr5)';
  if (skip && process.env['IFF_REQUIRE_NR5'] === '1') throw new Error(`IFF_REQUIRE_NR5=1 but ${skip}`);
  if (skip) console.warn(`SKIPPED: loading the package in Node-RED 5: ${skip}`);
  return { title: 'Node-RED 5 on Node 22 (import())', node: installed ? realpathSync(nodeLink) : '', redJs, skip };
}

const RUNTIMES: Runtime[] = [
  { title: 'Node-RED 4 on Node 20 (require())', node: process.execPath, redJs: require.resolve('node-red/red.js', { paths: [ROOT] }), skip: false },
  compatRuntime(),
];


interface NodeSet {
  module: string;
  name: string;
  types: string[];
  enabled: boolean;
  err?: unknown;
}

async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(5000) });
  assert.equal(r.status, 200, url);
  return (await r.json()) as T;
}

for (const rt of RUNTIMES) {
  describe(`installed in ${rt.title}`, { skip: rt.skip }, () => {
    let child: ChildProcess | undefined;
    let dir = '';
    let output = '';

    after(async () => {
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child?.once('exit', r));
        child.kill('SIGINT');
        const timer = setTimeout(() => child?.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('lists the seven node types without a load error and offers the examples', { timeout: 90_000 }, async () => {
      dir = mkdtempSync(join(tmpdir(), 'iff-load-'));
      mkdirSync(join(dir, 'node_modules'));
      symlinkSync(ROOT, join(dir, 'node_modules', PACKAGE), 'dir');
      writeFileSync(join(dir, 'flows.json'), '[]');
      const port = await freePort();
      const settings = {
        uiHost: '127.0.0.1',
        uiPort: port,
        userDir: dir,
        flowFile: 'flows.json',
        credentialSecret: false,
        telemetry: { enabled: false, updateNotification: false },
        editorTheme: { tours: false },
        logging: { console: { level: 'warn' } },
      };
      writeFileSync(join(dir, 'settings.js'), `module.exports = ${JSON.stringify(settings)};\n`);
      child = spawn(rt.node, [rt.redJs, '--userDir', dir, '--settings', join(dir, 'settings.js')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));

      const base = `http://127.0.0.1:${port}`;
      let sets: NodeSet[] | undefined;
      const deadline = Date.now() + 60_000;
      while (!sets) {
        if (child.exitCode !== null) assert.fail(`Node-RED exited (${child.exitCode}):\n${output}`);
        if (Date.now() > deadline) assert.fail(`Node-RED did not answer on ${base}:\n${output}`);
        try {
          const r = await fetch(`${base}/nodes`, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(2000) });
          if (r.ok) sets = (await r.json()) as NodeSet[];
        } catch {
          await new Promise((r) => setTimeout(r, 250));
        }
      }

      // the runtime answering is the one started
      const version = (JSON.parse(readFileSync(join(dirname(rt.redJs), 'package.json'), 'utf8')) as { version: string }).version;
      const info = await getJson<{ version?: string }>(`${base}/settings`);
      assert.equal(info.version?.replace(/-git$/, ''), version);

      const ours = sets.filter((s) => s.module === PACKAGE);
      const broken = ours.filter((s) => s.err || !s.enabled).map((s) => `${s.name}: ${String(s.err)}`);
      assert.deepEqual(broken, [], `node sets that failed to load:\n${output}`);
      assert.deepEqual(ours.flatMap((s) => s.types).sort(), TYPES);

      // what Import > Examples shows: a folder per node type, a flow per file
      const folders = await getJson<string[]>(`${base}/library/examples/flows/${PACKAGE}/`);
      assert.deepEqual(folders, ['failover-controller', 'fona-power', 'route-verifier']);
      const flows = await getJson<Array<{ fn?: string }>>(`${base}/library/examples/flows/${PACKAGE}/failover-controller`);
      assert.ok(flows.some((f) => f.fn === '01 - Failover to a FONA modem like the guide'), JSON.stringify(flows));
    });
  });
}
