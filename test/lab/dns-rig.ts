/**
 * A DNS server at each ISP of the lab, and the device's own resolver file, for the DNS lab test and its
 * benchmark. Each ISP answers `broker.lab` with its own address, and each server sits on an address the
 * device reaches over its own link whatever the default route is (r1's LAN side, the carrier's end of
 * ppp0): so which address comes back depends only on the order of the servers in the device's resolv.conf.
 *
 * The device's resolv.conf is /etc/netns/<dut>/resolv.conf, which `ip netns exec` bind-mounts over
 * /etc/resolv.conf for everything run in the device namespace; the host's own file is never touched.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabProcess, NetLab } from './netlab';
import { sleep } from './service-harness';

export const BROKER = 'broker.lab';

/** Per uplink of the lab's guide setup: its ISP's namespace, server address, and the answer it gives. */
export const ISP_DNS = {
  primary: { ns: 'r1', server: '192.0.2.1', answer: '203.0.113.201' },
  fona: { ns: 'carrier', server: '198.51.100.1', answer: '203.0.113.202' },
} as const;

/** What the device had before the service: nobody answers there (no route to it before the service starts). */
export const ORIGINAL_RESOLV_CONF = '# the lab device\'s own resolver file\nnameserver 203.0.113.250\nsearch lab.example\noptions timeout:1 attempts:1\n';

/** The service writes its backup of the original here (default state dir, named after the network namespace). */
const STATE_DIR = '/run/ifacefailover';

export function dnsmasqMissing(): boolean {
  try {
    execFileSync('dnsmasq', ['--version'], { stdio: 'ignore' });
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** The guide's lab setup (primary on eth0 probing two targets, the FONA on ppp0) with each ISP's DNS server. */
export function dnsProperties(extra = ''): string {
  return `route.primary.gateway=192.0.2.1
route.primary.iface=eth0
route.primary.targets=203.0.113.1,203.0.113.2
route.primary.verifierDelay=1
route.primary.verifierKwargs={'timeout':1, 'maxRetry':1}
route.primary.dns=${ISP_DNS.primary.server}
route.fona.gateway=0.0.0.0
route.fona.iface=ppp0
route.fona.dns=${ISP_DNS.fona.server}
failover.dns=file
${extra}`;
}

export interface DnsRig {
  /** The device's resolv.conf as seen from the host. */
  resolvConf: string;
  /** The service's backup of the original (exists while its file is in place). */
  backupFile: string;
  servers: LabProcess[];
  /** `getent hosts broker.lab` in the device: the first address, or null when it does not resolve. */
  lookup(): Promise<string | null>;
  /** Polls lookup() every `everyMs` until it answers `address`; resolves with when it did (performance.now()). */
  waitForAnswer(address: string, timeoutMs?: number, everyMs?: number): Promise<number>;
  /** Removes the device's resolver directory and the service's backup; idempotent, also run at exit. */
  cleanup(): void;
}

/** Starts the two DNS servers and gives the device its resolver file. Call cleanup() in a finally. */
export async function setUpDns(lab: NetLab): Promise<DnsRig> {
  const netnsDir = join('/etc/netns', lab.ns.dut);
  const resolvConf = join(netnsDir, 'resolv.conf');
  const madeEtcNetns = !existsSync('/etc/netns');
  const madeStateDir = !existsSync(STATE_DIR);
  const netnsId = /\[(\d+)\]/.exec((await lab.exec('dut', 'readlink', ['/proc/self/ns/net'])).stdout)?.[1] ?? 'unknown';
  const backupFile = join(STATE_DIR, `resolv.conf.${netnsId}.json`);
  let cleaned = false;
  const cleanup = (): void => {
    if (cleaned) return;
    cleaned = true;
    process.removeListener('exit', cleanup);
    rmSync(netnsDir, { recursive: true, force: true });
    if (madeEtcNetns) removeIfEmpty('/etc/netns');
    rmSync(backupFile, { force: true });
    if (madeStateDir) removeIfEmpty(STATE_DIR);
  };
  process.on('exit', cleanup);
  try {
    mkdirSync(netnsDir, { recursive: true });
    writeFileSync(resolvConf, ORIGINAL_RESOLV_CONF);
    const servers = Object.values(ISP_DNS).map((isp) =>
      lab.spawn(isp.ns, 'dnsmasq', [
        '--no-daemon',
        '--conf-file=/dev/null',
        '--pid-file=',
        '--no-resolv',
        '--no-hosts',
        `--listen-address=${isp.server}`,
        '--bind-interfaces',
        `--address=/${BROKER}/${isp.answer}`,
      ]),
    );
    await Promise.all(servers.map((s) => s.waitFor(/started, version/, { timeoutMs: 5000 })));
    const lookup = async (): Promise<string | null> => {
      const r = await lab.exec('dut', 'getent', ['hosts', BROKER], { reject: false, timeoutMs: 5000 });
      return r.exitCode === 0 ? (r.stdout.trim().split(/\s+/)[0] ?? null) : null;
    };
    return {
      resolvConf,
      backupFile,
      servers,
      lookup,
      async waitForAnswer(address, timeoutMs = 10_000, everyMs = 50) {
        const deadline = performance.now() + timeoutMs;
        let last: string | null = null;
        for (;;) {
          last = await lookup();
          if (last === address) return performance.now();
          if (performance.now() > deadline) throw new Error(`${BROKER} never resolved to ${address} (last answer: ${last ?? 'none'}); resolv.conf:\n${readFileSync(resolvConf, 'utf8')}`);
          await sleep(everyMs);
        }
      },
      cleanup,
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}

function removeIfEmpty(dir: string): void {
  try {
    if (readdirSync(dir).length === 0) rmdirSync(dir);
  } catch {
    /* gone already, or someone else's files in it */
  }
}
