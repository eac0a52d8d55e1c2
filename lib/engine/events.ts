/**
 * The events the engine emits, as plain data. The lifecycle names and their order are the original
 * service's (onSetup, onTearDown, onConnectionFailed, onConnectionRestored, onConnected, onAvailable).
 */
import type { QualityCause, WindowFigures } from './quality';

export type LifecycleEventType = 'setup' | 'teardown' | 'connectionFailed' | 'connectionRestored' | 'connected';

interface UplinkEventBase {
  /** Epoch milliseconds. */
  time: number;
  uplink: string;
  iface: string;
}

export type FailoverEvent =
  | (UplinkEventBase & {
      type: 'setup' | 'teardown';
      /**
       * Why, when it is not the original's failover step: `early` (set up while the active uplink is suspect),
       * `standby` (kept up all the time), `released` (an early setup no longer needed after the hold time).
       */
      reason?: SetupReason;
    })
  | (UplinkEventBase & { type: 'connectionFailed'; to: string | null })
  | (UplinkEventBase & { type: 'connectionRestored'; from: string | null; /** ms since the uplink was lost */ duration: number | null })
  | (UplinkEventBase & { type: 'connected'; from: string | null })
  | (UplinkEventBase & {
      type: 'available';
      up: string[];
      down: string[];
      rtt: number | null;
      loss: number;
      ok: boolean;
      health: UplinkHealth;
      /** Loss and latency over the quality window (the figures the degraded state is judged on). */
      window: WindowFigures;
    })
  /**
   * Health changes: `probe`/`link` for reachability; `latency`/`loss` when a quality threshold made it
   * degraded, `quality` when the window is back under the low thresholds (or stays degraded for the other figure).
   */
  | (UplinkEventBase & { type: 'health'; health: 'up' | 'down' | 'degraded'; cause: 'probe' | 'link' | QualityCause | 'quality'; window?: WindowFigures })
  | (UplinkEventBase & { type: 'waiting'; timeoutMs: number })
  | (UplinkEventBase & { type: 'setupFailed'; waitedMs: number })
  | (UplinkEventBase & { type: 'switchFailed'; error: string })
  | { type: 'noUplink'; time: number; active: string | null }
  /** The kernel's default route was changed by someone else; `restored` says whether it was put back. */
  | (UplinkEventBase & { type: 'routeChanged'; found: string | null; expected: string; restored: boolean });

export type SetupReason = 'early' | 'standby' | 'released';

/** Whether an uplink's targets answer (after the up/down hysteresis). */
export type Reachability = 'unknown' | 'up' | 'down';
/** What users see: an answering uplink over a quality threshold is `degraded`. */
export type UplinkHealth = Reachability | 'degraded';

export type FailoverEventType = FailoverEvent['type'];

export const LIFECYCLE_EVENTS: readonly LifecycleEventType[] = ['setup', 'teardown', 'connectionFailed', 'connectionRestored', 'connected'];
