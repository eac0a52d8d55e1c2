/**
 * What a `route-switch` node does: picks the uplink (the configured one, else msg.uplink), refuses an
 * interface that cannot be an uplink (loopback and the like) unless the node allows any, then makes it
 * the default route and reports the route it replaced. Switches run one after another.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandError, ConfigError, describeIssue, errorMessage } from '../../lib/errors';
import type { DefaultRoute } from '../../lib/routes/route-service';
import { UplinkConfig, validateUplinks } from '../../lib/uplink/model';
import { NodeController, Send, Translate } from '../shared/controller';
import { InputError } from '../shared/errors';
import type { Node, NodeDef, NodeMessage } from '../shared/red';
import { lookupUplink } from '../shared/uplink-def';

export interface RouteSwitchDef extends NodeDef {
  /** Uplink config node id; '' = take it from msg.uplink. */
  uplink?: string;
  dryRun?: boolean;
  /** Also switch to loopback and other links that are no uplink (absent in flows from before the option: false). */
  allowAnyIface?: boolean;
}

export interface RouteSwitchServices {
  translate: Translate;
  /** RED.nodes.getNode */
  getNode(id: string): unknown;
  /** Ids of every deployed uplink config node (to find msg.uplink given by name). */
  uplinkIds(): string[];
  /** The node's route service (dry run or not). */
  routes: { readDefault(): Promise<DefaultRoute | null>; activate(uplink: UplinkConfig): Promise<void> };
  /** The interface's link type (an ARPHRD_* number), null if there is no such interface. */
  linkType(iface: string): Promise<number | null>;
}

interface SwitchPayload {
  route: { dev: string; gateway: string | null };
  replaced: DefaultRoute | null;
  dryRun: boolean;
}

const NS = 'route-switch';
const ARPHRD_LOOPBACK = 772;
/** Link types a default route can usefully point at: Ethernet (and Wi-Fi), PPP, raw IP (modems), none (TUN, WireGuard). */
const UPLINK_LINK_TYPES: ReadonlySet<number> = new Set([1, 512, 519, 65534]);

/** /sys/class/net/IFACE/type; null when the interface does not exist. The name is already valid (no "/"). */
export async function sysfsLinkType(iface: string, root = '/sys/class/net'): Promise<number | null> {
  let text: string;
  try {
    text = await readFile(join(root, iface, 'type'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const type = Number.parseInt(text.trim(), 10);
  return Number.isInteger(type) ? type : null;
}

/** The text ip printed, or the error's own message. */
function ipMessage(e: unknown): string {
  if (e instanceof CommandError) return e.stderr.trim() || e.message;
  return errorMessage(e);
}

export class RouteSwitchController extends NodeController {
  private readonly dryRun: boolean;
  private readonly allowAnyIface: boolean;
  private readonly configured: ReturnType<typeof lookupUplink> | null;
  private configProblem: string | null = null;
  private warnedIgnored = false;
  /** Switches run one after another, so each reports the route it really replaced. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    node: Node,
    def: RouteSwitchDef,
    private readonly services: RouteSwitchServices,
  ) {
    super(node, NS, services.translate);
    this.dryRun = def.dryRun === true;
    this.allowAnyIface = def.allowAnyIface === true;
    this.configured = def.uplink ? lookupUplink((id) => services.getNode(id), def.uplink) : null;
  }

  override start(): void {
    if (this.configured?.problem !== undefined) {
      this.configProblem = this.t('errors.uplink', { problem: this.configured.problem });
      this.badge.error(this.t('status.noUplink'));
      this.node.error(this.configProblem);
    }
  }

  protected handle(msg: NodeMessage, send: Send): Promise<void> {
    const uplink = this.chooseUplink(msg);
    const turn = this.queue.then(() => this.switchTo(uplink, msg, send));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  async close(): Promise<void> {
    // A switch in flight finishes (ip route replace is one atomic command), then the node is closed.
    await this.queue;
    this.badge.clear();
  }

  /** Config wins: msg.uplink is used only when no uplink is configured. */
  private chooseUplink(msg: NodeMessage): UplinkConfig {
    const configured = this.configured;
    if (configured) {
      if (configured.uplink === undefined) throw this.invalid(this.configProblem ?? configured.problem);
      if (msg.uplink !== undefined && !this.warnedIgnored) {
        this.warnedIgnored = true;
        this.node.warn(this.t('warn.msgIgnored'));
      }
      return configured.uplink;
    }
    if (msg.uplink === undefined || msg.uplink === null || msg.uplink === '') throw this.invalid(this.t('errors.noUplink'));
    return this.uplinkFromMessage(msg.uplink);
  }

  private invalid(message: string): InputError {
    return new InputError(message, { kind: 'error', text: this.t('status.invalid') });
  }

  /** An {iface, gateway} object checked with the core's rules, or an uplink config node's name. */
  private uplinkFromMessage(value: unknown): UplinkConfig {
    if (typeof value === 'string') return this.uplinkByName(value);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw this.invalid(this.t('errors.badUplink', { problem: 'must be an object {iface, gateway} or the name of an uplink' }));
    }
    const given = value as { iface?: unknown; gateway?: unknown };
    try {
      const [uplink] = validateUplinks([{ name: 'msg-uplink', iface: given.iface, gateway: given.gateway ?? null, targets: [] }]);
      return uplink;
    } catch (e) {
      const problem = e instanceof ConfigError ? e.issues.map((i) => describeIssue({ ...i, uplink: undefined })).join('; ') : errorMessage(e);
      throw this.invalid(this.t('errors.badUplink', { problem }));
    }
  }

  /** The deployed uplink config node whose name (or, unnamed, interface) is `name`. */
  private uplinkByName(name: string): UplinkConfig {
    for (const id of this.services.uplinkIds()) {
      const found = lookupUplink((x) => this.services.getNode(x), id);
      if (found.uplink?.name === name) return found.uplink;
    }
    throw this.invalid(this.t('errors.unknownUplink', { name }));
  }

  /**
   * Loopback (or another link that is no way out) as the default route cuts the machine off: refused
   * unless the node allows any interface. A missing interface is left to ip, which refuses it.
   * Checked in dry run too, so a dry run shows what a real one would do.
   */
  private async checkInterface(uplink: UplinkConfig): Promise<void> {
    if (this.allowAnyIface) return;
    const type = await this.services.linkType(uplink.iface);
    let kind: string | null = null;
    if (uplink.iface === 'lo' || type === ARPHRD_LOOPBACK) kind = 'loopback';
    else if (type !== null && !UPLINK_LINK_TYPES.has(type)) kind = `link type ${type}`;
    if (kind !== null) {
      throw new InputError(this.t('errors.notUplink', { iface: uplink.iface, kind }), { kind: 'error', text: this.t('status.notUplink', { iface: uplink.iface }) });
    }
  }

  private async switchTo(uplink: UplinkConfig, msg: NodeMessage, send: Send): Promise<void> {
    await this.checkInterface(uplink);
    let replaced: DefaultRoute | null;
    try {
      replaced = await this.services.routes.readDefault();
      await this.services.routes.activate(uplink);
    } catch (e) {
      throw new InputError(this.t('errors.ip', { iface: uplink.iface, error: ipMessage(e) }), {
        kind: 'error',
        text: this.t('status.failed', { iface: uplink.iface }),
      });
    }
    const payload: SwitchPayload = { route: { dev: uplink.iface, gateway: uplink.gateway }, replaced, dryRun: this.dryRun };
    msg.payload = payload;
    this.badge.ok(this.t(this.dryRun ? 'status.dryRun' : 'status.active', { iface: uplink.iface }));
    send(msg);
  }
}
