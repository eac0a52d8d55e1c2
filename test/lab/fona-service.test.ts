/**
 * The guide's whole FONA scenario in the network lab, run by the real headless service with the
 * fonaRaspberryPiHandler built in: the fake libgpiod tools play the FONA's GPIO (test/fakes/bin/gpioset,
 * gpioget), the fake modem daemon and pon/poff play pppd (ppp0 is a real TUN device carried by socat over
 * the lab's wwan0). Needs root (network namespaces); CI is root and runs these.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isRoot } from './netlab';
import { RunningService, leftovers, startService, waitForDefault } from './service-harness';
import { PRIMARY, T1, T2, T3, fonaRoute, withRig } from './fona-rig';

const ROOT = isRoot();
if (!ROOT) console.warn('SKIPPED: the FONA service lab tests need root (network namespaces); CI runs them as root');

/** Log lines without the level, in order. */
function messages(svc: RunningService): string[] {
  return svc.lines().map((l) => l.replace(/^(INFO|WARNING|ERROR|DEBUG) /, ''));
}

function indexOf(svc: RunningService, pattern: RegExp, from = 0): number {
  return messages(svc).findIndex((l, i) => i >= from && pattern.test(l));
}

const LIFECYCLE = /^(Tearing down|Setting up|Connection failed|Connection restored|Failing over|Connected to)/;

test("the guide's scenario: cut -> FONA on, pon, default via ppp0; heal -> poff, FONA off, default via eth0 (libgpiod v1)", async (t) => {
  await withRig(t, 1, { targets: 2, wlan: false }, async ({ lab, fona, modem, env }) => {
    const svc = startService(lab, PRIMARY + fonaRoute("{'powerStatusPin':23, 'keyPin':24, 'gpio':'libgpiod'}"), [], { env });
    try {
      await waitForDefault(lab, 'eth0');
      await svc.waitForLine(/^INFO Connected to primary$/);
      await svc.waitForLine(/^INFO FONA \(fona\): power status on GPIO 23, key on GPIO 24; GPIO libgpiod \(chosen\): libgpiod v1 on gpiochip0$/);
      assert.equal(fona.power, 'off');
      assert.deepEqual(modem.calls(), [], 'nothing dialled while the primary works');

      await lab.cutUpstream('eth0');
      const route = await waitForDefault(lab, 'ppp0', 40_000);
      assert.equal(route.gateway, undefined);
      await svc.waitForLine(/^INFO Failing over to fona$/);
      assert.equal(fona.power, 'on', 'the fake state file shows the FONA on');
      assert.deepEqual(modem.calls(), ['pon fona']);
      assert.deepEqual((await lab.linkState('ppp0')).addresses, ['198.51.100.2/30']);
      const ping = await lab.ping({ target: T1, count: 3 });
      assert.ok(ping.received >= 1, `traffic leaves through the FONA: ${ping.output}`);

      // Events in order: the original's lifecycle, with the modem switched on and dialled in between.
      const on = indexOf(svc, /^Switching the FONA on \(fona\)$/);
      const isOn = indexOf(svc, /^The FONA is on$/);
      const dial = indexOf(svc, /^Dialling fona: pon fona$/);
      const up = indexOf(svc, /^ppp0 is up: 198\.51\.100\.2 \(/);
      const failing = indexOf(svc, /^Failing over to fona$/);
      const settingUp = indexOf(svc, /^Setting up connection to fona$/);
      assert.ok(settingUp >= 0 && settingUp < on && on < isOn && isOn < dial && dial < up && dial < failing, messages(svc).join('\n'));
      assert.deepEqual(messages(svc).filter((l) => LIFECYCLE.test(l)), [
        'Setting up connection to primary',
        'Connected to primary',
        'Tearing down connection to primary',
        'Setting up connection to fona',
        'Connection failed on primary',
        'Failing over to fona',
      ]);

      await lab.restore('eth0');
      await waitForDefault(lab, 'eth0', 30_000);
      await svc.waitForLine(/^INFO The FONA is off$/, 20_000);
      assert.equal(fona.power, 'off');
      assert.deepEqual(modem.calls(), ['pon fona', 'poff fona']);
      assert.equal((await lab.linkState('ppp0')).exists, false, 'ppp0 is gone');
      // Teardown ran after the default route had left ppp0.
      const added = indexOf(svc, /^Adding route eth0$/, failing);
      const hangUp = indexOf(svc, /^Hanging up fona: poff fona$/);
      const off = indexOf(svc, /^Switching the FONA off \(fona\)$/);
      assert.ok(added >= 0 && added < hangUp && hangUp < off, messages(svc).join('\n'));
      assert.deepEqual(messages(svc).filter((l) => LIFECYCLE.test(l)).slice(6), [
        'Tearing down connection to fona',
        'Setting up connection to primary',
        'Connection restored to primary',
      ]);
      assert.deepEqual(
        fona.pulses().map((p) => p.replace(/\d+ ms/, 'N ms')),
        ['pulse N ms: power on', 'pulse N ms: power off'],
      );
    } finally {
      assert.equal(await svc.stop(), 0, `exit code; stderr: ${svc.proc.output.stderr}`);
    }
    assert.deepEqual(await leftovers(lab, [T1, T2]), []);
    assert.ok(!svc.lines().some((l) => /^ERROR/.test(l)), svc.lines().join('\n'));
  });
});

test('ppp0 never comes up: bounded wait, setupFailed, then poff and FONA off, and the log says so (libgpiod v2)', async (t) => {
  await withRig(t, 2, { targets: 2, wlan: false }, async ({ lab, fona, modem, env }) => {
    modem.setMode('never');
    const svc = startService(lab, PRIMARY + fonaRoute("{'powerStatusPin':23, 'keyPin':24, 'gpio':'libgpiod'}", 'route.fona.setupTimeout=5\n'), [], { env });
    try {
      await waitForDefault(lab, 'eth0');
      await svc.waitForLine(/^INFO Connected to primary$/);
      await lab.cutUpstream('eth0');
      await svc.waitForLine(/^INFO Dialling fona: pon fona$/, 30_000);
      await svc.waitForLine(/^ERROR ppp0 of fona did not come up within 5 s$/, 15_000);
      await svc.waitForLine(/^INFO The FONA is off$/, 20_000);
      assert.deepEqual(modem.calls(), ['pon fona', 'poff fona']);
      assert.equal(fona.power, 'off');
      assert.equal((await lab.linkState('ppp0')).exists, false);
      const failed = indexOf(svc, /^ppp0 of fona did not come up within 5 s$/);
      assert.ok(failed < indexOf(svc, /^Tearing down connection to fona$/));
      assert.ok(indexOf(svc, /^Tearing down connection to fona$/) < indexOf(svc, /^Hanging up fona: poff fona$/));
      // The default route stays where it was: nothing better exists.
      assert.deepEqual((await lab.defaultRoutes()).map((r) => r.dev), ['eth0']);
    } finally {
      assert.equal(await svc.stop(), 0);
    }
  });
});

test('pppd dies while the FONA carries traffic and the primary is down: reported at once, dialled again', async (t) => {
  await withRig(t, 2, { targets: 2, wlan: false }, async ({ lab, fona, modem, env }) => {
    const svc = startService(lab, PRIMARY + fonaRoute("{'powerStatusPin':23, 'keyPin':24, 'gpio':'libgpiod'}"), [], { env });
    try {
      await waitForDefault(lab, 'eth0');
      await lab.cutUpstream('eth0');
      await waitForDefault(lab, 'ppp0', 40_000);
      await svc.waitForLine(/^INFO Failing over to fona$/);
      const before = svc.lines().length;
      assert.equal(await modem.request('drop fona'), 'OK');
      await svc.waitForLine(/^WARNING fona: ppp0 vanished \(pppd ended or the modem hung up\)$/, 3000);
      await waitForDefault(lab, 'ppp0', 30_000);
      const after = messages(svc).slice(before);
      assert.ok(after.includes('Setting up connection to fona'), after.join('\n'));
      assert.ok(after.includes('The FONA was already on'), after.join('\n'));
      assert.deepEqual(modem.calls(), ['pon fona', 'pon fona']);
      assert.equal(fona.power, 'on');
      assert.equal(fona.pulses().length, 1, 'no second power pulse');
    } finally {
      assert.equal(await svc.stop(), 0);
    }
    // The primary is still down: the FONA keeps carrying traffic after the service stops.
    assert.deepEqual((await lab.defaultRoutes()).map((r) => r.dev), ['ppp0']);
    await modem.request('hangup fona');
  });
});

test('pppd dies while a working uplink is there: traffic moves to it at once; the modem is torn down and set up again', async (t) => {
  await withRig(t, 2, { targets: 4, wlan: true }, async ({ lab, modem, env }) => {
    const wifi = `route.wifi.gateway=192.0.2.17
route.wifi.iface=wlan0
route.wifi.targets=${T1},${T3}
route.wifi.verifierDelay=1
route.wifi.verifierKwargs={'timeout':1, 'maxRetry':1}
`;
    const svc = startService(lab, PRIMARY + fonaRoute("{'powerStatusPin':23, 'keyPin':24, 'gpio':'libgpiod'}") + wifi, [], { env });
    try {
      await waitForDefault(lab, 'eth0');
      await lab.cutUpstream('eth0');
      // wlan0 carries traffic while the FONA (preferred over wlan0) powers up and dials; then ppp0 takes over.
      await waitForDefault(lab, 'ppp0', 40_000);
      await svc.waitForLine(/^INFO Connection restored to fona$/);
      const before = svc.lines().length;
      assert.equal(await modem.request('drop fona'), 'OK');
      await waitForDefault(lab, 'wlan0', 5000);
      await waitForDefault(lab, 'ppp0', 40_000);
      // The engine tore the dead modem down (poff, power off) once wlan0 carried the traffic, and set it up again.
      assert.deepEqual(modem.calls(), ['pon fona', 'poff fona', 'pon fona']);
      const after = messages(svc).slice(before);
      const order = ['Adding route wlan0', 'Tearing down connection to fona', 'Hanging up fona: poff fona', 'The FONA is off', 'The FONA is on', 'Dialling fona: pon fona', 'Adding route ppp0'].map(
        (line) => after.indexOf(line),
      );
      assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1])), after.join('\n'));
    } finally {
      assert.equal(await svc.stop(), 0);
    }
    await modem.request('hangup fona');
  });
});
