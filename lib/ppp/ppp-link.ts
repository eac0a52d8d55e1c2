/**
 * Dial-up under supervision: start and stop a PPP peer, wait (bounded) for its interface to be up with an
 * address, and report at once when the link goes away by itself, optionally dialling again with back-off.
 *
 * Dialers (never a shell):
 *   pon     `pon PEER` / `poff PEER` (Debian's ppp scripts; pppd runs as a daemon, as the guide has it)
 *   pppd    `pppd call PEER nodetach`: pppd is this process's child, stopped with SIGTERM; its exit status
 *           says why a link ended (15 = the peer stopped answering LCP echoes, 16 = the modem hung up, ...)
 *   command any argument arrays the user sets (e.g. nmcli), start and stop
 *
 * The interface is watched through a LinkSource (the LinkWatch): pppd dying takes ppp0 with it, which the
 * watch reports within milliseconds. With the pon dialer pppd is a daemon, not our child: closing leaves it
 * running unless asked to hang up (a redeploy must not drop the link; the next owner adopts an interface that
 * is already up). With the pppd dialer the child never outlives its owner.
 */
import { EventEmitter } from 'node:events';
import { networkInterfaces } from 'node:os';
import { Clock, TimerHandle, systemClock } from '../engine/clock';
import { errorMessage } from '../errors';
import { LinkSource, LinkState } from '../linkwatch/link-watch';
import { Logger, silentLogger } from '../log/logger';
import { ChildExit, CommandOutcome, ManagedChild, abortReason, describeOutcome, runCommand, sleep } from '../process/command';
import { isValidPeer } from './peer';
import { pppdExitMeaning } from './pppd-exit';

export type PppDialer = 'pon' | 'pppd' | 'command';
export const PPP_DIALERS: readonly PppDialer[] = ['pon', 'pppd', 'command'];

export type PppPhase = 'down' | 'dialing' | 'up' | 'hanging-up' | 'redial-wait';

export type PppDownReason =
  /** stop() was asked for. */
  | 'stopped'
  /** The interface was not up with an address within upTimeout. */
  | 'timeout'
  /** The start command failed (not installed, unknown peer, ...). */
  | 'start-failed'
  /** pppd (our child, dialer pppd) exited. */
  | 'pppd-exited'
  /** The interface went down or vanished by itself. */
  | 'link-lost'
  /** The owner closed while dialling. */
  | 'closed';

export interface PppUpEvent {
  state: 'up';
  iface: string;
  peer: string;
  address: string;
  /** address/prefix, when known. */
  cidr: string | null;
}

export interface PppDownEvent {
  state: 'down';
  iface: string;
  peer: string;
  reason: PppDownReason;
  /** A sentence for people: what happened and, where known, why. */
  message: string;
  /** When the next automatic dial happens (ms from now), or null if none is planned. */
  redialInMs: number | null;
}

export interface PppStatus {
  state: PppPhase;
  iface: string;
  peer: string;
  address: string | null;
  /** start() was asked for and stop() was not (the link should be up). */
  wanted: boolean;
}

export interface PppAddress {
  address: string;
  cidr: string | null;
}

export interface PppLinkOptions {
  /** Peer file name under /etc/ppp/peers (the guide: fona). */
  peer: string;
  /** Interface pppd creates (default ppp0). */
  iface?: string;
  dialer?: PppDialer;
  /** For the command dialer: argument arrays, the program first. */
  startCommand?: readonly string[];
  stopCommand?: readonly string[];
  /** Bound for the interface to be up with an address after the start command (default 60 s). */
  upTimeoutMs?: number;
  /** Dial again when the link drops or a dial fails, while wanted (default false). */
  redial?: boolean;
  /** First redial delay (default 10 s); doubles after each failed attempt, up to redialMaxDelayMs (default 5 min). */
  redialDelayMs?: number;
  redialMaxDelayMs?: number;
  /** Bound for the interface to go away after the stop command (default 10 s). */
  hangupTimeoutMs?: number;
  /** Bound for pon/poff/commands themselves (default 15 s). */
  commandTimeoutMs?: number;
  links: LinkSource;
  logger?: Logger;
  /** Reads the interface's IPv4 address (default: os.networkInterfaces()). */
  readAddress?: (iface: string) => PppAddress | null;
  /** Times the up-wait, the redial back-off and the hang-up wait (tests pass a fake clock). */
  clock?: Clock;
}

export class PppError extends Error {
  constructor(
    readonly reason: PppDownReason,
    message: string,
  ) {
    super(message);
    this.name = 'PppError';
  }
}

export { isValidPeer };

export function readIPv4(iface: string): PppAddress | null {
  const entry = (networkInterfaces()[iface] ?? []).find((a) => a.family === 'IPv4');
  return entry ? { address: entry.address, cidr: entry.cidr ?? null } : null;
}

const POLL_MS = 200;

// Typed events for the EventEmitter below (the usual declaration-merging pattern; the class declares no such members).
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export declare interface PppLink {
  on(event: 'up', listener: (e: PppUpEvent) => void): this;
  on(event: 'down', listener: (e: PppDownEvent) => void): this;
  on(event: 'state', listener: (s: PppStatus) => void): this;
  off(event: 'up', listener: (e: PppUpEvent) => void): this;
  off(event: 'down', listener: (e: PppDownEvent) => void): this;
  off(event: 'state', listener: (s: PppStatus) => void): this;
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class PppLink extends EventEmitter {
  readonly peer: string;
  readonly iface: string;
  readonly dialer: PppDialer;
  private readonly startCommand: readonly string[];
  private readonly stopCommand: readonly string[] | null;
  private readonly upTimeoutMs: number;
  private readonly redial: boolean;
  private readonly redialDelayMs: number;
  private readonly redialMaxDelayMs: number;
  private readonly hangupTimeoutMs: number;
  private readonly commandTimeoutMs: number;
  private readonly links: LinkSource;
  private readonly logger: Logger;
  private readonly readAddress: (iface: string) => PppAddress | null;
  private readonly clock: Clock;

  private phase: PppPhase = 'down';
  private address: PppAddress | null = null;
  private wanted = false;
  private closed = false;
  private chain: Promise<unknown> = Promise.resolve();
  private dialAbort: AbortController | null = null;
  private child: ManagedChild | null = null;
  private redialTimer: TimerHandle | null = null;
  private attempts = 0;
  /** The link was lost by itself: a pppd may still be around (persist), to hang up before redialling. */
  private leftover = false;
  /** Why the last pppd child ended, for the dial that was waiting on it. */
  private lastChildExit: string | null = null;
  /** Wakes a running wait when the link or the child changes. */
  private wake: (() => void) | null = null;
  private readonly onLink = (state: LinkState): void => this.handleLink(state);

  constructor(options: PppLinkOptions) {
    super();
    if (!isValidPeer(options.peer)) {
      throw new PppError('start-failed', `"${String(options.peer)}" is not a peer name: the name of a file in /etc/ppp/peers (letters, digits, ".", "_", "-")`);
    }
    this.peer = options.peer;
    this.iface = options.iface ?? 'ppp0';
    this.dialer = options.dialer ?? 'pon';
    if (this.dialer === 'command') {
      if (!options.startCommand || options.startCommand.length === 0 || options.startCommand[0] === '') {
        throw new PppError('start-failed', 'the command dialer needs a start command (program and arguments)');
      }
      this.startCommand = [...options.startCommand];
      this.stopCommand = options.stopCommand && options.stopCommand.length > 0 && options.stopCommand[0] !== '' ? [...options.stopCommand] : null;
    } else if (this.dialer === 'pppd') {
      this.startCommand = ['pppd', 'call', this.peer, 'nodetach'];
      this.stopCommand = null;
    } else {
      this.startCommand = ['pon', this.peer];
      this.stopCommand = ['poff', this.peer];
    }
    this.upTimeoutMs = options.upTimeoutMs ?? 60_000;
    this.redial = options.redial ?? false;
    this.redialDelayMs = Math.max(100, options.redialDelayMs ?? 10_000);
    this.redialMaxDelayMs = Math.max(this.redialDelayMs, options.redialMaxDelayMs ?? 300_000);
    this.hangupTimeoutMs = options.hangupTimeoutMs ?? 10_000;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 15_000;
    this.links = options.links;
    this.logger = options.logger ?? silentLogger;
    this.readAddress = options.readAddress ?? readIPv4;
    this.clock = options.clock ?? systemClock;
    this.links.on('change', this.onLink);
  }

  /** The commands, as a user would type them: for logs and status. */
  get startCommandLine(): string {
    return this.startCommand.join(' ');
  }

  status(): PppStatus {
    return { state: this.phase, iface: this.iface, peer: this.peer, address: this.address?.address ?? null, wanted: this.wanted };
  }

  /**
   * Brings the link up (adopting an interface that is already up), resolves once it is up with an address.
   * Starting a link that is up is a no-op. Rejects with a PppError (after a 'down' event) if it does not come up.
   */
  start(): Promise<PppUpEvent> {
    if (this.closed) return Promise.reject(new PppError('closed', 'the PPP link is closed'));
    this.wanted = true;
    this.clearRedial();
    return this.serial(async () => {
      if (this.phase === 'up' && this.address) return this.upEvent(this.address);
      return this.dialOnce();
    });
  }

  /** Hangs up (interrupting a dial in progress) and resolves once the interface is gone. A second stop is a no-op. */
  stop(): Promise<PppDownEvent> {
    if (this.closed) return Promise.reject(new PppError('closed', 'the PPP link is closed'));
    const wasWanted = this.wanted;
    this.wanted = false;
    this.clearRedial();
    this.dialAbort?.abort(new PppError('stopped', `stopped while dialling ${this.peer}`));
    return this.serial(async () => {
      if (!wasWanted && this.phase === 'down' && !this.child && !this.links.state(this.iface).exists) {
        return this.downEvent('stopped', `${this.iface} is down`, null);
      }
      await this.hangUp(this.commandTimeoutMs, this.hangupTimeoutMs);
      const event = this.downEvent('stopped', `hung up (${this.stopCommand ? this.stopCommand.join(' ') : `stopped ${this.startCommandLine}`})`, null);
      this.emit('down', event);
      return event;
    });
  }

  /**
   * Ends every timer, command and wait. `hangUp` also stops the link; a pppd child (dialer pppd) is always
   * stopped, since nothing may outlive its owner. Bounded: about 10 s at most.
   */
  async close(options: { hangUp?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wanted = false;
    this.clearRedial();
    this.links.off('change', this.onLink);
    this.dialAbort?.abort(new PppError('closed', `closed while dialling ${this.peer}`));
    await this.chain.catch(() => undefined);
    if (options.hangUp || this.child) await this.hangUp(5000, 3000).catch((e: unknown) => this.logger.warn(String(e)));
    this.phase = 'down';
  }

  // ---- internals -------------------------------------------------------------------------------

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.chain.catch(() => undefined).then(work);
    this.chain = next;
    return next;
  }

  private setPhase(phase: PppPhase): void {
    if (this.phase === phase) return;
    this.phase = phase;
    this.emit('state', this.status());
  }

  private upEvent(address: PppAddress): PppUpEvent {
    return { state: 'up', iface: this.iface, peer: this.peer, address: address.address, cidr: address.cidr };
  }

  private downEvent(reason: PppDownReason, message: string, redialInMs: number | null): PppDownEvent {
    return { state: 'down', iface: this.iface, peer: this.peer, reason, message, redialInMs };
  }

  /** Up with an address right now. */
  private upNow(): PppAddress | null {
    if (!this.links.state(this.iface).up) return null;
    return this.readAddress(this.iface);
  }

  private async dialOnce(): Promise<PppUpEvent> {
    const abort = new AbortController();
    this.dialAbort = abort;
    this.setPhase('dialing');
    const startedAt = this.clock.now();
    try {
      let address = this.upNow();
      if (address) {
        this.logger.info(`${this.iface} is already up (${address.address}); supervising it`);
      } else {
        await this.startDialer(abort.signal);
        address = await this.waitUp(abort.signal);
        this.logger.info(`${this.iface} is up: ${address.address} (${((this.clock.now() - startedAt) / 1000).toFixed(1)} s after ${this.startCommandLine})`);
      }
      this.address = address;
      this.attempts = 0;
      this.setPhase('up');
      const event = this.upEvent(address);
      this.emit('up', event);
      return event;
    } catch (e) {
      const error = e instanceof PppError ? e : new PppError('start-failed', errorMessage(e));
      if (abort.signal.aborted) {
        // stop() or close() took over: they hang up and report.
        this.setPhase('down');
        throw error;
      }
      this.logger.warn(error.message);
      await this.hangUp(this.commandTimeoutMs, this.hangupTimeoutMs).catch((err: unknown) => this.logger.warn(String(err)));
      this.setPhase('down');
      const redialInMs = this.scheduleRedial();
      this.emit('down', this.downEvent(error.reason, error.message, redialInMs));
      throw error;
    } finally {
      if (this.dialAbort === abort) this.dialAbort = null;
    }
  }

  private async startDialer(signal: AbortSignal): Promise<void> {
    const [program, ...args] = this.startCommand;
    this.logger.info(`Dialling ${this.peer}: ${this.startCommandLine}`);
    if (this.dialer === 'pppd') {
      const child = new ManagedChild(program, args);
      this.child = child;
      void child.exited.then((exit) => this.childExited(child, exit));
      return;
    }
    const outcome = await runCommand(program, args, { timeoutMs: this.commandTimeoutMs, signal });
    if (outcome.canceled) throw abortReason(signal);
    if (!outcome.ok) throw new PppError('start-failed', this.explainStartFailure(outcome));
  }

  private explainStartFailure(outcome: CommandOutcome): string {
    if (outcome.spawnError === 'ENOENT') {
      const install = this.dialer === 'command' ? '' : ': install pppd and its pon/poff scripts (sudo apt install ppp)';
      return `${outcome.argv[0]} was not found on PATH${install}`;
    }
    return describeOutcome(outcome);
  }

  /** Until the interface is up with an address; rejects on timeout, abort, or pppd exiting. */
  private waitUp(signal: AbortSignal): Promise<PppAddress> {
    return new Promise<PppAddress>((resolve, reject) => {
      const finish = (fn: () => void): void => {
        this.clock.clearTimeout(timeout);
        this.clock.clearTimeout(poll);
        signal.removeEventListener('abort', onAbort);
        this.wake = null;
        fn();
      };
      const check = (): void => {
        if (this.dialer === 'pppd' && !this.child) {
          finish(() => reject(new PppError('pppd-exited', this.lastChildExit ?? 'pppd exited while dialling')));
          return;
        }
        const address = this.upNow();
        if (address) finish(() => resolve(address));
      };
      const onAbort = (): void => finish(() => reject(abortReason(signal)));
      const timeout = this.clock.setTimeout(() => {
        finish(() => reject(new PppError('timeout', `${this.iface} did not come up within ${this.upTimeoutMs / 1000} s after ${this.startCommandLine}`)));
      }, this.upTimeoutMs);
      // The clock has no interval: each poll schedules the next.
      const tick = (): void => {
        poll = this.clock.setTimeout(tick, POLL_MS);
        check();
      };
      let poll = this.clock.setTimeout(tick, POLL_MS);
      signal.addEventListener('abort', onAbort, { once: true });
      this.wake = check;
      check();
    });
  }

  private childExited(child: ManagedChild, exit: ChildExit): void {
    if (this.child !== child) return;
    this.child = null;
    const output = child.output().trim().split('\n').slice(-3).join(' / ');
    const why = exit.spawnError === 'ENOENT' ? 'pppd was not found on PATH: sudo apt install ppp' : pppdExitMeaning(exit.code, exit.signal);
    this.lastChildExit = output ? `${why} (${output})` : why;
    if (this.phase === 'up') this.lost('pppd-exited', this.lastChildExit);
    else this.wake?.();
  }

  private handleLink(state: LinkState): void {
    if (state.iface !== this.iface || this.closed) return;
    if (this.phase === 'dialing') {
      this.wake?.();
      return;
    }
    if (this.phase === 'up' && !state.up) {
      this.lost('link-lost', state.exists ? `${this.iface} went down by itself` : `${this.iface} vanished (pppd ended or the modem hung up)`);
      return;
    }
    if ((this.phase === 'down' || this.phase === 'redial-wait') && this.wanted && state.up) {
      // pppd redialled by itself (persist), or someone else brought it up: take it as ours again.
      this.serial(async () => {
        if (this.phase === 'up' || !this.wanted) return;
        const address = await this.settleAddress();
        if (!address || !this.wanted) return;
        this.clearRedial();
        this.address = address;
        this.attempts = 0;
        this.setPhase('up');
        this.logger.info(`${this.iface} is up again: ${address.address}`);
        this.emit('up', this.upEvent(address));
      }).catch((e: unknown) => this.logger.warn(String(e)));
    }
  }

  /** An interface that just came up may get its address a moment later. */
  private async settleAddress(): Promise<PppAddress | null> {
    for (let i = 0; i < 10; i++) {
      const address = this.upNow();
      if (address) return address;
      await sleep(POLL_MS, undefined, this.clock);
      if (this.closed) return null;
    }
    return null;
  }

  private lost(reason: PppDownReason, message: string): void {
    this.address = null;
    this.leftover = true;
    this.setPhase('down');
    this.logger.warn(`${this.peer}: ${message}`);
    const redialInMs = this.scheduleRedial();
    this.emit('down', this.downEvent(reason, message, redialInMs));
  }

  private scheduleRedial(): number | null {
    if (!this.redial || !this.wanted || this.closed) return null;
    const delay = Math.min(this.redialMaxDelayMs, this.redialDelayMs * 2 ** this.attempts);
    this.attempts++;
    this.clearRedial();
    this.setPhase('redial-wait');
    this.logger.info(`Redialling ${this.peer} in ${delay / 1000} s (attempt ${this.attempts})`);
    this.redialTimer = this.clock.setTimeout(() => {
      this.redialTimer = null;
      this.serial(async () => {
        if (!this.wanted || this.closed || this.phase === 'up') return;
        // Whatever is left of a lost session (a pppd still trying) goes first.
        if (this.leftover) await this.hangUp(this.commandTimeoutMs, this.hangupTimeoutMs, true);
        if (!this.wanted || this.closed) return;
        await this.dialOnce();
      }).catch(() => undefined);
    }, delay);
    return delay;
  }

  private clearRedial(): void {
    if (this.redialTimer) this.clock.clearTimeout(this.redialTimer);
    this.redialTimer = null;
    if (this.phase === 'redial-wait') this.setPhase('down');
  }

  /** Runs the stop command (or stops the pppd child) and waits, bounded, for the interface to go. */
  private async hangUp(commandTimeoutMs: number, waitMs: number, quiet = false): Promise<void> {
    const wasUp = this.phase === 'up';
    this.setPhase('hanging-up');
    this.address = null;
    this.leftover = false;
    try {
      if (this.dialer === 'pppd') {
        const child = this.child;
        if (child) {
          if (!quiet) this.logger.info(`Hanging up ${this.peer}: stopping ${this.startCommandLine} (pid ${child.pid ?? '?'})`);
          this.child = null;
          await child.stop(Math.min(5000, commandTimeoutMs));
        }
      } else if (this.stopCommand) {
        const [program, ...args] = this.stopCommand;
        if (!quiet) this.logger.info(`Hanging up ${this.peer}: ${this.stopCommand.join(' ')}`);
        const outcome = await runCommand(program, args, { timeoutMs: commandTimeoutMs });
        const text = `${outcome.stdout}\n${outcome.stderr}`;
        // poff says so, and exits 1, when no pppd runs for the peer: nothing was left to stop.
        const nothingRunning = this.dialer === 'pon' && outcome.exitCode === 1 && /No pppd is running|could not find a pppd process/i.test(text);
        if (!outcome.ok && !nothingRunning) this.logger.warn(`${describeOutcome(outcome)}`);
      }
      if (wasUp || this.links.state(this.iface).up) await this.waitGone(waitMs);
    } finally {
      this.setPhase('down');
    }
  }

  private async waitGone(waitMs: number): Promise<void> {
    const deadline = this.clock.now() + waitMs;
    while (this.links.state(this.iface).up) {
      if (this.clock.now() >= deadline) {
        this.logger.warn(`${this.iface} is still up ${waitMs / 1000} s after hanging up ${this.peer}`);
        return;
      }
      await sleep(POLL_MS, undefined, this.clock);
    }
  }
}
