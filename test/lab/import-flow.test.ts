/**
 * `ifacefailover import` in the network lab: the flow it writes from a properties file behaves like the
 * headless service on the same file. Both runs see the same cut and heal; both must move the device's
 * default route to ppp0 (the flow's own fona-power and ppp-control nodes power the fake FONA and dial) and
 * back, and log the same lifecycle lines in the same order. Needs root; CI is root and runs it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isRoot } from './netlab';
import { SERVICE_BIN, messageOf, startService, waitForDefault, writeProperties } from './service-harness';
import { PRIMARY, Rig, fonaRoute, withRig } from './fona-rig';

if (!isRoot()) console.warn('SKIPPED: the import lab test needs root (network namespaces); CI runs it as root');

const DRIVER = resolve(__dirname, 'drivers', 'controller-driver.js');
const PROPERTIES = PRIMARY + fonaRoute("{'powerStatusPin':23, 'keyPin':24, 'gpio':'libgpiod'}");
const LIFECYCLE = /^(Tearing down|Setting up|Connection failed|Connection restored|Failing over|Connected to)/;

type FlowNode = { id: string; type: string; z?: string; wires?: string[][] } & Record<string, unknown>;

/** Cut the primary, wait for ppp0; heal, wait for eth0; `waitLine` waits for a lifecycle line. */
async function cutAndHeal({ lab }: Rig, waitLine: (re: RegExp, ms: number) => Promise<unknown>): Promise<void> {
  await waitForDefault(lab, 'eth0');
  await waitLine(/^Connected to primary$/, 20_000);
  await lab.cutUpstream('eth0');
  await waitForDefault(lab, 'ppp0', 40_000);
  await waitLine(/^Failing over to fona$/, 10_000);
  await lab.restore('eth0');
  await waitForDefault(lab, 'eth0', 30_000);
  await waitLine(/^Connection restored to primary$/, 10_000);
}

test('the imported flow behaves like the headless service on the same properties file', async (t) => {
  let headless: string[] = [];
  await withRig(t, 2, { targets: 2, wlan: false }, async (rig) => {
    const svc = startService(rig.lab, PROPERTIES, [], { env: rig.env });
    try {
      await cutAndHeal(rig, (re, ms) => svc.waitForLine(new RegExp(`^INFO ${re.source.slice(1)}`), ms));
      await svc.waitForLine(/^INFO The FONA is off$/, 20_000);
      headless = svc.lines().map((l) => l.replace(/^INFO /, '')).filter((l) => LIFECYCLE.test(l));
    } finally {
      assert.equal(await svc.stop(), 0, `headless exit; log:\n${svc.proc.output.stdout}\n${svc.proc.output.stderr}`);
    }
  });
  if (headless.length === 0) return; // skipped (not root)

  const file = writeProperties(PROPERTIES);
  const flow = JSON.parse(execFileSync(process.execPath, [SERVICE_BIN, 'import', file], { encoding: 'utf8' })) as FlowNode[];
  // Observe the guide's log lines: every log function node also feeds a helper node.
  const tab = flow.find((n) => n.type === 'tab')?.id;
  flow.push({ id: 'log', type: 'helper', z: tab, x: 100, y: 600, wires: [] });
  for (const fn of flow.filter((n) => n.type === 'function')) fn.wires = [[...(fn.wires?.[0] ?? []), 'log']];
  const flowFile = join(resolve(file, '..'), 'flow.json');
  writeFileSync(flowFile, JSON.stringify(flow));

  await withRig(t, 2, { targets: 2, wlan: false }, async (rig) => {
    const driver = rig.lab.spawn('dut', process.execPath, [DRIVER, flowFile], { env: rig.env });
    const lines = (): string[] =>
      driver.output.stdout
        .split('\n')
        .filter((l) => l.startsWith('{"kind":"message"'))
        .map((l) => JSON.parse(l) as { node: string; payload: unknown })
        .filter((m) => m.node === 'log' && typeof m.payload === 'string')
        .map((m) => messageOf(m.payload as string));
    try {
      await driver.waitFor(/"kind":"ready"/, { timeoutMs: 20_000 });
      await cutAndHeal(rig, async (re, ms) => {
        const deadline = Date.now() + ms;
        while (!lines().some((l) => re.test(l))) {
          if (Date.now() > deadline) throw new Error(`no ${re} from the flow:\n${lines().join('\n')}\n${driver.output.stderr}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      });
      assert.deepEqual(lines().filter((l) => LIFECYCLE.test(l)), headless);
      // Hanging up and the 2 s key pulse take a moment after the route is back on eth0.
      for (let i = 0; i < 200 && rig.fona.power !== 'off'; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(rig.fona.power, 'off', 'the flow powered the modem off again');
      assert.deepEqual(rig.modem.calls(), ['pon fona', 'poff fona']);
    } finally {
      const exit = await driver.stop({ signal: 'SIGTERM', graceMs: 15_000 });
      assert.equal(exit.code, 0, driver.output.stderr);
    }
  });
});
