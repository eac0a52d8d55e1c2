#!/usr/bin/env node
/**
 * `npm start`: Node-RED on http://127.0.0.1:1880 with this package installed and the main example flow
 * (examples/failover-controller/01 …) deployed, without touching the host's own routes.
 *
 * As root (with ip, socat, nft, ping): the flow runs inside the network lab (test/lab/netlab.ts). Node-RED
 * runs in the lab's device namespace, where eth0 reaches the probe targets 203.0.113.1/2 through a router
 * namespace and the FONA's ppp0 is dialled by fake pon/poff (test/fakes/bin, first on Node-RED's PATH, with
 * fake gpioget/gpioset for the modem's power). The editor is forwarded to 127.0.0.1:PORT on the host
 * (socat on the host → a unix socket → socat in the device namespace → Node-RED). Two inject buttons,
 * "cut primary" and "heal primary", write a word into a control file that this process turns into
 * lab.cutUpstream('eth0') / lab.restore('eth0').
 *
 * Otherwise (not root, or `--dry-run`): Node-RED in the host namespace, the controller in dry run (it logs
 * the `ip` commands instead of running them), its primary on loopback so no packet leaves the machine. Beside
 * the ping of 127.0.0.1 the primary has a flow check (flow://simulated) that only this controller sees: the
 * buttons "simulate primary failure" and "heal primary" turn its verdicts bad or good.
 *
 * In both modes a function node prints one line per event of the controller, the modem's power and ppp0 to
 * the terminal (demo/terminal-line.ts).
 *
 * Ctrl-C (or SIGTERM) stops Node-RED and removes the lab and the temporary user directory.
 * Environment: PORT (default 1880). Lines starting with `demo:` are for people and for test/lab/demo.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unwatchFile, watchFile, writeFileSync, existsSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { NetLab, isRoot, missingTools, type LabProcess } from '../test/lab/netlab';
import { terminalLine } from './terminal-line';

const ROOT = resolve(__dirname, '../..');
const PACKAGE = 'node-red-contrib-ifacefailover';
const EXAMPLE = join(ROOT, 'examples', 'failover-controller', '01 - Failover to a FONA modem like the guide.json');
const FAKES_BIN = join(ROOT, 'test', 'fakes', 'bin');
const LAB_TARGETS = ['203.0.113.1', '203.0.113.2'];

type Mode = 'lab' | 'dry-run';

interface FlowNode {
  id: string;
  type: string;
  z?: string;
  d?: boolean;
  x?: number;
  y?: number;
  wires?: string[][];
  [key: string]: unknown;
}

const say = (line: string): void => {
  process.stdout.write(`demo: ${line}\n`);
};

// ───────────────────────────── the flow ─────────────────────────────

interface PrimaryUplink {
  iface: string;
  gateway: string;
  targets: string[];
}

/**
 * The dry run's primary: loopback, probing 127.0.0.1. It shows the controller working without sending a
 * packet off this machine (no real gateway or public address is ever probed by the demo).
 */
const LOOPBACK_PRIMARY: PrimaryUplink = { iface: 'lo', gateway: '', targets: ['127.0.0.1'] };

const CONTROL_IDS = { cut: 'e1ad000000000001', heal: 'e1ad000000000002', file: 'e1ad000000000003', note: 'e1ad000000000004' };

/** The main example, adapted to where it runs: the lab (real routes in the device namespace) or a dry run. */
export function demoFlow(mode: Mode, controlFile: string, primary: PrimaryUplink | null): FlowNode[] {
  const example = JSON.parse(readFileSync(EXAMPLE, 'utf8')) as FlowNode[];
  const tab = example.find((n) => typeof n.z === 'string')?.z ?? 'e1a0000000000001';
  const flow: FlowNode[] = [
    {
      id: tab,
      type: 'tab',
      label: mode === 'lab' ? 'ifacefailover demo (network lab)' : 'ifacefailover demo (dry run)',
      disabled: false,
      info: 'The example "Failover to a FONA modem like the guide", set up by `npm start`.',
    },
  ];
  for (const original of example) {
    const n: FlowNode = { ...original };
    if (n.type === 'uplink' && n['iface'] === 'eth0') {
      if (mode === 'lab') {
        n['gateway'] = '192.0.2.1';
        n['targets'] = LAB_TARGETS.join(',');
      } else if (primary) {
        n['iface'] = primary.iface;
        n['gateway'] = primary.gateway;
        n['targets'] = primary.targets.join(',');
      }
    }
    if (n.type === 'failover-controller') n['dryRun'] = mode !== 'lab';
    // the fakes are libgpiod's command-line tools; 'auto' would look for a Raspberry Pi first (the modem's pins
    // are on ppp-control in the example; a fona-power node of an older example has them too)
    if (n.type === 'fona-power' || (n.type === 'ppp-control' && n['modem'] === 'fona')) n['driver'] = 'libgpiod';
    // The guide's web service does not exist here: keep the node, switched off.
    if (n.type === 'http request') n.d = true;
    if (n.type === 'comment' && n['name'] === 'Use real probe targets') {
      n['name'] = mode === 'lab' ? 'Network lab: eth0 → router → 203.0.113.1/2' : 'Dry run: primary on loopback';
      n['info'] =
        mode === 'lab'
          ? 'Node-RED runs inside a network namespace made by `npm start`: eth0 (gateway 192.0.2.1) reaches the probe ' +
            'targets 203.0.113.1 and 203.0.113.2 through a router namespace, ppp0 is dialled by a fake `pon fona` and the ' +
            "modem's GPIO lines are fake too. Press *cut primary*: the router stops forwarding, the controller fails over " +
            'to the FONA (power on, dial, default route on ppp0). *heal primary* brings eth0 back. The POST node is ' +
            'disabled: there is no web service here. Your own machine is not touched.'
          : 'No network lab: Node-RED runs on this machine and the controller is in dry run: its primary ' +
            'is loopback (probing 127.0.0.1, nothing leaves this machine) and it only logs the `ip route` commands it ' +
            'would run. The POST node is disabled. Edit the uplinks to try your own interfaces.';
    }
    flow.push(n);
  }
  if (mode === 'lab') {
    const button = (id: string, name: string, word: string, y: number): FlowNode => ({
      id,
      type: 'inject',
      z: tab,
      name,
      props: [{ p: 'payload' }],
      repeat: '',
      crontab: '',
      once: false,
      onceDelay: 0.1,
      topic: '',
      payload: word,
      payloadType: 'str',
      x: 140,
      y,
      wires: [[CONTROL_IDS.file]],
    });
    flow.push(
      button(CONTROL_IDS.cut, 'cut primary', 'cut', 500),
      button(CONTROL_IDS.heal, 'heal primary', 'heal', 540),
      {
        id: CONTROL_IDS.file,
        type: 'file',
        z: tab,
        name: 'lab control',
        filename: controlFile,
        filenameType: 'str',
        appendNewline: true,
        createDir: false,
        overwriteFile: 'true',
        encoding: 'none',
        x: 340,
        y: 520,
        wires: [[]],
      },
      {
        id: CONTROL_IDS.note,
        type: 'comment',
        z: tab,
        name: 'Lab faults (npm start only)',
        info:
          '*cut primary*: eth0 keeps its link but its router forwards nothing, like a dead DSL line. ' +
          '*heal primary*: forwarding again. `npm start` watches the file these buttons write.',
        x: 170,
        y: 460,
        wires: [],
      },
    );
  }
  return flow;
}

/** Ids of what this file adds to the example besides the lab's buttons (CONTROL_IDS). */
const DEMO_IDS = {
  fail: 'e1ad000000000011',
  healSimulated: 'e1ad000000000012',
  ticker: 'e1ad000000000013',
  simulated: 'e1ad000000000014',
  simulatedNote: 'e1ad000000000015',
  terminal: 'e1ad000000000020',
};

/** The dry run's flow check: its name in the uplink's checks and in the verdicts the buttons send. */
const SIMULATED_CHECK = 'simulated';
/** Seconds a verdict of the simulated check counts; the ticker sends the current one more often than that. */
const SIMULATED_VERDICT_S = 10;
/** In a dry run ppp0 never comes (no modem, no lab): the FONA's setup gives up after this many seconds. */
const DRY_RUN_SETUP_TIMEOUT_S = 15;

function tabOf(flow: FlowNode[]): string {
  return flow.find((n) => n.type === 'tab')?.id ?? 'e1a0000000000001';
}

/**
 * Dry run: something to press. The primary gets a flow check that only this controller sees (its ping of
 * 127.0.0.1 keeps working), and both must answer; "simulate primary failure" and "heal primary" make the
 * check's verdict bad or good, and a ticker repeats the current verdict, which counts SIMULATED_VERDICT_S.
 */
export function withSimulatedFailure(flow: FlowNode[]): FlowNode[] {
  const tab = tabOf(flow);
  const controller = flow.find((n) => n.type === 'failover-controller');
  const ids = Array.isArray(controller?.['uplinks']) ? (controller['uplinks'] as unknown[]) : [];
  const primary = flow.find((n) => n.type === 'uplink' && n.id === ids[0]);
  if (!controller || !primary) throw new Error('the example has no controller with a primary uplink');
  const name = typeof primary['name'] === 'string' ? primary['name'] : 'primary';
  const targets = String(primary['targets'] ?? '')
    .split(',')
    .filter((t) => t.trim() !== '');
  primary['checks'] = `flow://${SIMULATED_CHECK} timeout=${SIMULATED_VERDICT_S}`;
  primary['reliability'] = targets.length + 1; // every target and the simulated check must answer
  for (const n of flow) if (n.type === 'uplink' && n.id !== primary.id && n['iface'] === 'ppp0') n['setupTimeout'] = DRY_RUN_SETUP_TIMEOUT_S;
  const inject = (id: string, label: string, word: string, y: number, repeat = ''): FlowNode => ({
    id,
    type: 'inject',
    z: tab,
    name: label,
    props: [{ p: 'payload' }],
    repeat,
    crontab: '',
    once: repeat !== '',
    onceDelay: 0.1,
    topic: '',
    payload: word,
    payloadType: 'str',
    x: 160,
    y,
    wires: [[DEMO_IDS.simulated]],
  });
  // The buttons set the verdict; every message (button or tick) sends the current one to the controller.
  const func = [
    "if (msg.payload === 'fail' || msg.payload === 'heal') context.set('ok', msg.payload === 'heal');",
    `return { topic: 'verdict', payload: { uplink: ${JSON.stringify(name)}, check: ${JSON.stringify(SIMULATED_CHECK)}, ok: context.get('ok') !== false } };`,
  ].join('\n');
  return [
    ...flow,
    inject(DEMO_IDS.fail, 'simulate primary failure', 'fail', 500),
    inject(DEMO_IDS.healSimulated, 'heal primary', 'heal', 540),
    inject(DEMO_IDS.ticker, `every ${SIMULATED_VERDICT_S / 5} s`, 'tick', 580, String(SIMULATED_VERDICT_S / 5)),
    {
      id: DEMO_IDS.simulated,
      type: 'function',
      z: tab,
      name: 'simulated probe',
      func,
      outputs: 1,
      timeout: 0,
      noerr: 0,
      initialize: '',
      finalize: '',
      libs: [],
      x: 420,
      y: 540,
      wires: [[controller.id]],
    },
    {
      id: DEMO_IDS.simulatedNote,
      type: 'comment',
      z: tab,
      name: 'Dry run: simulate a failure (npm start only)',
      info:
        `The primary has a flow check, *flow://${SIMULATED_CHECK}*, beside its ping of 127.0.0.1, and both must answer. ` +
        '*simulate primary failure* makes its verdicts bad: after three bad rounds the controller fails over to the ' +
        'FONA: it powers the (fake) modem on and dials. In a dry run there is no ppp0 to come up, so after ' +
        `${DRY_RUN_SETUP_TIMEOUT_S} s it hangs up and powers the modem off again. *heal primary* makes the verdicts good. ` +
        'Only this controller sees the check: no packet is sent, no route is changed.',
      x: 210,
      y: 460,
      wires: [],
    },
  ];
}

/**
 * The terminal: one line per message of the controller's events, the modem's power and the PPP link (a
 * function node running terminalLine), instead of the debug node's objects.
 */
export function withTerminalLines(flow: FlowNode[]): FlowNode[] {
  const tab = tabOf(flow);
  const sources = ['failover-controller', 'fona-power', 'ppp-control'];
  const wired = flow.map((n) => {
    if (!sources.includes(n.type) || !n.wires) return n;
    // every output of the modem's nodes; the controller's events only (its second output is every probe round)
    const outputs = n.wires.map((w, i) => (n.type === 'failover-controller' && i > 0 ? w : [...w, DEMO_IDS.terminal]));
    return { ...n, wires: outputs };
  });
  return [
    ...wired,
    {
      id: DEMO_IDS.terminal,
      type: 'function',
      z: tab,
      name: 'terminal',
      func: `node.log((${terminalLine.toString()})(msg));\nreturn null;`,
      outputs: 0,
      timeout: 0,
      noerr: 0,
      initialize: '',
      finalize: '',
      libs: [],
      x: 420,
      y: 620,
      wires: [],
    },
  ];
}

/** What `npm start` deploys: the adapted example, its buttons, and the terminal's lines. */
export function startFlow(mode: Mode, controlFile: string, primary: PrimaryUplink | null): FlowNode[] {
  const flow = demoFlow(mode, controlFile, primary);
  return withTerminalLines(mode === 'dry-run' ? withSimulatedFailure(flow) : flow);
}

// ───────────────────────────── Node-RED ─────────────────────────────

interface UserDir {
  dir: string;
  settings: string;
  controlFile: string;
  socket: string;
}

function prepareUserDir(mode: Mode, port: number): UserDir {
  const dir = mkdtempSync(join(tmpdir(), 'iff-demo-'));
  mkdirSync(join(dir, 'node_modules'));
  // "Installed" the way `npm install /path/to/repo` does it: a link to the package directory.
  symlinkSync(ROOT, join(dir, 'node_modules', PACKAGE), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'iff-demo', private: true, dependencies: { [PACKAGE]: `file:${ROOT}` } }, null, 2));
  const controlFile = join(dir, 'lab-control');
  writeFileSync(controlFile, '');
  const primary = mode === 'dry-run' ? LOOPBACK_PRIMARY : null;
  writeFileSync(join(dir, 'flows.json'), JSON.stringify(startFlow(mode, controlFile, primary), null, 2));
  const settings = {
    uiHost: '127.0.0.1',
    uiPort: port,
    userDir: dir,
    flowFile: 'flows.json',
    flowFilePretty: true,
    credentialSecret: false, // a throw-away user dir with no credentials: no key warning
    // no telemetry, no update notification (its modal would cover the editor), no welcome tour
    telemetry: { enabled: false, updateNotification: false },
    diagnostics: { enabled: false, ui: false },
    // no tours, and no palette catalogue fetched from the internet
    editorTheme: { tours: false, palette: { catalogues: [] } },
    externalModules: { autoInstall: false },
    logging: { console: { level: 'info', metrics: false, audit: false } },
  };
  const settingsFile = join(dir, 'settings.js');
  writeFileSync(settingsFile, `// written by npm start (demo/start.ts)\nmodule.exports = ${JSON.stringify(settings, null, 2)};\n`);
  return { dir, settings: settingsFile, controlFile, socket: join(dir, 'editor.sock') };
}

function nodeRedArgs(u: UserDir): string[] {
  return [require.resolve('node-red/red.js', { paths: [ROOT] }), '--userDir', u.dir, '--settings', u.settings];
}

/** Settings of the fakes in test/fakes/bin, as documented at the top of each file. */
function fakeEnv(mode: Mode, u: UserDir): NodeJS.ProcessEnv {
  return {
    FAKE_GPIO_DIR: join(u.dir, 'fakes', 'gpio'), // gpioget/gpioset: the FONA's PS and KEY lines
    FAKE_PPP_DIR: join(u.dir, 'fakes', 'ppp'), // pon/poff talk to fake-modem through a socket here
    FAKE_PPP_PEERS: 'fona',
    // the lab has a carrier for ppp0; without the lab the fake modem never connects (no TUN device on the host)
    FAKE_PPP_MODE: mode === 'lab' ? 'up' : 'never',
  };
}

/** Node-RED's environment: the fakes first on PATH (gpioget, gpioset, pon, poff) and their settings. */
function nodeRedEnv(mode: Mode, u: UserDir): NodeJS.ProcessEnv {
  return { ...process.env, ...fakeEnv(mode, u), PATH: `${FAKES_BIN}${delimiter}${process.env['PATH'] ?? ''}` };
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.once('error', () => resolvePort(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePort(true)));
  });
}

/** GET /flows from 127.0.0.1:port; true when Node-RED answers 200. */
function flowsAnswer(port: number): Promise<boolean> {
  return new Promise((resolveAnswer) => {
    const req = httpGet({ host: '127.0.0.1', port, path: '/flows', timeout: 2000 }, (res) => {
      res.resume();
      resolveAnswer(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolveAnswer(false));
  });
}

async function waitForEditor(port: number, alive: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await flowsAnswer(port)) return;
    if (!alive()) throw new Error('Node-RED exited while starting (see its log above)');
    if (Date.now() > deadline) throw new Error(`Node-RED did not answer within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function pipeOutput(child: ChildProcess | LabProcess): void {
  child.stdout?.on('data', (d: Buffer | string) => process.stdout.write(d));
  child.stderr?.on('data', (d: Buffer | string) => process.stderr.write(d));
}

function banner(lines: string[]): void {
  const width = Math.max(...lines.map((l) => l.length));
  const bar = '─'.repeat(width + 2);
  process.stdout.write(`\n┌${bar}┐\n${lines.map((l) => `│ ${l.padEnd(width)} │`).join('\n')}\n└${bar}┘\n\n`);
}

// ───────────────────────────── main ─────────────────────────────

async function main(argv: string[]): Promise<void> {
  const port = Number(process.env['PORT'] ?? 1880);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`PORT must be 1..65535, got ${process.env['PORT']}`);
  if (!(await portFree(port))) throw new Error(`127.0.0.1:${port} is in use; stop what runs there or start with PORT=1881 npm start`);

  const forceDry = argv.includes('--dry-run');
  const missing = isRoot() ? missingTools() : [];
  const mode: Mode = isRoot() && !forceDry && missing.length === 0 ? 'lab' : 'dry-run';
  const why = forceDry ? '--dry-run was given' : !isRoot() ? 'not root' : `missing tools: ${missing.join(', ')}`;

  const u = prepareUserDir(mode, port);
  say(`mode ${mode}`);
  say(`user dir ${u.dir}`);

  let lab: NetLab | undefined;
  let nodeRed: { alive: () => boolean; stop: () => Promise<void> } | undefined;
  /** Host-side children besides Node-RED (the editor forwarder, the dry run's fake modem): own process groups. */
  const helpers: ChildProcess[] = [];
  let dryRunNodeRed: ChildProcess | undefined;
  let queue = Promise.resolve();
  let stopping: Promise<void> | undefined;

  const shutdown = (signal: string): Promise<void> => {
    stopping ??= (async () => {
      say(`${signal}: stopping Node-RED${lab ? ' and removing the lab' : ''}`);
      unwatchFile(u.controlFile);
      await nodeRed?.stop();
      await Promise.all(helpers.map((h) => stopGroup(h, 'SIGTERM', 3000)));
      await queue.catch(() => undefined);
      await lab?.destroy();
      rmSync(u.dir, { recursive: true, force: true });
      say('stopped');
    })();
    return stopping;
  };
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      // a second Ctrl-C: no waiting, but nothing left running either (the lab's processes go with the lab)
      for (const child of [...helpers, ...(dryRunNodeRed ? [dryRunNodeRed] : [])]) killGroupNow(child);
      lab?.destroySync();
      rmSync(u.dir, { recursive: true, force: true });
      process.exit(130);
    }
    void shutdown(signal).then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`demo: stopping failed: ${String(e)}\n`);
        lab?.destroySync();
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    if (mode === 'lab') {
      lab = await NetLab.create({ targets: LAB_TARGETS.length, wlan: false, carrier: true });
      say(`lab namespaces ${lab.namespaces.join(' ')}`);
      say(`lab dut ${lab.ns.dut}`);
      say(`control file ${u.controlFile}`);
      // the fake modem daemon (what pppd would be): pon/poff ask it to bring ppp0 up over the lab's carrier
      const modem = lab.spawn('dut', process.execPath, [join(FAKES_BIN, 'fake-modem')], { env: nodeRedEnv(mode, u) });
      pipeOutput(modem);
      const nr = lab.spawn('dut', process.execPath, nodeRedArgs(u), { env: nodeRedEnv(mode, u), cwd: u.dir });
      pipeOutput(nr);
      nodeRed = {
        alive: () => nr.running,
        stop: async () => {
          // SIGINT to Node-RED alone, so it closes its nodes and they end their own children (ip monitor,
          // ping) in order; then the rest of the process group, if anything is left.
          if (nr.running) {
            try {
              process.kill(nr.pid, 'SIGINT');
            } catch {
              /* gone */
            }
            let timer: NodeJS.Timeout | undefined;
            await Promise.race([nr.exited, new Promise((r) => (timer = setTimeout(r, 15_000)))]);
            clearTimeout(timer);
          }
          await nr.stop({ signal: 'SIGTERM', graceMs: 2000 });
        },
      };
      // editor: host 127.0.0.1:PORT → unix socket (the file system is shared) → 127.0.0.1:PORT in the dut,
      // opened once Node-RED listens (a visitor before that gets "connection refused", not a broken page)
      await nr.waitFor(/Server now running at /, { timeoutMs: 90_000 });
      lab.spawn('dut', 'socat', [`UNIX-LISTEN:${u.socket},fork,unlink-early,mode=600`, `TCP:127.0.0.1:${port}`]);
      const forwarder = spawn('socat', [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, `UNIX-CONNECT:${u.socket}`], {
        stdio: ['ignore', 'inherit', 'inherit'],
        detached: true,
      });
      helpers.push(forwarder);
      watchControlFile(u.controlFile, (word) => {
        const current = lab;
        if (!current) return;
        queue = queue.then(async () => {
          if (word === 'cut') {
            say('cutting eth0 upstream (the router forwards nothing)');
            await current.cutUpstream('eth0');
          } else if (word === 'heal') {
            say('healing eth0 upstream');
            await current.restore('eth0');
          } else {
            say(`control file: unknown word ${JSON.stringify(word)} (cut or heal)`);
            return;
          }
          say(`${word} done`);
        }).catch((e: unknown) => say(`${word} failed: ${String(e)}`));
      });
    } else {
      const modem = spawn(process.execPath, [join(FAKES_BIN, 'fake-modem')], { env: nodeRedEnv(mode, u), stdio: ['ignore', 'inherit', 'inherit'], detached: true });
      helpers.push(modem);
      const child = spawn(process.execPath, nodeRedArgs(u), { env: nodeRedEnv(mode, u), cwd: u.dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      pipeOutput(child);
      dryRunNodeRed = child;
      nodeRed = { alive: () => running(child), stop: () => stopGroup(child, 'SIGINT', 15_000, true) };
    }

    await waitForEditor(port, () => nodeRed?.alive() ?? false);
    say(`ready http://127.0.0.1:${port}/`);
    if (mode === 'lab') {
      banner([
        'ifacefailover demo: Node-RED in a network lab (nothing on this machine is changed)',
        '',
        `Editor:  http://127.0.0.1:${port}/   (reachable from this machine only)`,
        `Flow:    the example "Failover to a FONA modem like the guide", deployed in namespace ${lab?.ns.dut}:`,
        '         eth0 → router → 203.0.113.1/2 (primary), FONA on ppp0 (fake GPIO and pon/poff) as backup.',
        'Try:     press "cut primary", watch the debug sidebar, the status badges and the terminal (one line',
        '         per event, the modem too); then "heal primary".',
        'Stop:    Ctrl-C (stops Node-RED, removes the lab).',
      ]);
    } else {
      banner(dryRunBanner(why, port, { root: isRoot(), forced: forceDry, missing }));
    }
  } catch (e) {
    process.stderr.write(`demo: ${e instanceof Error ? e.message : String(e)}\n`);
    await shutdown('error');
    process.exit(1);
  }
}

/** The dry run's banner: what runs, what the buttons do, and how to get the lab (if this machine can). */
export function dryRunBanner(why: string, port: number, how: { root: boolean; forced: boolean; missing: string[] }): string[] {
  const lab = !how.root
    ? 'For the network lab (real route switching, in namespaces), run `sudo npm start` (needs ip, socat, nft, ping).'
    : how.missing.length > 0
      ? `For the network lab (real route switching, in namespaces), install ${how.missing.join(', ')}.`
      : how.forced
        ? 'For the network lab (real route switching, in namespaces), run `npm start` without --dry-run.'
        : '';
  return [
    `ifacefailover demo: DRY RUN (${why})`,
    '',
    "Node-RED runs on this machine. The controller's primary is loopback: it pings 127.0.0.1 (nothing",
    'leaves this machine), and the controller only LOGS the `ip` commands it would run: no route is changed.',
    'Try:     press "simulate primary failure": the controller fails over to the FONA (fake modem: power on,',
    `         dial; with no lab ppp0 never comes, so it hangs up and powers off after ${DRY_RUN_SETUP_TIMEOUT_S} s);`,
    '         then "heal primary". The terminal shows one line per event.',
    ...(lab ? [lab] : []),
    '',
    `Editor:  http://127.0.0.1:${port}/   (reachable from this machine only)`,
    'Stop:    Ctrl-C',
  ];
}

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/**
 * Stop a child spawned detached (its own process group): `signal` to the group, or to the leader alone
 * (`leaderFirst`, so Node-RED can close its nodes and they end their own children), SIGKILL to the group after
 * graceMs; resolves once the leader has exited, after a last SIGKILL to group stragglers.
 */
async function stopGroup(child: ChildProcess, signal: NodeJS.Signals, graceMs: number, leaderFirst = false): Promise<void> {
  if (child.pid === undefined) return;
  const pid = child.pid;
  const kill = (target: number, s: NodeJS.Signals): void => {
    try {
      process.kill(target, s);
    } catch {
      /* already gone */
    }
  };
  if (running(child)) {
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    kill(leaderFirst ? pid : -pid, signal);
    const timer = setTimeout(() => kill(-pid, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
  kill(-pid, 'SIGKILL');
}

/** SIGKILL to a detached child's process group, at once. */
function killGroupNow(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/** Calls `onWord` with the trimmed contents each time the control file changes (Node-RED's file node writes it). */
function watchControlFile(file: string, onWord: (word: string) => void): void {
  watchFile(file, { interval: 200 }, (cur, prev) => {
    if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size) return;
    if (!existsSync(file)) return;
    const word = readFileSync(file, 'utf8').trim().toLowerCase();
    if (word) onWord(word);
  });
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`demo: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
