/**
 * `route-verifier`: probes one uplink (ICMP through its interface, and its checks) when a message arrives and, with an
 * interval, on its own timer. Output 1 when the round is good, output 2 when it is not. The behaviour
 * lives in VerifierController (route-verifier/controller.ts).
 */
import { readLinkState } from '../lib/linkwatch/link-watch';
import { MixedProbe } from '../lib/probes/mixed-probe';
import { RouteVerifierDef, VerifierController } from './route-verifier/controller';
import { runController } from './shared/controller';
import type { Node, NodeAPI } from './shared/red';
import { redLogger, sharedRouteService } from './shared/route-services';

export = function register(RED: NodeAPI): void {
  function RouteVerifierNode(this: Node, def: RouteVerifierDef): void {
    RED.nodes.createNode(this, def);
    const controller = new VerifierController(this, def, {
      translate: (key, substitutions) => RED._(key, substitutions),
      getNode: (id) => RED.nodes.getNode(id),
      evaluate: (value, type, msg) =>
        new Promise<unknown>((resolve, reject) => {
          RED.util.evaluateNodeProperty(value, type, this, msg, (err, result: unknown) => (err ? reject(err) : resolve(result)));
        }),
      routes: () => sharedRouteService({ dryRun: false, logger: redLogger(RED) }),
      probe: new MixedProbe(),
      readLink: (iface) => readLinkState(iface),
    });
    runController(this, controller);
  }
  RED.nodes.registerType('route-verifier', RouteVerifierNode);
};
