/** Stand-ins for the engine's collaborators in unit tests (the lab tests use the real ones). */
import { EventEmitter } from 'node:events';
import { LinkSource, LinkState, absentLink } from '../../lib/linkwatch/link-watch';
import { Probe, ProbeResult, summarise } from '../../lib/probes/probe';
import { KernelRoute, RouteActions } from '../../lib/engine/engine';
import { UplinkConfig, validateUplinks, UplinkInput } from '../../lib/uplink/model';

export function upLink(iface: string): LinkState {
  return { iface, exists: true, adminUp: true, carrier: true, operstate: 'up', up: true };
}

export class FakeLinks extends EventEmitter implements LinkSource {
  private readonly states = new Map<string, LinkState>();
  state(iface: string): LinkState {
    return this.states.get(iface) ?? absentLink(iface);
  }
  set(state: LinkState): void {
    this.states.set(state.iface, state);
    this.emit('change', state);
  }
  up(iface: string): void {
    this.set(upLink(iface));
  }
  noCarrier(iface: string): void {
    this.set({ iface, exists: true, adminUp: true, carrier: false, operstate: 'down', up: false });
  }
  remove(iface: string): void {
    this.set(absentLink(iface));
  }
}

/** Answers per uplink name from a switchboard the test flips. */
export class FakeProbe implements Probe {
  readonly reachable = new Map<string, boolean>();
  readonly calls = new Map<string, number>();
  async run(uplink: UplinkConfig): Promise<ProbeResult> {
    this.calls.set(uplink.name, (this.calls.get(uplink.name) ?? 0) + 1);
    const alive = this.reachable.get(uplink.name) ?? false;
    return summarise(
      uplink,
      uplink.targets.map((target) => ({ target, alive, rtt: alive ? 1 : null, sent: 1, lost: alive ? 0 : 1 })),
    );
  }
}

export class FakeRoutes implements RouteActions {
  current: string | null = null;
  readonly activations: string[] = [];
  readonly pinned = new Set<string>();
  failNext = false;
  async activate(uplink: UplinkConfig): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('RTNETLINK answers: Network is unreachable');
    }
    this.current = uplink.name;
    this.activations.push(uplink.name);
  }
  async pin(uplink: UplinkConfig): Promise<void> {
    this.pinned.add(uplink.name);
  }
  async unpin(uplink: UplinkConfig): Promise<void> {
    this.pinned.delete(uplink.name);
  }
}

export function uplinks(...inputs: UplinkInput[]): UplinkConfig[] {
  return validateUplinks(inputs);
}

/** FakeRoutes that also show the kernel's default route, as the real route service does outside dry run. */
export class FakeKernelRoutes extends FakeRoutes {
  kernel: KernelRoute | null = null;
  override async activate(uplink: UplinkConfig): Promise<void> {
    await super.activate(uplink);
    this.kernel = { dev: uplink.iface, gateway: uplink.gateway };
  }
  async readDefault(): Promise<KernelRoute | null> {
    return this.kernel;
  }
}
