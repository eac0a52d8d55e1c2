/**
 * `ppp-control`: starts and stops a PPP dial-up peer and reports its interface going up (with its address)
 * and down (with the reason), also when the link drops by itself. Input 'start' | 'stop' | 'status', or the
 * failover-controller's events wired straight in (`setup`/`teardown` of its interface: with a modem, power on
 * then dial, hang up then power off); output 1 up, output 2 down. Redial with back-off is optional. Without the dialer on PATH (no ppp
 * package) it still deploys, with a grey "not available" badge. The behaviour lives in PppController
 * (ppp-control/controller.ts).
 */
import { openGpio } from '../lib/gpio/select';
import { LinkWatch } from '../lib/linkwatch/link-watch';
import { findOnPath } from '../lib/process/command';
import { PppLink } from '../lib/ppp/ppp-link';
import { PppControlDef, PppController } from './ppp-control/controller';
import { runController } from './shared/controller';
import type { Node, NodeAPI } from './shared/red';
import { nodeLogger } from './shared/route-services';

export = function register(RED: NodeAPI): void {
  function PppControlNode(this: Node, def: PppControlDef): void {
    RED.nodes.createNode(this, def);
    const controller = new PppController(this, def, {
      translate: (key, substitutions) => RED._(key, substitutions),
      findOnPath: (program) => findOnPath(program),
      watchLink: (iface) => new LinkWatch([iface], { logger: nodeLogger(this) }),
      dial: (options) => new PppLink(options),
      openGpio: (options) => openGpio(options),
    });
    runController(this, controller);
  }
  RED.nodes.registerType('ppp-control', PppControlNode);
};
