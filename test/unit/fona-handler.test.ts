/**
 * The headless service's FONA handler: its options as the properties file gives them (checked with file and
 * line), and its reaction to the engine's setup/teardown with the fake GPIO tools and the fake modem
 * daemon (no network namespace: the modem is told never to bring ppp0 up). The whole guide scenario,
 * with a real ppp0, runs in test/lab/fona-service.test.ts.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../lib/errors';
import { FailoverEvent } from '../../lib/engine/events';
import { Logger } from '../../lib/log/logger';
import { parseServiceProperties } from '../../lib/properties/ifacefailover-properties';
import { openGpio } from '../../lib/gpio/select';
import { FonaHandler } from '../../lib/service/fona-handler';
import { parseFonaKwargs } from '../../lib/properties/fona-kwargs';
import { validateUplinks } from '../../lib/uplink/model';
import { FakeLinks } from '../support/fakes';
import { FAKES_BIN, FakeFona, FakeModem, pathWithFakes, setEnv } from '../fakes/fake-tools';
import { until } from '../support/wait';

const FILE = '/opt/ifacefailover/config/ifacefailover.properties';

function guide(kwargs: string): string {
  return [
    'route.primary.gateway=192.168.1.1',
    'route.primary.iface=eth0',
    'route.fona.gateway=0.0.0.0',
    'route.fona.iface=ppp0',
    "route.fona.handlers=['/opt/ifacefailover/config/logHandler.pkl','/opt/ifacefailover/config/fonaRaspberryPiHandler.pkl']",
    `route.fona.handlerKwargs=[{'name':'fona'},${kwargs}]`,
  ].join('\n');
}

describe('fona handler options', () => {
  it("the guide's kwargs, with our defaults", () => {
    assert.deepEqual(parseFonaKwargs({ powerStatusPin: 23, keyPin: 24 }), {
      settings: { powerStatusPin: 23, keyPin: 24, gpio: 'auto', gpiochip: 'gpiochip0', peer: 'fona', keyPulseMs: 2000, statusTimeoutMs: 10_000 },
      issues: [],
    });
    const { settings } = parseFonaKwargs({ powerStatusPin: 23, keyPin: 24, gpio: 'libgpiod', gpiochip: 'gpiochip4', peer: 'fona-lte', keyPulse: 1.5 });
    assert.equal(settings?.gpio, 'libgpiod');
    assert.equal(settings?.gpiochip, 'gpiochip4');
    assert.equal(settings?.peer, 'fona-lte');
    assert.equal(settings?.keyPulseMs, 1500);
  });

  it('the properties file reports bad options with its line', () => {
    const props = parseServiceProperties(guide("{'powerStatusPin':23, 'keyPin':24, 'gpio':'libgpiod'}"), FILE);
    assert.deepEqual(props.routes[1].handlers[1], {
      kind: 'fona',
      path: '/opt/ifacefailover/config/fonaRaspberryPiHandler.pkl',
      line: 6,
      settings: { powerStatusPin: 23, keyPin: 24, gpio: 'libgpiod', gpiochip: 'gpiochip0', peer: 'fona', keyPulseMs: 2000, statusTimeoutMs: 10_000 },
    });
    const cases: Array<[string, RegExp]> = [
      ["{'powerStatusPin':23}", /handlerKwargs\.keyPin=\(missing\): is required: the BCM GPIO number wired to the FONA's Key pin/],
      ["{'powerStatusPin':23, 'keyPin':99}", /handlerKwargs\.keyPin=99: must be a BCM GPIO number/],
      ["{'powerStatusPin':23, 'keyPin':23}", /must differ from powerStatusPin/],
      ["{'powerStatusPin':23, 'keyPin':24, 'gpio':'wiringpi'}", /handlerKwargs\.gpio="wiringpi": must be one of auto, rpi-gpio, libgpiod/],
      ["{'powerStatusPin':23, 'keyPin':24, 'peer':'../x'}", /handlerKwargs\.peer="\.\.\/x": must be the name of a file in \/etc\/ppp\/peers/],
      ["{'powerStatusPin':23, 'keyPin':24, 'keypin':24}", /unknown fona handler option; did you mean "keyPin"\?/],
      ["{'powerStatusPin':23, 'keyPin':24, 'keyPulse':0}", /keyPulse=0: must be a number of seconds from 0.1 to 10/],
    ];
    for (const [kwargs, pattern] of cases) {
      assert.throws(
        () => parseServiceProperties(guide(kwargs), FILE),
        (e: unknown) => e instanceof ConfigError && e.message.startsWith(`${FILE}:6: uplink "fona" `) && pattern.test(e.message),
        kwargs,
      );
    }
  });
});

describe('fona handler on engine events (fake GPIO, fake modem that never connects)', () => {
  let restore: () => void;
  let fona: FakeFona;
  let modem: FakeModem;
  let daemon: ChildProcess;
  const logged: string[] = [];
  const logger: Logger = {
    debug: () => undefined,
    info: (m) => logged.push(`INFO ${m}`),
    warn: (m) => logged.push(`WARNING ${m}`),
    error: (m) => logged.push(`ERROR ${m}`),
  };
  const [uplink] = validateUplinks([{ name: 'fona', iface: 'ppp0', gateway: null, targets: [], setupTimeout: 30 }]);
  const event = (type: 'setup' | 'teardown'): FailoverEvent => ({ type, time: Date.now(), uplink: 'fona', iface: 'ppp0' });

  before(async () => {
    fona = FakeFona.create();
    modem = FakeModem.create();
    modem.setMode('never');
    restore = setEnv({ PATH: pathWithFakes(), ...fona.env(2), ...modem.env() });
    daemon = spawn(process.execPath, [join(FAKES_BIN, 'fake-modem')], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => daemon.stdout?.once('data', () => resolve()));
  });
  after(async () => {
    const exited = new Promise((r) => daemon.once('exit', r));
    daemon.kill('SIGTERM');
    await exited;
    restore();
  });

  function handler(links: FakeLinks): FonaHandler {
    return new FonaHandler({
      uplink,
      settings: { powerStatusPin: 23, keyPin: 24, gpio: 'libgpiod', gpiochip: 'gpiochip0', peer: 'fona', keyPulseMs: 2000, statusTimeoutMs: 5000 },
      links,
      logger,
    });
  }

  it('setup: power on, then pon; teardown: the dial is cancelled, poff, power off; in that order', async () => {
    const links = new FakeLinks();
    const h = handler(links);
    h.start();
    h.onEvent(event('setup'));
    await until(() => modem.calls().includes('pon fona'), { what: 'pon fona', timeoutMs: 10_000 });
    assert.equal(fona.power, 'on', 'switched on before dialling');
    assert.deepEqual(modem.calls(), ['pon fona']);
    h.onEvent(event('teardown'));
    await h.stop();
    assert.deepEqual(modem.calls(), ['pon fona', 'poff fona']);
    assert.equal(fona.power, 'off');
    assert.deepEqual(
      fona.pulses().map((p) => p.replace(/\d+ ms/, 'N ms')),
      ['pulse N ms: power on', 'pulse N ms: power off'],
    );
    const order = logged.filter((l) => /Switching|The FONA|Dialling|Hanging up|GPIO/.test(l));
    assert.deepEqual(order, [
      'INFO FONA (fona): power status on GPIO 23, key on GPIO 24; GPIO libgpiod (chosen): libgpiod v2 on gpiochip0',
      'INFO Switching the FONA on (fona)',
      'INFO The FONA is on',
      'INFO Dialling fona: pon fona',
      'INFO Hanging up fona: poff fona',
      'INFO Switching the FONA off (fona)',
      'INFO The FONA is off',
    ]);
  });

  it('a teardown during the power-on pulse cuts it short: the modem stays off, nothing is dialled', async () => {
    logged.length = 0;
    const callsBefore = modem.calls().length;
    const pulsesBefore = fona.pulses().length;
    const h = handler(new FakeLinks());
    h.onEvent(event('setup'));
    await until(() => fona.level(24) === 0, { what: 'the power-on pulse to start' });
    h.onEvent(event('teardown'));
    await h.stop();
    assert.equal(fona.power, 'off');
    assert.equal(fona.level(24), 1, 'key high');
    assert.deepEqual(modem.calls().slice(callsBefore), [], 'neither pon nor poff ran (nothing was dialled)');
    assert.match(fona.pulses()[pulsesBefore] ?? '', /ignored \(shorter than 1500 ms\)/);
    assert.ok(logged.includes('INFO The FONA was already off'));
  });

  it('without GPIO it says why, and still dials', async () => {
    logged.length = 0;
    const undo = setEnv({ FAKE_GPIO_CHIPS: 'gpiochip4' });
    try {
      const h = handler(new FakeLinks());
      h.onEvent(event('setup'));
      await until(() => modem.calls().filter((c) => c === 'pon fona').length >= 2, { what: 'a second pon fona', timeoutMs: 5000 });
      h.onEvent(event('teardown'));
      await h.stop();
      assert.ok(
        logged.some((l) => /^ERROR Could not switch the FONA on: GPIO chip gpiochip0 was not found.*; dialling anyway$/.test(l)),
        logged.join('\n'),
      );
      assert.deepEqual(modem.calls().slice(-2), ['pon fona', 'poff fona']);
    } finally {
      undo();
    }
  });

  it('GPIO auto on a Raspberry Pi where rpi-gpio is not installed: libgpiod, and a warning saying why', async () => {
    logged.length = 0;
    // a Pi with a kernel before 6.6 (sysfs base 0), as openGpio reads it; rpi-gpio left out by npm (optional)
    const dir = mkdtempSync(join(tmpdir(), 'iff-pi-'));
    mkdirSync(join(dir, 'gpio', 'gpiochip0'), { recursive: true });
    writeFileSync(join(dir, 'gpio', 'gpiochip0', 'base'), '0\n');
    writeFileSync(join(dir, 'cpuinfo'), 'processor\t: 0\nRevision\t: a02082\n');
    const notInstalled = (): never => {
      throw Object.assign(new Error("Cannot find module 'rpi-gpio'"), { code: 'MODULE_NOT_FOUND' });
    };
    const h = new FonaHandler({
      uplink,
      settings: { powerStatusPin: 23, keyPin: 24, gpio: 'auto', gpiochip: 'gpiochip0', peer: 'fona', keyPulseMs: 2000, statusTimeoutMs: 5000 },
      links: new FakeLinks(),
      logger,
      openGpio: (o) => openGpio({ ...o, sysfsGpioRoot: join(dir, 'gpio'), cpuinfoPath: join(dir, 'cpuinfo'), loadRpiGpio: notInstalled }),
    });
    try {
      h.start();
      await until(() => logged.some((l) => l.startsWith('WARNING ')), { what: 'the warning' });
      assert.deepEqual(
        logged.filter((l) => /GPIO/.test(l)),
        [
          'INFO FONA (fona): power status on GPIO 23, key on GPIO 24; GPIO auto: libgpiod v2 on gpiochip0; not rpi-gpio: rpi-gpio is not installed ' +
            '(an optional dependency: npm leaves it out when its native epoll addon cannot be built, e.g. without a C compiler); use the libgpiod driver',
          'WARNING FONA (fona): GPIO auto: libgpiod is used, as rpi-gpio did not load: rpi-gpio is not installed (an optional dependency: npm leaves ' +
            'it out when its native epoll addon cannot be built, e.g. without a C compiler); use the libgpiod driver',
        ],
      );
    } finally {
      await h.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('fona handler in dry run', () => {
  it('only logs what it would do: no GPIO, no pon/poff', async () => {
    const lines: string[] = [];
    const logger: Logger = { debug: () => undefined, info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
    const [uplink] = validateUplinks([{ name: 'fona', iface: 'ppp0', gateway: null, targets: [] }]);
    let opened = 0;
    const h = new FonaHandler({
      uplink,
      settings: { powerStatusPin: 23, keyPin: 24, gpio: 'auto', gpiochip: 'gpiochip0', peer: 'fona', keyPulseMs: 2000, statusTimeoutMs: 10_000 },
      links: new FakeLinks(),
      logger,
      dryRun: true,
      openGpio: () => {
        opened++;
        return Promise.reject(new Error('not in dry run'));
      },
    });
    h.start();
    h.onEvent({ type: 'setup', time: 0, uplink: 'fona', iface: 'ppp0' });
    h.onEvent({ type: 'teardown', time: 0, uplink: 'fona', iface: 'ppp0' });
    await h.stop();
    assert.equal(opened, 0);
    assert.deepEqual(lines, [
      'DRY-RUN: would switch the FONA on (PS GPIO 23, key GPIO 24) and run pon fona',
      'DRY-RUN: would run poff fona and switch the FONA off (PS GPIO 23, key GPIO 24)',
    ]);
  });
});
