/**
 * `route-switch`: makes an uplink the default route (`ip route replace default ...`, atomic) and reports
 * which route it replaced. The uplink is the configured one; without one, msg.uplink names it (an
 * `{iface, gateway}` object or the name of an uplink config node). With dry run it only logs the command.
 * The behaviour lives in RouteSwitchController (route-switch/controller.ts).
 */
import { ProcessRunner } from '../lib/process/runner';
import { RouteService } from '../lib/routes/route-service';
import { RouteSwitchController, RouteSwitchDef, sysfsLinkType } from './route-switch/controller';
import { runController } from './shared/controller';
import type { Node, NodeAPI } from './shared/red';
import { nodeLogger } from './shared/route-services';

export = function register(RED: NodeAPI): void {
  function RouteSwitchNode(this: Node, def: RouteSwitchDef): void {
    RED.nodes.createNode(this, def);
    const controller = new RouteSwitchController(this, def, {
      translate: (key, substitutions) => RED._(key, substitutions),
      getNode: (id) => RED.nodes.getNode(id),
      uplinkIds: () => {
        const ids: string[] = [];
        RED.nodes.eachNode((n) => {
          if (n.type === 'uplink') ids.push(n.id);
        });
        return ids;
      },
      // Its own service (it holds no pins): dry-run lines are logged by this node.
      routes: new RouteService({ runner: new ProcessRunner(), logger: nodeLogger(this), dryRun: def.dryRun === true }),
      linkType: (iface) => sysfsLinkType(iface),
    });
    runController(this, controller);
  }
  RED.nodes.registerType('route-switch', RouteSwitchNode);
};
