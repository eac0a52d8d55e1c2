/**
 * The lab's latency relay (netem is not available on every kernel): run by NetLab.latency() inside a router
 * namespace, next to a socat that turns each packet the router forwards into its TUN device into one UDP
 * datagram on loopback. The relay holds each datagram for delay ± jitter (uniform) and sends it back to socat,
 * which writes it into the TUN, where the router forwards it on.
 *
 *   node latency-relay.js <listen port> <socat port> <delay ms> <jitter ms> <max queue>
 *
 * stdin: one JSON line `{"delayMs":N,"jitterMs":N}` per change (applies to packets that arrive after it).
 * stdout: `ready` once listening. SIGTERM or the end of stdin: stop taking packets, send the held ones on
 * time, then exit.
 * Packets beyond <max queue> held at once are dropped, like netem's limit. With jitter, packets can overtake
 * each other, as with netem.
 */
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';

const LOOPBACK = '127.0.0.1';

function argument(index: number): number {
  const n = Number(process.argv[2 + index]);
  if (Number.isInteger(n) && n >= 0) return n;
  process.stderr.write('usage: latency-relay <listen port> <socat port> <delay ms> <jitter ms> <max queue>\n');
  return process.exit(2);
}
const listenPort = argument(0);
const socatPort = argument(1);
let delayMs = argument(2);
let jitterMs = argument(3);
const maxQueue = argument(4);
let stopping = false;
const held = new Set<NodeJS.Timeout>();
let dropped = 0;

const socket = createSocket('udp4');

function holdFor(): number {
  const spread = jitterMs > 0 ? (Math.random() * 2 - 1) * jitterMs : 0;
  return Math.max(0, Math.round(delayMs + spread));
}

function finishIfDrained(): void {
  if (stopping && held.size === 0) process.stdout.write(`stopped (dropped ${dropped})\n`, () => process.exit(0));
}

socket.on('message', (packet) => {
  if (stopping) return;
  if (held.size >= maxQueue) {
    dropped++;
    return;
  }
  const timer = setTimeout(() => {
    socket.send(packet, socatPort, LOOPBACK, () => {
      held.delete(timer);
      finishIfDrained();
    });
  }, holdFor());
  held.add(timer);
});

socket.on('error', (err) => {
  process.stderr.write(`latency-relay: ${err.message}\n`);
  process.exit(1);
});

socket.bind(listenPort, LOOPBACK, () => {
  process.stdout.write('ready\n');
});

const settings = createInterface({ input: process.stdin });
settings.on('line', (line) => {
  try {
    const change = JSON.parse(line) as { delayMs?: unknown; jitterMs?: unknown };
    if (typeof change.delayMs === 'number' && change.delayMs >= 0) delayMs = change.delayMs;
    if (typeof change.jitterMs === 'number' && change.jitterMs >= 0) jitterMs = change.jitterMs;
    process.stdout.write(`set delay=${delayMs} jitter=${jitterMs}\n`);
  } catch {
    process.stderr.write(`latency-relay: not JSON: ${line}\n`);
  }
});

function stop(): void {
  if (stopping) return;
  stopping = true;
  finishIfDrained();
}
process.on('SIGTERM', stop);
// The lab holds stdin open: if the test process is gone, so is the relay.
settings.on('close', stop);
