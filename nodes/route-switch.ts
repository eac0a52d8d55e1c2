/**
 * `route-switch`: makes an uplink the default route (`ip route replace default ...`, atomic) and reports
 * which route it replaced. The uplink is the configured one; without one, msg.uplink names it (an
 * `{iface, gateway}` object or the name of an uplink config node). With dry run it only logs the command.
 */
import { CommandError, ConfigError, describeIssue } from '../lib/errors';
import { ExecaRunner } from '../lib/process/runner';
import { DefaultRoute, RouteService } from '../lib/routes/route-service';
import { UplinkConfig, validateUplinks } from '../lib/uplink/model';
import { errorText } from './shared/errors';
import type { Node, NodeAPI, NodeDef, NodeMessage } from './shared/red';
import { nodeLogger } from './shared/route-services';
import { StatusBadge } from './shared/status';
import { lookupUplink } from './shared/uplink-def';

interface RouteSwitchDef extends NodeDef {
  /** Uplink config node id; '' = take it from msg.uplink. */
  uplink?: string;
  dryRun?: boolean;
}

interface SwitchPayload {
  route: { dev: string; gateway: string | null };
  replaced: DefaultRoute | null;
  dryRun: boolean;
}

type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;
type Done = (err?: Error) => void;

/** The text ip printed, or the error's own message. */
function ipMessage(e: unknown): string {
  if (e instanceof CommandError) return e.stderr.trim() || e.message;
  return errorText(e);
}

export = function register(RED: NodeAPI): void {
  /** An uplink given in the message: an {iface, gateway} object checked with the core's rules, or an uplink config node's name. */
  function uplinkFromMessage(value: unknown): UplinkConfig {
    if (typeof value === 'string') return uplinkByName(value);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new Error(RED._('route-switch.errors.badUplink', { problem: 'must be an object {iface, gateway} or the name of an uplink' }));
    }
    const given = value as { iface?: unknown; gateway?: unknown };
    try {
      const [uplink] = validateUplinks([{ name: 'msg-uplink', iface: given.iface, gateway: given.gateway ?? null, targets: [] }]);
      return uplink;
    } catch (e) {
      const problem = e instanceof ConfigError ? e.issues.map((i) => describeIssue({ ...i, uplink: undefined })).join('; ') : errorText(e);
      throw new Error(RED._('route-switch.errors.badUplink', { problem }));
    }
  }

  /** The deployed uplink config node whose name (or, unnamed, interface) is `name`. */
  function uplinkByName(name: string): UplinkConfig {
    const ids: string[] = [];
    RED.nodes.eachNode((n) => {
      if (n.type === 'uplink') ids.push(n.id);
    });
    for (const id of ids) {
      const found = lookupUplink((x) => RED.nodes.getNode(x), id);
      if (found.uplink?.name === name) return found.uplink;
    }
    throw new Error(RED._('route-switch.errors.unknownUplink', { name }));
  }

  function RouteSwitchNode(this: Node, def: RouteSwitchDef): void {
    RED.nodes.createNode(this, def);
    setUp(this, def);
  }

  function setUp(node: Node, def: RouteSwitchDef): void {
    const badge = new StatusBadge(node);
    const dryRun = def.dryRun === true;
    // Its own service (it holds no pins): dry-run lines are logged by this node.
    const routes = new RouteService({ runner: new ExecaRunner(), logger: nodeLogger(node), dryRun });
    const configured = def.uplink ? lookupUplink((id) => RED.nodes.getNode(id), def.uplink) : null;
    let configProblem: string | null = null;
    if (configured?.problem !== undefined) {
      configProblem = RED._('route-switch.errors.uplink', { problem: configured.problem });
      badge.error(RED._('route-switch.status.noUplink'));
      node.error(configProblem);
    }
    let warnedIgnored = false;
    /** Switches run one after another, so each reports the route it really replaced. */
    let queue: Promise<void> = Promise.resolve();

    /** Config wins: msg.uplink is used only when no uplink is configured. */
    function chooseUplink(msg: NodeMessage): UplinkConfig {
      if (configured) {
        if (configured.uplink === undefined) throw new Error(configProblem ?? configured.problem);
        if (msg.uplink !== undefined && !warnedIgnored) {
          warnedIgnored = true;
          node.warn(RED._('route-switch.warn.msgIgnored'));
        }
        return configured.uplink;
      }
      if (msg.uplink === undefined || msg.uplink === null || msg.uplink === '') throw new Error(RED._('route-switch.errors.noUplink'));
      return uplinkFromMessage(msg.uplink);
    }

    async function switchTo(uplink: UplinkConfig, msg: NodeMessage, send: Send, done: Done): Promise<void> {
      let replaced: DefaultRoute | null;
      try {
        replaced = await routes.readDefault();
        await routes.activate(uplink);
      } catch (e) {
        badge.error(RED._('route-switch.status.failed', { iface: uplink.iface }));
        done(new Error(RED._('route-switch.errors.ip', { iface: uplink.iface, error: ipMessage(e) })));
        return;
      }
      const payload: SwitchPayload = { route: { dev: uplink.iface, gateway: uplink.gateway }, replaced, dryRun };
      msg.payload = payload;
      badge.ok(RED._(dryRun ? 'route-switch.status.dryRun' : 'route-switch.status.active', { iface: uplink.iface }));
      send(msg);
      done();
    }

    node.on('input', (msg, send, done) => {
      let uplink: UplinkConfig;
      try {
        uplink = chooseUplink(msg);
      } catch (e) {
        badge.error(RED._('route-switch.status.invalid'));
        done(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      queue = queue.then(() => switchTo(uplink, msg, send, done)).catch((e: unknown) => node.error(errorText(e), msg));
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      // A switch in flight finishes (ip route replace is one atomic command), then the node is closed.
      void queue.then(() => {
        badge.clear();
        done();
      });
    });
  }

  RED.nodes.registerType('route-switch', RouteSwitchNode);
};
