/**
 * Every flow under examples/ (what Node-RED offers under Import > Examples) loads in the test runtime:
 * every node type is known (ours from dist/nodes, the core ones from node-red's own @node-red/nodes), every
 * node is created, and no node reports an error while it starts. Our nodes' properties are exactly the ones
 * their editor defines (nodes/<type>.html `defaults`), with one wire list per output.
 *
 * Importing an example must never change the host's routes, and neither may this test: controllers and
 * route-switch nodes are loaded with dryRun forced on, route-verifier with pin off, and without wires (see
 * forTest).
 * Runs with Node-RED 4 (root) and again with Node-RED 5 (test/support/run-nr5.ts sets NODE_RED_PATH).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { initHelper, redRuntime } from '../support/red-helper';
import { checkLoads, checkOurProperties, checkWiring, FlowNode } from '../support/flow-check';

const ROOT = resolve(__dirname, '../../..');

function exampleFiles(dir = join(ROOT, 'examples')): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? exampleFiles(join(dir, e.name)) : e.name.endsWith('.json') ? [join(dir, e.name)] : []))
    .sort();
}

const helper = initHelper();
const runtime = redRuntime();

describe(`examples load in Node-RED ${runtime.version}`, () => {
  after(async () => {
    await helper.unload();
  });

  const files = exampleFiles();
  it('there are examples', () => {
    assert.ok(files.length >= 3, `${files.length} example files`);
  });

  it('no two examples share a node id (importing both would clash in the editor)', () => {
    const owner = new Map<string, string>();
    for (const file of files) {
      for (const n of JSON.parse(readFileSync(file, 'utf8')) as FlowNode[]) {
        const other = owner.get(n.id);
        assert.equal(other, undefined, `${n.id} is in ${relative(ROOT, file)} and ${other ?? ''}`);
        owner.set(n.id, relative(ROOT, file));
      }
    }
  });

  for (const file of files) {
    const rel = relative(ROOT, file);
    describe(rel, () => {
      const flow = JSON.parse(readFileSync(file, 'utf8')) as FlowNode[];
      it('is an array of nodes with unique ids and wires to nodes of the flow', () => checkWiring(flow));
      it('uses our nodes with exactly the properties their editor defines', () => checkOurProperties(flow));
      it('loads with every node type known, every node created and no error at start', () => checkLoads(flow));
    });
  }
});
