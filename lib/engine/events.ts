/**
 * The events the engine emits, as plain data. The lifecycle names and their order are the original
 * service's (onSetup, onTearDown, onConnectionFailed, onConnectionRestored, onConnected, onAvailable).
 */
export type LifecycleEventType = 'setup' | 'teardown' | 'connectionFailed' | 'connectionRestored' | 'connected';

interface UplinkEventBase {
  /** Epoch milliseconds. */
  time: number;
  uplink: string;
  iface: string;
}

export type FailoverEvent =
  | (UplinkEventBase & { type: 'setup' | 'teardown' })
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
    })
  | (UplinkEventBase & { type: 'health'; health: 'up' | 'down'; cause: 'probe' | 'link' })
  | (UplinkEventBase & { type: 'waiting'; timeoutMs: number })
  | (UplinkEventBase & { type: 'setupFailed'; waitedMs: number })
  | (UplinkEventBase & { type: 'switchFailed'; error: string })
  | { type: 'noUplink'; time: number; active: string | null };

export type UplinkHealth = 'unknown' | 'up' | 'down';

export type FailoverEventType = FailoverEvent['type'];

export const LIFECYCLE_EVENTS: readonly LifecycleEventType[] = ['setup', 'teardown', 'connectionFailed', 'connectionRestored', 'connected'];
