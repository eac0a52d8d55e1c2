/**
 * The original's fonaRaspberryPiHandler, built in: on `setup` of its route the FONA is switched on (the
 * guide's key pulse, confirmed on the power status pin) and `pon PEER` dials; on `teardown`, which the
 * engine emits once the default route has left the modem's interface, `poff PEER` hangs up and the FONA is
 * switched off. The same GPIO and PPP code as the fona-power and ppp-control nodes.
 *
 * Event listeners must not block the engine, so events only queue work; the order and the cancellation are
 * the ModemSession's (lib/ppp/modem-session.ts, as in the ppp-control node): a setup after a teardown waits
 * for the power-off, and a teardown cuts a setup still in progress short (the key pulse ends early, a dial is
 * cancelled). This handler logs each step. stop() waits for queued work, bounded, and leaves the modem and
 * pppd as they are: when the service stops while the modem carries the default route, the route keeps working.
 */
import { FailoverEvent } from '../engine/events';
import { FonaPower } from '../gpio/fona-power';
import { OpenGpioOptions, OpenedGpio, openGpio } from '../gpio/select';
import { LinkSource } from '../linkwatch/link-watch';
import { Logger } from '../log/logger';
import { ModemSession, ModemStep } from '../ppp/modem-session';
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
  private readonly session: ModemSession;
  private power: FonaPower | null = null;
  private opening: Promise<FonaPower | null> | null = null;
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
    this.session = new ModemSession({
      link: this.ppp,
      power: async () => {
        const power = await this.gpio();
        if (!power) throw new Error('no GPIO');
        return power;
      },
      report: (step) => this.log(step),
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
    if (event.type === 'setup') void this.session.setup();
    else if (event.type === 'teardown') void this.session.teardown();
  }

  /** Waits (at most `timeoutMs`) for queued work, then releases the GPIO. The link and the modem stay as they are. */
  async stop(timeoutMs = 15_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      this.session.idle().then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!finished) this.logger.warn(`FONA (${this.uplink.name}): still busy after ${timeoutMs / 1000} s; cutting it short`);
    // A setup or dial still in progress does not carry the route: the session hangs it up (and powers the modem
    // off) rather than leave pppd trying; a link that is up stays up.
    await this.session.close({ hangUp: false });
    await this.ppp.close({ hangUp: false });
    const power = await (this.opening ?? Promise.resolve(null));
    await power?.close();
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

  /** The guide's log lines for each step of the session. */
  private log(step: ModemStep): void {
    const name = this.uplink.name;
    const peer = this.settings.peer;
    switch (step.step) {
      case 'powering-on':
        this.logger.info(`Switching the FONA on (${name})`);
        break;
      case 'powered-on':
        this.logger.info(step.power.changed ? 'The FONA is on' : 'The FONA was already on');
        break;
      case 'powering-off':
        this.logger.info(`Switching the FONA off (${name})`);
        break;
      case 'powered-off':
        this.logger.info(step.power.changed ? 'The FONA is off' : 'The FONA was already off');
        break;
      case 'failed':
        if (step.stage === 'power-on') this.logger.error(`Could not switch the FONA on: ${step.message}`);
        else if (step.stage === 'power-off') this.logger.error(`Could not switch the FONA off: ${step.message}`);
        else if (step.stage === 'dial') this.logger.error(`Dialling ${peer} failed: ${step.message}`);
        else this.logger.error(`Hanging up ${peer} failed: ${step.message}`);
        break;
      default:
        // Dialling and hanging up are logged by the PPP link ("Dialling fona: pon fona").
        break;
    }
  }
}
