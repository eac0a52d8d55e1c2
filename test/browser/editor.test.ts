/**
 * The editor in a real browser: Debian's chromium (/usr/bin/chromium), driven by playwright-core, headless.
 *
 * 1. A Node-RED 4 of our own (node_modules/node-red, on 127.0.0.1 only, a temporary user dir where the package
 *    is a link to this checkout, as `npm install /path/to/checkout` makes it): the palette shows the five nodes
 *    in the 'ifacefailover' category, each with an icon of its own and a label in words; each node is dragged
 *    onto the workspace, opened, filled in, marked invalid with a bad value (the field's `input-error`, the red
 *    triangle, `valid === false`), fixed and deployed; each example is imported through Import > Examples and
 *    deployed, and example 01 shows whole in the workspace of a 1280 × 800 window.
 *    Nothing deployed there may touch this machine's network: controllers and route-switches are in dry run,
 *    the route-verifier's "pin" box is unticked, every probed uplink is loopback probing 127.0.0.1 (the
 *    examples' uplinks are edited to that before they are deployed), the examples' HTTP request is disabled,
 *    and the modem's GPIO tools and pon/poff are the fakes of test/fakes/bin. The host's routes and rules are
 *    compared before and after.
 * 2. With root: `npm start` (dist/demo/start.js) builds the network lab and runs the main example in it; the
 *    controller's status badge goes from the primary to the FONA when the primary is cut, and back on heal.
 *
 * Screenshots (palette.png, flow.png, failover.png) are taken every run; `npm run screenshots` keeps them in
 * docs/screenshots/ for the README.
 * Skipped with a warning without /usr/bin/chromium (IFF_REQUIRE_BROWSER=1, as in .ci/run, makes that an
 * error) and, for the lab part, without root or the lab's tools.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { isRoot, listNamespaces, missingTools, removeStaleLabs } from '../lab/netlab';
import { DASHBOARD_PACKAGE } from '../support/red-helper';
import { sleep, until } from '../support/wait';
import { freePort } from '../support/ports';

const ROOT = resolve(__dirname, '../../..');
const PACKAGE = 'node-red-contrib-ifacefailover';
const CHROMIUM = '/usr/bin/chromium';
const DEMO = join(ROOT, 'dist', 'demo', 'start.js');
const FAKES_BIN = join(ROOT, 'test', 'fakes', 'bin');
/**
 * Where the screenshots go: a temporary directory (removed at the end), or IFF_SCREENSHOTS (relative to the
 * repository), as `npm run screenshots` sets it to refresh docs/screenshots/ for the README.
 */
const SHOTS_TO_KEEP = process.env['IFF_SCREENSHOTS'] ? resolve(ROOT, process.env['IFF_SCREENSHOTS']) : null;
let shotsTemp: string | null = null;
function shotsDir(): string {
  if (SHOTS_TO_KEEP) return SHOTS_TO_KEEP;
  shotsTemp ??= mkdtempSync(join(tmpdir(), 'iff-screenshots-'));
  return shotsTemp;
}
const TYPES = ['failover-controller', 'route-verifier', 'route-switch', 'fona-power', 'ppp-control'] as const;
/** Every node of the palette: TYPES plus failover-mqtt (state for Home Assistant and fleets). */
const PALETTE = [...TYPES, 'failover-mqtt'] as const;
/** The URL path under which Node-RED serves the package's icons. */
const ICONS = `icons/${PACKAGE}/`;
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];

const NO_BROWSER: string | false = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`;
if (NO_BROWSER && process.env['IFF_REQUIRE_BROWSER'] === '1') throw new Error(`IFF_REQUIRE_BROWSER=1 but ${NO_BROWSER}`);
if (NO_BROWSER) console.warn(`SKIPPED: the editor tests in a browser: ${NO_BROWSER}`);
const MISSING = !NO_BROWSER && isRoot() ? missingTools() : [];
const LAB_SKIP: string | false =
  NO_BROWSER ||
  (!isRoot() ? 'needs root (network namespaces); CI runs it as root' : MISSING.length > 0 ? `missing tools: ${MISSING.join(', ')}` : false);
if (LAB_SKIP && !NO_BROWSER) console.warn(`SKIPPED: the editor during a failover in the network lab: ${LAB_SKIP}`);

// ───────────────────────────── what runs in the page ─────────────────────────────
// The callbacks given to page.evaluate run in the browser; these types describe the little of the
// editor's API they use (tsconfig has no DOM lib, so the page's globals are reached through globalThis).

interface EditorNode {
  id: string;
  type: string;
  z?: string;
  valid?: boolean;
  validationErrors?: string[];
  users?: EditorNode[];
  d?: boolean;
  [key: string]: unknown;
}

interface EditorApi {
  nodes: {
    node(id: string): EditorNode | null;
    eachNode(cb: (n: EditorNode) => boolean | void): void;
    eachConfig(cb: (n: EditorNode) => boolean | void): void;
    filterLinks(filter: { source?: { id: string }; target?: { id: string } }): Array<{ source: EditorNode; target: EditorNode; sourcePort: number }>;
    dirty(value?: boolean): boolean;
  };
  editor: { validateNode(n: EditorNode): boolean };
  view: { redraw(full?: boolean): void; state(): number; scale(): number };
  workspaces: { active(): string; show(id: string): void };
  actions: { invoke(name: string, ...args: unknown[]): void };
}

interface DomElement {
  id: string;
  className: string | { baseVal: string };
  classList: { contains(c: string): boolean };
  textContent: string | null;
  closest(selector: string): DomElement | null;
  querySelector(selector: string): DomElement | null;
}

interface PageImage {
  src: string;
  naturalWidth: number;
  decode(): Promise<void>;
}

interface PageCanvas {
  width: number;
  height: number;
  getContext(kind: '2d'): {
    drawImage(img: PageImage, x: number, y: number, w: number, h: number): void;
    getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> };
  } | null;
}

interface PageGlobals {
  RED: EditorApi;
  document: { querySelector(selector: string): DomElement | null; createElement(tag: 'canvas'): PageCanvas };
  getComputedStyle(el: DomElement): { backgroundImage: string };
  Image: new () => PageImage;
}

// ───────────────────────────── helpers ─────────────────────────────



function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** `signal` to a detached child (its own process group), SIGKILL to the group after graceMs; waits for the exit. */
async function stopGroup(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  const kill = (target: number, s: NodeJS.Signals): void => {
    try {
      process.kill(target, s);
    } catch {
      /* gone */
    }
  };
  if (running(child)) {
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    kill(pid, signal);
    const timer = setTimeout(() => kill(-pid, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
  kill(-pid, 'SIGKILL');
}

/** The host's IPv4 routes (all tables) and rules: nothing deployed by the non-lab part may change them. */
function hostRouting(): string {
  const run = (args: string[]): string => {
    try {
      return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return `(ip ${args.join(' ')} failed)`;
    }
  };
  return `${run(['-4', 'route', 'show', 'table', 'all'])}\n${run(['-4', 'rule', 'show'])}`;
}

interface NodeRed {
  base: string;
  origin: string;
  dir: string;
  child: ChildProcess;
  out(): string;
  stop(): Promise<void>;
}

/** Node-RED 4 from node_modules on 127.0.0.1:<free port>, with this checkout linked in as the package. */
async function startNodeRed(): Promise<NodeRed> {
  const dir = mkdtempSync(join(tmpdir(), 'iff-browser-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', PACKAGE), 'dir');
  // Dashboard 2 as well (a devDependency), for the dashboard example
  mkdirSync(join(dir, 'node_modules', '@flowfuse'));
  symlinkSync(dirname(require.resolve(`${DASHBOARD_PACKAGE}/package.json`, { paths: [ROOT] })), join(dir, 'node_modules', DASHBOARD_PACKAGE), 'dir');
  writeFileSync(join(dir, 'flows.json'), '[]');
  const port = await freePort();
  const settings = {
    uiHost: '127.0.0.1',
    uiPort: port,
    userDir: dir,
    flowFile: 'flows.json',
    credentialSecret: false,
    telemetry: { enabled: false, updateNotification: false },
    diagnostics: { enabled: false, ui: false },
    // no tour, and no palette catalogue: the editor must not fetch anything from outside
    editorTheme: { tours: false, palette: { catalogues: [] } },
    externalModules: { autoInstall: false },
    logging: { console: { level: 'info', metrics: false, audit: false } },
  };
  const settingsFile = join(dir, 'settings.js');
  writeFileSync(settingsFile, `module.exports = ${JSON.stringify(settings, null, 2)};\n`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // the fakes of libgpiod's tools and of pon/poff come first, so a FONA node never touches real hardware
    PATH: `${FAKES_BIN}${delimiter}${process.env['PATH'] ?? ''}`,
    FAKE_GPIO_DIR: join(dir, 'fakes', 'gpio'),
    FAKE_PPP_DIR: join(dir, 'fakes', 'ppp'),
    FAKE_PPP_PEERS: 'fona',
    FAKE_PPP_MODE: 'never',
  };
  const redJs = require.resolve('node-red/red.js', { paths: [ROOT] });
  const child = spawn(process.execPath, [redJs, '--userDir', dir, '--settings', settingsFile], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
  const origin = `http://127.0.0.1:${port}`;
  const nr: NodeRed = {
    base: `${origin}/`,
    origin,
    dir,
    child,
    out: () => out,
    stop: async () => {
      await stopGroup(child, 'SIGINT', 15_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (!running(child)) throw new Error(`Node-RED exited while starting:\n${out}`);
    if (Date.now() > deadline) throw new Error(`Node-RED did not answer on ${origin}:\n${out}`);
    try {
      const r = await fetch(`${origin}/settings`, { signal: AbortSignal.timeout(2000) });
      if (r.ok && /Started flows/.test(out)) return nr;
    } catch {
      /* not yet */
    }
    await sleep(200);
  }
}

interface Browser {
  context: BrowserContext;
  dir: string;
  /** Requests the pages tried to send anywhere but the allowed origins (aborted). */
  blocked: string[];
  allow(origin: string): void;
  close(): Promise<void>;
}

/** Headless chromium with a fresh profile; every request that does not go to an allowed origin is aborted. */
async function launchBrowser(): Promise<Browser> {
  const dir = mkdtempSync(join(tmpdir(), 'iff-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
  });
  const allowed = new Set<string>();
  const blocked: string[] = [];
  await context.route(
    (url) => !allowed.has(url.origin) && url.protocol !== 'data:',
    async (route) => {
      blocked.push(route.request().url());
      await route.abort();
    },
  );
  return {
    context,
    dir,
    blocked,
    allow: (origin) => allowed.add(origin),
    close: async () => {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Chromium processes still running with this profile (there must be none after close). */
function browserProcesses(profile: string): string[] {
  try {
    return execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes(profile) && !l.includes('ps -eo'));
  } catch {
    return [];
  }
}

/** Uncaught errors in each editor page (there must be none). */
const pageErrors = new WeakMap<Page, string[]>();

async function openEditor(browser: Browser, origin: string): Promise<Page> {
  browser.allow(origin);
  const page = await browser.context.newPage();
  const errors: string[] = [];
  pageErrors.set(page, errors);
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${origin}/`);
  await page.locator(`.red-ui-palette-node[data-palette-type="failover-controller"]`).waitFor({ timeout: 30_000 });
  // the editor's own start-up notifications (none expected with telemetry off) must not cover the workspace
  await page.waitForFunction(() => {
    const g = globalThis as unknown as PageGlobals;
    return typeof g.RED?.workspaces?.active === 'function' && g.RED.workspaces.active() !== '';
  });
  return page;
}

const paletteItem = (page: Page, type: string): Locator => page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
const flowNode = (page: Page, id: string): Locator => page.locator(`#red-ui-workspace-chart g.red-ui-flow-node-group[id="${id}"]`);

async function idsOfType(page: Page, type: string): Promise<string[]> {
  return page.evaluate((t) => {
    const { RED } = globalThis as unknown as PageGlobals;
    const ids: string[] = [];
    RED.nodes.eachNode((n) => {
      if (n.type === t && n.z === RED.workspaces.active()) ids.push(n.id);
    });
    return ids;
  }, type);
}

/** Drag a node from the palette to (x, y) of the workspace; returns the new node's id. */
async function dragFromPalette(page: Page, type: string, x: number, y: number): Promise<string> {
  const before = await idsOfType(page, type);
  await paletteItem(page, type).dragTo(page.locator('#red-ui-workspace-chart'), { targetPosition: { x, y } });
  const after = await idsOfType(page, type);
  const added = after.filter((id) => !before.includes(id));
  assert.equal(added.length, 1, `one ${type} dropped on the workspace (${JSON.stringify(after)})`);
  await flowNode(page, added[0]).waitFor();
  return added[0];
}

async function openNode(page: Page, id: string): Promise<void> {
  await flowNode(page, id).locator('rect.red-ui-flow-node').dblclick();
  await page.locator('#node-dialog-ok').waitFor();
}

async function closeNode(page: Page): Promise<void> {
  await page.click('#node-dialog-ok');
  await page.locator('#node-dialog-ok').waitFor({ state: 'detached' });
}

async function hasClass(page: Page, selector: string, cls: string): Promise<boolean> {
  return page.locator(selector).evaluate((el: DomElement, c: string) => el.classList.contains(c), cls);
}

interface Validity {
  valid: boolean | undefined;
  errors: string[];
  /** The red triangle on the node in the workspace is shown. */
  triangle: boolean;
}

async function validity(page: Page, id: string): Promise<Validity> {
  return page.evaluate((nodeId) => {
    const g = globalThis as unknown as PageGlobals;
    const n = g.RED.nodes.node(nodeId);
    const badge = g.document.querySelector(`#red-ui-workspace-chart g[id="${nodeId}"] .red-ui-flow-node-error`);
    return { valid: n?.valid, errors: n?.validationErrors ?? [], triangle: !!badge && !badge.classList.contains('hide') };
  }, id);
}

/** The text of a node's status badge: its label on the workspace, or (not drawn: out of view) what the editor got. */
async function statusText(page: Page, id: string): Promise<string> {
  const label = flowNode(page, id).locator('.red-ui-flow-node-status-label');
  if ((await label.count()) > 0) return (await label.textContent()) ?? '';
  return page.evaluate((nodeId) => {
    const status = (globalThis as unknown as PageGlobals).RED.nodes.node(nodeId)?.['status'] as { text?: unknown } | undefined;
    return typeof status?.text === 'string' ? status.text : '';
  }, id);
}

/** Waits until the node's status badge text matches; returns the texts seen on the way. */
async function waitForStatus(page: Page, id: string, pattern: RegExp, timeoutMs: number, seen: string[] = []): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await statusText(page, id);
    if (seen[seen.length - 1] !== text) seen.push(text);
    if (pattern.test(text)) return seen;
    if (Date.now() > deadline) throw new Error(`the status of ${id} never matched ${pattern}; seen: ${JSON.stringify(seen)}`);
    await sleep(100);
  }
}

/** Click Deploy and wait for "Successfully deployed"; fails on the editor's "not properly configured" dialog. */
async function deploy(page: Page): Promise<string> {
  const button = page.locator('#red-ui-header-button-deploy');
  assert.equal(await hasClass(page, '#red-ui-header-button-deploy', 'disabled'), false, 'there is something to deploy');
  await button.click();
  const notification = page.locator('.red-ui-notification').filter({ hasText: /Successfully deployed|not properly configured|unknown type/ }).last();
  await notification.waitFor({ timeout: 20_000 });
  const text = (await notification.textContent()) ?? '';
  assert.match(text, /Successfully deployed/, `deploy: ${text}`);
  await page.waitForFunction(() => !(globalThis as unknown as PageGlobals).RED.nodes.dirty(), undefined, { timeout: 10_000 });
  // a click closes the notification, so that it hides nothing in later screenshots or clicks
  await notification.click({ timeout: 2000 }).catch(() => undefined);
  await notification.waitFor({ state: 'detached', timeout: 5000 }).catch(() => undefined);
  return text;
}

interface FlowJson {
  id: string;
  type: string;
  [key: string]: unknown;
}

async function deployedFlows(origin: string): Promise<FlowJson[]> {
  const r = await fetch(`${origin}/flows`, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(5000) });
  assert.equal(r.status, 200);
  return (await r.json()) as FlowJson[];
}

/** Draw a wire with the mouse: from output `port` of one node to the input of another. */
async function wire(page: Page, from: string, port: number, to: string): Promise<void> {
  const out = await flowNode(page, from).locator('.red-ui-flow-port-output rect.red-ui-flow-port, .red-ui-flow-port-output .red-ui-flow-port').nth(port).boundingBox();
  const into = await flowNode(page, to).locator('.red-ui-flow-port-input .red-ui-flow-port').first().boundingBox();
  assert.ok(out && into, 'ports on the workspace');
  await page.mouse.move(out.x + out.width / 2, out.y + out.height / 2);
  await page.mouse.down();
  await page.mouse.move((out.x + into.x) / 2, (out.y + into.y) / 2, { steps: 5 });
  await page.mouse.move(into.x + into.width / 2, into.y + into.height / 2, { steps: 5 });
  await page.mouse.up();
  const links = await page.evaluate(
    ([s, t]) => (globalThis as unknown as PageGlobals).RED.nodes.filterLinks({ source: { id: s }, target: { id: t } }).map((l) => l.sourcePort),
    [from, to] as const,
  );
  assert.deepEqual(links, [port], `wire ${from}[${port}] → ${to}`);
}

/** Screenshot of a region of the page, clipped to the viewport. */
async function shot(page: Page, name: string, clip: { x: number; y: number; width: number; height: number }): Promise<void> {
  const dir = shotsDir();
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  const x = Math.max(0, Math.floor(clip.x));
  const y = Math.max(0, Math.floor(clip.y));
  const width = Math.min(1280 - x, Math.ceil(clip.width));
  const height = Math.min(800 - y, Math.ceil(clip.height));
  await page.screenshot({ path: file, clip: { x, y, width, height } });
  const size = statSync(file).size;
  assert.ok(size > 5_000 && size < 400_000, `${name} is ${size} bytes`);
}

/** The box around some nodes of the workspace, with a margin (for screenshots). */
async function boxAround(page: Page, ids: string[], margin: number): Promise<{ x: number; y: number; width: number; height: number }> {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const id of ids) {
    const b = await flowNode(page, id).boundingBox();
    if (!b) continue;
    x0 = Math.min(x0, b.x);
    y0 = Math.min(y0, b.y);
    x1 = Math.max(x1, b.x + b.width);
    y1 = Math.max(y1, b.y + b.height);
  }
  // inside the workspace's visible part
  const chart = await page.locator('#red-ui-workspace-chart').boundingBox();
  assert.ok(chart && Number.isFinite(x0), 'nodes on the workspace');
  const left = Math.max(chart.x, x0 - margin);
  const top = Math.max(chart.y, y0 - margin);
  const right = Math.min(chart.x + chart.width - 16, x1 + margin); // not the scroll bar
  const bottom = Math.min(chart.y + chart.height - 16, y1 + margin);
  return { x: left, y: top, width: right - left, height: bottom - top };
}

// ───────────────────────────── the examples ─────────────────────────────

interface Example {
  folder: string;
  name: string;
  nodes: FlowJson[];
}

/** Every examples/FOLDER/NAME.json, as Import > Examples lists them. */
function examples(): Example[] {
  const dir = join(ROOT, 'examples');
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) =>
      readdirSync(join(dir, d.name))
        .filter((f) => f.endsWith('.json'))
        .map((f) => ({ folder: d.name, name: f.slice(0, -'.json'.length), nodes: JSON.parse(readFileSync(join(dir, d.name, f), 'utf8')) as FlowJson[] })),
    )
    .sort((a, b) => `${a.folder}/${a.name}`.localeCompare(`${b.folder}/${b.name}`));
}

const EXAMPLES = examples();
/** Example 01 of the controller: the guide's scenario, the flow a new user opens first. */
const GUIDE = EXAMPLES.find((e) => e.folder === 'failover-controller' && e.name.startsWith('01 '));

/**
 * Node types an example may use here, because the rules of the examples test keep them on this machine:
 * uplinks are moved to loopback, HTTP requests are disabled, MQTT goes to localhost only (asserted),
 * controllers and route-switches ship in dry run (asserted), verifiers get their pin box unticked.
 */
const SAFE_TYPES = new Set([
  ...TYPES,
  'uplink',
  'comment',
  'status', // watches other nodes' badges: no traffic of its own
  'inject',
  'debug',
  'switch',
  'change',
  'function',
  'template',
  'delay',
  'rbe',
  'http request',
  'mqtt out',
  'mqtt in',
  'mqtt-broker',
  'failover-mqtt', // turns messages into messages: no traffic of its own
  // Dashboard 2: pages served by this Node-RED itself
  'ui-base',
  'ui-page',
  'ui-group',
  'ui-theme',
  'ui-text',
  'ui-template',
  'ui-button',
  'ui-table',
  'ui-chart',
]);

/** Example node ids already in the editor, and the example that brought each. */
const imported = new Map<string, string>();
/** The flow tab each example was imported into. */
const tabOf = new Map<Example, string>();

// ───────────────────────────── the tests ─────────────────────────────

describe('the editor in chromium', { skip: NO_BROWSER }, () => {
  let browser: Browser | undefined;
  let profile = '';

  before(async () => {
    browser = await launchBrowser();
    profile = browser.dir;
  });

  after(async () => {
    await browser?.close();
    if (shotsTemp) rmSync(shotsTemp, { recursive: true, force: true });
    // chromium and its helpers have exited with the context
    await until(() => browserProcesses(profile).length === 0, { timeoutMs: 5000, intervalMs: 100 }).catch(() => undefined);
    assert.deepEqual(browserProcesses(profile), [], 'chromium processes left behind');
  });

  describe('in a Node-RED of its own (dry run, loopback only)', () => {
    let nr: NodeRed | undefined;
    let page: Page;
    let routingBefore = '';
    /** Ids of what the drag-and-drop test made. */
    const made: Record<string, string> = {};

    before(async () => {
      routingBefore = hostRouting();
      nr = await startNodeRed();
      assert.ok(browser);
      page = await openEditor(browser, nr.origin);
    });

    after(async () => {
      const errors = page ? (pageErrors.get(page) ?? []) : [];
      await page?.close();
      await nr?.stop();
      assert.equal(hostRouting(), routingBefore, "the host's routes and rules are unchanged");
      assert.deepEqual(errors, [], 'uncaught errors in the editor');
      assert.deepEqual(browser?.blocked ?? [], [], 'the editor asked for nothing outside Node-RED');
    });

    it('shows the six nodes in the ifacefailover category, each with an icon of its own and a label in words', { timeout: 30_000 }, async () => {
      const responses: Array<{ url: string; status: number }> = [];
      page.on('response', (r) => {
        if (r.url().includes(ICONS)) responses.push({ url: r.url(), status: r.status() });
      });
      const header = page.locator('#red-ui-palette-header-ifacefailover');
      assert.match((await header.textContent()) ?? '', /ifacefailover/);
      const shown: Array<{ type: string; label: string; icon: string }> = [];
      for (const type of PALETTE) {
        const item = paletteItem(page, type);
        await item.waitFor();
        const seen = await item.evaluate((el: DomElement) => {
          const g = globalThis as unknown as PageGlobals;
          const icon = el.querySelector('.red-ui-palette-icon');
          return {
            category: el.closest('.red-ui-palette-category')?.id ?? '',
            icon: icon ? g.getComputedStyle(icon).backgroundImage : '',
            // the editor breaks a label into lines at its spaces
            label: (el.querySelector('.red-ui-palette-label')?.textContent ?? '').replace(/\s+/g, ' ').trim(),
          };
        });
        assert.equal(seen.category, 'red-ui-palette-container-ifacefailover', `${type} in its own category`);
        const url = /url\("?([^")]+)"?\)/.exec(seen.icon)?.[1] ?? '';
        assert.ok(url.includes(ICONS), `${type}: an icon of the package, not ${seen.icon}`);
        // words a user reads, not the type's id (the palette shows a hyphen as " - ": none)
        assert.match(seen.label, /^[A-Za-z]+(?: [A-Za-z]+)*$/, `${type}: palette label ${JSON.stringify(seen.label)}`);
        assert.notEqual(seen.label, type, `${type}: a label, not the type`);
        shown.push({ type, label: seen.label, icon: url });
      }
      console.log(`palette: ${shown.map((s) => `${s.label} (${s.icon.slice(s.icon.lastIndexOf('/') + 1)})`).join(', ')}`);
      assert.equal(new Set(shown.map((s) => s.icon)).size, PALETTE.length, `six different icons: ${JSON.stringify(shown)}`);
      assert.equal(new Set(shown.map((s) => s.label.toLowerCase())).size, PALETTE.length, 'six different labels');

      // each icon loads and draws, and no two draw the same picture: the pixels of each on a 40 × 60 canvas
      const pictures: string[] = [];
      for (const { type, icon } of shown) {
        const r = await fetch(icon);
        assert.equal(r.status, 200, `${type}: ${icon}`);
        assert.match(r.headers.get('content-type') ?? '', /image\/svg\+xml/);
        const picture = await page.evaluate(async (src) => {
          const g = globalThis as unknown as PageGlobals;
          const img = new g.Image();
          img.src = src;
          await img.decode();
          const canvas = g.document.createElement('canvas');
          canvas.width = 40;
          canvas.height = 60;
          const ctx = canvas.getContext('2d');
          if (!ctx || img.naturalWidth === 0) return { painted: 0, alpha: '' };
          ctx.drawImage(img, 0, 0, 40, 60);
          const data = ctx.getImageData(0, 0, 40, 60).data;
          let painted = 0;
          let alpha = '';
          for (let i = 3; i < data.length; i += 4) {
            painted += data[i] > 128 ? 1 : 0;
            alpha += data[i] > 128 ? '#' : '.';
          }
          return { painted, alpha };
        }, icon);
        // white on transparent, as Node-RED's icons: something drawn, most of the area left clear
        assert.ok(picture.painted > 40 && picture.painted < 1200, `${type}: ${picture.painted} of 2400 pixels drawn`);
        pictures.push(picture.alpha);
      }
      assert.equal(new Set(pictures).size, PALETTE.length, 'six different pictures');
      // and none the page asked for failed (most it loaded with the editor, before this listened)
      assert.ok(responses.every((i) => i.status === 200 || i.status === 304), JSON.stringify(responses));

      // screenshot: only our category open, the help popover of the controller
      await page.locator('#red-ui-palette .red-ui-component-footer button').first().click(); // collapse all
      await header.click();
      await paletteItem(page, 'failover-mqtt').waitFor({ state: 'visible' });
      await paletteItem(page, 'failover-controller').hover();
      await page.locator('.red-ui-popover').first().waitFor({ state: 'visible', timeout: 5000 }).catch(() => undefined);
      await sleep(300); // the popover's fade-in has no event to wait for
      await shot(page, 'palette.png', { x: 0, y: 0, width: 640, height: 660 });
      await page.mouse.move(700, 700);
      await page.locator('#red-ui-palette .red-ui-component-footer button').nth(1).click(); // expand all
    });

    it('takes each node onto the workspace, marks bad values, and deploys them configured', { timeout: 60_000 }, async () => {
      // route-switch first: it makes the uplink config node, first with a bad interface and gateway
      made['switch'] = await dragFromPalette(page, 'route-switch', 560, 90);
      await openNode(page, made['switch']);
      await page.fill('#node-input-name', 'use loopback');
      await page.locator('#node-input-btn-uplink-add, #node-input-lookup-uplink').first().click();
      await page.locator('#node-config-input-iface').waitFor();
      await page.fill('#node-config-input-name', 'loopback');
      await page.fill('#node-config-input-iface', 'eth0:bad');
      await page.fill('#node-config-input-gateway', '192.168.1.300');
      await page.fill('#node-config-input-targets', '127.0.0.1');
      // a check without its port: the checks' grammar runs in the editor too
      await page.fill('#node-config-input-checks', 'http://127.0.0.1:8080/health\ntcp://127.0.0.1');
      await page.locator('#node-config-input-targets').press('Tab');
      assert.ok(await hasClass(page, '#node-config-input-checks', 'input-error'), 'tcp://127.0.0.1 (no port) is marked');
      assert.ok(await hasClass(page, '#node-config-input-iface', 'input-error'), 'eth0:bad is marked');
      assert.ok(await hasClass(page, '#node-config-input-gateway', 'input-error'), '192.168.1.300 is marked');
      assert.equal(await hasClass(page, '#node-config-input-targets', 'input-error'), false, '127.0.0.1 is fine');
      await page.click('#node-config-dialog-ok');
      await page.locator('#node-config-input-iface').waitFor({ state: 'detached' });
      made['uplink'] = await page.locator('#node-input-uplink').inputValue();
      assert.match(made['uplink'], /^[0-9a-f]{16}$/, 'the new uplink is selected');
      await page.check('#node-input-dryRun');
      // the uplink ends up on loopback: route-switch refuses lo unless told otherwise
      await page.check('#node-input-allowAnyIface');
      await closeNode(page);
      const badUplink = await validity(page, made['uplink']);
      assert.equal(badUplink.valid, false, 'the uplink config node is invalid');
      // The checks' validator gives its reason (Node-RED lists it as it is), from the runtime's own parser.
      assert.deepEqual([...badUplink.errors].sort(), ['gateway', 'iface', 'tcp://127.0.0.1 needs a port: tcp://HOST:PORT']);
      const badSwitch = await validity(page, made['switch']);
      assert.equal(badSwitch.valid, false, 'the route-switch that uses it is invalid');
      assert.equal(badSwitch.triangle, true, 'with the red triangle');

      // fixed through the route-switch's pencil: loopback, probing 127.0.0.1
      await openNode(page, made['switch']);
      await page.locator('#node-input-btn-uplink-edit, #node-input-lookup-uplink').first().click();
      await page.locator('#node-config-input-iface').waitFor();
      await page.fill('#node-config-input-iface', 'lo');
      await page.fill('#node-config-input-gateway', '');
      await page.fill('#node-config-input-checks', '');
      await page.locator('#node-config-input-gateway').press('Tab');
      assert.equal(await hasClass(page, '#node-config-input-checks', 'input-error'), false);
      assert.equal(await hasClass(page, '#node-config-input-iface', 'input-error'), false);
      assert.equal(await hasClass(page, '#node-config-input-gateway', 'input-error'), false);
      await page.click('#node-config-dialog-ok');
      await page.locator('#node-config-input-iface').waitFor({ state: 'detached' });
      await closeNode(page);
      assert.deepEqual(await validity(page, made['uplink']), { valid: true, errors: [], triangle: false });
      assert.deepEqual(await validity(page, made['switch']), { valid: true, errors: [], triangle: false });

      // the others: a bad value marks the field and, saved, the node; the good one clears both
      interface Step {
        key: string;
        type: (typeof TYPES)[number] | 'inject';
        at: [number, number];
        /** A bad value for a field, and a good one; `input` is what to type into, `marked` what shows the error. */
        bad?: { field: string; value: string; good: string; input?: string; marked?: string };
        fill?: () => Promise<void>;
      }
      const steps: Step[] = [
        { key: 'inject', type: 'inject', at: [140, 90] },
        {
          key: 'verifier',
          type: 'route-verifier',
          at: [330, 90],
          // the targets field is a TypedInput: typed into its own input, the error shows on its container
          bad: {
            field: 'targets',
            value: '127.0.0.300',
            good: '127.0.0.1',
            input: '#node-input-targets + .red-ui-typedInput-container input.red-ui-typedInput-input',
            marked: '#node-input-targets, #node-input-targets + .red-ui-typedInput-container',
          },
          fill: async () => {
            await page.fill('#node-input-name', 'loopback works?');
            await page.selectOption('#node-input-uplink', made['uplink']);
            await page.fill('#node-input-interval', '0');
            // never pin on this machine: that would add a routing table and rule to the host
            await page.uncheck('#node-input-pin');
          },
        },
        {
          key: 'controller',
          type: 'failover-controller',
          at: [140, 190],
          bad: { field: 'setupRetry', value: '0', good: '60' },
          fill: async () => {
            await page.fill('#node-input-name', 'failover');
            await page.check('#node-input-dryRun');
            if ((await page.locator('#node-input-uplinks-container select').count()) === 0) {
              await page.locator('.red-ui-editableList-addButton').first().click();
            }
            await page.locator('#node-input-uplinks-container select').first().selectOption(made['uplink']);
          },
        },
        {
          key: 'fona',
          type: 'fona-power',
          at: [140, 280],
          bad: { field: 'keyPin', value: '99', good: '24' },
          fill: async () => {
            await page.selectOption('#node-input-driver', 'libgpiod');
          },
        },
        {
          key: 'ppp',
          type: 'ppp-control',
          at: [380, 280],
          bad: { field: 'iface', value: 'ppp0:1', good: 'ppp0' },
          fill: async () => {
            await page.fill('#node-input-peer', 'fona');
          },
        },
      ];
      for (const step of steps) {
        const id = await dragFromPalette(page, step.type, step.at[0], step.at[1]);
        made[step.key] = id;
        if (!step.bad && !step.fill) continue;
        await openNode(page, id);
        await step.fill?.();
        if (step.bad) {
          const field = step.bad.input ?? `#node-input-${step.bad.field}`;
          const marked = step.bad.marked ?? field;
          await page.fill(field, step.bad.value);
          await page.locator(field).press('Tab');
          const markedNow = await page.locator(marked).evaluateAll((els: DomElement[]) => els.some((e) => e.classList.contains('input-error')));
          assert.ok(markedNow, `${step.type}: ${step.bad.value} marks ${step.bad.field}`);
          await closeNode(page);
          const bad = await validity(page, id);
          assert.equal(bad.valid, false, `${step.type} with ${step.bad.field}=${step.bad.value} is invalid`);
          assert.equal(bad.triangle, true, `${step.type}: red triangle`);
          assert.ok(bad.errors.length > 0, `${step.type}: a validation error`);
          await openNode(page, id);
          await page.fill(field, step.bad.good);
          await page.locator(field).press('Tab');
          const stillMarked = await page.locator(marked).evaluateAll((els: DomElement[]) => els.some((e) => e.classList.contains('input-error')));
          assert.equal(stillMarked, false, `${step.type}: ${step.bad.good} is fine`);
        }
        await closeNode(page);
        assert.deepEqual(await validity(page, id), { valid: true, errors: [], triangle: false }, step.type);
      }

      // wires: inject → verifier; verifier "ok" → route-switch (dry run)
      await wire(page, made['inject'], 0, made['verifier']);
      await wire(page, made['verifier'], 0, made['switch']);

      const text = await deploy(page);
      assert.doesNotMatch(text, /unused configuration/, 'the uplink is used');
      const flows = await deployedFlows(nr?.origin ?? '');
      const byId = (id: string): FlowJson => {
        const n = flows.find((f) => f.id === id);
        assert.ok(n, `${id} deployed`);
        return n;
      };
      assert.deepEqual(
        (({ iface, gateway, targets }) => ({ iface, gateway, targets }))(byId(made['uplink'])),
        { iface: 'lo', gateway: '', targets: '127.0.0.1' },
      );
      assert.equal(byId(made['switch'])['dryRun'], true);
      assert.equal(byId(made['switch'])['allowAnyIface'], true);
      assert.equal(byId(made['switch'])['uplink'], made['uplink']);
      assert.equal(byId(made['verifier'])['pin'], false);
      assert.equal(byId(made['verifier'])['targets'], '127.0.0.1');
      assert.equal(byId(made['controller'])['dryRun'], true);
      assert.deepEqual(byId(made['controller'])['uplinks'], [made['uplink']]);
      assert.equal(Number(byId(made['controller'])['setupRetry']), 60);
      assert.equal(Number(byId(made['fona'])['keyPin']), 24);
      assert.equal(byId(made['fona'])['driver'], 'libgpiod');
      assert.equal(byId(made['ppp'])['iface'], 'ppp0');

      // running: the controller (dry run) is on loopback; the FONA's fake lines say off
      await waitForStatus(page, made['controller'], /^loopback \(lo\)$/, 15_000);
      await waitForStatus(page, made['fona'], /^off$/, 10_000);
      // press the inject's button: the verifier pings 127.0.0.1 through lo, the switch (dry run) reports
      await flowNode(page, made['inject']).locator('rect.red-ui-flow-node-button-button').click();
      await waitForStatus(page, made['verifier'], /^1\/1 up/, 10_000);
      await waitForStatus(page, made['switch'], /^dry run: default via lo$/, 10_000);
      await sleep(300); // the editor's redraw has no event to wait for
      await shot(page, 'flow.png', await boxAround(page, Object.values(made).filter((id) => id !== made['uplink']), 40));
    });

    it(
      "counts the controller as a user of its uplinks and marks it invalid when one of them is",
      { timeout: 20_000 },
      async () => {
        const controller = made['controller'];
        const uplink = made['uplink'];
        assert.ok(controller && uplink, 'the previous test made them');
        const users = await page.evaluate(
          ([u, c]) => ((globalThis as unknown as PageGlobals).RED.nodes.node(u)?.users ?? []).some((n) => n.id === c),
          [uplink, controller] as const,
        );
        // an invalid uplink, made through the controller's own pencil
        await openNode(page, controller);
        await page.locator('#node-input-uplinks-container a.red-ui-button:has(i.fa-pencil)').first().click();
        await page.locator('#node-config-input-gateway').waitFor();
        await page.fill('#node-config-input-gateway', '192.168.1.300');
        await page.click('#node-config-dialog-ok');
        await page.locator('#node-config-input-gateway').waitFor({ state: 'detached' });
        await closeNode(page);
        const seen = await validity(page, controller);
        // put it back (the same way) before asserting, so that nothing after this depends on the outcome
        await openNode(page, controller);
        await page.locator('#node-input-uplinks-container a.red-ui-button:has(i.fa-pencil)').first().click();
        await page.locator('#node-config-input-gateway').waitFor();
        // The dialog fills its fields after they exist: clear the gateway only once it shows the saved value.
        await until(async () => (await page.inputValue('#node-config-input-gateway')) === '192.168.1.300', { what: 'the saved gateway in the dialog' });
        await page.fill('#node-config-input-gateway', '');
        await page.click('#node-config-dialog-ok');
        await page.locator('#node-config-input-gateway').waitFor({ state: 'detached' });
        await closeNode(page);
        const again = await validity(page, uplink);
        assert.equal(again.valid, true, `the uplink is valid again (errors: ${again.errors.join(', ')})`);
        assert.equal((await validity(page, made['switch'])).valid, true, 'and so is the route-switch');
        const problems: string[] = [];
        if (!users) problems.push("the controller is not among its uplink's users (the uplink shows as unused)");
        if (seen.valid !== false) problems.push('the controller stays valid while its uplink is invalid');
        if (!seen.triangle) problems.push('no red triangle on the controller while its uplink is invalid');
        assert.deepEqual(problems, []);
      },
    );

    for (const example of EXAMPLES) {
      it(`imports the example ${example.folder}/${example.name} and deploys it`, { timeout: 45_000 }, async () => {
        const shipped = example.nodes;
        const unsafe = shipped.filter((n) => !SAFE_TYPES.has(n.type)).map((n) => n.type);
        assert.deepEqual(unsafe, [], 'node types this test does not know how to keep off the network: extend SAFE_TYPES and the rules below');
        for (const b of shipped.filter((n) => n.type === 'mqtt-broker')) assert.equal(b['broker'], 'localhost', 'MQTT only to this machine');
        for (const n of shipped.filter((s) => s.type === 'failover-controller' || s.type === 'route-switch')) {
          assert.equal(n['dryRun'], true, `${n.type} ${n.id} ships in dry run`);
        }

        // a flow tab of its own, then Import > Examples > the package > folder > file
        await page.evaluate(() => (globalThis as unknown as PageGlobals).RED.actions.invoke('core:add-flow'));
        const tab = await page.evaluate(() => (globalThis as unknown as PageGlobals).RED.workspaces.active());
        await page.click('#red-ui-header-button-sidemenu');
        await page.click('#menu-item-import');
        await page.click('#red-ui-tab-red-ui-clipboard-dialog-import-tab-examples a');
        const tree = page.locator('#red-ui-clipboard-dialog-import-tab-examples');
        await tree.locator('.red-ui-treeList-label', { hasText: PACKAGE }).click();
        await tree.locator('.red-ui-treeList-label', { hasText: new RegExp(`^\\s*${example.folder}\\s*$`) }).click();
        await tree.locator('.red-ui-treeList-label', { hasText: example.name }).click();
        await page.click('#red-ui-clipboard-dialog-ok');
        await page.locator('#red-ui-clipboard-dialog-ok').waitFor({ state: 'hidden' });
        // either the nodes are in (and follow the mouse), or Node-RED says that some of them exist already: ids
        // that an example imported before brought in (a user who tries one example after another gets that too)
        const outcome = await page.waitForFunction(() => {
          const g = globalThis as unknown as PageGlobals;
          if (g.RED.view.state() === 8) return 'dragging'; // RED.state.IMPORT_DRAGGING
          const notice = g.document.querySelector('.red-ui-notification:last-child');
          return notice?.textContent?.includes('already exist') ? 'conflict' : false;
        });
        if ((await outcome.jsonValue()) === 'conflict') {
          const known = shipped.filter((n) => imported.has(n.id)).map((n) => `${n.type} ${n.id} (from ${imported.get(n.id)})`);
          await page.locator('.red-ui-notification', { hasText: 'already exist' }).getByRole('button', { name: 'Cancel' }).click();
          assert.fail(`Node-RED refuses to import it as is: ids an example imported before already has: ${known.join(', ')}`);
        }
        // the imported nodes follow the mouse until a click puts them down: at the workspace's top left
        const chart = await page.locator('#red-ui-workspace-chart').boundingBox();
        assert.ok(chart);
        await page.mouse.move(chart.x + 20, chart.y + 20, { steps: 3 });
        await page.mouse.click(chart.x + 20, chart.y + 20);
        await page.waitForFunction(() => (globalThis as unknown as PageGlobals).RED.view.state() === 0);

        const here = await page.evaluate((z) => {
          const { RED } = globalThis as unknown as PageGlobals;
          const ids: string[] = [];
          RED.nodes.eachNode((n) => {
            if (n.z === z) ids.push(n.id);
          });
          RED.nodes.eachConfig((n) => {
            ids.push(n.id);
          });
          return ids;
        }, tab);
        for (const n of shipped) {
          assert.ok(here.includes(n.id), `${n.type} ${n.id} imported`);
          imported.set(n.id, `${example.folder}/${example.name}`);
        }
        tabOf.set(example, tab);

        // made safe for this machine before the deploy: the primary on loopback, every target 127.0.0.1,
        // HTTP requests disabled
        const ours = shipped.map((n) => n.id);
        await page.evaluate((ids) => {
          const { RED } = globalThis as unknown as PageGlobals;
          for (const id of ids) {
            const n = RED.nodes.node(id);
            if (!n) continue;
            if (n.type === 'uplink') {
              if (n['iface'] === 'eth0') {
                n['iface'] = 'lo';
                n['gateway'] = '';
              }
              if (n['targets']) n['targets'] = '127.0.0.1';
              n['changed'] = true;
              RED.editor.validateNode(n);
            }
            if (n.type === 'http request') {
              n.d = true;
              n['changed'] = true;
              n['dirty'] = true;
            }
          }
          RED.nodes.dirty(true);
          RED.view.redraw(true);
        }, ours);
        // the verifier's pin box, unticked in its editor: pinning would add a table and a rule to the host
        for (const n of shipped.filter((s) => s.type === 'route-verifier')) {
          await openNode(page, n.id);
          await page.uncheck('#node-input-pin');
          await closeNode(page);
        }
        for (const id of ours) {
          const v = await validity(page, id);
          assert.notEqual(v.valid, false, `${id} valid: ${JSON.stringify(v.errors)}`);
        }

        const notice = await deploy(page);
        console.log(`deployed ${example.folder}/${example.name}: ${notice.replace(/\s+/g, ' ').trim()}`);
        const flows = await deployedFlows(nr?.origin ?? '');
        for (const n of shipped) assert.ok(flows.some((f) => f.id === n.id), `${n.type} ${n.id} deployed`);
        for (const f of flows.filter((f) => f.type === 'uplink')) {
          assert.ok(f['targets'] === '' || f['targets'] === '127.0.0.1', `${f.id} probes loopback only`);
        }
        for (const f of flows.filter((f) => f.type === 'route-verifier')) assert.equal(f['pin'], false);
        for (const f of flows.filter((f) => f.type === 'http request')) assert.equal(f['d'], true);

        // running: each controller (dry run) on its primary, now loopback; the fake FONA off; a verifier
        // that an inject starts reports its round
        for (const c of shipped.filter((n) => n.type === 'failover-controller')) {
          const primary = shipped.find((n) => n.id === (c['uplinks'] as string[])[0]);
          assert.ok(primary, 'the primary uplink is in the example');
          await waitForStatus(page, c.id, new RegExp(`^${String(primary['name'])} \\(lo\\)$`), 15_000);
        }
        for (const f of shipped.filter((n) => n.type === 'fona-power')) await waitForStatus(page, f.id, /^off$/, 10_000);
        for (const v of shipped.filter((n) => n.type === 'route-verifier')) {
          const started = shipped.some((n) => n.type === 'inject' && n['once'] === true && (n['wires'] as string[][]).flat().includes(v.id));
          if (started) await waitForStatus(page, v.id, /^1\/1 up/, 15_000);
        }
      });
    }

    it(`shows example 01 (${GUIDE?.name ?? 'missing'}), as imported and deployed, whole at 1280 × 800 without scrolling`, { timeout: 20_000 }, async () => {
      assert.ok(GUIDE, 'examples/failover-controller/01 - *.json exists');
      const tab = tabOf.get(GUIDE);
      assert.ok(tab, 'the test above imported and deployed it');
      // its tab at 100 %, scrolled to the top left, each node where the file puts it (as `npm start` and
      // Import > new flow show it; the import above dropped the first node at the mouse instead)
      await page.evaluate((z) => (globalThis as unknown as PageGlobals).RED.workspaces.show(z), tab);
      await page.waitForFunction((z) => (globalThis as unknown as PageGlobals).RED.workspaces.active() === z, tab);
      const placed = GUIDE.nodes.filter((n) => typeof n['x'] === 'number' && typeof n['y'] === 'number');
      await page.evaluate((nodes) => {
        const { RED } = globalThis as unknown as PageGlobals;
        for (const { id, x, y } of nodes) {
          const n = RED.nodes.node(id);
          if (!n) continue;
          n['x'] = x;
          n['y'] = y;
          n['dirty'] = true;
        }
        RED.view.redraw(true);
      }, placed.map((n) => ({ id: n.id, x: Number(n['x']), y: Number(n['y']) })));
      assert.equal(await page.evaluate(() => (globalThis as unknown as PageGlobals).RED.view.scale()), 1, 'zoom 100 %');
      await page.locator('#red-ui-workspace-chart').evaluate((el: DomElement & { scrollLeft: number; scrollTop: number }) => {
        el.scrollLeft = 0;
        el.scrollTop = 0;
      });
      // the part of the workspace a user sees: the chart without its scroll bars
      const visible = await page.locator('#red-ui-workspace-chart').evaluate(
        (el: DomElement & { clientWidth: number; clientHeight: number; getBoundingClientRect(): { x: number; y: number } }) => {
          const r = el.getBoundingClientRect();
          return { x: r.x, y: r.y, width: el.clientWidth, height: el.clientHeight };
        },
      );
      const outside: string[] = [];
      for (const n of placed) {
        // what a user sees of a node: its box with the label, its ports, its button (inject, debug), its status badge
        const parts = flowNode(page, n.id).locator('rect.red-ui-flow-node, .red-ui-flow-port, .red-ui-flow-node-button, .red-ui-flow-node-status-group');
        const boxes = [];
        for (let i = 0; i < (await parts.count()); i++) {
          const box = await parts.nth(i).boundingBox();
          if (box && box.width > 0 && box.height > 0) boxes.push(box);
        }
        if (boxes.length === 0) {
          outside.push(`${n.type} ${n.id}: not drawn`);
          continue;
        }
        const x0 = Math.min(...boxes.map((p) => p.x));
        const y0 = Math.min(...boxes.map((p) => p.y));
        const b = { x: x0, y: y0, width: Math.max(...boxes.map((p) => p.x + p.width)) - x0, height: Math.max(...boxes.map((p) => p.y + p.height)) - y0 };
        const inside = b.x >= visible.x && b.y >= visible.y && b.x + b.width <= visible.x + visible.width && b.y + b.height <= visible.y + visible.height;
        if (!inside) outside.push(`${n.type} "${String(n['name'] ?? '')}" at ${Math.round(b.x)},${Math.round(b.y)} to ${Math.round(b.x + b.width)},${Math.round(b.y + b.height)}`);
      }
      console.log(`example 01: ${placed.length} nodes; the visible workspace is ${visible.width} × ${visible.height} px at ${visible.x},${visible.y}`);
      assert.deepEqual(outside, [], `nodes of example 01 outside the visible workspace (${visible.width} × ${visible.height} px at ${visible.x},${visible.y})`);
    });
  });

  describe('with npm start in the network lab', { skip: LAB_SKIP }, () => {
    let demo: ChildProcess | undefined;
    let out = '';
    let namespaces: string[] = [];
    let page: Page | undefined;

    const line = async (pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = out.match(pattern);
        if (m) return m;
        if (!demo || !running(demo)) throw new Error(`the demo exited before printing ${pattern}:\n${out.slice(-4000)}`);
        if (Date.now() > deadline) throw new Error(`no ${pattern} from the demo within ${timeoutMs} ms:\n${out.slice(-4000)}`);
        await sleep(50);
      }
    };

    let errors: string[] = [];

    after(async () => {
      await page?.close();
      if (demo && running(demo)) {
        const exited = new Promise((r) => demo?.once('exit', r));
        demo.kill('SIGINT');
        const timer = setTimeout(() => demo?.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(timer);
      }
      await removeStaleLabs();
      assert.deepEqual(
        listNamespaces().filter((n) => namespaces.includes(n)),
        [],
        'lab namespaces left behind',
      );
      assert.deepEqual(errors, [], 'uncaught errors in the editor');
    });

    it("shows the controller's badge move to the FONA when the primary is cut, and back on heal", { timeout: 120_000 }, async () => {
      const port = await freePort();
      demo = spawn(process.execPath, [DEMO], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
      demo.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
      demo.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
      namespaces = (await line(/^demo: lab namespaces (.+)$/m, 60_000))[1]?.split(' ') ?? [];
      const controlFile = (await line(/^demo: control file (\S+)$/m, 10_000))[1] ?? '';
      await line(/^demo: ready /m, 90_000);

      assert.ok(browser);
      page = await openEditor(browser, `http://127.0.0.1:${port}`);
      errors = pageErrors.get(page) ?? [];
      const [controller] = await idsOfType(page, 'failover-controller');
      assert.ok(controller, 'the example is open in the editor');
      await waitForStatus(page, controller, /^primary \(eth0\)$/, 30_000);

      const seen: string[] = [];
      writeFileSync(controlFile, 'cut\n');
      await waitForStatus(page, controller, /^backup: fona \(ppp0\)$/, 45_000, seen);
      assert.ok(seen.some((s) => s === 'primary (eth0)'), JSON.stringify(seen));
      // the modem's badge follows: powered on and dialled by ppp-control, ppp0 up
      const [ppp] = await idsOfType(page, 'ppp-control');
      await waitForStatus(page, ppp, /^ppp0 up/, 10_000);
      // screenshot: the whole flow, without palette and sidebar, zoomed out (70 %) to fit 1280 px
      await page.evaluate(() => {
        const { RED } = globalThis as unknown as PageGlobals;
        RED.actions.invoke('core:toggle-palette', false);
        RED.actions.invoke('core:toggle-sidebar', false);
        RED.actions.invoke('core:zoom-out');
        RED.actions.invoke('core:zoom-out');
        RED.actions.invoke('core:zoom-out');
      });
      await page.locator('#red-ui-workspace-chart').evaluate((el: DomElement & { scrollLeft: number; scrollTop: number }) => {
        el.scrollLeft = 0;
        el.scrollTop = 0;
      });
      await sleep(500); // the zoom animation has no event to wait for
      const all = await page.evaluate(() => {
        const { RED } = globalThis as unknown as PageGlobals;
        const ids: string[] = [];
        RED.nodes.eachNode((n) => {
          if (n.z === RED.workspaces.active()) ids.push(n.id);
        });
        return ids;
      });
      await shot(page, 'failover.png', await boxAround(page, all, 16));

      writeFileSync(controlFile, 'heal\n');
      await waitForStatus(page, controller, /^primary \(eth0\)$/, 45_000, seen);
      console.log(`controller badge: ${seen.join(' → ')}`);

      // Ctrl-C: the demo stops Node-RED and removes its lab
      await page.close();
      page = undefined;
      const exited = new Promise<number | null>((r) => demo?.once('exit', (code) => r(code)));
      demo.kill('SIGINT');
      assert.equal(await exited, 0, out.slice(-3000));
      assert.match(out, /^demo: stopped$/m);
      assert.deepEqual(
        listNamespaces().filter((n) => namespaces.includes(n)),
        [],
        'lab namespaces left behind',
      );
    });
  });
});
