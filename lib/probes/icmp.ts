/**
 * ICMP echo probe on the system ping (iputils), through the `ping` package, bound to the uplink's
 * interface with `-I` so the kernel's oif rule sends it out that uplink.
 */
import ping from 'ping';
import { UplinkConfig } from '../uplink/model';
import { Probe, ProbeResult, TargetResult, summarise } from './probe';

export interface IcmpProbeOptions {
  /** Extra milliseconds granted past ping's own timeout before an attempt is written off. */
  graceMs?: number;
}

type PingFn = (target: string, config: ping.PingConfig) => Promise<{ alive: boolean; time: number | 'unknown' }>;

export class IcmpProbe implements Probe {
  private readonly graceMs: number;
  private readonly pingOnce: PingFn;

  constructor(options: IcmpProbeOptions = {}, pingOnce?: PingFn) {
    this.graceMs = options.graceMs ?? 500;
    this.pingOnce = pingOnce ?? ((target, config) => ping.promise.probe(target, config));
  }

  async run(uplink: UplinkConfig, signal?: AbortSignal): Promise<ProbeResult> {
    const results = await Promise.all(uplink.targets.map((t) => this.probeTarget(uplink, t, signal)));
    return summarise(uplink, results);
  }

  private async probeTarget(uplink: UplinkConfig, target: string, signal?: AbortSignal): Promise<TargetResult> {
    const { timeout, retries } = uplink.probe;
    const result: TargetResult = { target, alive: false, rtt: null, sent: 0, lost: 0 };
    for (let attempt = 0; attempt <= retries && !signal?.aborted; attempt++) {
      result.sent++;
      const rtt = await this.attempt(uplink.iface, target, timeout);
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
   * One echo request; resolves to the rtt in ms or null. `-c 1 -W timeout` ends ping by itself
   * (no -w: with it ping keeps sending until the deadline); our timer is the backstop.
   */
  private attempt(iface: string, target: string, timeout: number): Promise<number | null> {
    const config: ping.PingConfig = {
      numeric: true,
      timeout,
      min_reply: 1,
      extra: ['-I', iface],
    };
    return new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), timeout * 1000 + this.graceMs);
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
