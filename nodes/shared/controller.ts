/**
 * The one shape of every non-config node. The node file creates the node, builds the services and a
 * controller, and hands both to runController, which wires Node-RED's 'input' and 'close' to it.
 * A controller handles one message in handle(); whatever that throws reaches done(err) (Catch nodes)
 * through fail() alone, after the badge an InputError carries.
 */
import { asError, errorMessage, InputError } from './errors';
import type { Node, NodeMessage, NodeMessageInFlow } from './red';
import { StatusBadge } from './status';

export type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;
export type Done = (err?: Error) => void;
/** RED._ */
export type Translate = (key: string, substitutions?: Record<string, string | number>) => string;

export abstract class NodeController {
  protected readonly badge: StatusBadge;

  protected constructor(
    protected readonly node: Node,
    /** The node type: the catalog its texts come from. */
    private readonly ns: string,
    private readonly translate: Translate,
  ) {
    this.badge = new StatusBadge(node);
  }

  /** A text of this node's catalog (`status.up` is `<type>.status.up`). */
  protected t(key: string, substitutions?: Record<string, string | number>): string {
    return this.translate(`${this.ns}.${key}`, substitutions);
  }

  /** Called once, after 'input' and 'close' are wired: deploy-time checks, badges, timers. */
  start(): void {}

  /**
   * Settings the node cannot work with: a red ring and one error in the log, at deploy. Returns the sentence,
   * which the node's inputs then fail with.
   */
  protected refuseSettings(problem: string): string {
    const sentence = this.t('errors.config', { problem });
    this.badge.error(this.t('status.invalid'));
    this.node.error(sentence);
    return sentence;
  }

  /** Node-RED's 'input': done() once the message is handled, done(err) if it failed. */
  input(msg: NodeMessageInFlow, send: Send, done: Done): void {
    let handled: Promise<void>;
    try {
      handled = this.handle(msg, send);
    } catch (e) {
      handled = Promise.reject(e);
    }
    handled.then(
      () => done(),
      (e: unknown) => this.fail(e, done),
    );
  }

  /** The one failure path: the error's badge, then done(err). */
  protected fail(e: unknown, done: Done): void {
    if (e instanceof InputError && e.badge) this.badge.show(e.badge);
    done(asError(e));
  }

  /** Handles one message; resolves when it is finished (sent, or finished without output). */
  protected abstract handle(msg: NodeMessageInFlow, send: Send): Promise<void>;

  /** Stops everything the node started; `removed` when the node was deleted rather than redeployed. */
  abstract close(removed: boolean): Promise<void>;
}

/** Wires the node's 'input' and 'close' to its controller, then starts it. */
export function runController(node: Node, controller: NodeController): void {
  node.on('input', (msg, send, done) => controller.input(msg, send, done));
  node.on('close', (removed: boolean, done: () => void) => {
    // Controllers report their own close problems; this only makes sure Node-RED is never left waiting.
    controller.close(removed).then(done, (e: unknown) => {
      node.error(errorMessage(e));
      done();
    });
  });
  controller.start();
}
