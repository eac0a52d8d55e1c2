/**
 * The FONA rig shared by the lab tests of the guide's scenario: a lab, the fake FONA GPIO (libgpiod v1 or
 * v2 fakes) and the fake modem daemon that `pon`/`poff` talk to, plus the guide's properties.
 */
import { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { LabProcess, NetLab, isRoot, missingTools } from './netlab';
import { FAKES_BIN, FakeFona, FakeModem, pathWithFakes } from '../fakes/fake-tools';

const ROOT = isRoot();
const MISSING = ROOT ? missingTools() : [];

export const T1 = '203.0.113.1';
export const T2 = '203.0.113.2';
export const T3 = '203.0.113.3';

export const PRIMARY = `route.primary.gateway=192.0.2.1
route.primary.iface=eth0
route.primary.targets=${T1},${T2}
route.primary.verifierDelay=1
route.primary.verifierKwargs={'timeout':1, 'maxRetry':1}
route.primary.handlers=['/opt/ifacefailover/config/logHandler.pkl']
route.primary.handlerKwargs=[{'name':'primary'}]
`;

export function fonaRoute(kwargs: string, extra = ''): string {
  return `route.fona.gateway=0.0.0.0
route.fona.iface=ppp0
route.fona.handlers=['/opt/ifacefailover/config/logHandler.pkl','/opt/ifacefailover/config/fonaRaspberryPiHandler.pkl']
route.fona.handlerKwargs=[{'name':'fona'},${kwargs}]
${extra}`;
}

export interface Rig {
  lab: NetLab;
  fona: FakeFona;
  modem: FakeModem;
  daemon: LabProcess;
  env: NodeJS.ProcessEnv;
}

export interface RigOptions {
  /** The fake modem answers only while the fake FONA is on, and drops the line when it goes off (FAKE_MODEM_POWER_FILE). */
  modemNeedsPower?: boolean;
}

export async function withRig(
  t: TestContext,
  version: 1 | 2,
  labOptions: Parameters<typeof NetLab.create>[0],
  body: (rig: Rig) => Promise<void>,
  options: RigOptions = {},
): Promise<void> {
  if (!ROOT || MISSING.length > 0) {
    t.skip(!ROOT ? 'needs root' : `missing tools: ${MISSING.join(', ')}`);
    return;
  }
  await runRig(version, labOptions, body, options);
}

/** The rig without a test around it (the benchmark): the caller has checked for root and tools. */
export async function runRig(
  version: 1 | 2,
  labOptions: Parameters<typeof NetLab.create>[0],
  body: (rig: Rig) => Promise<void>,
  options: RigOptions = {},
): Promise<void> {
  const lab = await NetLab.create(labOptions);
  try {
    const fona = FakeFona.create();
    const modem = FakeModem.create();
    modem.setDelay(1000);
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: pathWithFakes(), ...fona.env(version), ...modem.env() };
    delete env.NODE_TEST_CONTEXT;
    const power = options.modemNeedsPower ? { FAKE_MODEM_POWER_FILE: join(fona.dir, fona.chip, String(fona.psPin)) } : {};
    const daemon = lab.spawn('dut', process.execPath, [join(FAKES_BIN, 'fake-modem')], { env: { ...env, ...power } });
    await daemon.waitFor(/fake-modem ready/);
    await body({ lab, fona, modem, daemon, env });
    await daemon.stop();
    assert.equal(modem.pid('fona'), null, 'no link left by the fake modem');
  } finally {
    await lab.destroy();
  }
}

