/** The Node-RED API types this package uses, in one place. */
export type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow, NodeStatus } from 'node-red';

/** msg.payload for one probe round of one uplink (route-verifier's outputs, the controller's output 2). */
export interface ProbeRoundPayload {
  uplink: string;
  iface: string;
  up: string[];
  down: string[];
  rtt: number | null;
  loss: number;
  ok: boolean;
}
