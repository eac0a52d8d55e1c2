/**
 * One check attempt (a TCP connect, an HTTP status, a DNS answer), bounded: `begin` starts it and returns
 * what releases the socket it opened; `settle(rtt)` ends the attempt once. The timeout and an abort settle it
 * with null, and every path releases the socket and the timer.
 */
export type Settle = (rtt: number | null) => void;

export function boundedAttempt(timeoutMs: number, signal: AbortSignal | undefined, begin: (settle: Settle) => () => void): Promise<number | null> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve(null);
      return;
    }
    let finished = false;
    // Filled once begin() returns; settle() may run before that (a synchronous error).
    const held: { release?: () => void } = {};
    const settle: Settle = (rtt) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      held.release?.();
      resolve(rtt);
    };
    const onAbort = (): void => settle(null);
    const timer = setTimeout(() => settle(null), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    held.release = begin(settle);
    if (finished) held.release();
  });
}
