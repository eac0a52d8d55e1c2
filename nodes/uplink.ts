/**
 * `uplink` config node: one way to the internet (interface, gateway, targets, probe settings, pin mode),
 * validated with the core's rules when deployed; the editor validates the same fields as they are typed.
 */
import { errorMessage } from '../lib/errors';
import type { NodeAPI } from './shared/red';
import { UplinkNode, UplinkNodeDef, uplinkFromDef } from './shared/uplink-def';

export = function register(RED: NodeAPI): void {
  function UplinkConfigNode(this: UplinkNode, def: UplinkNodeDef): void {
    RED.nodes.createNode(this, def);
    this.uplink = null;
    this.problem = null;
    try {
      this.uplink = uplinkFromDef(def);
    } catch (e) {
      this.problem = errorMessage(e);
      this.error(RED._('uplink.errors.invalid', { problem: this.problem }));
    }
  }
  RED.nodes.registerType('uplink', UplinkConfigNode);
};
