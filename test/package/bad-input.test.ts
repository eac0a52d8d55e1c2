/**
 * Hostile properties files through the real CLI: the service and `import` exit 2 with one clear error
 * naming file:line, print nothing on stdout, and run no command at all (every tool the service could call
 * is a recorder on PATH, and nothing else is). Not --dry-run: the rejection itself must be what applies nothing.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The CLI of the same build as this test (dist/, or a parallel --outDir build). */
const BIN = join(resolve(__dirname, '../..'), 'bin', 'ifacefailover.js');
/** Every external command the service or its handlers may run. */
const TOOLS = ['ip', 'ping', 'ss', 'conntrack', 'resolvectl', 'resolvconf', 'nmcli', 'pon', 'poff', 'pppd', 'gpioset', 'gpioget', 'gpioinfo', 'sysctl'];

const dir = mkdtempSync(join(tmpdir(), 'iff-bad-input-'));
const ran = join(dir, 'ran.log');
const tools = join(dir, 'bin');
writeFileSync(join(dir, 'recorder.js'), `require('node:fs').appendFileSync(${JSON.stringify(ran)}, process.argv.slice(1).join(' ') + '\\n');\n`);
mkdirSync(tools);
// PATH holds only this directory: node (for the recorders) and the recorders, so nothing real can run.
symlinkSync(process.execPath, join(tools, 'node'));
for (const tool of TOOLS) {
  writeFileSync(join(tools, tool), `#!${process.execPath}\nrequire(${JSON.stringify(join(dir, 'recorder.js'))});\n`);
  chmodSync(join(tools, tool), 0o755);
}

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  // A file that were accepted would start the service: the timeout ends it, and the status shows it.
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 10_000, env: { PATH: tools } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const BASE = 'route.primary.gateway=192.168.1.1\nroute.primary.iface=eth0\n';
const many = (n: number): string => Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}`).join(',');

const CASES: { name: string; text: string; error: RegExp }[] = [
  { name: 'a CR inside a value', text: `${BASE}route.primary.targets=203.0.113.8,\r203.0.113.9\n`, error: /:3: route\.primary\.targets="203\.0\.113\.8,\\r203\.0\.113\.9": contains a control character at column 35/ },
  { name: 'a U+2028 inside a value', text: `${BASE}route.primary.targets=203.0.113.8\u2028\n`, error: /:3: route\.primary\.targets="203\.0\.113\.8\\u2028": contains a control character/ },
  { name: 'a key set twice', text: `${BASE}route.primary.iface=wlan0\n`, error: /:3: route\.primary\.iface="wlan0": is set twice, on lines 2 and 3: each key may be set once$/ },
  { name: '65 targets', text: `${BASE}route.primary.targets=${many(65)}\n`, error: /:3: uplink "primary" targets="10\.0\.0\.1,.*…" \(\d+ characters\): lists 65 addresses: at most 64 targets per uplink$/ },
  { name: 'a line of 5000 characters', text: `${BASE}route.primary.verifier=${'x'.repeat(5000)}\n`, error: /:3: line="route\.primary\.verifier=x+…" \(5023 characters\): is 5023 characters long: a line may have at most 4096$/ },
  {
    name: 'a newline in a log name',
    text: `${BASE}route.primary.handlers=['/opt/h/logHandler.pkl']\nroute.primary.handlerKwargs=[{'name':'x\\nINFO Connected to FAKE'}]\n`,
    error: /:4: uplink "primary" handlerKwargs=.*: has a string with a control character \(U\+000A, line feed, from an escape\)/,
  },
  { name: 'a 2 MB file', text: `${BASE}${'#'.repeat(2_000_000)}\n`, error: /: file=".*": is larger than 1048576 bytes \(1 MiB\), the most a properties file may have$/ },
];

describe('hostile properties files through the CLI', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const c of CASES) {
    it(`${c.name}: exit 2, one error naming the file, nothing run, nothing on stdout; import alike`, () => {
      const file = join(dir, 'ifacefailover.properties');
      writeFileSync(file, c.text);
      for (const args of [[file], ['import', file]]) {
        const r = run(args);
        assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.equal(r.stdout, '');
        const lines = r.stderr.trimEnd().split('\n');
        assert.equal(lines.length, 1, r.stderr);
        assert.ok(lines[0].startsWith(`ifacefailover: ${file}`), lines[0]);
        assert.match(lines[0], c.error);
        assert.ok(lines[0].length < 400, `the error is short (${lines[0].length} characters)`);
      }
      assert.equal(existsSync(ran) ? readFileSync(ran, 'utf8') : '', '', 'no command ran');
    });
  }

  it('the recorders do record (so "nothing ran" means something)', () => {
    spawnSync(join(tools, 'ip'), ['route', 'show'], { env: { PATH: tools } });
    assert.match(readFileSync(ran, 'utf8'), /ip route show/);
  });
});
