/**
 * `failover-controller` node: keeps the default route on the best working uplink of an ordered list of
 * uplink config nodes. Output 1 carries the lifecycle (setup, teardown, connectionFailed, connected,
 * connectionRestored) and notices, output 2 one message per probe round. The behaviour lives in
 * FailoverController (failover-controller/controller.ts); this file only wires it to Node-RED.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { missingNetCapabilities } from '../lib/runtime/capabilities';
import { ControllerNodeDef, FailoverController } from './failover-controller/controller';
import { runController } from './shared/controller';
import type { Node, NodeAPI } from './shared/red';
import { redLogger, sharedRouteService } from './shared/route-services';

export = function register(RED: NodeAPI): void {
  function FailoverControllerNode(this: Node, def: ControllerNodeDef): void {
    RED.nodes.createNode(this, def);
    const controller = new FailoverController(this, def, {
      translate: (key, substitutions) => RED._(key, substitutions),
      getNode: (id) => RED.nodes.getNode(id),
      routes: (options) => sharedRouteService({ ...options, logger: redLogger(RED) }),
      missingCapabilities: () => missingNetCapabilities(),
      // One file per controller, next to the flows, so two controllers never write the same counters (a hand-written
      // id is no path).
      usageFile: (id) => join(RED.settings.userDir ?? join(homedir(), '.node-red'), 'ifacefailover', `usage-${id.replace(/[^A-Za-z0-9_-]/g, '_')}.json`),
      watchDeploys: (listener) => {
        const onStarted = (event: { diff?: { changed?: string[]; removed?: string[] } }): void =>
          listener([...(event.diff?.changed ?? []), ...(event.diff?.removed ?? [])]);
        RED.events.on('flows:started', onStarted);
        return () => RED.events.off('flows:started', onStarted);
      },
    });
    runController(this, controller);
  }
  RED.nodes.registerType('failover-controller', FailoverControllerNode);
};
