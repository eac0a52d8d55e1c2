/**
 * Status badges in Node-RED's scheme: green dot = OK, blue/yellow dot = working, red ring = error,
 * grey ring = closed or paused. Text is already translated by the caller (RED._).
 */
import type { Node } from './red';

export type BadgeKind = 'ok' | 'working' | 'warning' | 'error' | 'inactive';

/** A badge to show later (one an InputError carries). */
export interface Badge {
  kind: BadgeKind;
  text: string;
}

export class StatusBadge {
  constructor(private readonly node: Node) {}

  show(badge: Badge): void {
    this[badge.kind](badge.text);
  }

  ok(text: string): void {
    this.node.status({ fill: 'green', shape: 'dot', text });
  }

  working(text: string): void {
    this.node.status({ fill: 'blue', shape: 'dot', text });
  }

  warning(text: string): void {
    this.node.status({ fill: 'yellow', shape: 'ring', text });
  }

  error(text: string): void {
    this.node.status({ fill: 'red', shape: 'ring', text });
  }

  inactive(text: string): void {
    this.node.status({ fill: 'grey', shape: 'ring', text });
  }

  clear(): void {
    this.node.status({});
  }
}
