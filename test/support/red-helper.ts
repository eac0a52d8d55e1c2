/**
 * One place that decides which Node-RED the node specs run against.
 *
 * `npm test` runs every spec on Node 20 with the root's node-red (4.x), then runs the node specs again on
 * Node 22 with Node-RED 5 from the compat project test/compat/nr5 (scripts/test-nr5.mjs sets NODE_RED_PATH).
 * Specs never `import helper from 'node-red-node-test-helper'` themselves; they call initHelper():
 *
 *   import { initHelper, coreNodes } from '../support/red-helper';
 *   const helper = initHelper();                       // node-red-node-test-helper, init()ed with the chosen runtime
 *   await helper.load([controllerNode, ...coreNodes(['debug'])], flow);
 *
 * NODE_RED_PATH: a node-red package directory (…/node_modules/node-red) or a project directory that has
 * node-red installed (test/compat/nr5). Unset: the root project's node-red. The test helper itself is taken
 * from beside that node-red, so one process never loads two runtimes.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { NodeInitializer } from 'node-red';

/** node-red-node-test-helper's singleton (its `startServer`/`stopServer` return promises despite the typings). */
export type NodeTestHelper = typeof import('node-red-node-test-helper');

/** Where the chosen Node-RED lives and what it is. */
export interface RedRuntime {
  /** Directory of the node-red package. */
  dir: string;
  /** node-red's version, e.g. '4.1.15' or '5.0.7'. */
  version: string;
  /** Major version (4 or 5). */
  major: number;
  /** Directory of the @node-red/nodes package next to it (core nodes live in its core/). */
  coreNodesDir: string;
  /** True when NODE_RED_PATH chose it. */
  fromEnv: boolean;
}

/** Repository root (this file compiles to dist/test/support/red-helper.js). */
const REPO_ROOT = resolve(__dirname, '../../..');

function readJson(file: string): { name?: string; version?: string } {
  return JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
}

let runtime: RedRuntime | undefined;

/** The Node-RED the specs use (NODE_RED_PATH or the root's), resolved once. */
export function redRuntime(): RedRuntime {
  if (runtime) return runtime;
  const env = process.env['NODE_RED_PATH'];
  let dir: string;
  if (env) {
    const given = resolve(REPO_ROOT, env);
    const pkg = join(given, 'package.json');
    if (existsSync(pkg) && readJson(pkg).name === 'node-red') dir = given;
    else dir = dirname(createRequire(join(given, 'noop.js')).resolve('node-red/package.json'));
  } else {
    dir = dirname(createRequire(join(REPO_ROOT, 'noop.js')).resolve('node-red/package.json'));
  }
  const version = readJson(join(dir, 'package.json')).version ?? '0.0.0';
  const fromNodeRed = createRequire(join(dir, 'package.json'));
  const coreNodesDir = dirname(fromNodeRed.resolve('@node-red/nodes/package.json'));
  runtime = { dir, version, major: Number(version.split('.')[0]), coreNodesDir, fromEnv: Boolean(env) };
  return runtime;
}

let helper: NodeTestHelper | undefined;

/**
 * node-red-node-test-helper, init()ed once with the chosen Node-RED (the helper beside it, or the root's).
 * Call it at the top of a spec; every call returns the same helper.
 */
export function initHelper(): NodeTestHelper {
  if (helper) return helper;
  const rt = redRuntime();
  const fromNodeRed = createRequire(join(rt.dir, 'package.json'));
  let helperPath: string;
  try {
    helperPath = fromNodeRed.resolve('node-red-node-test-helper');
  } catch {
    helperPath = createRequire(join(REPO_ROOT, 'noop.js')).resolve('node-red-node-test-helper');
  }
  const h = createRequire(__filename)(helperPath) as NodeTestHelper;
  h.init(fromNodeRed.resolve('node-red'));
  helper = h;
  return h;
}

/** Core node types and the @node-red/nodes file that registers each (the same paths in 4.x and 5.x). */
export const CORE_NODE_FILES: Readonly<Record<string, string>> = {
  inject: 'common/20-inject.js',
  debug: 'common/21-debug.js',
  complete: 'common/24-complete.js',
  catch: 'common/25-catch.js',
  status: 'common/25-status.js',
  'link in': 'common/60-link.js',
  'link out': 'common/60-link.js',
  'link call': 'common/60-link.js',
  comment: 'common/90-comment.js',
  function: 'function/10-function.js',
  switch: 'function/10-switch.js',
  change: 'function/15-change.js',
  range: 'function/16-range.js',
  template: 'function/80-template.js',
  delay: 'function/89-delay.js',
  trigger: 'function/89-trigger.js',
  exec: 'function/90-exec.js',
  rbe: 'function/rbe.js',
  'mqtt in': 'network/10-mqtt.js',
  'mqtt out': 'network/10-mqtt.js',
  'mqtt-broker': 'network/10-mqtt.js',
  'http request': 'network/21-httprequest.js',
  json: 'parsers/70-JSON.js',
  file: 'storage/10-file.js',
  'file in': 'storage/10-file.js',
};

/**
 * Initializers of the core nodes that register `types` (each file once), from the chosen Node-RED's
 * @node-red/nodes, to pass to helper.load() next to our own nodes. Throws for a type not in CORE_NODE_FILES.
 */
export function coreNodes(types: Iterable<string>): NodeInitializer[] {
  const rt = redRuntime();
  const load = createRequire(join(rt.coreNodesDir, 'package.json'));
  const files = new Set<string>();
  for (const type of types) {
    const file = CORE_NODE_FILES[type];
    if (!file) throw new Error(`red-helper: no core node file known for type ${JSON.stringify(type)}`);
    files.add(file);
  }
  return [...files].map((f) => load(join(rt.coreNodesDir, 'core', f)) as NodeInitializer);
}

/** The compiled tree this file belongs to: dist, or the folder of a parallel build (tsc --outDir dist-x). */
export const BUILD_ROOT = resolve(__dirname, '../..');

/** Our node's initializer from dist/nodes (the compiled `export =` function) of the same build as this file. */
export function ourNode(type: string): NodeInitializer {
  return createRequire(__filename)(join(BUILD_ROOT, 'nodes', `${type}.js`)) as NodeInitializer;
}

/** Dashboard 2 (@flowfuse/node-red-dashboard, a devDependency: the dashboard example uses it), as the root installed it. */
export const DASHBOARD_PACKAGE = '@flowfuse/node-red-dashboard';

/** Dashboard 2's node types and the file that registers each (its package.json `node-red.nodes`); empty without it. */
export function dashboardNodeFiles(): Readonly<Record<string, string>> {
  let pkg: string;
  try {
    pkg = createRequire(join(REPO_ROOT, 'noop.js')).resolve(`${DASHBOARD_PACKAGE}/package.json`);
  } catch {
    return {};
  }
  const nodes = (JSON.parse(readFileSync(pkg, 'utf8')) as { 'node-red'?: { nodes?: Record<string, string> } })['node-red']?.nodes ?? {};
  return Object.fromEntries(Object.entries(nodes).map(([type, file]) => [type, join(dirname(pkg), file)]));
}

/** Initializers of Dashboard 2's nodes that register `types` (and of its config nodes, which its widgets need). */
export function dashboardNodes(types: Iterable<string>): NodeInitializer[] {
  const files = dashboardNodeFiles();
  const wanted = new Set(['ui-base', 'ui-page', 'ui-group', 'ui-theme', ...types]);
  return [...wanted].map((type) => {
    const file = files[type];
    if (!file) throw new Error(`red-helper: ${type} is not a node of ${DASHBOARD_PACKAGE} (is it installed?)`);
    return createRequire(__filename)(file) as NodeInitializer;
  });
}
