/**
 * The real libgpiod driver and the FONA sequence against the fake gpioset/gpioget (test/fakes/bin), in both
 * libgpiod syntaxes: v1 (bookworm) and v2 (trixie). The fakes fail, as the real tools do, when called with
 * the other generation's syntax, so these prove the driver speaks each one. No hardware, no root.
 * The FONA sequence's timing (serialising, short pulses, a late status pin) runs on a fake clock over an
 * in-memory FONA; over the real tools only what needs them: a real 2 s pulse, and a pulse cut short.
 */
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { FonaPower } from '../../lib/gpio/fona-power';
import { GpioError } from '../../lib/gpio/gpio';
import { LibgpiodDriver, detectLibgpiodVersion, parseGpiogetOutput } from '../../lib/gpio/libgpiod';
import { FakeFona, pathWithFakes, setEnv } from '../fakes/fake-tools';
import { MemoryFona } from '../fakes/memory-fona';
import { FakeClock } from '../support/fake-clock';
import { until } from '../support/wait';

async function rejectsWith(p: Promise<unknown>, code: string, pattern?: RegExp): Promise<GpioError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof GpioError, `a GpioError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return e;
  }
  assert.fail(`expected a ${code} error`);
}

describe('gpioget output', () => {
  it('reads v1 and v2 forms', () => {
    assert.equal(parseGpiogetOutput('1\n'), 1);
    assert.equal(parseGpiogetOutput('0 1\n'), 0);
    assert.equal(parseGpiogetOutput('"23"=active\n'), 1);
    assert.equal(parseGpiogetOutput('23=inactive'), 0);
    assert.equal(parseGpiogetOutput('"GPIO23"=active "GPIO24"=inactive'), 1);
    assert.equal(parseGpiogetOutput('error'), null);
  });
});

for (const version of [1, 2] as const) {
  describe(`libgpiod v${version} driver against the fake tools`, () => {
    let restore: () => void;
    let fona: FakeFona;

    before(() => {
      fona = FakeFona.create();
      restore = setEnv({ PATH: pathWithFakes(), ...fona.env(version) });
    });
    after(() => restore());

    it('detects the generation from gpioset --version', async () => {
      assert.equal(await detectLibgpiodVersion(), version);
      const driver = await LibgpiodDriver.open();
      assert.equal(driver.description, `libgpiod v${version} on gpiochip0`);
      await driver.close();
    });

    it(`reads, writes and pulses with the v${version} syntax`, async () => {
      const driver = await LibgpiodDriver.open({ chip: 'gpiochip0' });
      try {
        assert.equal(await driver.read(23), 0);
        await driver.write(17, 1);
        assert.equal(fona.level(17), 1);
        await driver.pulse(17, 0, 120);
        assert.equal(fona.level(17), 1, 'back to the idle level after the pulse');
        const calls = fona.calls().filter((c) => !c.includes('--version'));
        const expected =
          version === 1
            ? [
                'gpioget v1 gpiochip0 23',
                'gpioset v1 gpiochip0 17=1',
                'gpioset v1 --mode=time --sec=0 --usec=120000 gpiochip0 17=0',
                'gpioset v1 gpiochip0 17=1',
              ]
            : [
                'gpioget v2 -c gpiochip0 23',
                'gpioset v2 -t 0 -c gpiochip0 17=1',
                'gpioset v2 -p 120ms -t 0 -c gpiochip0 17=0',
                'gpioset v2 -t 0 -c gpiochip0 17=1',
              ];
        assert.deepEqual(calls.slice(-4), expected);
      } finally {
        await driver.close();
      }
    });

    it('the other generation\'s syntax fails, as with the real tools', async () => {
      const wrong = LibgpiodDriver.withVersion(version === 1 ? 2 : 1);
      await rejectsWith(wrong.read(23), version === 1 ? 'FAILED' : 'BAD_PIN');
      await wrong.close();
    });

    it('explains a missing chip, a bad pin, a busy line and a denied permission', async () => {
      const driver = await LibgpiodDriver.open({ chip: 'gpiochip7' });
      await rejectsWith(driver.read(23), 'NO_CHIP', /gpiochip7 was not found.*gpiodetect/);
      await driver.close();
      const ok = await LibgpiodDriver.open();
      await rejectsWith(ok.read(99), 'BAD_PIN', /BCM GPIO number/);
      const undo = setEnv({ FAKE_GPIO_ERROR: 'EBUSY' });
      await rejectsWith(ok.write(24, 1), 'EBUSY', /in use by another program.*gpioinfo gpiochip0/);
      undo();
      const undo2 = setEnv({ FAKE_GPIO_ERROR: 'EACCES' });
      await rejectsWith(ok.read(23), 'EACCES', /gpio group/);
      undo2();
      await ok.close();
    });

    it('a line held by another gpioset is busy (EBUSY)', async () => {
      const driver = await LibgpiodDriver.open();
      const pulse = driver.pulse(5, 0, 800);
      await until(() => fona.level(5) === 0, { what: 'the pulse to hold GPIO 5 low' });
      await rejectsWith(driver.read(5), 'EBUSY');
      await pulse;
      assert.equal(await driver.read(5), 1);
      await driver.close();
    });

    it('tools missing: NO_TOOLS with the install hint', async () => {
      await rejectsWith(LibgpiodDriver.open({ gpioset: '/nonexistent/gpioset' }), 'NO_TOOLS', /apt install gpiod/);
      const driver = LibgpiodDriver.withVersion(version, { gpioget: '/nonexistent/gpioget' });
      await rejectsWith(driver.read(23), 'NO_TOOLS', /apt install gpiod/);
      await driver.close();
    });

    it('close cuts a pulse short and leaves the line at its idle level', async () => {
      const driver = await LibgpiodDriver.open();
      const pulse = driver.pulse(6, 0, 5000);
      await until(() => fona.level(6) === 0, { what: 'the pulse to hold GPIO 6 low' });
      const started = Date.now();
      await driver.close();
      assert.ok(Date.now() - started < 2000, 'close did not wait for the 5 s pulse');
      await rejectsWith(pulse, 'CLOSED');
      assert.equal(fona.level(6), 1);
      await rejectsWith(driver.read(23), 'CLOSED');
    });
  });

  describe(`the FONA sequence over libgpiod v${version}`, () => {
    let restore: () => void;
    let fona: FakeFona;

    before(() => {
      fona = FakeFona.create();
      restore = setEnv({ PATH: pathWithFakes(), ...fona.env(version) });
    });
    after(() => restore());

    it('switches on with a 2 s key pulse, confirms PS, and a second "on" is a no-op', async () => {
      const power = new FonaPower({ driver: await LibgpiodDriver.open(), powerStatusPin: 23, keyPin: 24 });
      try {
        assert.deepEqual(await power.status(), { power: 'off', changed: false, driver: 'libgpiod' });
        const started = Date.now();
        assert.deepEqual(await power.set('on'), { power: 'on', changed: true, driver: 'libgpiod' });
        assert.ok(Date.now() - started >= 2000, 'the key was held low for 2 s');
        assert.equal(fona.power, 'on');
        assert.equal(fona.level(24), 1, 'the key is high again');
        assert.deepEqual(await power.set('on'), { power: 'on', changed: false, driver: 'libgpiod' });
        assert.equal(fona.pulses().length, 1, 'one pulse only');
        assert.match(fona.pulses()[0], /^pulse (\d+) ms: power on$/);
      } finally {
        await power.close();
      }
    });

    it('close during the pulse: the key goes back high, the modem is untouched', async () => {
      fona.setPower(false);
      const power = new FonaPower({ driver: await LibgpiodDriver.open(), powerStatusPin: 23, keyPin: 24 });
      const switching = power.set('on');
      await until(() => fona.level(24) === 0, { what: 'the key pulse to start' });
      await power.close();
      await rejectsWith(switching, 'CLOSED');
      assert.equal(fona.level(24), 1);
      assert.equal(fona.power, 'off');
      await rejectsWith(power.status(), 'CLOSED');
    });
  });
}

describe('the FONA sequence on a fake clock (in-memory FONA)', () => {
  let clock: FakeClock;
  let fona: MemoryFona;
  beforeEach(() => {
    clock = new FakeClock();
    fona = new MemoryFona(clock);
  });

  it('serialises concurrent requests: on + on + toggle = one pulse on, one pulse off', async () => {
    fona.setPower(false);
    const before = fona.pulses().length;
    const power = new FonaPower({ driver: fona, clock, powerStatusPin: 23, keyPin: 24, keyPulseMs: 1600 });
    try {
      const results = await clock.advanceUntilSettled(Promise.all([power.set('on'), power.set('on'), power.toggle()]));
      assert.deepEqual(
        results.map((r) => [r.power, r.changed]),
        [
          ['on', true],
          ['on', false],
          ['off', true],
        ],
      );
      assert.equal(fona.power, 'off');
      assert.equal(fona.pulses().length - before, 2);
    } finally {
      await power.close();
    }
  });

  it('a short pulse does nothing: the status pin never changes, and the error says what to check', async () => {
    fona.setPower(false);
    const power = new FonaPower({ driver: fona, clock, powerStatusPin: 23, keyPin: 24, keyPulseMs: 300, statusTimeoutMs: 500 });
    try {
      const e = await rejectsWith(clock.advanceUntilSettled(power.set('on')), 'STATUS_UNCHANGED', /GPIO 23\) still reads 0.*wiring/);
      assert.match(e.message, /0\.3 s pulse on the key pin \(GPIO 24\)/);
      assert.equal(fona.power, 'off');
      assert.match(fona.pulses().at(-1) ?? '', /ignored \(shorter than 1500 ms\)/);
      assert.deepEqual(await power.status(), { power: 'off', changed: false, driver: 'libgpiod' }, 'usable after a failure');
    } finally {
      await power.close();
    }
  });

  it('waits for a status pin that follows late, within the timeout', async () => {
    fona.setPower(false);
    fona.statusDelayMs = 700;
    const power = new FonaPower({ driver: fona, clock, powerStatusPin: 23, keyPin: 24, keyPulseMs: 1600, statusTimeoutMs: 3000 });
    try {
      assert.deepEqual(await clock.advanceUntilSettled(power.set('on')), { power: 'on', changed: true, driver: 'libgpiod' });
    } finally {
      await power.close();
    }
  });

  it('close during the pulse: the key goes back high, the modem is untouched', async () => {
    fona.setPower(false);
    const power = new FonaPower({ driver: fona, clock, powerStatusPin: 23, keyPin: 24 });
    const switching = power.set('on');
    await clock.advance(600);
    assert.equal(fona.level(24), 0, 'the key is held low');
    await power.close();
    await rejectsWith(switching, 'CLOSED');
    assert.equal(fona.level(24), 1);
    assert.equal(fona.power, 'off');
    await rejectsWith(power.status(), 'CLOSED');
  });
});
