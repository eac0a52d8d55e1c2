/** The Node-RED API types this package uses, in one place. */
export type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow, NodeStatus } from 'node-red';
