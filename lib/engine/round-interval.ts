/**
 * How often an uplink is probed. A metered uplink (a data plan) that carries no traffic is probed at its idle
 * interval, so standing by costs little data; while it carries traffic, at its normal interval.
 */
import type { UplinkConfig } from '../uplink/model';

/** Milliseconds from the start of one probe round of `uplink` to the start of the next. */
export function roundIntervalMs(uplink: Pick<UplinkConfig, 'probe' | 'metered'>, carriesTraffic: boolean): number {
  const normal = uplink.probe.interval;
  // An idle interval below the normal one would probe an idle uplink more often than a busy one.
  const seconds = uplink.metered && !carriesTraffic ? Math.max(normal, uplink.metered.idleInterval) : normal;
  return seconds * 1000;
}
