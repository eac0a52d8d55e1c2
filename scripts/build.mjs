// `npm run build`: tsc, then the editors' assets (scripts/copy-assets.mjs).
//
// Run as root in a checkout that someone else owns (`sudo npm start`, as the demo's banner suggests), tsc
// would leave dist/ to root, and that user's next `npm start` would fail with hundreds of TS5033 EACCES. So
// afterwards (also after a failed build: tsc writes what it can) everything under dist/ is handed to the
// checkout's owner, the user who ran sudo. It does not need SUDO_UID: `su -c` or doas leave the same trap.
import { spawnSync } from 'node:child_process';
import { lchownSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { URL, fileURLToPath } from 'node:url';

/* global process */
const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const require = createRequire(import.meta.url);

/** Runs a Node.js script of the build; its exit status (1 if it could not run or was killed). */
function run(args) {
  return spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' }).status ?? 1;
}

/** dist/ and everything in it to the checkout's owner, if this runs as root and the checkout is not root's. */
function giveToOwner() {
  if (process.getuid?.() !== 0) return;
  const { uid, gid } = statSync(root);
  if (uid === 0) return;
  const walk = (path) => {
    let entry;
    try {
      entry = lstatSync(path);
    } catch {
      return; // no dist/ (tsc did not get that far)
    }
    // lchown: a symbolic link is changed itself, never what it points to
    if (entry.uid !== uid || entry.gid !== gid) lchownSync(path, uid, gid);
    if (entry.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(dist);
}

let status = 1;
try {
  status = run([require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')]);
  if (status === 0) status = run([join(root, 'scripts', 'copy-assets.mjs')]);
} finally {
  giveToOwner();
}
process.exit(status);
