// Node-RED finds a node's editor (.html), catalogs and help (locales/) and icons beside its .js file,
// so the build copies them next to tsc's output.
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { URL } from 'node:url';

const root = new URL('..', import.meta.url).pathname;
const out = join(root, 'dist', 'nodes');
for (const file of readdirSync(join(root, 'nodes'))) {
  if (file.endsWith('.html')) cpSync(join(root, 'nodes', file), join(out, file));
}
cpSync(join(root, 'nodes', 'locales'), join(out, 'locales'), { recursive: true });
if (existsSync(join(root, 'icons'))) cpSync(join(root, 'icons'), join(out, 'icons'), { recursive: true });
