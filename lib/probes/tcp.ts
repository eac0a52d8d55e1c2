/** A TCP check: one connect from the uplink's address, closed as soon as it is made. */
import { connect } from 'node:net';
import type { TcpCheck } from './check-spec';

/** Connects once; resolves to the time to connect in ms, or null (refused, reset, timed out, aborted). */
export function tcpAttempt(check: TcpCheck, localAddress: string, timeoutMs: number, signal?: AbortSignal): Promise<number | null> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve(null);
      return;
    }
    const started = performance.now();
    const socket = connect({ host: check.host, port: check.port, localAddress, noDelay: true });
    let finished = false;
    const finish = (rtt: number | null): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(rtt);
    };
    const onAbort = (): void => finish(null);
    const timer = setTimeout(() => finish(null), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => finish(performance.now() - started));
    socket.once('error', () => finish(null));
  });
}
