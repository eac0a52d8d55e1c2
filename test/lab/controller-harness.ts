/**
 * A Node-RED flow run by drivers/controller-driver.js inside one of the lab's namespaces (the device, as a
 * rule), and what it reports: messages at its helper nodes, the controller's badge, its close.
 * Shared by the lab tests and benchmarks that run the failover-controller in a real Node-RED runtime.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LabProcess, NetLab } from './netlab';
import { sleep } from './service-harness';

export const CONTROLLER_DRIVER = resolve(__dirname, 'drivers/controller-driver.js');
const REPO_ROOT = resolve(__dirname, '../../..');
export const LIFECYCLE = new Set(['setup', 'teardown', 'connectionFailed', 'connected', 'connectionRestored', 'waiting', 'setupFailed', 'noUplink', 'switchFailed']);

export type FlowItem = { id: string; type: string } & Record<string, unknown>;

const tempDirs: string[] = [];
process.on('exit', () => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/** Writes the flow to a temporary file (removed when the process exits) and returns its path. */
export function writeFlow(flow: FlowItem[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'iff-flow-'));
  tempDirs.push(dir);
  const file = join(dir, 'flow.json');
  writeFileSync(file, JSON.stringify(flow));
  return file;
}

export interface Observation {
  kind: string;
  t: number;
  node?: string;
  topic?: string;
  payload?: Record<string, unknown>;
  status?: { fill?: string; shape?: string; text?: string };
  ipMonitors?: number;
}

export interface DriverOptions {
  /** Namespace (role) to run in; default the device. */
  ns?: string;
  /** Node-RED settings merged into the runtime's (e.g. `{ mqttReconnectTime: 1000 }`). */
  settings?: Record<string, unknown>;
  /** The driver's environment (default this process's), e.g. a FONA rig's fakes on PATH. */
  env?: NodeJS.ProcessEnv;
}

export class Driver {
  readonly proc: LabProcess;
  constructor(lab: NetLab, flow: FlowItem[], options: DriverOptions = {}) {
    const base = options.env ?? process.env;
    const env = options.settings ? { ...base, IFF_RED_SETTINGS: JSON.stringify(options.settings) } : options.env;
    // From the repository: node-red-node-test-helper looks for node-red from the working directory.
    this.proc = lab.spawn(options.ns ?? 'dut', process.execPath, [CONTROLLER_DRIVER, writeFlow(flow)], { env, cwd: REPO_ROOT });
  }

  records(): Observation[] {
    return this.proc.output.stdout
      .split('\n')
      .filter((l) => l.startsWith('{"kind":'))
      .map((l) => JSON.parse(l) as Observation);
  }

  /** Output-1 lifecycle events so far, as "topic uplink". */
  lifecycle(from = 0): string[] {
    return this.records()
      .slice(from)
      .filter((r) => r.kind === 'message' && r.node === 'out1' && LIFECYCLE.has(r.topic ?? ''))
      .map((r) => `${r.topic} ${String(r.payload?.uplink)}`);
  }

  async waitFor(what: string, match: (r: Observation) => boolean, timeoutMs = 20_000): Promise<Observation> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.records().find(match);
      if (hit) return hit;
      if (!this.proc.running) throw new Error(`driver exited before ${what}:\n${this.proc.output.stdout.slice(-4000)}\n${this.proc.output.stderr}`);
      if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms:\n${this.proc.output.stdout.slice(-4000)}\n${this.proc.output.stderr}`);
      await sleep(25);
    }
  }

  event(topic: string, uplinkName: string, timeoutMs?: number): Promise<Observation> {
    return this.waitFor(`${topic} ${uplinkName}`, (r) => r.kind === 'message' && r.node === 'out1' && r.topic === topic && r.payload?.uplink === uplinkName, timeoutMs);
  }

  deploy(flow: FlowItem[]): void {
    this.proc.stdin?.write(`${JSON.stringify({ deploy: writeFlow(flow) })}\n`);
  }

  /** SIGTERM to the driver alone (not its process group) and its exit code; the flow must close by itself. */
  async stop(): Promise<number | null> {
    if (this.proc.running) process.kill(this.proc.pid, 'SIGTERM');
    const exit = await Promise.race([this.proc.exited, sleep(20_000).then(() => null)]);
    if (exit === null) {
      await this.proc.stop({ signal: 'SIGKILL' });
      throw new Error(`the driver did not exit within 20 s of SIGTERM:\n${this.proc.output.stderr}`);
    }
    return exit.code;
  }
}
