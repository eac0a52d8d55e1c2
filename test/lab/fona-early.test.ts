/**
 * The guide's FONA scenario with `prepare=early` in the real headless service: the modem is powered on and
 * dialled while the primary is only suspect, so power-on and dialling overlap detection; a short blip brings the
 * modem up but never moves the route, and the modem is not cycled. Needs root (network namespaces).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isRoot } from './netlab';
import { RunningService, startService, waitForDefault } from './service-harness';
import { PRIMARY, T1, fonaRoute, withRig } from './fona-rig';
import { until } from '../support/wait';

const ROOT = isRoot();
if (!ROOT) console.warn('SKIPPED: the FONA early bring-up lab tests need root (network namespaces); CI runs them as root');

/** The guide's timings: a 2 s key pulse, a 3 s dial. */
const GUIDE_FONA = "{'powerStatusPin':23, 'keyPin':24, 'gpio':'libgpiod', 'keyPulse':2}";
const LIFECYCLE = /^(Tearing down|Setting up|Connection failed|Connection restored|Failing over|Connected to|Preparing|Releasing)/;

function messages(svc: RunningService): string[] {
  return svc.lines().map((l) => l.replace(/^(INFO|WARNING|ERROR|DEBUG) /, ''));
}

const indexOf = (svc: RunningService, pattern: RegExp): number => messages(svc).findIndex((l) => pattern.test(l));

test('prepare=early: the FONA is powered on and dialled during detection; the switch finds ppp0 ready', async (t) => {
  await withRig(t, 2, { targets: 2, wlan: false }, async ({ lab, fona, modem, env }) => {
    modem.setDelay(3000);
    const svc = startService(lab, PRIMARY + fonaRoute(GUIDE_FONA, 'route.fona.prepare=early\n'), [], { env });
    try {
      await waitForDefault(lab, 'eth0');
      await svc.waitForLine(/^INFO Connected to primary$/);
      assert.equal(fona.power, 'off', 'nothing is powered while the primary works');

      await lab.cutUpstream('eth0');
      await waitForDefault(lab, 'ppp0', 40_000);
      await svc.waitForLine(/^INFO Failing over to fona$/);
      const ping = await lab.ping({ target: T1, count: 3 });
      assert.ok(ping.received >= 1, `traffic leaves through the FONA: ${ping.output}`);

      const preparing = indexOf(svc, /^Preparing fona early: the active uplink is suspect$/);
      const on = indexOf(svc, /^Switching the FONA on \(fona\)$/);
      const dial = indexOf(svc, /^Dialling fona: pon fona$/);
      const failed = indexOf(svc, /^Connection failed on primary$/);
      assert.ok(preparing >= 0 && preparing < on && on < dial && on < failed, `power-on starts before the failure is declared:\n${messages(svc).join('\n')}`);
      assert.deepEqual(messages(svc).filter((l) => LIFECYCLE.test(l)), [
        'Setting up connection to primary',
        'Connected to primary',
        'Preparing fona early: the active uplink is suspect',
        'Setting up connection to fona',
        'Tearing down connection to primary',
        'Connection failed on primary',
        'Failing over to fona',
      ]);
      assert.deepEqual(modem.calls(), ['pon fona'], 'dialled once');

      await lab.restore('eth0');
      await waitForDefault(lab, 'eth0', 30_000);
      await svc.waitForLine(/^INFO The FONA is off$/, 20_000);
      assert.deepEqual(modem.calls(), ['pon fona', 'poff fona']);
    } finally {
      assert.equal(await svc.stop(), 0);
    }
  });
});

test('prepare=early: a blip brings the modem up without moving the route, and does not cycle it', async (t) => {
  await withRig(t, 2, { targets: 2, wlan: false }, async ({ lab, fona, modem, env }) => {
    const svc = startService(lab, PRIMARY + fonaRoute(GUIDE_FONA, 'route.fona.prepare=early\n'), [], { env });
    try {
      await waitForDefault(lab, 'eth0');
      await svc.waitForLine(/^INFO Connected to primary$/);
      const rounds = () => svc.lines().filter((l) => /^INFO upRoutes=/.test(l));
      await lab.cutUpstream('eth0');
      await svc.waitForLine(/^INFO Preparing fona early/);
      // Heal before the third bad round: one or two bad rounds only.
      await lab.restore('eth0');
      await svc.waitForLine(/^INFO ppp0 is up: /, 20_000);
      const seen = rounds().length;
      await until(() => rounds().slice(seen).filter((l) => /downRoutes=$/.test(l)).length >= 3, { timeoutMs: 10_000, what: 'three good rounds of the primary' });
      assert.deepEqual((await lab.defaultRoutes()).map((r) => r.dev), ['eth0'], 'the route never left the primary');
      assert.equal(fona.power, 'on', 'the modem stays up for the hold time');
      assert.deepEqual(modem.calls(), ['pon fona']);
      assert.ok(!messages(svc).some((l) => /Failing over|Connection failed|Tearing down connection to fona/.test(l)), messages(svc).join('\n'));
    } finally {
      assert.equal(await svc.stop(), 0);
    }
    // Stopping hangs up and powers off what was set up early.
    assert.equal(fona.power, 'off');
    assert.deepEqual(modem.calls(), ['pon fona', 'poff fona']);
  });
});
