/**
 * What an uplink's probes cost in data: bytes on the wire (IP headers included, as a carrier counts them) per
 * probe exchange, and per day at the rate the uplink is probed now.
 */
import { roundIntervalMs } from '../engine/round-interval';
import type { UplinkConfig } from '../uplink/model';

/** IPv4 header 20 + ICMP header 8 + the 56-byte payload ping and fping send by default. */
export const ICMP_ECHO_BYTES_V4 = 84;
/** IPv6 header 40 + ICMPv6 header 8 + 56. */
export const ICMP_ECHO_BYTES_V6 = 104;

/**
 * Estimates of one exchange (request and answer) of the other probe kinds, IPv4, no retransmissions:
 * tcp: SYN, SYN-ACK, ACK, then FIN/ACK both ways (7 segments of 52-60 bytes);
 * http: that plus a short GET and a small response with its headers;
 * dns: one query and one answer of a short name.
 */
export const PROBE_EXCHANGE_BYTES = { tcp: 400, http: 1200, dns: 160 } as const;

/** Bytes of one echo request and its reply to `target`. */
export function icmpExchangeBytes(target: string): number {
  return 2 * (target.includes(':') ? ICMP_ECHO_BYTES_V6 : ICMP_ECHO_BYTES_V4);
}

/** Bytes one probe round of the uplink costs when every target answers the first echo. */
export function roundBytes(uplink: Pick<UplinkConfig, 'targets'>): number {
  return uplink.targets.reduce((sum, target) => sum + icmpExchangeBytes(target), 0);
}

/** Bytes per day its probes cost at the rate it is probed now (idle or carrying traffic). */
export function probeBytesPerDay(uplink: Pick<UplinkConfig, 'targets' | 'probe' | 'metered'>, carriesTraffic: boolean): number {
  return Math.round((roundBytes(uplink) * 86_400_000) / roundIntervalMs(uplink, carriesTraffic));
}
