/**
 * An HTTP(S) check: one GET from the uplink's address, on a connection of its own (no agent, no keep-alive);
 * the status line decides, and the body is never read (the connection is dropped once the status is in).
 */
import type { IncomingMessage } from 'node:http';
import { httpModule, httpsModule } from '../net/lazy-http';
import { boundedAttempt } from './attempt';
import { HttpCheck, statusAnswers } from './check-spec';

/** Resolves to the time to the status line in ms when the status answers the check, else null. */
export function httpAttempt(check: HttpCheck, localAddress: string, timeoutMs: number, signal?: AbortSignal): Promise<number | null> {
  return boundedAttempt(timeoutMs, signal, (settle) => {
    const started = performance.now();
    const options = {
      host: check.host,
      port: check.port,
      path: check.path,
      method: 'GET',
      localAddress,
      agent: false as const,
      headers: { connection: 'close', 'user-agent': 'ifacefailover-check' },
    };
    const req =
      check.kind === 'https'
        ? // An IP literal gets no SNI; a self-signed server needs `insecure`.
          httpsModule().request({ ...options, rejectUnauthorized: !check.insecure })
        : httpModule().request(options);
    req.once('response', (res: IncomingMessage) => {
      const rtt = performance.now() - started;
      res.destroy();
      settle(statusAnswers(check.expect, res.statusCode ?? 0) ? rtt : null);
    });
    // After destroy() the request reports an abort error: the verdict is in by then.
    req.on('error', () => settle(null));
    req.end();
    return () => req.destroy();
  });
}
