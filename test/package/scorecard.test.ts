/**
 * The Flow Library scorecard (`node-red-dev validate`) checked offline from the files: package.json fields,
 * Node-RED and Node versions, examples covering every node, dependency count and freshness (against the
 * checked-in registry snapshot test/fixtures/registry-latest.json), and the node files Node-RED loads.
 * Runs after `npm run build` (it looks at dist/nodes).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import semver from 'semver';
import { editorRegistration, literal, type Registration } from '../support/editor-html';

const ROOT = resolve(__dirname, '../../..');

interface PackageJson {
  name: string;
  license?: string;
  repository?: string | { type?: string; url?: string };
  bugs?: string | { url?: string };
  keywords?: string[];
  engines?: { node?: string };
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  'node-red'?: { version?: string; nodes?: Record<string, string> };
}

interface RegistrySnapshot {
  fetched: string;
  latest: Record<string, string>;
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;
const snapshot = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/registry-latest.json'), 'utf8')) as RegistrySnapshot;
const nodeFiles = pkg['node-red']?.nodes ?? {};

/**
 * Dependencies (runtime, or for execa the tests') allowed to stay one major behind the registry's latest, and why. Only while the package
 * still promises Node 20 (engines.node accepts 20.19): once it does not, the exception lapses and the
 * test asks for the upgrade.
 */
const MAJOR_BEHIND_EXCEPTIONS: Readonly<Record<string, { major: number; reason: string }>> = {
  ping: {
    major: 0,
    reason: 'ping 1.0.0 declares engines.node >= 22, so npm install warns EBADENGINE on Node 20; 0.4.4 has the same promise.probe API and declares >= 4; engines.node promises 20.19',
  },
  execa: {
    major: 9,
    reason: 'execa 10 needs Node 22 (it calls Set.prototype.union and crashes on Node 20); engines.node promises 20.19',
  },
};

// ───────────────────────────── editor HTML ─────────────────────────────

function registrationOf(type: string): Registration {
  const reg = editorRegistration(type);
  assert.ok(reg, `nodes/${type}.html has no RED.nodes.registerType('${type}', { ... }) with literal arguments`);
  return reg;
}

const isConfigNode = (type: string): boolean => literal(registrationOf(type).props.get('category')) === 'config';

// ───────────────────────────── status texts ─────────────────────────────

/** A node's TypeScript: nodes/<type>.ts and its folder nodes/<type>/ (nodes/shared/ draws badges, it has no texts). */
function nodeSources(type: string): Array<[string, string]> {
  const dir = join(ROOT, 'nodes', type);
  const files = [join(ROOT, 'nodes', `${type}.ts`), ...(existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => join(dir, f)) : [])];
  return files.filter((f) => existsSync(f)).map((f) => [relative(ROOT, f), readFileSync(f, 'utf8')]);
}

/** A status text written in the code: a string literal given to node.status, a badge, or a Badge's text. */
const LITERAL_STATUS = /\.status\(\s*\{[^}]*\btext\s*:|\bbadge\.(?:ok|working|warning|error|inactive)\(\s*['"`]|\bsetBadge\([^,]+,\s*['"`]|\btext\s*:\s*['"`]/g;

// ───────────────────────────── examples ─────────────────────────────

function exampleFiles(dir = join(ROOT, 'examples')): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? exampleFiles(join(dir, e.name)) : e.name.endsWith('.json') ? [join(dir, e.name)] : [],
  );
}

// ───────────────────────────── tests ─────────────────────────────

describe('Flow Library scorecard (offline checks)', () => {
  describe('package.json', () => {
    it('has a license', () => {
      assert.equal(typeof pkg.license, 'string');
      assert.ok((pkg.license ?? '').trim().length > 0);
    });

    it('has a repository and a bugs URL', () => {
      const repo = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
      const bugs = typeof pkg.bugs === 'string' ? pkg.bugs : pkg.bugs?.url;
      assert.match(repo ?? '', /^(git\+)?https:\/\/|^github:/, 'repository url');
      assert.match(bugs ?? '', /^https:\/\//, 'bugs url');
    });

    it('is named node-red-contrib-* (or scoped)', () => {
      assert.match(pkg.name, /^(node-red-contrib-[a-z0-9-]+|@[a-z0-9-]+\/[a-z0-9-]+)$/);
    });

    it('has the keyword node-red', () => {
      assert.ok(pkg.keywords?.includes('node-red'), `keywords: ${JSON.stringify(pkg.keywords)}`);
    });

    it(`declares node-red.version satisfied by the latest Node-RED (${snapshot.latest['node-red']}, snapshot ${snapshot.fetched}) and by 4.x`, () => {
      const range = pkg['node-red']?.version;
      assert.ok(range, 'node-red.version missing');
      const latest = snapshot.latest['node-red'];
      assert.ok(latest, 'snapshot has no node-red');
      assert.ok(semver.satisfies(latest, range), `${range} does not accept node-red ${latest}`);
      const installed = (JSON.parse(readFileSync(join(ROOT, 'node_modules/node-red/package.json'), 'utf8')) as { version: string }).version;
      assert.ok(semver.satisfies(installed, range), `${range} does not accept the node-red we test with (${installed})`);
    });

    it('declares engines.node accepting Node 22.9 (Node-RED 5) and 20.19', () => {
      const range = pkg.engines?.node;
      assert.ok(range, 'engines.node missing');
      for (const v of ['22.9.0', '20.19.0']) assert.ok(semver.satisfies(v, range), `engines.node ${range} rejects ${v}`);
    });

    it('has at most 6 runtime dependencies', () => {
      const deps = Object.keys(pkg.dependencies ?? {});
      assert.ok(deps.length <= 6, `${deps.length} dependencies: ${deps.join(', ')}`);
    });

    it('leaves execa to the tests: loading it costs ~14 MB of RSS (issue 10), lib/process/spawn.ts runs the programs', () => {
      assert.equal(pkg.dependencies?.['execa'], undefined);
    });

    it('has no dependency a major version behind the registry snapshot, except those with a reason (execa, ping)', () => {
      const problems: string[] = [];
      const node20 = semver.satisfies('20.19.0', pkg.engines?.node ?? '*');
      for (const [name, range] of Object.entries(pkg.dependencies ?? {})) {
        const latest = snapshot.latest[name];
        if (!latest) {
          problems.push(`${name}: not in test/fixtures/registry-latest.json (run \`npm view ${name} version\` and add it)`);
          continue;
        }
        const min = semver.minVersion(range);
        if (!min) {
          problems.push(`${name}: cannot read the range ${range}`);
          continue;
        }
        const behind = semver.major(latest) - semver.major(min);
        if (behind <= 0) continue;
        const exception = MAJOR_BEHIND_EXCEPTIONS[name];
        if (exception && node20 && behind === 1 && semver.major(min) === exception.major) continue;
        problems.push(`${name}: ${range} is ${behind} major(s) behind ${latest}`);
      }
      // An exception that no longer applies is stale: say so rather than keep it around silently.
      for (const [name, exception] of Object.entries(MAJOR_BEHIND_EXCEPTIONS)) {
        const range = pkg.dependencies?.[name];
        if (range && semver.minVersion(range)?.major !== exception.major) problems.push(`${name}: exception for major ${exception.major} is stale (${range})`);
      }
      assert.deepEqual(problems, []);
    });

    it('pins execa to 9 on purpose: execa 10 crashes on Node 20 (the tests run on it)', () => {
      // The one exception above, stated: engines.node still accepts Node 20, and execa 10 needs Node 22.
      assert.equal(semver.minVersion(pkg.devDependencies?.['execa'] ?? '')?.major, 9, MAJOR_BEHIND_EXCEPTIONS['execa']?.reason);
      assert.ok(semver.satisfies('20.19.0', pkg.engines?.node ?? ''), 'engines.node dropped Node 20: upgrade execa to the latest major');
    });
  });

  describe('node files', () => {
    const types = Object.keys(nodeFiles);

    it('lists the seven node types', () => {
      assert.deepEqual(types.sort(), ['failover-controller', 'failover-mqtt', 'fona-power', 'ppp-control', 'route-switch', 'route-verifier', 'uplink']);
    });

    for (const [type, file] of Object.entries(nodeFiles)) {
      describe(type, () => {
        const js = join(ROOT, file);
        const dir = dirname(js);

        it(`${file} exists after the build, with its .html, catalog and help beside it`, () => {
          assert.equal(basename(file), `${type}.js`);
          for (const f of [js, join(dir, `${type}.html`), join(dir, 'locales/en-US', `${type}.json`), join(dir, 'locales/en-US', `${type}.html`)]) {
            assert.ok(existsSync(f), `${relative(ROOT, f)} missing`);
          }
          const catalog = JSON.parse(readFileSync(join(dir, 'locales/en-US', `${type}.json`), 'utf8')) as Record<string, unknown>;
          assert.ok(catalog[type], `the catalog's top-level key is not ${type}`);
          const help = readFileSync(join(dir, 'locales/en-US', `${type}.html`), 'utf8');
          assert.match(help, new RegExp(`data-help-name=["']${type}["']`));
        });

        it(`the editor registers it with a literal RED.nodes.registerType('${type}', {...})`, () => {
          const html = readFileSync(join(ROOT, 'nodes', `${type}.html`), 'utf8');
          assert.match(html, new RegExp(`RED\\.nodes\\.registerType\\(\\s*['"]${type}['"]\\s*,\\s*\\{`));
          assert.match(html, new RegExp(`data-template-name=["']${type}["']`));
          const reg = registrationOf(type);
          const category = literal(reg.props.get('category'));
          assert.equal(typeof category, 'string', 'category must be a string literal');
          const required = category === 'config' ? ['category', 'defaults'] : ['category', 'color', 'icon', 'inputs', 'outputs', 'defaults'];
          for (const p of required) assert.ok(reg.props.has(p), `registerType('${type}') has no ${p}`);
        });

        it('uses icons that exist', () => {
          const reg = registrationOf(type);
          const icon = reg.props.get('icon');
          if (!icon) return; // config node
          const name = literal(icon);
          assert.equal(typeof name, 'string', 'icon must be a string literal');
          if (String(name).startsWith('font-awesome/')) return;
          const ours = [join(ROOT, 'icons', String(name)), join(dir, 'icons', String(name))];
          for (const f of ours) assert.ok(existsSync(f), `${relative(ROOT, f)} missing`);
        });

        it('takes its status texts from its catalog (RED._), none written in the code', () => {
          const catalog = JSON.parse(readFileSync(join(ROOT, 'nodes/locales/en-US', `${type}.json`), 'utf8')) as Record<string, { status?: Record<string, string> }>;
          const texts = catalog[type]?.status ?? {};
          const problems: string[] = [];
          for (const [file, code] of nodeSources(type)) {
            for (const m of code.matchAll(LITERAL_STATUS)) problems.push(`${file}: a status text in the code: ${m[0]}`);
            for (const m of code.matchAll(/\bt\(\s*['"]status\.([\w-]+)['"]/g)) {
              if (!Object.hasOwn(texts, m[1] ?? '')) problems.push(`${file}: status.${m[1] ?? ''} is not in nodes/locales/en-US/${type}.json`);
            }
          }
          assert.deepEqual(problems, []);
        });
      });
    }
  });

  describe('examples', () => {
    const files = exampleFiles();

    it('are named examples/<node-type>/NN - Task sentence.json', () => {
      assert.ok(files.length > 0, 'no examples');
      for (const f of files) {
        const rel = relative(join(ROOT, 'examples'), f);
        assert.match(rel, /^[a-z-]+\/\d\d - [A-Z][^/]*\.json$/, rel);
        assert.ok(Object.hasOwn(nodeFiles, rel.split('/')[0] ?? ''), `${rel}: folder is not a node type`);
      }
    });

    it('use every non-config node type', () => {
      const used = new Set<string>();
      for (const f of files) {
        for (const n of JSON.parse(readFileSync(f, 'utf8')) as Array<{ type: string }>) used.add(n.type);
      }
      const missing = Object.keys(nodeFiles).filter((t) => !isConfigNode(t) && !used.has(t));
      assert.deepEqual(missing, [], `node types in no example: ${missing.join(', ')}`);
    });
  });
});
