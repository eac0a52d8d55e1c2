/**
 * What every probe kind returns. ICMP is the first; TCP, HTTP, DNS or a user's own check
 * (a Node-RED flow) plug in by implementing Probe.
 */
import { probeCount, UplinkConfig } from '../uplink/model';

export interface TargetResult {
  target: string;
  alive: boolean;
  /** Round-trip time of the answering attempt in ms, null if none answered. */
  rtt: number | null;
  /** Packets sent and lost for this target during the round. */
  sent: number;
  lost: number;
}

export interface ProbeResult {
  up: string[];
  down: string[];
  /** Mean rtt in ms over the targets that answered, null if none did. */
  rtt: number | null;
  /** Fraction of packets lost in this round, 0..1. */
  loss: number;
  targets: TargetResult[];
  /** Whether the round counts as good: at least `reliability` targets answered. */
  ok: boolean;
  /**
   * The prober saw the uplink cut within the round (a run of consecutive losses across all targets, the
   * fast profile): the uplink is down now, without waiting for `down` bad rounds.
   */
  cut?: boolean;
}

export interface Probe {
  /** Probes all targets of the uplink (in parallel), never longer than its own deadline. */
  run(uplink: UplinkConfig, signal?: AbortSignal): Promise<ProbeResult>;
  /** Ends whatever the probe keeps running between rounds (long-lived probers); resolves when they have exited. */
  close?(): Promise<void>;
}

/** Folds per-target results into a round result. */
export function summarise(uplink: UplinkConfig, targets: TargetResult[]): ProbeResult {
  const up = targets.filter((t) => t.alive).map((t) => t.target);
  const down = targets.filter((t) => !t.alive).map((t) => t.target);
  const rtts = targets.map((t) => t.rtt).filter((r): r is number => r !== null);
  const sent = targets.reduce((s, t) => s + t.sent, 0);
  const lost = targets.reduce((s, t) => s + t.lost, 0);
  return {
    up,
    down,
    rtt: rtts.length ? Math.round((rtts.reduce((a, b) => a + b, 0) / rtts.length) * 1000) / 1000 : null,
    loss: sent ? lost / sent : 1,
    targets,
    ok: up.length >= Math.min(uplink.probe.reliability, Math.max(probeCount(uplink), 1)),
  };
}

/** A round in which the interface is missing: every target and check counts as down without sending anything. */
export function allDown(uplink: UplinkConfig): ProbeResult {
  return summarise(
    uplink,
    [...uplink.targets, ...uplink.checks.map((c) => c.text)].map((target) => ({ target, alive: false, rtt: null, sent: 0, lost: 0 })),
  );
}
