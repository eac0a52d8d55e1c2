/**
 * `npm start` (dist/demo/start.js) as a newcomer runs it, as root: Node-RED answers on 127.0.0.1:PORT (the
 * host side of the forwarder), the example's controller puts the primary's default route in place inside the
 * lab, the "cut primary" button moves it to the FONA's ppp0, writing "heal" into the control file brings it
 * back, and Ctrl-C (SIGINT) leaves no namespace, no process and no temporary directory behind.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isRoot, listNamespaces, missingTools, removeStaleLabs } from './netlab';
import { sleep } from '../support/wait';
import { freePort } from '../support/ports';

const DEMO = resolve(__dirname, '../../demo/start.js');
const ROOT = isRoot();
const MISSING = ROOT ? missingTools() : [];
const SKIP = !ROOT ? 'needs root (network namespaces); CI runs it as root' : MISSING.length > 0 ? `missing tools: ${MISSING.join(', ')}` : false;
if (SKIP) console.warn(`SKIPPED: the npm start (demo) lab test: ${SKIP}`);



interface Demo {
  child: ChildProcess;
  out(): string;
  line(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startDemo(port: number, args: string[] = []): Demo {
  const child = spawn(process.execPath, [DEMO, ...args], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return {
    child,
    exited,
    out: () => out,
    async line(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = out.match(pattern);
        if (m) return m;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the demo exited before printing ${pattern}:\n${out.slice(-4000)}`);
        if (Date.now() > deadline) throw new Error(`no ${pattern} from the demo within ${timeoutMs} ms:\n${out.slice(-4000)}`);
        await sleep(50);
      }
    },
  };
}

interface Route {
  dev?: string;
  gateway?: string;
}

function defaultRoutes(ns: string): Route[] {
  try {
    const out = execFileSync('ip', ['-n', ns, '-4', '-j', 'route', 'show', 'default'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return JSON.parse(out || '[]') as Route[];
  } catch {
    return [];
  }
}

async function waitForDefault(ns: string, dev: string, demo: Demo, timeoutMs: number): Promise<Route> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const routes = defaultRoutes(ns);
    const hit = routes.find((r) => r.dev === dev);
    if (hit && routes.length === 1) return hit;
    if (Date.now() > deadline) throw new Error(`the dut's default route never moved to ${dev}; it is ${JSON.stringify(routes)}\n${demo.out().slice(-6000)}`);
    await sleep(100);
  }
}

interface FlowNode {
  id: string;
  type: string;
  name?: string;
  [key: string]: unknown;
}

describe('npm start: Node-RED with the example flow in the network lab', { skip: SKIP }, () => {
  let demo: Demo | undefined;
  let namespaces: string[] = [];
  let userDir = '';

  after(async () => {
    // a failed test must not leave the demo or its lab behind
    if (demo && demo.child.exitCode === null && demo.child.signalCode === null) {
      demo.child.kill('SIGINT');
      const timer = setTimeout(() => demo?.child.kill('SIGKILL'), 20_000);
      await demo.exited;
      clearTimeout(timer);
    }
    await removeStaleLabs();
    if (userDir) rmSync(userDir, { recursive: true, force: true });
  });

  it('serves the editor on 127.0.0.1, fails over on "cut primary", heals, and cleans up on Ctrl-C', { timeout: 240_000 }, async () => {
    const port = await freePort();
    demo = startDemo(port);
    namespaces = (await demo.line(/^demo: lab namespaces (.+)$/m))[1]?.split(' ') ?? [];
    const dut = (await demo.line(/^demo: lab dut (\S+)$/m))[1] ?? '';
    const controlFile = (await demo.line(/^demo: control file (\S+)$/m))[1] ?? '';
    userDir = (await demo.line(/^demo: user dir (\S+)$/m))[1] ?? '';
    assert.ok(namespaces.includes(dut), `${dut} in ${namespaces.join(' ')}`);
    await demo.line(/^demo: ready /m, 90_000);

    // the editor and the admin API answer on the host's loopback
    const base = `http://127.0.0.1:${port}`;
    const editor = await fetch(`${base}/`);
    assert.equal(editor.status, 200);
    assert.match(await editor.text(), /Node-RED/);
    const flows = (await (await fetch(`${base}/flows`)).json()) as FlowNode[];
    const controller = flows.find((n) => n.type === 'failover-controller');
    assert.ok(controller, 'the deployed flow has the controller');
    assert.equal(controller['dryRun'], false, 'real routes inside the lab');
    for (const t of ['ppp-control', 'uplink']) assert.ok(flows.some((n) => n.type === t), `${t} deployed`);
    const modem = flows.find((n) => n.type === 'ppp-control');
    assert.deepEqual([modem?.['modem'], modem?.['driver']], ['fona', 'libgpiod'], 'the FONA powered by ppp-control over the fake libgpiod tools');
    const cut = flows.find((n) => n.type === 'inject' && n.name === 'cut primary');
    assert.ok(cut, 'the "cut primary" button');
    // our nodes are installed: the palette lists them
    const nodes = (await (await fetch(`${base}/nodes`, { headers: { accept: 'application/json' } })).json()) as Array<{ module: string; types: string[] }>;
    const ours = nodes.filter((n) => n.module === 'node-red-contrib-ifacefailover').flatMap((n) => n.types);
    assert.deepEqual(ours.sort(), ['failover-controller', 'failover-mqtt', 'fona-power', 'ppp-control', 'route-switch', 'route-verifier', 'uplink']);

    // the controller reaches the primary: it puts eth0's default route in place (the lab starts without one)
    const primary = await waitForDefault(dut, 'eth0', demo, 30_000);
    assert.equal(primary.gateway, '192.0.2.1');
    // and says so in the terminal, one line per event
    await demo.line(/\[function:terminal\] connected primary\/eth0 from=- active=primary$/m, 10_000);

    // "cut primary" (the button, as a user presses it): the file node writes the control file, the demo cuts
    // the router, the controller powers the FONA on, dials ppp0 and moves the default route there
    const pressed = await fetch(`${base}/inject/${cut.id}`, { method: 'POST' });
    assert.equal(pressed.status, 200);
    await demo.line(/^demo: cut done$/m, 10_000);
    await waitForDefault(dut, 'ppp0', demo, 60_000);
    await demo.line(/\[function:terminal\] connectionFailed primary\/eth0 to=fona active=fona$/m, 10_000);
    // the modem's steps on lines of their own too: powered on, ppp0 up
    assert.match(demo.out(), /\[function:terminal\] modem power on \(switched\)$/m);
    assert.match(demo.out(), /\[function:terminal\] ppp fona up ppp0 198\.51\.100\.2$/m);

    // "heal" written straight into the control file: back to eth0
    writeFileSync(controlFile, 'heal\n');
    await demo.line(/^demo: heal done$/m, 10_000);
    await waitForDefault(dut, 'eth0', demo, 60_000);
    // back on eth0, the modem is hung up and powered off
    await demo.line(/\[function:terminal\] modem power off \(switched\)$/m, 30_000);

    // Ctrl-C: Node-RED stops, the lab and the user dir are gone, the port is free
    demo.child.kill('SIGINT');
    const exit = await demo.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, demo.out().slice(-3000));
    assert.match(demo.out(), /^demo: stopped$/m);
    assert.doesNotMatch(demo.out(), /link monitor exited/, 'a clean stop is no failure of the link monitor');
    assert.doesNotMatch(demo.out(), /^\{$/m, 'no event printed as an object');
    const left = listNamespaces().filter((n) => namespaces.includes(n));
    assert.deepEqual(left, [], 'namespaces left behind');
    assert.equal(existsSync(userDir), false, 'user dir removed');
    await assert.rejects(fetch(`${base}/flows`, { signal: AbortSignal.timeout(2000) }), 'nothing listens on the port any more');
  });
});

describe('npm start -- --dry-run: an honest banner and a simulated failure to press', () => {
  let demo: Demo | undefined;
  let userDir = '';

  after(async () => {
    if (demo && demo.child.exitCode === null && demo.child.signalCode === null) {
      demo.child.kill('SIGINT');
      const timer = setTimeout(() => demo?.child.kill('SIGKILL'), 20_000);
      await demo.exited;
      clearTimeout(timer);
    }
    if (userDir) rmSync(userDir, { recursive: true, force: true });
  });

  it('"simulate primary failure" fails the loopback primary: the FONA is powered on, dialled, hung up and powered off; "heal primary" brings it back', { timeout: 240_000 }, async () => {
    const port = await freePort();
    demo = startDemo(port, ['--dry-run']);
    assert.equal((await demo.line(/^demo: mode (\S+)$/m))[1], 'dry-run');
    userDir = (await demo.line(/^demo: user dir (\S+)$/m))[1] ?? '';
    await demo.line(/^demo: ready /m, 90_000);
    // the banner says what runs, and nothing that is not so (the primary is loopback, not "your default route")
    const banner = (await demo.line(/┌[^]*?└/))[0];
    assert.match(banner, /DRY RUN \(--dry-run was given\)/);
    assert.match(banner, /primary is loopback: it pings 127\.0\.0\.1/);
    assert.match(banner, /press "simulate primary failure"/);
    assert.doesNotMatch(banner, /default route/);
    if (ROOT) assert.doesNotMatch(banner, /sudo npm start/, 'root is told how to get the lab, not to use sudo');

    const base = `http://127.0.0.1:${port}`;
    const flows = (await (await fetch(`${base}/flows`)).json()) as FlowNode[];
    assert.equal(flows.find((n) => n.type === 'failover-controller')?.['dryRun'], true);
    const comments = flows.filter((n) => n.type === 'comment').map((n) => `${n.name ?? ''} ${String(n['info'] ?? '')}`);
    assert.ok(!comments.some((c) => /not root/i.test(c)), comments.join('\n'));
    const fail = flows.find((n) => n.type === 'inject' && n.name === 'simulate primary failure');
    const heal = flows.find((n) => n.type === 'inject' && n.name === 'heal primary');
    assert.ok(fail && heal, 'the two buttons');
    for (const n of flows.filter((x) => typeof x['x'] === 'number')) assert.ok((n['x'] as number) <= 1500, `${n.type} ${n.name ?? n.id} at x ${String(n['x'])}`);

    // on loopback, and the route commands are only logged
    await demo.line(/\[function:terminal\] connected primary\/lo from=- active=primary$/m, 30_000);
    assert.match(demo.out(), /DRY-RUN: ip -4 route replace default dev lo$/m);

    // the button, as a user presses it
    assert.equal((await fetch(`${base}/inject/${fail.id}`, { method: 'POST' })).status, 200);
    await demo.line(/\[function:terminal\] health primary\/lo health=down cause=probe active=primary$/m, 30_000);
    await demo.line(/\[function:terminal\] setup fona\/ppp0 active=primary$/m, 10_000);
    await demo.line(/\[function:terminal\] modem power on \(switched\)$/m, 30_000);
    // no modem and no lab: ppp0 never comes; the controller gives up, hangs up and powers the modem off
    await demo.line(/\[function:terminal\] setupFailed fona\/ppp0 waitedMs=\d+ active=primary$/m, 60_000);
    await demo.line(/\[function:terminal\] ppp fona down ppp0 \(stopped: /m, 30_000);
    await demo.line(/\[function:terminal\] modem power off \(switched\)$/m, 30_000);

    assert.equal((await fetch(`${base}/inject/${heal.id}`, { method: 'POST' })).status, 200);
    await demo.line(/\[function:terminal\] health primary\/lo health=up cause=probe active=primary$/m, 30_000);

    demo.child.kill('SIGINT');
    const exit = await demo.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, demo.out().slice(-3000));
    assert.match(demo.out(), /^demo: stopped$/m);
    assert.doesNotMatch(demo.out(), /link monitor exited/);
    assert.equal(existsSync(userDir), false, 'user dir removed');
  });
});
