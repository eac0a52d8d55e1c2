/**
 * The lines `fping -l -D` (fping 5.x, loop mode with timestamps) prints on stdout, one per echo:
 *
 *   [1796208351.07732] 192.0.2.1   : [0], 64 bytes, 0.105 ms (0.105 avg, 0% loss)
 *   [1796208351.29806] 2001:db8::9 : [0], timed out (NaN avg, 100% loss)
 *
 * The timestamp is when fping printed the line: the reply's arrival, or the moment the echo timed out.
 * Anything else (ICMP errors and other notices on stderr, a summary) is not an echo outcome.
 */

export interface EchoOutcome {
  /** When fping reported it, in ms since the epoch (fping's own clock, so a busy event loop does not skew it). */
  at: number;
  /** The target as fping printed it (as it was given). */
  target: string;
  /** fping's count of echoes to this target, from 0. */
  seq: number;
  /** Round-trip time in ms; null: timed out. */
  rtt: number | null;
}

const OUTCOME = /^\[(\d+(?:\.\d+)?)\]\s+(\S+)\s*:\s+\[(\d+)\],\s+(?:\d+ bytes,\s+(\d+(?:\.\d+)?) ms|(timed out))/;

/** The echo outcome a line reports, or null if it reports none. */
export function parseFpingLine(line: string): EchoOutcome | null {
  const m = OUTCOME.exec(line.trim());
  if (!m) return null;
  const [, stamp, target, seq, rtt] = m;
  return {
    at: Math.round(Number(stamp) * 1000),
    target,
    seq: Number(seq),
    rtt: rtt === undefined ? null : Number(rtt),
  };
}
