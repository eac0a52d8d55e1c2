/**
 * `sudo npm start`, then `npm start` as the user: the first build runs as root (npm runs scripts as root under
 * sudo), and used to leave dist/ to root, so the user's next build failed with hundreds of TS5033 EACCES.
 * scripts/build.mjs hands dist/ to the checkout's owner. Here, in a scratch copy of the sources owned by an
 * unprivileged user (nobody): `npm run build` as root with sudo's environment, then `npm run build` as that user
 * (setpriv) must succeed, and everything under dist/ is the user's.
 *
 * The copy's node_modules is this checkout's, bind-mounted in a private mount namespace (unshare), so the user can
 * read it even where this checkout lies under a directory only root can enter (/root); nothing else is mounted.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isRoot } from './netlab';

const ROOT = resolve(__dirname, '../../..');
const USER = { name: 'nobody', uid: 65534, gid: 65534 };
const SKIP = isRoot() ? false : 'needs root (it builds as root, then as another user); CI runs it as root';
if (SKIP) console.warn(`SKIPPED: the sudo-then-user build test: ${SKIP}`);

/** What tsconfig.json and scripts/build.mjs read. */
const SOURCES = ['package.json', 'tsconfig.json', 'scripts', 'lib', 'bin', 'nodes', 'test', 'demo', 'icons'];

/**
 * In a private mount namespace: this checkout's node_modules bind-mounted onto the copy's, then `argv`. The
 * mount goes with the namespace when the command ends.
 */
const MOUNT_AND_RUN = `
const { execFileSync, spawnSync } = require('node:child_process');
const [source, target, ...argv] = process.argv.slice(1);
execFileSync('mount', ['--bind', source, target]);
const r = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit' });
process.exit(r.status ?? 1);
`;

interface Run {
  code: number | null;
  output: string;
}

function run(argv: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code, output }));
  });
}

/** Every path under `dir` whose owner is not uid:gid. */
function notOwnedBy(dir: string, uid: number, gid: number): string[] {
  const wrong: string[] = [];
  const walk = (path: string): void => {
    const s = lstatSync(path);
    if (s.uid !== uid || s.gid !== gid) wrong.push(`${path} (${s.uid}:${s.gid})`);
    if (s.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(dir);
  return wrong;
}

function chownTree(path: string, uid: number, gid: number): void {
  lchownSync(path, uid, gid);
  if (lstatSync(path).isDirectory()) for (const name of readdirSync(path)) chownTree(join(path, name), uid, gid);
}

describe('sudo npm start, then npm start as the user', { skip: SKIP }, () => {
  let scratch = '';
  after(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('a build as root (sudo) leaves dist/ to the checkout owner, whose own build then succeeds', { timeout: 600_000 }, async () => {
    scratch = mkdtempSync(join(tmpdir(), 'iff-sudo-build-'));
    chmodSync(scratch, 0o755);
    const checkout = join(scratch, 'checkout');
    const home = join(scratch, 'home');
    mkdirSync(home);
    mkdirSync(checkout);
    for (const entry of SOURCES) cpSync(join(ROOT, entry), join(checkout, entry), { recursive: true });
    mkdirSync(join(checkout, 'node_modules'));
    chownTree(checkout, USER.uid, USER.gid);
    chownTree(home, USER.uid, USER.gid);

    const npm = ['npm', 'run', 'build'];
    const inNamespace = (argv: string[]): string[] => [
      'unshare',
      '--mount',
      '--propagation',
      'private',
      '--',
      process.execPath,
      '-e',
      MOUNT_AND_RUN,
      realpathSync(join(ROOT, 'node_modules')),
      join(checkout, 'node_modules'),
      ...argv,
    ];
    const base = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANG: 'C.UTF-8', npm_config_update_notifier: 'false', npm_config_fund: 'false' };

    // 1. as root, with the environment sudo gives (npm runs the build script as root)
    const asRoot = await run(inNamespace(npm), { ...base, HOME: '/root', SUDO_USER: USER.name, SUDO_UID: String(USER.uid), SUDO_GID: String(USER.gid) }, checkout);
    assert.equal(asRoot.code, 0, asRoot.output.slice(-3000));
    assert.ok(lstatSync(join(checkout, 'dist', 'nodes', 'failover-controller.html')).isFile(), 'the build ran to the end (assets copied)');
    assert.deepEqual(notOwnedBy(join(checkout, 'dist'), USER.uid, USER.gid).slice(0, 10), [], 'dist/ belongs to the checkout owner after a build as root');

    // 2. as the user (no privileges left), in the same checkout: tsc overwrites every file of dist/
    const setpriv = ['setpriv', `--reuid=${USER.uid}`, `--regid=${USER.gid}`, '--clear-groups', '--'];
    const asUser = await run(inNamespace([...setpriv, ...npm]), { ...base, HOME: home }, checkout);
    assert.doesNotMatch(asUser.output, /TS5033|EACCES/);
    assert.equal(asUser.code, 0, asUser.output.slice(-3000));
    assert.deepEqual(notOwnedBy(join(checkout, 'dist'), USER.uid, USER.gid).slice(0, 10), []);
  });
});
