/**
 * ModemSession's order and cancellation on a fake clock: the real FonaPower over the in-memory FONA, and a
 * stand-in for the PPP link (the modem's other half) that notes the FONA's power at each dial and hang-up and
 * comes up only while the FONA is on. So "dial (modem on)" proves the power-on came first, "hang up (modem on)"
 * that the power-off came after. The node and the real tools: test/nodes/ppp-control-modem.test.ts.
 */
import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { FonaPower } from '../../lib/gpio/fona-power';
import { ModemLink, ModemSession, ModemStep } from '../../lib/ppp/modem-session';
import type { PppDownEvent, PppStatus, PppUpEvent } from '../../lib/ppp/ppp-link';
import { MemoryFona } from '../fakes/memory-fona';
import { FakeClock, flushPromises } from '../support/fake-clock';

const UP: PppUpEvent = { state: 'up', iface: 'ppp0', peer: 'fona', address: '198.51.100.2', cidr: null };
const DOWN: PppDownEvent = { state: 'down', iface: 'ppp0', peer: 'fona', reason: 'stopped', message: 'hung up', redialInMs: null };

/** A modem's PPP side: up 1 s after a dial while the FONA is on; a dial while it is off waits until stopped. */
class ModemLine implements ModemLink {
  readonly journal: string[] = [];
  private phase: PppStatus['state'] = 'down';
  private dial: { reject: (e: Error) => void } | null = null;

  constructor(
    private readonly fona: MemoryFona,
    private readonly clock: FakeClock,
  ) {}

  start(): Promise<PppUpEvent> {
    this.journal.push(`dial (modem ${this.fona.power})`);
    if (this.phase === 'up') return Promise.resolve(UP);
    this.phase = 'dialing';
    return new Promise((resolve, reject) => {
      this.dial = { reject };
      if (this.fona.power === 'on') {
        this.clock.setTimeout(() => {
          if (this.phase !== 'dialing') return;
          this.phase = 'up';
          this.dial = null;
          resolve(UP);
        }, 1000);
      }
    });
  }

  stop(): Promise<PppDownEvent> {
    this.journal.push(`hang up (modem ${this.fona.power})`);
    this.phase = 'down';
    this.dial?.reject(new Error('stopped while dialling'));
    this.dial = null;
    return Promise.resolve(DOWN);
  }

  status(): PppStatus {
    return { state: this.phase, iface: 'ppp0', peer: 'fona', address: this.phase === 'up' ? UP.address : null, wanted: this.phase !== 'down' };
  }
}

const name = (s: ModemStep): string => (s.step === 'failed' || s.step === 'cancelled' ? `${s.step} ${s.stage}` : 'power' in s ? `${s.step} ${s.power.power}` : s.step);

describe('ModemSession', () => {
  let clock: FakeClock;
  let fona: MemoryFona;
  let line: ModemLine;
  let steps: string[];
  let session: ModemSession;

  beforeEach(() => {
    clock = new FakeClock();
    fona = new MemoryFona(clock);
    line = new ModemLine(fona, clock);
    steps = [];
    const power = new FonaPower({ driver: fona, powerStatusPin: 23, keyPin: 24, clock });
    session = new ModemSession({ link: line, power: () => Promise.resolve(power), report: (s) => steps.push(name(s)) });
  });

  it('setup: powers on, then dials; teardown: hangs up, then powers off', async () => {
    await clock.advanceUntilSettled(session.setup());
    assert.deepEqual(steps, ['powering-on', 'powered-on on', 'dialling', 'up']);
    assert.deepEqual(line.journal, ['dial (modem on)']);
    steps.length = 0;
    await clock.advanceUntilSettled(session.teardown());
    assert.deepEqual(steps, ['hanging-up', 'hung-up', 'powering-off', 'powered-off off']);
    assert.deepEqual(line.journal, ['dial (modem on)', 'hang up (modem on)']);
    assert.equal(fona.power, 'off');
    assert.deepEqual(fona.pulses(), ['pulse 2000 ms: power on', 'pulse 2000 ms: power off']);
  });

  it('a teardown during power-on: the pulse ends at once, no dial, the modem stays off', async () => {
    const setup = session.setup();
    await clock.advance(500);
    assert.equal(fona.level(24), 0, 'the key is held low');
    const teardown = session.teardown();
    await clock.advanceUntilSettled(Promise.all([setup, teardown]));
    assert.deepEqual(steps, ['powering-on', 'hanging-up', 'cancelled power-on', 'hung-up', 'powering-off', 'powered-off off']);
    assert.deepEqual(line.journal, ['hang up (modem off)'], 'never dialled');
    assert.deepEqual(fona.pulses(), ['pulse 500 ms: ignored (shorter than 1500 ms)']);
    assert.equal(fona.level(24), 1);
    assert.equal(fona.power, 'off');
  });

  it('a teardown while it dials cancels the dial, then powers off; a setup after it waits for the power-off', async () => {
    const setup = session.setup();
    await clock.advance(2100); // powered on; dialling
    assert.deepEqual(line.journal, ['dial (modem on)']);
    const teardown = session.teardown();
    const again = session.setup();
    await clock.advanceUntilSettled(Promise.all([setup, teardown, again]));
    assert.deepEqual(steps, [
      'powering-on', 'powered-on on', 'dialling', 'hanging-up', 'cancelled dial', 'hung-up', 'powering-off', 'powered-off off',
      'powering-on', 'powered-on on', 'dialling', 'up',
    ]);
    assert.deepEqual(line.journal, ['dial (modem on)', 'hang up (modem on)', 'dial (modem on)']);
    assert.deepEqual(fona.pulses(), ['pulse 2000 ms: power on', 'pulse 2000 ms: power off', 'pulse 2000 ms: power on']);
  });

  it('close during a setup undoes it (hung up, powered off); close while up leaves the link and the modem', async () => {
    const setup = session.setup();
    await clock.advance(2100);
    await clock.advanceUntilSettled(Promise.all([setup, session.close({ hangUp: false })]));
    assert.deepEqual(line.journal, ['dial (modem on)', 'hang up (modem on)']);
    assert.equal(fona.power, 'off');
    await clock.advanceUntilSettled(session.setup());
    assert.deepEqual(line.journal.length, 2, 'a closed session does nothing');

    const power = new FonaPower({ driver: fona, powerStatusPin: 23, keyPin: 24, clock });
    const kept = new ModemSession({ link: line, power: () => Promise.resolve(power), report: () => undefined });
    await clock.advanceUntilSettled(kept.setup());
    await kept.close({ hangUp: false });
    await flushPromises();
    assert.deepEqual([line.status().state, fona.power], ['up', 'on']);
  });

  it('without a modem, setup only dials and teardown only hangs up', async () => {
    fona.setPower(true);
    const bare = new ModemSession({ link: line, power: null, report: (s) => steps.push(name(s)) });
    await clock.advanceUntilSettled(bare.setup());
    await clock.advanceUntilSettled(bare.teardown());
    assert.deepEqual(steps, ['dialling', 'up', 'hanging-up', 'hung-up']);
    assert.deepEqual(fona.pulses(), []);
  });

  it('a power-on that fails is reported, and the dial is tried anyway', async () => {
    const failing = new ModemSession({ link: line, power: () => Promise.reject(new Error('no GPIO driver')), report: (s) => steps.push(name(s)) });
    fona.setPower(true); // on all the same: the dial comes up
    await clock.advanceUntilSettled(failing.setup());
    assert.deepEqual(steps, ['failed power-on', 'dialling', 'up']);
  });
});
