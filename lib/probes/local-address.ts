/**
 * The address a check binds its socket to. Node cannot bind a socket to a device (SO_BINDTODEVICE), so a
 * check binds to the uplink's own address instead, and the route service's pin sends it out that uplink:
 * the `from ADDR` rule in policy mode, a /32 host route to the check's host in host-route mode.
 */
import { networkInterfaces } from 'node:os';

/** The interface's first IPv4 address (os.networkInterfaces: no process), or null when it has none. */
export function ipv4Of(iface: string): string | null {
  const entries = networkInterfaces()[iface] ?? [];
  return entries.find((e) => e.family === 'IPv4')?.address ?? null;
}
