/** A peer is a file name in /etc/ppp/peers: no path, no leading "-" that pppd could read as an option. */
export function isValidPeer(peer: unknown): peer is string {
  return typeof peer === 'string' && /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(peer);
}
