/**
 * Where an uplink's DNS servers are learnt when none are configured: pppd's usepeerdns file for a ppp
 * uplink, else the DHCP client's lease (dhcpcd, dhclient, systemd-networkd). Each reader is a small parser
 * of the tool's own text plus the place it is read from; every place is an option so tests read fixtures.
 * Nothing here throws: a missing file or tool is "nothing learnt".
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { isIP, isIPv4 } from 'node:net';
import { join } from 'node:path';
import { CommandRunner } from '../process/runner';

export interface DnsSourceOptions {
  runner: CommandRunner;
  /** pppd's usepeerdns file (default /etc/ppp/resolv.conf). */
  pppResolvConf?: string;
  /** dhclient's lease files (default /var/lib/dhcp). */
  dhclientLeaseDir?: string;
  /** systemd-networkd's DHCP leases, one file per interface index (default /run/systemd/netif/leases). */
  networkdLeaseDir?: string;
  /** For interface indexes (default /sys/class/net). */
  sysClassNet?: string;
  /** dhcpcd binary (default dhcpcd on PATH). */
  dhcpcdCommand?: string;
  /** NetworkManager's nmcli (default nmcli on PATH; Raspberry Pi OS bookworm and later). */
  nmcliCommand?: string;
}

export interface LearntServers {
  servers: string[];
  /** Where they came from, for the debug log (e.g. "/etc/ppp/resolv.conf", "dhcpcd -U eth0"). */
  source: string;
}

/** Keeps valid IP addresses, each once, in their order. */
function addresses(words: Iterable<string>): string[] {
  const out: string[] = [];
  for (const w of words) {
    const a = w.trim();
    if (isIP(a) !== 0 && !out.includes(a)) out.push(a);
  }
  return out;
}

/** `nameserver X` lines of a resolv.conf-style file (pppd's usepeerdns writes exactly this). */
export function parseNameserverLines(text: string): string[] {
  return addresses(
    text
      .split('\n')
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
      .filter((a): a is string => a !== undefined),
  );
}

/** `dhcpcd -U IFACE` output: `domain_name_servers='a b'` (quoted in newer versions, bare in older ones). */
export function parseDhcpcdLease(text: string): string[] {
  for (const line of text.split('\n')) {
    const m = /^\s*domain_name_servers=(.*)$/.exec(line);
    if (m) return addresses(m[1].replace(/^(['"])(.*)\1\s*$/, '$2').split(/\s+/));
  }
  return [];
}

/**
 * dhclient's lease file: `lease { interface "eth0"; ... option domain-name-servers a,b; ... }` blocks,
 * appended over time; the last one for the interface is current. Blocks without an interface line count
 * (a per-interface file need not name it).
 */
export function parseDhclientLeases(text: string, iface: string): string[] {
  let last: string[] | null = null;
  for (const block of text.split(/\blease\s*\{/).slice(1)) {
    const body = block.split('}')[0] ?? '';
    const named = /\binterface\s+"([^"]*)"\s*;/.exec(body)?.[1];
    if (named !== undefined && named !== iface) continue;
    const dns = /\boption\s+domain-name-servers\s+([^;]*);/.exec(body)?.[1];
    last = dns === undefined ? [] : addresses(dns.split(','));
  }
  return last ?? [];
}

/** systemd-networkd's lease file (`/run/systemd/netif/leases/IFINDEX`): `DNS=a b`. */
export function parseNetworkdLease(text: string): string[] {
  for (const line of text.split('\n')) {
    const m = /^\s*DNS=(.*)$/.exec(line);
    if (m) return addresses(m[1].split(/\s+/));
  }
  return [];
}

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}

async function fromPpp(path: string): Promise<LearntServers | null> {
  const text = await readText(path);
  const servers = text === null ? [] : parseNameserverLines(text);
  return servers.length > 0 ? { servers, source: path } : null;
}

async function fromDhcpcd(runner: CommandRunner, command: string, iface: string): Promise<LearntServers | null> {
  try {
    // A missing dhcpcd (or one not running for this interface) exits non-zero: nothing learnt.
    const r = await runner.run(command, ['-U', iface], { reject: false, timeoutMs: 3000 });
    const servers = r.exitCode === 0 ? parseDhcpcdLease(r.stdout) : [];
    return servers.length > 0 ? { servers, source: `${command} -U ${iface}` } : null;
  } catch {
    return null;
  }
}

/** `nmcli -g IP4.DNS device show IFACE`: the servers, one line, separated by " | ". */
export function parseNmcliDns(text: string): string[] {
  return [...new Set(text.split(/[|\s]+/).filter((t) => isIPv4(t)))];
}

async function fromNetworkManager(runner: CommandRunner, command: string, iface: string): Promise<LearntServers | null> {
  try {
    const r = await runner.run(command, ['-g', 'IP4.DNS', 'device', 'show', iface], { reject: false, timeoutMs: 3000 });
    const servers = r.exitCode === 0 ? parseNmcliDns(r.stdout) : [];
    return servers.length > 0 ? { servers, source: `${command} device show ${iface}` } : null;
  } catch {
    return null;
  }
}

async function fromDhclient(dir: string, iface: string): Promise<LearntServers | null> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return null;
  }
  const candidates = names.filter((n) => (n.startsWith('dhclient') && n.endsWith(`.${iface}.leases`)) || n === 'dhclient.leases');
  // The newest file holds the current lease when several clients have written one.
  const dated = await Promise.all(
    candidates.map(async (n) => {
      const path = join(dir, n);
      const mtime = await stat(path).then((s) => s.mtimeMs, () => -1);
      return { path, mtime };
    }),
  );
  dated.sort((a, b) => b.mtime - a.mtime);
  for (const { path } of dated) {
    const text = await readText(path);
    const servers = text === null ? [] : parseDhclientLeases(text, iface);
    if (servers.length > 0) return { servers, source: path };
  }
  return null;
}

async function fromNetworkd(leaseDir: string, sysClassNet: string, iface: string): Promise<LearntServers | null> {
  const index = (await readText(join(sysClassNet, iface, 'ifindex')))?.trim();
  if (!index || !/^\d+$/.test(index)) return null;
  const path = join(leaseDir, index);
  const text = await readText(path);
  const servers = text === null ? [] : parseNetworkdLease(text);
  return servers.length > 0 ? { servers, source: path } : null;
}

/** The servers an uplink's own network gave it, or null when none can be read. */
export async function learnServers(iface: string, options: DnsSourceOptions): Promise<LearntServers | null> {
  if (iface.startsWith('ppp')) return fromPpp(options.pppResolvConf ?? '/etc/ppp/resolv.conf');
  return (
    (await fromDhcpcd(options.runner, options.dhcpcdCommand ?? 'dhcpcd', iface)) ??
    (await fromNetworkManager(options.runner, options.nmcliCommand ?? 'nmcli', iface)) ??
    (await fromDhclient(options.dhclientLeaseDir ?? '/var/lib/dhcp', iface)) ??
    (await fromNetworkd(options.networkdLeaseDir ?? '/run/systemd/netif/leases', options.sysClassNet ?? '/sys/class/net', iface))
  );
}
