/**
 * The verdicts of the users' own checks (flow://NAME): handed in by a front end (the failover-controller's
 * `verdict` messages), read by the mixed probe in every round of the uplink. A verdict counts until a newer
 * one arrives or its check's timeout has passed; before the first one, the check counts as not answering.
 */
export interface Verdict {
  ok: boolean;
  /** The time the user's check took (ms), if it said. */
  rtt: number | null;
  /** When it was handed in (ms, the board's clock). */
  at: number;
}

export class VerdictBoard {
  private readonly latest = new Map<string, Verdict>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  record(uplink: string, check: string, ok: boolean, rtt: number | null = null): void {
    this.latest.set(key(uplink, check), { ok, rtt, at: this.now() });
  }

  /** The verdict that still counts (no older than `maxAgeMs`), or undefined. */
  current(uplink: string, check: string, maxAgeMs: number): Verdict | undefined {
    const v = this.latest.get(key(uplink, check));
    return v && this.now() - v.at <= maxAgeMs ? v : undefined;
  }
}

function key(uplink: string, check: string): string {
  return JSON.stringify([uplink, check]);
}
