/**
 * The `uplink` config node's properties, and how they become a validated core UplinkConfig.
 * Nodes that use an uplink read `uplink` (valid) or `problem` (why not) from the config node.
 */
import { UplinkConfig, validateUplinks } from '../../lib/uplink/model';
import type { Node, NodeDef } from './red';

export interface UplinkNodeDef extends NodeDef {
  iface: string;
  gateway: string;
  targets: string;
  interval: string | number;
  timeout: string | number;
  retries: string | number;
  down: string | number;
  up: string | number;
  reliability: string | number;
  setupTimeout: string | number;
  pinMode: string;
  /** Comma-separated DNS servers (empty: learnt). */
  dns?: string;
  /** on-failure | early | standby (absent in flows from before the option: on-failure). */
  prepare?: string;
  /** standard | fast (absent in flows from before the option: standard). */
  profile?: string;
}

export interface UplinkNode extends Node {
  uplink: UplinkConfig | null;
  problem: string | null;
}

/** The editor leaves empty fields as ''; the model's defaults apply to those. */
function blankToUndefined(v: string | number | undefined): string | number | undefined {
  return v === '' || v === undefined ? undefined : v;
}

export function uplinkFromDef(def: UplinkNodeDef): UplinkConfig {
  const [uplink] = validateUplinks([
    {
      name: def.name || def.iface,
      iface: def.iface,
      gateway: def.gateway,
      targets: def.targets,
      probe: {
        interval: blankToUndefined(def.interval),
        timeout: blankToUndefined(def.timeout),
        retries: blankToUndefined(def.retries),
        down: blankToUndefined(def.down),
        up: blankToUndefined(def.up),
        reliability: blankToUndefined(def.reliability),
        profile: def.profile || undefined,
      },
      setupTimeout: blankToUndefined(def.setupTimeout),
      pinMode: def.pinMode || undefined,
      dns: def.dns,
      prepare: def.prepare || undefined,
    },
  ]);
  return uplink;
}


/** Looks up an uplink config node by id: its validated uplink, or a sentence saying why there is none. */
export function lookupUplink(
  getNode: (id: string) => unknown,
  id: string | undefined,
): { uplink: UplinkConfig; problem?: undefined } | { uplink?: undefined; problem: string } {
  if (!id) return { problem: 'no uplink is selected' };
  const node = getNode(id) as UplinkNode | null;
  if (!node) return { problem: `uplink config node ${id} is not deployed` };
  if (!node.uplink) return { problem: node.problem ?? 'the uplink is invalid' };
  return { uplink: node.uplink };
}
