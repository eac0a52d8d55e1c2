/**
 * A modem's session as the failover controller asks for it: on `setup` power the modem on, then dial; on
 * `teardown` hang up, then power it off. Used by the ppp-control node when it has a modem.
 *
 * Work runs in order (a setup after a teardown waits for the power-off), and a teardown cuts a setup still in
 * progress short: a key pulse ends early (the key goes back high) and a setup that has not dialled yet never
 * dials; a dial in progress is cancelled by the link's stop(). So a teardown during power-on never leaves the
 * modem dialling. close() ends it all: a setup in progress is undone (hung up, powered off); a link that is up
 * stays up unless the owner asks to hang up.
 *
 * Without a power switch (no modem) the same sequence only dials and hangs up.
 */
import { errorMessage } from '../errors';
import type { PowerResult, PowerState } from '../gpio/fona-power';
import { Logger, silentLogger } from '../log/logger';
import type { PppDownEvent, PppStatus, PppUpEvent } from './ppp-link';

export type ModemKind = 'none' | 'fona';
export const MODEM_KINDS: readonly ModemKind[] = ['none', 'fona'];

/** The modem's power switch (lib/gpio FonaPower). */
export interface ModemPower {
  set(want: PowerState, signal?: AbortSignal): Promise<PowerResult>;
}

/** The dial-up link (lib/ppp PppLink). */
export interface ModemLink {
  start(): Promise<PppUpEvent>;
  stop(): Promise<PppDownEvent>;
  status(): PppStatus;
}

export type ModemStage = 'power-on' | 'dial' | 'hang-up' | 'power-off';

/** What the session did, step by step, for messages and badges. */
export type ModemStep =
  | { step: 'powering-on' }
  | { step: 'powered-on'; power: PowerResult }
  | { step: 'dialling' }
  | { step: 'up'; up: PppUpEvent }
  | { step: 'hanging-up' }
  | { step: 'hung-up'; down: PppDownEvent }
  | { step: 'powering-off' }
  | { step: 'powered-off'; power: PowerResult }
  /** A setup cut short by a teardown or close before it was up. */
  | { step: 'cancelled'; stage: 'power-on' | 'dial' }
  | { step: 'failed'; stage: ModemStage; message: string };

export interface ModemSessionOptions {
  link: ModemLink;
  /** The power switch, opened on first use (rejects with the reason when there is no GPIO); null: no modem. */
  power: (() => Promise<ModemPower>) | null;
  /** Called for each step, in order. */
  report: (step: ModemStep) => void;
  logger?: Logger;
}

export class ModemSession {
  private readonly link: ModemLink;
  private readonly power: (() => Promise<ModemPower>) | null;
  private readonly report: (step: ModemStep) => void;
  private readonly logger: Logger;
  private chain: Promise<void> = Promise.resolve();
  /** Setups queued or running: a teardown aborts them (a power-on in progress, a dial not started yet). */
  private readonly pending = new Set<AbortController>();
  /** Aborts everything at close (a key pulse of a power-off too). */
  private readonly closing = new AbortController();
  private closed = false;

  constructor(options: ModemSessionOptions) {
    this.link = options.link;
    this.power = options.power;
    this.report = options.report;
    this.logger = options.logger ?? silentLogger;
  }

  get hasModem(): boolean {
    return this.power !== null;
  }

  /** Settles when the work queued so far is done. */
  idle(): Promise<void> {
    return this.chain;
  }

  /** Powers the modem on, then dials; resolves when done, failed or cut short (each reported as a step). */
  setup(): Promise<void> {
    if (this.closed) return Promise.resolve();
    const abort = new AbortController();
    return this.enqueue(async () => {
      if (!abort.signal.aborted) await this.bringUp(abort.signal);
    }, abort);
  }

  /** Cuts a setup in progress short, hangs up, then powers the modem off; resolves when done. */
  teardown(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.abortSetups(new Error('teardown'));
    // At once, not after the queue: stopping the link cancels a dial the setup may be waiting on.
    const hangUp = this.hangUp();
    return this.enqueue(() => this.bringDown(hangUp));
  }

  /**
   * Ends the session. A setup in progress is cut short and undone (hung up, powered off); queued work ends;
   * a link that is up stays up (and its modem on) unless `hangUp`, which also powers the modem off.
   */
  async close(options: { hangUp: boolean }): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const settingUp = this.abortSetups(new Error('closed'));
    const state = this.link.status().state;
    const undo = options.hangUp || settingUp || state === 'dialing' || state === 'redial-wait';
    const hangUp = undo ? this.hangUp() : null;
    await this.chain;
    if (hangUp) await this.bringDown(hangUp);
    this.closing.abort(new Error('closed'));
  }

  // ---- internals -------------------------------------------------------------------------------

  /** Aborts every setup queued or running; true if there was one. */
  private abortSetups(reason: Error): boolean {
    const any = this.pending.size > 0;
    for (const abort of this.pending) abort.abort(reason);
    this.pending.clear();
    return any;
  }

  private enqueue(work: () => Promise<void>, setup?: AbortController): Promise<void> {
    if (setup) this.pending.add(setup);
    const next = this.chain.then(work).catch((e: unknown) => this.logger.error(`modem: ${errorMessage(e)}`));
    this.chain = next.finally(() => {
      if (setup) this.pending.delete(setup);
    });
    return this.chain;
  }

  private hangUp(): Promise<PppDownEvent | Error> {
    this.report({ step: 'hanging-up' });
    return this.link.stop().catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
  }

  private async bringUp(signal: AbortSignal): Promise<void> {
    if (this.power) {
      try {
        const power = await this.power();
        if (signal.aborted) return this.report({ step: 'cancelled', stage: 'power-on' });
        this.report({ step: 'powering-on' });
        this.report({ step: 'powered-on', power: await power.set('on', AbortSignal.any([signal, this.closing.signal])) });
      } catch (e) {
        if (signal.aborted) return this.report({ step: 'cancelled', stage: 'power-on' });
        // The modem may be on all the same (a wiring fault of the status pin): the dial is bounded and says.
        this.report({ step: 'failed', stage: 'power-on', message: `${errorMessage(e)}; dialling anyway` });
      }
    }
    // No await between this check and start(): a teardown either came before (no dial) or stops the dial.
    if (signal.aborted) return this.report({ step: 'cancelled', stage: 'power-on' });
    this.report({ step: 'dialling' });
    try {
      this.report({ step: 'up', up: await this.link.start() });
    } catch (e) {
      if (signal.aborted) return this.report({ step: 'cancelled', stage: 'dial' });
      this.report({ step: 'failed', stage: 'dial', message: errorMessage(e) });
    }
  }

  private async bringDown(hangUp: Promise<PppDownEvent | Error>): Promise<void> {
    const down = await hangUp;
    if (down instanceof Error) this.report({ step: 'failed', stage: 'hang-up', message: down.message });
    else this.report({ step: 'hung-up', down });
    if (!this.power) return;
    try {
      const power = await this.power();
      this.report({ step: 'powering-off' });
      this.report({ step: 'powered-off', power: await power.set('off', this.closing.signal) });
    } catch (e) {
      this.report({ step: 'failed', stage: 'power-off', message: errorMessage(e) });
    }
  }
}
