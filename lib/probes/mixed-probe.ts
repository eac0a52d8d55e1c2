/**
 * The probe of an uplink with checks (lib/probes/check-spec.ts): its ICMP targets through an inner Probe
 * (whichever ICMP prober the runner uses) and its checks, all in parallel, folded into one round. Each check
 * is a target of the round under its spec text; reliability counts over targets and checks together.
 *
 * A check's socket is bound to the uplink's IPv4 address (the route service's pin routes that address out
 * of the uplink); an interface without one fails its checks at once. Like an echo, a check gets
 * `retries` more attempts in its round, each with its own deadline counted from the round's start.
 * A flow check (the user's own) sends nothing: its latest verdict on the board answers for it.
 */
import { FLOW_VERDICT_TTL_S, FlowCheck, NetworkCheck } from './check-spec';
import { dnsAttempt } from './dns';
import { httpAttempt } from './http';
import { IcmpProbe } from './icmp';
import { ipv4Of } from './local-address';
import { Probe, ProbeResult, TargetResult, summarise } from './probe';
import { tcpAttempt } from './tcp';
import { VerdictBoard } from './verdicts';
import { UplinkConfig } from '../uplink/model';

export interface MixedProbeOptions {
  /** The prober of the ICMP targets (default: IcmpProbe). Closed with this probe. */
  icmp?: Probe;
  /** The address checks bind to (default: the interface's first IPv4 address); null: none. */
  localAddress?: (iface: string) => string | null;
  /** Where flow checks' verdicts are handed in (absent: flow checks are left out of the rounds). */
  verdicts?: VerdictBoard;
}

/** One attempt of a check: the time to its answer in ms, or null. */
export function checkAttempt(check: NetworkCheck, localAddress: string, timeoutMs: number, signal?: AbortSignal): Promise<number | null> {
  switch (check.kind) {
    case 'tcp':
      return tcpAttempt(check, localAddress, timeoutMs, signal);
    case 'http':
    case 'https':
      return httpAttempt(check, localAddress, timeoutMs, signal);
    case 'dns':
      return dnsAttempt(check, localAddress, timeoutMs, signal);
  }
}

export class MixedProbe implements Probe {
  private readonly icmp: Probe;
  private readonly localAddress: (iface: string) => string | null;
  private readonly verdicts: VerdictBoard | undefined;

  constructor(options: MixedProbeOptions = {}) {
    this.icmp = options.icmp ?? new IcmpProbe();
    this.localAddress = options.localAddress ?? ipv4Of;
    this.verdicts = options.verdicts;
  }

  async run(uplink: UplinkConfig, signal?: AbortSignal): Promise<ProbeResult> {
    const own = this.verdicts ? uplink.checks : uplink.checks.filter((c) => c.kind !== 'flow');
    // Without checks this is the ICMP prober's round, untouched (its own fields, e.g. `cut`, included).
    if (own.length === 0) return this.icmp.run(uplink, signal);
    const roundStart = performance.now();
    const local = this.localAddress(uplink.iface);
    const [icmp, checks] = await Promise.all([
      uplink.targets.length > 0 ? this.icmp.run(uplink, signal) : Promise.resolve(null),
      Promise.all(own.map((c) => (c.kind === 'flow' ? this.flowResult(uplink, c) : this.runCheck(uplink, c, local, roundStart, signal)))),
    ]);
    const result: ProbeResult = { ...icmp, ...summarise(uplink, [...(icmp?.targets ?? []), ...checks]) };
    // A cut seen by the ICMP prober is no cut while a check still gets through.
    delete result.cut;
    if (icmp?.cut && !checks.some((c) => c.alive)) result.cut = true;
    return result;
  }

  close(): Promise<void> {
    return this.icmp.close?.() ?? Promise.resolve();
  }

  /** A flow check's part of the round: its verdict if one still counts, else not answering. */
  private flowResult(uplink: UplinkConfig, check: FlowCheck): TargetResult {
    const verdict = this.verdicts?.current(uplink.name, check.name, (check.timeout ?? FLOW_VERDICT_TTL_S) * 1000);
    const ok = verdict?.ok === true;
    return { target: check.text, alive: ok, rtt: ok ? (verdict?.rtt ?? null) : null, sent: 1, lost: ok ? 0 : 1 };
  }

  private async runCheck(uplink: UplinkConfig, check: NetworkCheck, local: string | null, roundStart: number, signal?: AbortSignal): Promise<TargetResult> {
    const result: TargetResult = { target: check.text, alive: false, rtt: null, sent: 0, lost: 0 };
    if (local === null) {
      // No address to send from: the interface is not configured (yet). One attempt, lost.
      return { ...result, sent: 1, lost: 1 };
    }
    const timeoutMs = (check.timeout ?? uplink.probe.timeout) * 1000;
    for (let attempt = 0; attempt <= uplink.probe.retries && !signal?.aborted; attempt++) {
      result.sent++;
      const deadline = roundStart + (attempt + 1) * timeoutMs;
      const rtt = await checkAttempt(check, local, Math.max(0, deadline - performance.now()), signal);
      if (rtt !== null) {
        result.alive = true;
        result.rtt = Math.round(rtt * 1000) / 1000;
        return result;
      }
      result.lost++;
      // A quick refusal is not retried at once (it would be refused again): the next attempt waits for its slot.
      const slot = deadline - performance.now();
      if (attempt < uplink.probe.retries && slot > 0) await sleep(slot, signal);
    }
    return result;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
