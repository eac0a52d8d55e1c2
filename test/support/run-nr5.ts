/**
 * Second half of `npm test`: the node specs (dist/test/nodes/*.test.js) and the examples spec again, on
 * Node 22 with Node-RED 5, both from the compat project test/compat/nr5 (`npm ci --prefix test/compat/nr5`,
 * which .ci/run does). The root project never installs the `node` package: its node_modules/.bin/node would
 * shadow the system Node for every npm script.
 *
 * The specs pick the runtime through test/support/red-helper.ts, which reads NODE_RED_PATH.
 * Not installed: a loud warning and exit 0, unless IFF_REQUIRE_NR5=1 (CI), then exit 1.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../../..');
const COMPAT = join(ROOT, 'test', 'compat', 'nr5');
const NODE_RED_DIR = join(COMPAT, 'node_modules', 'node-red');
const NODE_BIN_LINK = join(COMPAT, 'node_modules', 'node', 'bin', 'node');
const MIN_NODE: [number, number] = [22, 9];

function banner(lines: string[]): void {
  const width = Math.max(...lines.map((l) => l.length)) + 4;
  const bar = '!'.repeat(width);
  process.stderr.write(`\n${bar}\n${lines.map((l) => `! ${l.padEnd(width - 4)} !`).join('\n')}\n${bar}\n\n`);
}

function fail(lines: string[]): never {
  banner(lines);
  process.exit(1);
}

function main(): void {
  const required = process.env['IFF_REQUIRE_NR5'] === '1';
  if (!existsSync(NODE_BIN_LINK) || !existsSync(join(NODE_RED_DIR, 'package.json'))) {
    const lines = [
      'Node-RED 5 / Node 22 run SKIPPED: the compat project is not installed.',
      'Install it with:  npm ci --prefix test/compat/nr5   (.ci/run does this)',
    ];
    if (required) fail([...lines, 'IFF_REQUIRE_NR5=1: failing.']);
    banner(lines);
    return;
  }
  const nodeBin = realpathSync(NODE_BIN_LINK);
  const version = spawnSync(nodeBin, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major < MIN_NODE[0] || (major === MIN_NODE[0] && minor < MIN_NODE[1])) {
    fail([`${relative(ROOT, nodeBin)} is Node ${version || '(unknown)'}; Node-RED 5 needs >= ${MIN_NODE.join('.')}.`]);
  }
  const nrVersion = (JSON.parse(readFileSync(join(NODE_RED_DIR, 'package.json'), 'utf8')) as { version: string }).version;

  const specs: string[] = [];
  const nodesDir = join(ROOT, 'dist', 'test', 'nodes');
  if (existsSync(nodesDir)) {
    for (const f of readdirSync(nodesDir).sort()) if (f.endsWith('.test.js')) specs.push(join(nodesDir, f));
  }
  // Flows users import (the examples, and what `ifacefailover import` writes) must load in Node-RED 5 too.
  for (const name of ['examples.test.js', 'import.test.js']) {
    const spec = join(ROOT, 'dist', 'test', 'package', name);
    if (existsSync(spec)) specs.push(spec);
  }
  if (specs.length === 0) fail(['No node specs found in dist/test/nodes/ (run `npm run build` first).']);
  // A spec that requires the test helper itself gets the root's helper and Node-RED 4 even here: this run
  // would claim Node-RED 5 and test 4. Every spec goes through test/support/red-helper.ts (initHelper);
  // the others are left out and fail the run at the end.
  const bypass = specs.filter((f) => /require\(["']node-red-node-test-helper["']\)/.test(readFileSync(f, 'utf8')));
  const run = specs.filter((f) => !bypass.includes(f));

  process.stdout.write(`\n== Node-RED ${nrVersion} on Node ${version}: ${run.map((s) => relative(ROOT, s)).join(' ')}\n\n`);
  const r = spawnSync(nodeBin, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...run], {
    cwd: ROOT,
    stdio: 'inherit',
    env: {
      ...process.env,
      NODE_RED_PATH: NODE_RED_DIR,
      // children that spawn `node` get Node 22 as well
      PATH: `${dirname(nodeBin)}${delimiter}${process.env['PATH'] ?? ''}`,
    },
  });
  if (r.error) fail([`could not run ${nodeBin}: ${r.error.message}`]);
  process.exitCode = r.status ?? 1;
  if (bypass.length > 0) {
    banner([
      'NOT run on Node-RED 5: these specs load node-red-node-test-helper themselves (that is Node-RED 4):',
      ...bypass.map((f) => `  ${relative(ROOT, f)}`),
      'Use `const helper = initHelper()` from test/support/red-helper.ts (type-only imports are fine).',
    ]);
    process.exitCode = 1;
  }
}

main();
