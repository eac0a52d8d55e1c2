/**
 * `ppp-control`: starts and stops a PPP dial-up peer and reports its interface going up (with its address)
 * and down (with the reason), also when the link drops by itself. Input 'start' | 'stop' | 'status';
 * output 1 up, output 2 down. Redial with back-off is optional. Without the dialer on PATH (no ppp
 * package) it still deploys, with a grey "not available" badge.
 */
import { LinkWatch } from '../lib/linkwatch/link-watch';
import { findOnPath } from '../lib/process/command';
import { PPP_DIALERS, PppDialer, PppDownEvent, PppLink, PppStatus, PppUpEvent, isValidPeer } from '../lib/ppp/ppp-link';
import { isValidInterfaceName } from '../lib/uplink/model';
import { asError, errorText } from './shared/errors';
import type { Node, NodeAPI, NodeDef, NodeMessage } from './shared/red';
import { nodeLogger } from './shared/route-services';
import { StatusBadge } from './shared/status';

interface PppControlDef extends NodeDef {
  peer: string;
  iface: string;
  /** Seconds to wait for the interface after the start command. */
  upTimeout: string | number;
  redial: boolean;
  /** Seconds before the first redial (doubling after each failure, up to 5 minutes). */
  redialDelay: string | number;
  dialer: string;
  /** Dialer 'command': program and arguments, separated by spaces (no shell, no quoting). */
  startCommand: string;
  stopCommand: string;
}

interface PppSettings {
  peer: string;
  iface: string;
  upTimeoutMs: number;
  redial: boolean;
  redialDelayMs: number;
  dialer: PppDialer;
  startCommand: string[];
  stopCommand: string[];
}

type Command = 'start' | 'stop' | 'status';
const COMMANDS: readonly Command[] = ['start', 'stop', 'status'];
const blank = (v: unknown): boolean => v === undefined || v === null || v === '';
const words = (text: string | undefined): string[] => (text ?? '').trim().split(/\s+/).filter((w) => w !== '');

function pppSettingsFromDef(def: PppControlDef): PppSettings | string {
  const peer = blank(def.peer) ? 'fona' : def.peer;
  if (!isValidPeer(peer)) return `peer "${def.peer}": the name of a file in /etc/ppp/peers (letters, digits, ".", "_", "-")`;
  const iface = blank(def.iface) ? 'ppp0' : def.iface;
  if (!isValidInterfaceName(iface)) return `interface "${def.iface}": a Linux interface name such as ppp0`;
  const upTimeout = blank(def.upTimeout) ? 60 : Number(def.upTimeout);
  if (!Number.isFinite(upTimeout) || upTimeout < 1 || upTimeout > 3600) return `up timeout ${String(def.upTimeout)}: 1 to 3600 seconds`;
  const redialDelay = blank(def.redialDelay) ? 10 : Number(def.redialDelay);
  if (!Number.isFinite(redialDelay) || redialDelay < 1 || redialDelay > 3600) return `redial delay ${String(def.redialDelay)}: 1 to 3600 seconds`;
  const dialer = (blank(def.dialer) ? 'pon' : def.dialer) as PppDialer;
  if (!PPP_DIALERS.includes(dialer)) return `dialer "${def.dialer}": one of ${PPP_DIALERS.join(', ')}`;
  const startCommand = words(def.startCommand);
  const stopCommand = words(def.stopCommand);
  if (dialer === 'command' && startCommand.length === 0) return 'the command dialer needs a start command';
  return {
    peer,
    iface,
    upTimeoutMs: Math.round(upTimeout * 1000),
    redial: def.redial === true,
    redialDelayMs: Math.round(redialDelay * 1000),
    dialer,
    startCommand,
    stopCommand,
  };
}

function commandOf(msg: NodeMessage): Command | null {
  let value: unknown = msg.payload;
  if (typeof value !== 'string' || value.trim() === '') value = msg.topic;
  if (typeof value !== 'string') return null;
  const command = value.trim().toLowerCase();
  return (COMMANDS as readonly string[]).includes(command) ? (command as Command) : null;
}

interface DownPayload {
  state: 'down';
  iface: string;
  peer: string;
  /** Why: stopped, timeout, start-failed, pppd-exited, link-lost, closed; 'status' for a status answer. */
  reason: string;
  message: string;
  /** Seconds until the next automatic dial, or null. */
  redialIn: number | null;
  /** For a status answer: down, dialing, hanging-up or redial-wait. */
  phase?: string;
}

export = function register(RED: NodeAPI): void {
  function PppControlNode(this: Node, def: PppControlDef): void {
    RED.nodes.createNode(this, def);
    setUp(this, def);
  }

  function setUp(node: Node, def: PppControlDef): void {
    const badge = new StatusBadge(node);
    const settings = pppSettingsFromDef(def);
    let link: PppLink | null = null;
    let links: LinkWatch | null = null;
    let unavailable: string | null = null;
    let closing = false;
    /** Inputs in progress: their own answers replace the events they cause. */
    let starting = 0;
    let stopping = 0;

    const upMsg = (e: PppUpEvent): NodeMessage => ({ topic: 'up', payload: { state: 'up', iface: e.iface, peer: e.peer, address: e.address, cidr: e.cidr } });
    const downMsg = (e: PppDownEvent): NodeMessage => {
      const payload: DownPayload = {
        state: 'down',
        iface: e.iface,
        peer: e.peer,
        reason: e.reason,
        message: e.message,
        redialIn: e.redialInMs === null ? null : e.redialInMs / 1000,
      };
      return { topic: 'down', payload };
    };
    const showState = (s: PppStatus, lastDown?: PppDownEvent): void => {
      switch (s.state) {
        case 'up':
          badge.ok(RED._('ppp-control.status.up', { iface: s.iface, address: s.address ?? '' }));
          break;
        case 'dialing':
          badge.working(RED._('ppp-control.status.dialing', { peer: s.peer }));
          break;
        case 'hanging-up':
          badge.working(RED._('ppp-control.status.hangingUp'));
          break;
        case 'redial-wait':
          badge.warning(RED._('ppp-control.status.redialWait'));
          break;
        default:
          if (lastDown && lastDown.reason !== 'stopped') badge.error(RED._(`ppp-control.status.${lastDown.reason}`));
          else badge.inactive(RED._('ppp-control.status.down'));
      }
    };

    let ready: Promise<void>;
    if (typeof settings === 'string') {
      unavailable = RED._('ppp-control.errors.config', { problem: settings });
      badge.error(RED._('ppp-control.status.invalid'));
      node.error(unavailable);
      ready = Promise.resolve();
    } else {
      const program = settings.dialer === 'command' ? settings.startCommand[0] : settings.dialer;
      ready = Promise.all([findOnPath(program), findOnPath('ip')]).then(async ([dialerPath, ipPath]) => {
        if (closing) return;
        if (!dialerPath || !ipPath) {
          const missing = !dialerPath ? program : 'ip';
          unavailable = RED._('ppp-control.errors.unavailable', { program: missing });
          badge.inactive(RED._('ppp-control.status.unavailable'));
          node.warn(unavailable);
          return;
        }
        const watch = new LinkWatch([settings.iface], { logger: nodeLogger(node) });
        links = watch;
        try {
          await watch.start();
        } catch (e) {
          unavailable = RED._('ppp-control.errors.watch', { error: errorText(e) });
          badge.inactive(RED._('ppp-control.status.unavailable'));
          node.warn(unavailable);
          return;
        }
        if (closing) return;
        const l = new PppLink({
          peer: settings.peer,
          iface: settings.iface,
          dialer: settings.dialer,
          startCommand: settings.startCommand,
          stopCommand: settings.stopCommand,
          upTimeoutMs: settings.upTimeoutMs,
          redial: settings.redial,
          redialDelayMs: settings.redialDelayMs,
          links: watch,
          logger: nodeLogger(node),
        });
        link = l;
        l.on('state', (s) => showState(s));
        l.on('up', (e) => {
          if (starting > 0 || closing) return;
          node.send([upMsg(e), null]);
        });
        l.on('down', (e) => {
          showState(l.status(), e);
          if ((stopping > 0 && e.reason === 'stopped') || closing) return;
          node.send([null, downMsg(e)]);
        });
        // The interface may already be up (a redeploy, or dialled by someone else): show it as it is.
        const state = watch.state(settings.iface);
        if (state.up) badge.ok(RED._('ppp-control.status.present', { iface: settings.iface }));
        else badge.inactive(RED._('ppp-control.status.down'));
      });
    }

    node.on('input', (msg, send, done) => {
      const command = commandOf(msg);
      if (!command) {
        done(new Error(RED._('ppp-control.errors.command', { command: String(typeof msg.payload === 'string' ? msg.payload : JSON.stringify(msg.payload)) })));
        return;
      }
      void ready.then(async () => {
        const l = link;
        if (!l) {
          done(new Error(unavailable ?? RED._('ppp-control.errors.unavailable', { program: 'pon' })));
          return;
        }
        if (command === 'status') {
          const s = l.status();
          if (s.state === 'up' && s.address) {
            send([{ ...msg, topic: 'up', payload: { state: 'up', iface: s.iface, peer: s.peer, address: s.address, cidr: null } }, null]);
          } else {
            const payload: DownPayload = { state: 'down', iface: s.iface, peer: s.peer, reason: 'status', message: s.state, redialIn: null, phase: s.state };
            send([null, { ...msg, topic: 'down', payload }]);
          }
          done();
          return;
        }
        if (command === 'start') {
          starting++;
          try {
            const up = await l.start();
            send([{ ...msg, ...upMsg(up) }, null]);
          } catch {
            // A dial that failed was reported on output 2 (its 'down' event) with the reason; a start cut
            // short by stop or close is answered by those.
          } finally {
            starting--;
          }
          done();
          return;
        }
        stopping++;
        try {
          const down = await l.stop();
          send([null, { ...msg, ...downMsg(down) }]);
          done();
        } catch (e) {
          if (closing) done();
          else done(new Error(RED._('ppp-control.errors.stop', { error: errorText(e) })));
        } finally {
          stopping--;
        }
      }).catch((e: unknown) => done(asError(e)));
    });

    node.on('close', (removed: boolean, done: () => void) => {
      closing = true;
      // Deleted from the flow: hang up. Redeployed: a pon/poff link stays up and the next node adopts it;
      // a pppd child (dialer pppd) never outlives its node. Every timer, command and `ip monitor` ends.
      void ready
        .then(async () => {
          await link?.close({ hangUp: removed });
          await links?.stop();
        })
        .catch((e: unknown) => node.warn(errorText(e)))
        .then(() => {
          badge.clear();
          done();
        });
    });
  }

  RED.nodes.registerType('ppp-control', PppControlNode);
};
