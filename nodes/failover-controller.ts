/**
 * `failover-controller` node: keeps the default route on the best working uplink of an ordered list of
 * uplink config nodes. Output 1 carries the lifecycle (setup, teardown, connectionFailed, connected,
 * connectionRestored) and notices, output 2 one message per probe round. The behaviour lives in
 * FailoverController (nodes/shared/controller-runtime.ts); this file only wires it to Node-RED.
 */
import { missingNetCapabilities } from '../lib/service/capabilities';
import { ControllerNodeDef, FailoverController } from './shared/controller-runtime';
import { errorText } from './shared/errors';
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
      watchDeploys: (listener) => {
        const onStarted = (event: { diff?: { changed?: string[]; removed?: string[] } }): void =>
          listener([...(event.diff?.changed ?? []), ...(event.diff?.removed ?? [])]);
        RED.events.on('flows:started', onStarted);
        return () => RED.events.off('flows:started', onStarted);
      },
    });
    this.on('input', (msg, send, done) => controller.input(msg, send, done));
    this.on('close', (_removed: boolean, done: () => void) => {
      void controller.close().then(done, (e: unknown) => {
        this.error(errorText(e));
        done();
      });
    });
    controller.start();
  }
  RED.nodes.registerType('failover-controller', FailoverControllerNode);
};
