// Node-RED finds a node's editor (.html), catalogs and help (locales/) and icons beside its .js file,
// so the build copies them next to tsc's output.
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { URL } from 'node:url';

const root = new URL('..', import.meta.url).pathname;
// An other output folder (`node scripts/copy-assets.mjs dist-x` after `tsc --outDir dist-x`) for parallel builds.
/* global process */
const out = join(root, process.argv[2] ?? 'dist', 'nodes');
for (const file of readdirSync(join(root, 'nodes'))) {
  if (file.endsWith('.html')) cpSync(join(root, 'nodes', file), join(out, file));
}
cpSync(join(root, 'nodes', 'locales'), join(out, 'locales'), { recursive: true });
if (existsSync(join(root, 'icons'))) cpSync(join(root, 'icons'), join(out, 'icons'), { recursive: true });
