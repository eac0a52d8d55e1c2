/**
 * GPIO driver choice from a fake sysfs tree and board revision, and the rpi-gpio driver over a stand-in for
 * the rpi-gpio package (it hard-codes /sys/class/gpio and /proc/cpuinfo, so the package itself cannot be
 * pointed at a fake tree; what it is asked to do, and how its errors are explained, can be tested).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GpioError } from '../../lib/gpio/gpio';
import { RpiGpioDriver, RpiGpioModule, rpiGpioError } from '../../lib/gpio/rpi-gpio';
import { openGpio, readSysfsGpio } from '../../lib/gpio/select';
import { FakeFona, pathWithFakes, setEnv, tempDir } from '../fakes/fake-tools';
import { FakeClock, flushPromises } from '../support/fake-clock';

/** A sysfs GPIO tree: gpiochipN/base for each base. */
function sysfs(bases: number[]): string {
  const root = tempDir('iff-sysfs-');
  writeFileSync(join(root, 'export'), '');
  for (const base of bases) {
    mkdirSync(join(root, `gpiochip${base}`));
    writeFileSync(join(root, `gpiochip${base}`, 'base'), `${base}\n`);
  }
  return root;
}

function cpuinfo(revision: string | null): string {
  const file = join(tempDir('iff-cpu-'), 'cpuinfo');
  writeFileSync(file, `processor\t: 0\nBogoMIPS\t: 108.00\n${revision ? `Revision\t: ${revision}\nModel\t\t: Raspberry Pi 4\n` : ''}`);
  return file;
}

class FakeRpiGpio implements RpiGpioModule {
  MODE_BCM = 'mode_bcm';
  DIR_IN = 'in';
  DIR_LOW = 'low';
  DIR_HIGH = 'high';
  mode: string | null = null;
  calls: string[] = [];
  levels = new Map<number, boolean>();
  failSetup: NodeJS.ErrnoException | null = null;
  setMode(mode: string): void {
    this.mode = mode;
  }
  promise = {
    setup: async (channel: number, direction: string): Promise<void> => {
      this.calls.push(`setup ${channel} ${direction}`);
      if (this.failSetup) throw this.failSetup;
      if (direction === 'high') this.levels.set(channel, true);
      if (direction === 'low') this.levels.set(channel, false);
    },
    read: async (channel: number): Promise<boolean> => {
      this.calls.push(`read ${channel}`);
      return this.levels.get(channel) ?? false;
    },
    write: async (channel: number, value: boolean): Promise<void> => {
      this.calls.push(`write ${channel} ${value}`);
      this.levels.set(channel, value);
    },
    destroy: async (): Promise<void> => {
      this.calls.push('destroy');
    },
  };
}

function errno(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

describe('sysfs GPIO numbering', () => {
  it('reads the chips\' bases, and no tree at all', async () => {
    assert.deepEqual(await readSysfsGpio(sysfs([504, 0])), { present: true, bases: [0, 504] });
    assert.deepEqual(await readSysfsGpio(join(tempDir('iff-none-'), 'gpio')), { present: false, bases: [] });
  });
});

describe('driver choice', () => {
  let restore: () => void;
  before(() => {
    restore = setEnv({ PATH: pathWithFakes(), ...FakeFona.create().env(2) });
  });
  after(() => restore());

  it('auto: base 0 on a Raspberry Pi -> rpi-gpio', async () => {
    const fake = new FakeRpiGpio();
    const opened = await openGpio({ sysfsGpioRoot: sysfs([0, 504]), cpuinfoPath: cpuinfo('c03111'), loadRpiGpio: () => fake });
    assert.equal(opened.driver.kind, 'rpi-gpio');
    assert.match(opened.reason, /base 0/);
    assert.equal(fake.mode, 'mode_bcm', 'BCM numbering');
    await opened.driver.close();
  });

  it('auto: base 512 (kernel 6.6+) -> libgpiod, with the detected generation', async () => {
    const opened = await openGpio({ sysfsGpioRoot: sysfs([512]), cpuinfoPath: cpuinfo('c03111'), loadRpiGpio: () => new FakeRpiGpio() });
    assert.equal(opened.driver.kind, 'libgpiod');
    assert.match(opened.reason, /^auto: libgpiod v2 on gpiochip0; not rpi-gpio: no sysfs gpiochip has base 0 \(bases: 512;/);
    assert.equal(opened.warning, undefined, 'no warning: rpi-gpio is not expected to work here');
    await opened.driver.close();
  });

  it('auto: rpi-gpio that cannot load (native addon) -> libgpiod, with a warning saying why', async () => {
    const opened = await openGpio({
      sysfsGpioRoot: sysfs([0]),
      cpuinfoPath: cpuinfo('a02082'),
      loadRpiGpio: () => {
        throw new Error("The module 'epoll.node' was compiled against a different Node.js version using NODE_MODULE_VERSION 115");
      },
    });
    assert.equal(opened.driver.kind, 'libgpiod');
    assert.equal(
      opened.warning,
      "GPIO auto: libgpiod is used, as rpi-gpio did not load: rpi-gpio could not be loaded (The module 'epoll.node' was compiled against a different " +
        'Node.js version using NODE_MODULE_VERSION 115); its native epoll addon must match this Node.js: reinstall the package here, or use the libgpiod driver',
    );
    assert.match(opened.reason, /^auto: libgpiod v2 on gpiochip0; not rpi-gpio: rpi-gpio could not be loaded \(The module 'epoll\.node'/);
    await opened.driver.close();
  });

  it('auto: rpi-gpio not installed (an optional dependency npm left out) -> libgpiod, with a warning saying so', async () => {
    const opened = await openGpio({
      sysfsGpioRoot: sysfs([0]),
      cpuinfoPath: cpuinfo('a02082'),
      // what require throws for a package that is not there
      loadRpiGpio: () => {
        throw Object.assign(new Error("Cannot find module 'rpi-gpio'\nRequire stack:\n- /x/dist/lib/gpio/rpi-gpio.js"), { code: 'MODULE_NOT_FOUND' });
      },
    });
    assert.equal(opened.driver.kind, 'libgpiod');
    assert.equal(
      opened.warning,
      'GPIO auto: libgpiod is used, as rpi-gpio did not load: rpi-gpio is not installed (an optional dependency: npm leaves it out when its ' +
        'native epoll addon cannot be built, e.g. without a C compiler); use the libgpiod driver',
    );
    await opened.driver.close();
  });


  it('auto: base 0 but not a Raspberry Pi, no sysfs at all -> libgpiod', async () => {
    for (const [root, cpu] of [
      [sysfs([0]), cpuinfo(null)],
      [join(tempDir('iff-none-'), 'gpio'), cpuinfo('c03111')],
    ]) {
      const opened = await openGpio({ sysfsGpioRoot: root, cpuinfoPath: cpu, loadRpiGpio: () => new FakeRpiGpio() });
      assert.equal(opened.driver.kind, 'libgpiod');
      await opened.driver.close();
    }
  });

  it('auto: nothing works -> one error naming both reasons and the fixes', async () => {
    await assert.rejects(
      openGpio({ sysfsGpioRoot: sysfs([512]), cpuinfoPath: cpuinfo('c03111'), gpioset: '/nonexistent/gpioset', gpioget: '/nonexistent/gpioget' }),
      (e: unknown) =>
        e instanceof GpioError &&
        e.code === 'NO_DRIVER' &&
        /bases: 512/.test(e.message) &&
        /number sysfs GPIOs from 512/.test(e.message) &&
        /apt install gpiod/.test(e.message),
    );
  });

  it('forced rpi-gpio on a 6.6+ kernel, forced libgpiod without tools: clear errors', async () => {
    await assert.rejects(
      openGpio({ driver: 'rpi-gpio', sysfsGpioRoot: sysfs([512]), cpuinfoPath: cpuinfo('c03111'), loadRpiGpio: () => new FakeRpiGpio() }),
      (e: unknown) => e instanceof GpioError && e.code === 'NO_DRIVER' && /use the libgpiod driver/.test(e.message),
    );
    await assert.rejects(
      openGpio({ driver: 'libgpiod', gpioget: '/nonexistent/gpioget' }),
      (e: unknown) => e instanceof GpioError && e.code === 'NO_TOOLS' && /\/nonexistent\/gpioget on PATH/.test(e.message),
    );
  });

  it('forced libgpiod uses the tools even where rpi-gpio would work', async () => {
    const opened = await openGpio({ driver: 'libgpiod', sysfsGpioRoot: sysfs([0]), cpuinfoPath: cpuinfo('c03111'), loadRpiGpio: () => new FakeRpiGpio() });
    assert.equal(opened.driver.kind, 'libgpiod');
    await opened.driver.close();
  });
});

describe('rpi-gpio driver', () => {
  it('sets an output up at its level (no glitch), inputs as inputs, and unexports on the last close', async () => {
    const fake = new FakeRpiGpio();
    const clock = new FakeClock();
    const a = RpiGpioDriver.open({ load: () => fake, clock });
    const b = RpiGpioDriver.open({ load: () => fake, clock });
    await a.write(24, 1);
    assert.equal(await a.read(23), 0);
    await clock.advanceUntilSettled(a.pulse(24, 0, 50), 10);
    assert.deepEqual(fake.calls, ['setup 24 high', 'write 24 true', 'setup 23 in', 'read 23', 'write 24 false', 'write 24 true']);
    await a.close();
    assert.ok(!fake.calls.includes('destroy'), 'another driver still uses the package');
    await b.close();
    assert.equal(fake.calls.at(-1), 'destroy');
  });

  it('close cuts a pulse short and leaves the key high', async () => {
    const fake = new FakeRpiGpio();
    const driver = RpiGpioDriver.open({ load: () => fake, clock: new FakeClock() });
    const pulse = driver.pulse(24, 0, 10_000);
    await flushPromises();
    assert.equal(fake.levels.get(24), false, 'the pulse holds the key low');
    await driver.close();
    await assert.rejects(pulse, (e: unknown) => e instanceof GpioError && e.code === 'CLOSED');
    assert.equal(fake.levels.get(24), true);
  });

  it('explains the kernel\'s refusals', async () => {
    const fake = new FakeRpiGpio();
    fake.failSetup = errno('EINVAL', "EINVAL: invalid argument, write '/sys/class/gpio/export'");
    const driver = RpiGpioDriver.open({ load: () => fake });
    await assert.rejects(driver.read(23), (e: unknown) => e instanceof GpioError && e.code === 'NO_DRIVER' && /start at 512/.test(e.message));
    await driver.close();
    assert.equal(rpiGpioError(errno('EACCES', 'EACCES: permission denied'), 24).code, 'EACCES');
    assert.match(rpiGpioError(errno('EACCES', 'EACCES: permission denied'), 24).message, /gpio group/);
    assert.equal(rpiGpioError(errno('EBUSY', 'EBUSY: resource busy'), 24).code, 'EBUSY');
    assert.equal(rpiGpioError(new Error('Unable to match Revision in /proc/cpuinfo: x'), 24).code, 'NO_DRIVER');
  });

  it('a package that cannot load is NO_DRIVER, and the real package loads lazily', () => {
    assert.throws(
      () =>
        RpiGpioDriver.open({
          load: () => {
            throw new Error('Module did not self-register');
          },
        }),
      (e: unknown) => e instanceof GpioError && e.code === 'NO_DRIVER' && /libgpiod/.test(e.message),
    );
    // Loading this module did not load rpi-gpio (nor its native addon).
    assert.ok(!Object.keys(require.cache).some((k) => k.includes('/node_modules/rpi-gpio/')));
  });
});
