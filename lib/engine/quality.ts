/**
 * An uplink's quality over a sliding window of probe rounds: loss and latency, judged against high and low
 * thresholds with hysteresis (as dpinger does for pfSense/OPNsense gateways). An uplink that still answers
 * but over the high threshold is `degraded`; it is good again only once both figures are at or below their
 * low thresholds, so a link hovering around one threshold does not flap. Pure: the time comes with each call.
 */
import type { ProbeResult } from '../probes/probe';
import type { QualitySettings } from '../uplink/model';

/** One round's echoes, as the window keeps them. */
export interface WindowSample {
  at: number;
  sent: number;
  lost: number;
  /** Sum of the rtts of the replies (ms) and their number. */
  rttSum: number;
  replies: number;
}

export type Quality = 'good' | 'degraded';
export type QualityCause = 'latency' | 'loss';

/** The window's figures, as events and status carry them. */
export interface WindowFigures {
  /** Seconds the window spans (the setting). */
  seconds: number;
  /** Echoes sent in the window and the fraction of them lost (0..1; null before any was sent). */
  sent: number;
  loss: number | null;
  /** Mean round-trip time of the replies in the window (ms), null without replies. */
  rtt: number | null;
}

/** Fewer rounds than this in the window: too little to judge, the quality stays as it was. */
export const MIN_ROUNDS_TO_JUDGE = 3;

/** The round's echo counts: per-target figures summed, rtt weighted by replies. */
export function sampleOf(result: ProbeResult, at: number): WindowSample {
  let sent = 0;
  let lost = 0;
  let rttSum = 0;
  let replies = 0;
  for (const t of result.targets) {
    sent += t.sent;
    lost += t.lost;
    const answered = Math.max(0, t.sent - t.lost);
    if (t.rtt !== null && answered > 0) {
      rttSum += t.rtt * answered;
      replies += answered;
    }
  }
  return { at, sent, lost, rttSum, replies };
}

/** The window after adding `sample` and dropping what is older than the window. */
export function slide(window: readonly WindowSample[], sample: WindowSample, settings: QualitySettings): WindowSample[] {
  const from = sample.at - settings.window * 1000;
  return [...window.filter((s) => s.at > from), sample];
}

export function figures(window: readonly WindowSample[], settings: QualitySettings): WindowFigures {
  const sent = window.reduce((n, s) => n + s.sent, 0);
  const lost = window.reduce((n, s) => n + s.lost, 0);
  const replies = window.reduce((n, s) => n + s.replies, 0);
  const rttSum = window.reduce((n, s) => n + s.rttSum, 0);
  return {
    seconds: settings.window,
    sent,
    loss: sent > 0 ? round3(lost / sent) : null,
    rtt: replies > 0 ? round3(rttSum / replies) : null,
  };
}

/**
 * The quality after this window: degraded when a figure reaches its high threshold (0 = that threshold is
 * off), good again when every enabled figure is at or below its low threshold. `cause` names the figure
 * that made it degraded (latency first when both do).
 */
export function judge(
  was: Quality,
  window: readonly WindowSample[],
  settings: QualitySettings,
): { quality: Quality; cause: QualityCause | null } {
  if (window.filter((s) => s.sent > 0).length < MIN_ROUNDS_TO_JUDGE) return { quality: was, cause: null };
  const f = figures(window, settings);
  const lossPct = f.loss === null ? null : f.loss * 100;
  const latencyHigh = settings.latencyHigh > 0 && f.rtt !== null && f.rtt >= settings.latencyHigh;
  const lossHigh = settings.lossHigh > 0 && lossPct !== null && lossPct >= settings.lossHigh;
  if (latencyHigh || lossHigh) return { quality: 'degraded', cause: latencyHigh ? 'latency' : 'loss' };
  if (was === 'good') return { quality: 'good', cause: null };
  const latencyLow = settings.latencyHigh === 0 || f.rtt === null || f.rtt <= settings.latencyLow;
  const lossLow = settings.lossHigh === 0 || lossPct === null || lossPct <= settings.lossLow;
  return latencyLow && lossLow ? { quality: 'good', cause: null } : { quality: 'degraded', cause: null };
}

/** `rtt 612 ms, loss 3 % over 10 s`, for log lines. */
export function describeWindow(w: WindowFigures): string {
  const rtt = w.rtt === null ? 'no replies' : `rtt ${Math.round(w.rtt)} ms`;
  const loss = w.loss === null ? 'nothing sent' : `loss ${Math.round(w.loss * 100)} %`;
  return `${rtt}, ${loss} over ${w.seconds} s`;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
