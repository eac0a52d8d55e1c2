/** pppd's exit status (pppd(8), EXIT STATUS), so a dead link can be explained in words. */
const MEANINGS: Readonly<Record<number, string>> = {
  0: 'pppd ended normally',
  1: 'fatal error in pppd',
  2: 'error in the options (check the peer file)',
  3: 'pppd is not setuid root and the caller is not root',
  4: 'the kernel does not support PPP (no /dev/ppp)',
  5: 'pppd was stopped by a signal',
  6: 'the serial port could not be locked (another pppd, or a stale lock file)',
  7: 'the serial port could not be opened',
  8: 'the connect script (chat) failed: the modem did not answer or has no network',
  9: 'the pty command could not be run',
  10: 'the PPP negotiation failed',
  11: 'the peer system failed to authenticate itself',
  12: 'the link was idle and was closed',
  13: 'the connect time limit was reached',
  14: 'callback negotiated',
  15: 'the peer stopped answering LCP echo requests (lcp-echo-failure)',
  16: 'the modem hung up',
  17: 'the serial loopback was detected',
  18: 'the init script failed',
  19: 'authentication to the peer failed',
  20: 'the traffic limit was reached',
  21: 'CNID authentication failed',
};

export function pppdExitMeaning(code: number | null, signal: string | null): string {
  if (code === null) return `pppd was killed (${signal ?? 'unknown signal'})`;
  return `pppd exited with ${code}: ${MEANINGS[code] ?? 'unknown exit status'}`;
}
