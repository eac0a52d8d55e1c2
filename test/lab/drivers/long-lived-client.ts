/**
 * A long-lived TCP client like an MQTT client: connects, sends a numbered line every 200 ms, and on close or
 * error reconnects at once (no back-off, so the time to reconnect is the time to notice). Prints one JSON line
 * per event for the test to read:
 *   {"event":"connected","local":"ADDR:PORT","t":<epoch ms>}
 *   {"event":"echo","seq":N,"local":"ADDR:PORT","t":...}      (the server's echo of line N)
 *   {"event":"closed","code":"ECONNABORTED"|null,"local":"ADDR:PORT","t":...}
 *
 * Usage: node long-lived-client.js <server address> <port>
 */
import { connect, Socket } from 'node:net';

const SEND_EVERY_MS = 200;
/** A connect() whose SYN went into a dead uplink would otherwise wait minutes. */
const CONNECT_TIMEOUT_MS = 3000;
const RETRY_MS = 100;

function print(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...event, t: Date.now() })}\n`);
}

const [host, portText] = process.argv.slice(2);
const port = Number(portText);
if (!host || !Number.isInteger(port)) {
  process.stderr.write('usage: long-lived-client.js <address> <port>\n');
  process.exit(2);
}

let seq = 0;

function open(): void {
  const socket: Socket = connect({ host, port });
  let local = '';
  let errorCode: string | null = null;
  let sender: NodeJS.Timeout | undefined;
  let received = '';
  const connectTimer = setTimeout(() => socket.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })), CONNECT_TIMEOUT_MS);
  socket.setEncoding('utf8');
  socket.on('connect', () => {
    clearTimeout(connectTimer);
    local = `${socket.localAddress ?? '?'}:${socket.localPort ?? '?'}`;
    print({ event: 'connected', local });
    sender = setInterval(() => socket.write(`${++seq}\n`), SEND_EVERY_MS);
  });
  socket.on('data', (chunk: string) => {
    received += chunk;
    const lines = received.split('\n');
    received = lines.pop() ?? '';
    for (const line of lines) if (line !== '') print({ event: 'echo', seq: Number(line), local });
  });
  socket.on('error', (e: NodeJS.ErrnoException) => {
    errorCode = e.code ?? e.message;
  });
  socket.on('close', () => {
    clearTimeout(connectTimer);
    clearInterval(sender);
    print({ event: 'closed', code: errorCode, local });
    // A connection that was up is replaced at once; a failed attempt is retried shortly, not in a busy loop.
    if (local) setImmediate(open);
    else setTimeout(open, RETRY_MS);
  });
}

open();
process.on('SIGTERM', () => process.exit(0));
