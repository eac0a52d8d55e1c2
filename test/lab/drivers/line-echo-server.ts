/**
 * A TCP server for the connection tests: echoes every line back and prints one JSON line per event, so a test
 * sees from the outside which connections it has (and from which address) and when.
 *
 * Usage: node line-echo-server.js <listen address> <port>
 * Prints {"event":"listening"}, then {"event":"accepted","peer":"ADDR:PORT","t":<epoch ms>} and
 * {"event":"closed","peer":"ADDR:PORT","t":...} per connection.
 */
import { createServer, Socket } from 'node:net';

function print(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...event, t: Date.now() })}\n`);
}

const [host, portText] = process.argv.slice(2);
const port = Number(portText);
if (!host || !Number.isInteger(port)) {
  process.stderr.write('usage: line-echo-server.js <address> <port>\n');
  process.exit(2);
}

const server = createServer((socket: Socket) => {
  const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
  print({ event: 'accepted', peer });
  // Stale connections of a client that moved away are never closed by their peer: the test ends them.
  socket.on('error', () => undefined);
  socket.on('close', () => print({ event: 'closed', peer }));
  socket.pipe(socket);
});
server.listen(port, host, () => print({ event: 'listening', address: `${host}:${port}` }));
process.on('SIGTERM', () => process.exit(0));
