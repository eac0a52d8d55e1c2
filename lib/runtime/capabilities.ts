/** Whether this process may change routes and send pings: root, or CAP_NET_ADMIN and CAP_NET_RAW. */
import { readFile } from 'node:fs/promises';

const CAP_NET_ADMIN = 12n;
const CAP_NET_RAW = 13n;

export async function missingNetCapabilities(statusFile = '/proc/self/status'): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(statusFile, 'utf8');
  } catch {
    return [];
  }
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(text);
  if (!m) return [];
  const caps = BigInt(`0x${m[1]}`);
  const missing: string[] = [];
  if (((caps >> CAP_NET_ADMIN) & 1n) === 0n) missing.push('CAP_NET_ADMIN');
  if (((caps >> CAP_NET_RAW) & 1n) === 0n) missing.push('CAP_NET_RAW');
  return missing;
}
