/**
 * A DNS check: one query over UDP from the uplink's address, written here (RFC 1035, a few dozen bytes):
 * a random id, recursion desired, one question. It answers when a reply from the server carries the same
 * id and the same question, says NOERROR and holds at least one answer record. Anything else that arrives
 * (a late reply to an earlier round, a forged one) is ignored until the timeout.
 */
import { createSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { boundedAttempt } from './attempt';
import type { DnsCheck } from './check-spec';

const TYPES = { A: 1, AAAA: 28 } as const;
const CLASS_IN = 1;
const HEADER = 12;

/** The question section: the name as labels, then type and class. */
export function encodeQuestion(name: string, type: DnsCheck['type']): Buffer {
  const labels = name.split('.').filter((l) => l !== '');
  const parts: Buffer[] = [];
  for (const label of labels) parts.push(Buffer.from([label.length]), Buffer.from(label, 'ascii'));
  const tail = Buffer.alloc(5);
  tail.writeUInt8(0, 0);
  tail.writeUInt16BE(TYPES[type], 1);
  tail.writeUInt16BE(CLASS_IN, 3);
  return Buffer.concat([...parts, tail]);
}

/** A standard query with recursion desired. */
export function encodeQuery(id: number, name: string, type: DnsCheck['type']): Buffer {
  const header = Buffer.alloc(HEADER);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2); // RD
  header.writeUInt16BE(1, 4); // QDCOUNT
  return Buffer.concat([header, encodeQuestion(name, type)]);
}

/** Why a datagram is not the answer to our query, or null when it is (NOERROR, at least one record). */
export function replyProblem(reply: Buffer, query: Buffer): string | null {
  if (reply.length < query.length) return 'too short';
  if (reply.readUInt16BE(0) !== query.readUInt16BE(0)) return 'another id';
  const flags = reply.readUInt16BE(2);
  if ((flags & 0x8000) === 0) return 'not a response';
  // The question is echoed (names compared without case, as DNS does; type and class bytes hold no letters).
  const asked = query.toString('latin1', HEADER).toLowerCase();
  if (reply.readUInt16BE(4) !== 1 || reply.toString('latin1', HEADER, query.length).toLowerCase() !== asked) return 'another question';
  return answerProblem(reply);
}

/** For a reply to our query: why it does not answer (an error code, no record), or null. */
function answerProblem(reply: Buffer): string | null {
  const rcode = reply.readUInt16BE(2) & 0x000f;
  if (rcode !== 0) return `rcode ${rcode}`;
  if (reply.readUInt16BE(6) === 0) return 'no answer record';
  return null;
}

/** Resolves to the time to the answer in ms, or null (no answer, an error code, timed out, aborted). */
export function dnsAttempt(check: DnsCheck, localAddress: string, timeoutMs: number, signal?: AbortSignal): Promise<number | null> {
  return boundedAttempt(timeoutMs, signal, (settle) => {
    const query = encodeQuery(randomInt(0x10000), check.name, check.type);
    const socket = createSocket('udp4');
    let started = performance.now();
    let settled = false;
    const done = (rtt: number | null): void => {
      settled = true;
      settle(rtt);
    };
    socket.on('error', () => done(null));
    socket.on('message', (reply, from) => {
      if (from.address !== check.host || from.port !== check.port) return;
      const problem = replyProblem(reply, query);
      if (problem === null) done(performance.now() - started);
      // Our own query answered with an error (NXDOMAIN, SERVFAIL) or no record: no need to wait for the timeout.
      else if (problem.startsWith('rcode') || problem === 'no answer record') done(null);
    });
    socket.bind({ address: localAddress, port: 0 }, () => {
      if (settled) return;
      started = performance.now();
      socket.send(query, check.port, check.host, (err) => {
        if (err) done(null);
      });
    });
    return () => {
      settled = true;
      try {
        socket.close();
      } catch {
        // never bound (the bind failed): nothing to close
      }
    };
  });
}
