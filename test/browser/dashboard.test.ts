/**
 * The example "Live dashboard" (examples/failover-controller/04 …) on its Dashboard 2 page, in a real browser,
 * during failovers in the network lab.
 *
 * Node-RED 4 runs in the lab's device namespace with this package and @flowfuse/node-red-dashboard linked into
 * its user dir (as `npm install` would put them there), and the example deployed with its uplinks moved to the
 * lab: wired = eth0 (gateway 192.0.2.1), wifi = wlan0 (gateway 192.0.2.17), both probing 203.0.113.1/2, dry
 * run off, so the controller moves the device's default route for real. The page
 * http://127.0.0.1:PORT/dashboard/failover is forwarded to the host (socat, as `npm start` does) and opened in
 * Debian's chromium (playwright-core, headless). What is asserted is what the page shows: the active uplink,
 * the uplinks table, the time on backup, the events list, and what the buttons do.
 *
 * The wifi is metered with a one-hour idle interval here (the shipped example is not): while it carries no
 * traffic it is probed only when asked, so the Recheck button has an effect of its own to see.
 *
 * The screenshot dashboard.png is taken every run; IFF_SCREENSHOTS=docs/screenshots (`npm run screenshots`)
 * keeps it for the README. Needs root (network namespaces), the lab's tools and /usr/bin/chromium; skipped with
 * a warning otherwise (IFF_REQUIRE_BROWSER=1 and IFF_REQUIRE_LAB=1, as in .ci/run, make those errors).
 * Node-RED 4 only: the Node-RED 5 run of `npm test` covers node specs and the examples' loading (this example
 * included, with Dashboard 2's nodes).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { NetLab, isRoot, listNamespaces, missingTools, type LabProcess } from '../lab/netlab';
import { DASHBOARD_PACKAGE } from '../support/red-helper';
import { until, waitFor } from '../support/wait';
import { freePort } from '../support/ports';

const ROOT = resolve(__dirname, '../../..');
const PACKAGE = 'node-red-contrib-ifacefailover';
const CHROMIUM = '/usr/bin/chromium';
const EXAMPLE = join(ROOT, 'examples', 'failover-controller', '04 - Live dashboard.json');
const FAKES_BIN = join(ROOT, 'test', 'fakes', 'bin');
const TARGETS = '203.0.113.1,203.0.113.2';
const PAGE_PATH = '/dashboard/failover';

const NO_BROWSER: string | false = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`;
if (NO_BROWSER && process.env['IFF_REQUIRE_BROWSER'] === '1') throw new Error(`IFF_REQUIRE_BROWSER=1 but ${NO_BROWSER}`);
const MISSING = isRoot() ? missingTools() : [];
const SKIP: string | false =
  NO_BROWSER || (!isRoot() ? 'needs root (network namespaces); CI runs it as root' : MISSING.length > 0 ? `missing tools: ${MISSING.join(', ')}` : false);
if (SKIP) console.warn(`SKIPPED: the dashboard page during a failover in the network lab: ${SKIP}`);

interface FlowNode {
  id: string;
  type: string;
  z?: string;
  wires?: string[][];
  [key: string]: unknown;
}

/** The example as the lab runs it: its uplinks on the lab's eth0 and wlan0, dry run off. */
function labFlow(): FlowNode[] {
  const example = JSON.parse(readFileSync(EXAMPLE, 'utf8')) as FlowNode[];
  const tab = example.find((n) => typeof n.z === 'string')?.z;
  assert.ok(tab, 'the example has a flow tab');
  const flow: FlowNode[] = [{ id: tab, type: 'tab', label: 'Live dashboard (network lab)' }];
  for (const original of example) {
    const n: FlowNode = { ...original };
    if (n.type === 'uplink' && n['iface'] === 'eth0') Object.assign(n, { gateway: '192.0.2.1', targets: TARGETS });
    if (n.type === 'uplink' && n['iface'] === 'wlan0') {
      Object.assign(n, { gateway: '192.0.2.17', targets: TARGETS, metered: true, idleInterval: 3600, down: 1, up: 1 });
    }
    if (n.type === 'failover-controller') n['dryRun'] = false;
    flow.push(n);
  }
  return flow;
}


/** SIGTERM to a detached child's process group, SIGKILL after graceMs; waits for the exit. */
async function stopGroup(child: ChildProcess, graceMs: number): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  const kill = (s: NodeJS.Signals): void => {
    try {
      process.kill(-pid, s);
    } catch {
      /* gone */
    }
  };
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    kill('SIGTERM');
    const timer = setTimeout(() => kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
  kill('SIGKILL');
}

/** A user dir where the package and Dashboard 2 are "installed" (links), with the lab's flow. */
function userDir(port: number): { dir: string; settings: string } {
  const dir = mkdtempSync(join(tmpdir(), 'iff-dashboard-'));
  mkdirSync(join(dir, 'node_modules', '@flowfuse'), { recursive: true });
  symlinkSync(ROOT, join(dir, 'node_modules', PACKAGE), 'dir');
  const dashboard = dirname(require.resolve(`${DASHBOARD_PACKAGE}/package.json`, { paths: [ROOT] }));
  symlinkSync(dashboard, join(dir, 'node_modules', DASHBOARD_PACKAGE), 'dir');
  writeFileSync(join(dir, 'flows.json'), JSON.stringify(labFlow(), null, 2));
  const settings = {
    uiHost: '127.0.0.1',
    uiPort: port,
    userDir: dir,
    flowFile: 'flows.json',
    credentialSecret: false,
    telemetry: { enabled: false, updateNotification: false },
    diagnostics: { enabled: false, ui: false },
    editorTheme: { tours: false, palette: { catalogues: [] } },
    externalModules: { autoInstall: false },
    logging: { console: { level: 'info', metrics: false, audit: false } },
  };
  const file = join(dir, 'settings.js');
  writeFileSync(file, `module.exports = ${JSON.stringify(settings, null, 2)};\n`);
  return { dir, settings: file };
}

// ───────────────────────────── what the page shows ─────────────────────────────

/** A widget of the page, by the id of its node (Dashboard 2 gives each widget the element id nrdb-ui-widget-<id>). */
const widget = (page: Page, id: string): Locator => page.locator(`[id="nrdb-ui-widget-${id}"]`);

/** The text as the page renders it (block elements on lines of their own), on one line. */
async function textOf(locator: Locator): Promise<string> {
  return (await locator.innerText()).replace(/\s+/g, ' ').trim();
}

/** The rows of a ui-table widget, as the cells' texts. */
async function tableRows(page: Page, id: string): Promise<string[][]> {
  return widget(page, id)
    .locator('tbody tr')
    .evaluateAll((rows: Array<{ querySelectorAll(s: string): ArrayLike<{ textContent: string | null }> }>) =>
      rows.map((r) => Array.from(r.querySelectorAll('td')).map((c) => (c.textContent ?? '').trim())),
    );
}

/** Waits until the widget's text matches; the texts seen on the way are in the error. */
async function waitForText(page: Page, id: string, pattern: RegExp, what: string, timeoutMs = 30_000): Promise<string> {
  const seen: string[] = [];
  return waitFor(
    async () => {
      const text = await textOf(widget(page, id));
      if (seen[seen.length - 1] !== text) seen.push(text);
      return pattern.test(text) ? text : undefined;
    },
    { what: `${what} (${pattern})`, timeoutMs, intervalMs: 100 },
  ).catch((e: unknown) => {
    throw new Error(`${e instanceof Error ? e.message : String(e)}; texts seen: ${JSON.stringify(seen.slice(-5))}`);
  });
}

/** Waits until some row of a table widget satisfies `match`; returns the rows. */
async function waitForRow(page: Page, id: string, match: (row: string[]) => boolean, what: string, timeoutMs = 30_000): Promise<string[][]> {
  let last: string[][] = [];
  return waitFor(
    async () => {
      last = await tableRows(page, id);
      return last.some(match) ? last : undefined;
    },
    { what, timeoutMs, intervalMs: 100 },
  ).catch((e: unknown) => {
    throw new Error(`${e instanceof Error ? e.message : String(e)}; last rows ${JSON.stringify(last)}`);
  });
}

// ───────────────────────────── the test ─────────────────────────────

describe('the live dashboard in chromium, during failovers in the network lab', { skip: SKIP }, () => {
  const flow = labFlow();
  const idOf = (type: string, name: string): string => {
    const n = flow.find((x) => x.type === type && x['name'] === name);
    assert.ok(n, `${type} "${name}" in the example`);
    return n.id;
  };
  const W = {
    active: idOf('ui-text', 'active uplink'),
    backup: idOf('ui-template', 'time on backup'),
    uplinks: idOf('ui-table', 'uplinks'),
    events: idOf('ui-table', 'events'),
    rtt: idOf('ui-chart', 'round-trip time'),
    loss: idOf('ui-chart', 'loss'),
    force: idOf('ui-button', 'force wifi'),
    auto: idOf('ui-button', 'automatic'),
    recheck: idOf('ui-button', 'recheck'),
  };

  let lab: NetLab | undefined;
  let namespaces: string[] = [];
  let nodeRed: LabProcess | undefined;
  let forwarder: ChildProcess | undefined;
  let dir = '';
  let context: BrowserContext | undefined;
  let profile = '';
  let shotsTemp = '';
  const blocked: string[] = [];
  const pageErrors: string[] = [];
  let page: Page;
  let origin = '';

  before(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    lab = await NetLab.create({ targets: 2, wlan: true, carrier: false });
    namespaces = lab.namespaces;
    const u = userDir(port);
    dir = u.dir;
    const env = { ...process.env, PATH: `${FAKES_BIN}${delimiter}${process.env['PATH'] ?? ''}` };
    const redJs = require.resolve('node-red/red.js', { paths: [ROOT] });
    nodeRed = lab.spawn('dut', process.execPath, [redJs, '--userDir', u.dir, '--settings', u.settings], { env, cwd: u.dir });
    await nodeRed.waitFor(/Started flows/, { timeoutMs: 90_000 });
    // host 127.0.0.1:port → a unix socket (the file system is shared) → 127.0.0.1:port in the device namespace
    const socket = join(u.dir, 'page.sock');
    lab.spawn('dut', 'socat', [`UNIX-LISTEN:${socket},fork,unlink-early,mode=600`, `TCP:127.0.0.1:${port}`]);
    await until(() => existsSync(socket), { what: 'the forwarder in the device namespace', timeoutMs: 10_000 });
    forwarder = spawn('socat', [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, `UNIX-CONNECT:${socket}`], { stdio: 'ignore', detached: true });
    await waitFor(
      async () => {
        const r = await fetch(`${origin}${PAGE_PATH}`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
        return r?.ok ? true : undefined;
      },
      { what: `the dashboard page at ${origin}${PAGE_PATH}`, timeoutMs: 30_000, intervalMs: 200 },
    );

    profile = mkdtempSync(join(tmpdir(), 'iff-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1280, height: 800 },
    });
    // the page may ask for nothing but Node-RED (and data: URLs)
    await context.route(
      (url) => url.origin !== origin && url.protocol !== 'data:',
      async (route) => {
        blocked.push(route.request().url());
        await route.abort();
      },
    );
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${origin}${PAGE_PATH}`);
  });

  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    if (shotsTemp) rmSync(shotsTemp, { recursive: true, force: true });
    if (forwarder) await stopGroup(forwarder, 3000);
    if (nodeRed?.running) {
      // SIGINT first, so Node-RED closes its nodes (the controller removes its pins and stops its probes)
      nodeRed.signal('SIGINT');
      await nodeRed.stop({ signal: 'SIGTERM', graceMs: 15_000 });
    }
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(
      listNamespaces().filter((n) => namespaces.includes(n)),
      [],
      'lab namespaces left behind',
    );
    assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
    assert.deepEqual(blocked, [], 'the page asked for nothing outside Node-RED');
  });

  it('shows the active uplink, the uplinks, the charts and no time on backup while the wired uplink works', { timeout: 60_000 }, async () => {
    await waitForText(page, W.active, /Active uplink\s*wired$/, 'the active uplink is wired');
    await waitForText(page, W.backup, /^on the primary$/, 'no time on backup');
    await waitForRow(page, W.uplinks, (r) => r[0] === 'wired' && r[1] === 'eth0' && r[2] === 'up' && r[4] === 'true', 'wired up and active');
    await waitForRow(page, W.uplinks, (r) => r[0] === 'wifi' && r[1] === 'wlan0' && r[2] === 'up' && r[4] === 'false', 'wifi up, not active');
    for (const chart of [W.rtt, W.loss]) {
      await widget(page, chart).locator('canvas, svg').first().waitFor({ timeout: 10_000 });
    }
    // the button labels as the user reads them
    assert.match(await textOf(widget(page, W.force)), /Use wifi/);
    assert.match(await textOf(widget(page, W.auto)), /Automatic/);
    assert.match(await textOf(widget(page, W.recheck)), /Recheck/);
  });

  it('Recheck probes now: the idle wifi is seen down, then up, only when the button is pressed', { timeout: 60_000 }, async () => {
    assert.ok(lab);
    await lab.cutUpstream('wlan0');
    try {
      // its next round is an hour away: the table keeps showing it up until Recheck
      const before = await tableRows(page, W.uplinks);
      assert.deepEqual(before.find((r) => r[0] === 'wifi')?.[2], 'up', JSON.stringify(before));
      await widget(page, W.recheck).locator('button').click();
      await waitForRow(page, W.uplinks, (r) => r[0] === 'wifi' && r[2] === 'down', 'wifi down after Recheck');
      await waitForRow(page, W.events, (r) => r[1] === 'health' && r[2] === 'wifi', 'the health event of the wifi in the list');
    } finally {
      await lab.restore('wlan0'); // the tests after this one need the wifi
    }
    await widget(page, W.recheck).locator('button').click();
    await waitForRow(page, W.uplinks, (r) => r[0] === 'wifi' && r[2] === 'up', 'wifi up again after Recheck');
    assert.match(await textOf(widget(page, W.active)), /wired$/, 'the route stayed on the wired uplink');
  });

  it('Use wifi moves the route to the wifi, Automatic brings it back', { timeout: 60_000 }, async () => {
    assert.ok(lab);
    await widget(page, W.force).locator('button').click();
    await waitForText(page, W.active, /Active uplink\s*wifi$/, 'the active uplink is wifi');
    await waitForRow(page, W.events, (r) => r[1] === 'connected' && r[2] === 'wifi', 'connected wifi in the events list');
    await waitForText(page, W.backup, /^\d+ s on a backup uplink$/, 'the time on backup counts');
    assert.equal((await lab.defaultRoutes())[0]?.dev, 'wlan0', "the device's default route is on wlan0");

    await widget(page, W.auto).locator('button').click();
    await waitForText(page, W.active, /Active uplink\s*wired$/, 'the active uplink is wired again');
    await waitForText(page, W.backup, /^on the primary$/, 'no time on backup');
    assert.equal((await lab.defaultRoutes())[0]?.dev, 'eth0', "the device's default route is on eth0");
  });

  it('shows the failover to the wifi when the wired uplink is cut upstream, and the way back', { timeout: 90_000 }, async () => {
    assert.ok(lab);
    const eventsBefore = (await tableRows(page, W.events)).length;
    await lab.cutUpstream('eth0');
    await waitForText(page, W.active, /Active uplink\s*wifi$/, 'the active uplink is wifi after the cut');
    // the failover's events, each with the uplink it is about and the active uplink after it
    let added: string[] = [];
    await until(
      async () => {
        added = (await tableRows(page, W.events)).slice(eventsBefore).map((r) => `${r[1]} ${r[2]} → ${r[3]}`);
        return added.includes('connectionFailed wired → wifi') && added.includes('connected wifi → wifi');
      },
      { what: 'connectionFailed wired and connected wifi in the events list', timeoutMs: 30_000, intervalMs: 100 },
    ).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; new rows ${JSON.stringify(added)}`);
    });
    await waitForRow(page, W.uplinks, (r) => r[0] === 'wired' && r[2] === 'down' && r[4] === 'false', 'wired down in the uplinks table');
    // a few seconds on the backup, so the charts show the wifi's rounds too
    await waitForText(page, W.backup, /^([5-9]|\d\d+) s on a backup uplink$/, 'five seconds on the backup');

    const dir = process.env['IFF_SCREENSHOTS'] ? resolve(ROOT, process.env['IFF_SCREENSHOTS']) : (shotsTemp = mkdtempSync(join(tmpdir(), 'iff-screenshots-')));
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'dashboard.png');
    await page.screenshot({ path: file, fullPage: true });
    const size = statSync(file).size;
    assert.ok(size > 20_000 && size < 1_000_000, `dashboard.png is ${size} bytes`);

    await lab.restore('eth0');
    await waitForText(page, W.active, /Active uplink\s*wired$/, 'the active uplink is wired after the heal');
    await waitForRow(page, W.events, (r) => r[1] === 'connectionRestored' && r[2] === 'wired', 'connectionRestored wired in the events list');
    await waitForText(page, W.backup, /^on the primary$/, 'no time on backup after the heal');
  });
});
