/** A TCP check: one connect from the uplink's address, closed as soon as it is made. */
import { connect } from 'node:net';
import { boundedAttempt } from './attempt';
import type { TcpCheck } from './check-spec';

/** Connects once; resolves to the time to connect in ms, or null (refused, reset, timed out, aborted). */
export function tcpAttempt(check: TcpCheck, localAddress: string, timeoutMs: number, signal?: AbortSignal): Promise<number | null> {
  return boundedAttempt(timeoutMs, signal, (settle) => {
    const started = performance.now();
    const socket = connect({ host: check.host, port: check.port, localAddress, noDelay: true });
    socket.once('connect', () => settle(performance.now() - started));
    socket.once('error', () => settle(null));
    return () => socket.destroy();
  });
}
