/**
 * What the connection lab test and its benchmark share: the headless service's properties for eth0 primary
 * and wlan0 backup, and the echo servers and long-lived clients (line-echo-server.js, long-lived-client.js)
 * started in lab namespaces, whose JSON event lines are read back with the time each event happened.
 */
import { resolve } from 'node:path';
import { LabProcess, NetLab } from '../netlab';

export const SERVER_DRIVER = resolve(__dirname, 'line-echo-server.js');
export const CLIENT_DRIVER = resolve(__dirname, 'long-lived-client.js');

/** The dut's addresses on the lab's uplinks. */
export const ETH0_ADDRESS = '192.0.2.2';
export const WLAN0_ADDRESS = '192.0.2.18';
/** r1: eth0's router, a peer on eth0's own subnet (a LAN broker). */
export const LAN_PEER = '192.0.2.1';

export interface DriverEvent {
  event: 'listening' | 'accepted' | 'closed' | 'connected' | 'echo';
  /** Epoch ms, taken by the driver when it happened. */
  t: number;
  /** Client side: its local address:port. */
  local?: string;
  /** Server side: the client's address:port. */
  peer?: string;
  /** closed: the error code that ended the connection (ECONNABORTED after a socket destroy), or null. */
  code?: string | null;
  seq?: number;
}

/** The JSON event lines of one driver process. */
export class EventLog {
  constructor(readonly proc: LabProcess) {}

  events(): DriverEvent[] {
    return this.proc.output.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as DriverEvent);
  }

  /** The first event (in order) that matches, waiting up to `timeoutMs`. */
  async waitFor(match: (e: DriverEvent) => boolean, what: string, timeoutMs = 10_000): Promise<DriverEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events().find(match);
      if (hit) return hit;
      if (!this.proc.running) throw new Error(`${this.proc.argv.join(' ')} exited before ${what}: ${this.proc.output.stderr}`);
      if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms; events:\n${this.proc.output.stdout.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  stop(): Promise<unknown> {
    return this.proc.stop({ graceMs: 1000 });
  }
}

/** An echo server listening on `address:port` in namespace `ns`; resolves once it listens. */
export async function startEchoServer(lab: NetLab, ns: string, address: string, port: number): Promise<EventLog> {
  const log = new EventLog(lab.spawn(ns, process.execPath, [SERVER_DRIVER, address, String(port)]));
  await log.waitFor((e) => e.event === 'listening', `server ${address}:${port} listening`, 5000);
  return log;
}

/** A long-lived client in the device, connected to `address:port` (it keeps reconnecting by itself). */
export function startClient(lab: NetLab, address: string, port: number): EventLog {
  return new EventLog(lab.spawn('dut', process.execPath, [CLIENT_DRIVER, address, String(port)]));
}

export function addressOf(endpoint: string | undefined): string {
  return (endpoint ?? '').replace(/:\d+$/, '');
}

export interface ServiceSettings {
  /** `failover.resetConnections` (absent: the default, on). */
  resetConnections?: boolean;
  /** Probe targets of eth0 and of wlan0. */
  eth0Targets: string[];
  wlan0Targets: string[];
  down: number;
  up: number;
}

/**
 * eth0 primary, wlan0 backup; probes every second, one attempt of 1 s. An uplink without targets is trusted
 * while its interface is up. DNS is left alone: not under test here.
 */
export function serviceProperties(s: ServiceSettings): string {
  const kwargs = `{'timeout':1, 'maxRetry':1, 'down':${s.down}, 'up':${s.up}}`;
  const probes = (route: string, targets: string[]): string =>
    targets.length === 0 ? '' : `route.${route}.targets=${targets.join(',')}\nroute.${route}.verifierDelay=1\nroute.${route}.verifierKwargs=${kwargs}\n`;
  return (
    'failover.dns=off\n' +
    (s.resetConnections === undefined ? '' : `failover.resetConnections=${s.resetConnections}\n`) +
    'route.primary.gateway=192.0.2.1\nroute.primary.iface=eth0\n' +
    // The guide's log handler: its `upRoutes=...` line marks the end of each probe round of the primary.
    "route.primary.handlers=['/opt/ifacefailover/config/logHandler.pkl']\nroute.primary.handlerKwargs=[{'name':'primary'}]\n" +
    probes('primary', s.eth0Targets) +
    'route.wifi.gateway=192.0.2.17\nroute.wifi.iface=wlan0\n' +
    probes('wifi', s.wlan0Targets)
  );
}
