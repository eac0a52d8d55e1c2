/**
 * The original's fonaRaspberryPiHandler, built in: on `setup` of its route the FONA is switched on (the
 * guide's key pulse, confirmed on the power status pin) and `pon PEER` dials; on `teardown`, which the
 * engine emits once the default route has left the modem's interface, `poff PEER` hangs up and the FONA is
 * switched off. The same GPIO and PPP code as the fona-power and ppp-control nodes.
 *
 * Event listeners must not block the engine, so events only queue work; the work runs in order (a setup
 * after a teardown waits for the power-off), and a teardown cuts a setup still in progress short (the key
 * pulse ends early, a dial is cancelled). stop() waits for queued work, bounded, and leaves the modem and
 * pppd as they are: when the service stops while the modem carries the default route, the route keeps working.
 */
import { FailoverEvent } from '../engine/events';
import { FonaPower } from '../gpio/fona-power';
import { OpenGpioOptions, OpenedGpio, openGpio } from '../gpio/select';
import { LinkSource } from '../linkwatch/link-watch';
import { Logger } from '../log/logger';
import { PppLink } from '../ppp/ppp-link';
import { UplinkConfig } from '../uplink/model';
import { FonaSettings } from '../properties/fona-kwargs';

export interface FonaHandlerOptions {
  uplink: UplinkConfig;
  settings: FonaSettings;
  /** The service's link watch (it watches the uplink's interface). */
  links: LinkSource;
  logger: Logger;
  /** Opens the GPIO driver (tests may replace it). */
  openGpio?: (options: OpenGpioOptions) => Promise<OpenedGpio>;
  /** Only log what would be done: no GPIO, no pon/poff (the service's --dry-run). */
  dryRun?: boolean;
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export class FonaHandler {
  private readonly uplink: UplinkConfig;
  private readonly settings: FonaSettings;
  private readonly logger: Logger;
  private readonly open: (options: OpenGpioOptions) => Promise<OpenedGpio>;
  private readonly ppp: PppLink;
  private power: FonaPower | null = null;
  private opening: Promise<FonaPower | null> | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private setupAbort: AbortController | null = null;
  private stopped = false;
  private readonly dryRun: boolean;

  constructor(options: FonaHandlerOptions) {
    this.uplink = options.uplink;
    this.settings = options.settings;
    this.logger = options.logger;
    this.open = options.openGpio ?? openGpio;
    this.dryRun = options.dryRun === true;
    this.ppp = new PppLink({
      peer: this.settings.peer,
      iface: this.uplink.iface,
      dialer: 'pon',
      // The engine bounds the wait for the interface (setupTimeout) and tears down after it; this bound only
      // matters if it does not.
      upTimeoutMs: (Math.max(1, this.uplink.setupTimeout) + 5) * 1000,
      links: options.links,
      logger: this.logger,
    });
  }

  /** Opens the GPIO in the background, so the log says early which driver is used, or why none works. */
  start(): void {
    if (!this.dryRun) void this.gpio();
  }

  onEvent(event: FailoverEvent): void {
    if (this.stopped || event.type === 'noUplink' || event.uplink !== this.uplink.name) return;
    if (this.dryRun) {
      const { powerStatusPin: ps, keyPin: key, peer } = this.settings;
      if (event.type === 'setup') this.logger.info(`DRY-RUN: would switch the FONA on (PS GPIO ${ps}, key GPIO ${key}) and run pon ${peer}`);
      if (event.type === 'teardown') this.logger.info(`DRY-RUN: would run poff ${peer} and switch the FONA off (PS GPIO ${ps}, key GPIO ${key})`);
      return;
    }
    if (event.type === 'setup') {
      const abort = new AbortController();
      this.enqueue(async () => {
        this.setupAbort = abort;
        try {
          await this.bringUp(abort.signal);
        } finally {
          if (this.setupAbort === abort) this.setupAbort = null;
        }
      });
    } else if (event.type === 'teardown') {
      // Cut a setup in progress short (a key pulse ends early, a dial is cancelled), then hang up and power off.
      this.setupAbort?.abort(new Error(`teardown of ${this.uplink.name}`));
      const hangUp = this.ppp.stop();
      this.enqueue(() => this.bringDown(hangUp));
    }
  }

  /** Waits (at most `timeoutMs`) for queued work, then releases the GPIO. The link and the modem stay as they are. */
  async stop(timeoutMs = 15_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      this.chain.then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!finished) {
      this.logger.warn(`FONA (${this.uplink.name}): still busy after ${timeoutMs / 1000} s; cutting it short`);
      this.setupAbort?.abort(new Error('the service is stopping'));
    }
    // A dial still in progress does not carry the route: hang it up rather than leave pppd trying.
    const state = this.ppp.status().state;
    await this.ppp.close({ hangUp: state === 'dialing' || state === 'redial-wait' });
    const power = await (this.opening ?? Promise.resolve(null));
    await power?.close();
  }

  private enqueue(work: () => Promise<void>): void {
    this.chain = this.chain.then(work).catch((e: unknown) => this.logger.error(`FONA (${this.uplink.name}): ${errorText(e)}`));
  }

  private gpio(): Promise<FonaPower | null> {
    if (this.power) return Promise.resolve(this.power);
    this.opening ??= this.open({ driver: this.settings.gpio, chip: this.settings.gpiochip }).then(
      (opened) => {
        this.logger.info(
          `FONA (${this.uplink.name}): power status on GPIO ${this.settings.powerStatusPin}, key on GPIO ${this.settings.keyPin}; GPIO ${opened.reason}`,
        );
        if (opened.warning) this.logger.warn(`FONA (${this.uplink.name}): ${opened.warning}`);
        this.power = new FonaPower({
          driver: opened.driver,
          powerStatusPin: this.settings.powerStatusPin,
          keyPin: this.settings.keyPin,
          keyPulseMs: this.settings.keyPulseMs,
          statusTimeoutMs: this.settings.statusTimeoutMs,
          logger: this.logger,
        });
        return this.power;
      },
      (e: unknown) => {
        this.logger.error(`FONA (${this.uplink.name}): no GPIO: ${errorText(e)}`);
        // Try again at the next setup.
        this.opening = null;
        return null;
      },
    );
    return this.opening;
  }

  private async bringUp(signal: AbortSignal): Promise<void> {
    const power = await this.gpio();
    if (signal.aborted) return;
    if (power) {
      try {
        this.logger.info(`Switching the FONA on (${this.uplink.name})`);
        const result = await power.set('on', signal);
        this.logger.info(result.changed ? 'The FONA is on' : 'The FONA was already on');
      } catch (e) {
        if (signal.aborted) return;
        this.logger.error(`Could not switch the FONA on: ${errorText(e)}; dialling anyway`);
      }
    } else {
      this.logger.error('The FONA cannot be switched on without GPIO; dialling anyway');
    }
    if (signal.aborted) return;
    try {
      await this.ppp.start();
    } catch (e) {
      if (!signal.aborted) this.logger.error(`Dialling ${this.settings.peer} failed: ${errorText(e)}`);
    }
  }

  private async bringDown(hangUp: Promise<unknown>): Promise<void> {
    try {
      await hangUp;
    } catch (e) {
      this.logger.error(`Hanging up ${this.settings.peer} failed: ${errorText(e)}`);
    }
    const power = await this.gpio();
    if (!power) {
      this.logger.error('The FONA cannot be switched off without GPIO');
      return;
    }
    try {
      this.logger.info(`Switching the FONA off (${this.uplink.name})`);
      const result = await power.set('off');
      this.logger.info(result.changed ? 'The FONA is off' : 'The FONA was already off');
    } catch (e) {
      this.logger.error(`Could not switch the FONA off: ${errorText(e)}`);
    }
  }
}
