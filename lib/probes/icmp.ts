/**
 * ICMP echo probe on the system ping (iputils), through the `ping` package, bound to the uplink's
 * interface with `-I` so the kernel's oif rule sends it out that uplink. IPv4 and IPv6 targets alike.
 */
import { createRequire } from 'node:module';
import type ping from 'ping';
import { UplinkConfig } from '../uplink/model';
import { Probe, ProbeResult, TargetResult, summarise } from './probe';

export interface IcmpProbeOptions {
  /**
   * Extra milliseconds granted past the timeout before an attempt is written off (default 0: the
   * timeout counts from the moment the attempt starts, so process start-up never delays a verdict).
   */
  graceMs?: number;
}

type PingFn = (target: string, config: ping.PingConfig) => Promise<{ alive: boolean; time: number | 'unknown' }>;

let pingModule: typeof ping | undefined;

/**
 * The ping package, loaded at the first one-shot echo: with fping the service may never need it, and
 * loading it costs a few MB of resident memory on the device.
 */
function loadPing(): typeof ping {
  pingModule ??= createRequire(__filename)('ping') as typeof ping;
  return pingModule;
}

export class IcmpProbe implements Probe {
  private readonly graceMs: number;
  private readonly pingOnce: PingFn;

  constructor(options: IcmpProbeOptions = {}, pingOnce?: PingFn) {
    this.graceMs = options.graceMs ?? 0;
    this.pingOnce = pingOnce ?? ((target, config) => loadPing().promise.probe(target, config));
  }

  async run(uplink: UplinkConfig, signal?: AbortSignal): Promise<ProbeResult> {
    // Deadlines count from the round's start, not from each ping's spawn: starting 16 processes takes
    // tens of milliseconds, and that must not stretch the verdict.
    const roundStart = Date.now();
    const results = await Promise.all(uplink.targets.map((t) => this.probeTarget(uplink, t, roundStart, signal)));
    return summarise(uplink, results);
  }

  private async probeTarget(uplink: UplinkConfig, target: string, roundStart: number, signal?: AbortSignal): Promise<TargetResult> {
    const { timeout, retries } = uplink.probe;
    const result: TargetResult = { target, alive: false, rtt: null, sent: 0, lost: 0 };
    for (let attempt = 0; attempt <= retries && !signal?.aborted; attempt++) {
      result.sent++;
      const deadline = roundStart + (attempt + 1) * timeout * 1000 + this.graceMs;
      const rtt = await this.attempt(uplink.iface, target, timeout, deadline);
      if (rtt !== null) {
        result.alive = true;
        result.rtt = rtt;
        return result;
      }
      result.lost++;
    }
    return result;
  }

  /**
   * One echo request; resolves to the rtt in ms or null. Our timer gives the verdict at `timeout`;
   * `-c 1 -W timeout` makes ping end by itself right after (no -w: with it ping keeps sending until the
   * deadline), so no ping outlives its round by more than its own start-up time.
   */
  private attempt(iface: string, target: string, timeout: number, deadline: number): Promise<number | null> {
    const config: ping.PingConfig = {
      numeric: true,
      timeout,
      min_reply: 1,
      // Always `ping`: iputils ping takes the family from the literal, while v6 (the package's default for an
      // IPv6 target) would spawn `ping6`, which current iputils no longer installs.
      v6: false,
      extra: ['-I', iface],
    };
    return new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), Math.max(0, deadline - Date.now()));
      this.pingOnce(target, config).then(
        (res) => {
          clearTimeout(timer);
          resolve(res.alive ? (typeof res.time === 'number' ? res.time : Number(res.time) || 0) : null);
        },
        () => {
          clearTimeout(timer);
          resolve(null);
        },
      );
    });
  }
}
