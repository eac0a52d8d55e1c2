/**
 * One line of `npm start`'s terminal for one message of the flow: the controller's events, the modem's power
 * and the PPP link, each on a line of its own (Node-RED's debug node would print a 9-line object).
 *
 *   connected primary/eth0 from=- active=primary
 *   modem power on (switched)
 *   ppp fona up ppp0 198.51.100.2
 *   ppp fona down ppp0 (stopped: hung up (poff fona))
 *
 * The demo's flow runs this very function in a function node (its source is copied into the node), so it
 * stands alone: no imports, no helpers outside it, nothing but what a function node's sandbox has.
 */
export function terminalLine(msg: { topic?: unknown; payload?: unknown }): string {
  const p = msg.payload;
  const text = (v: unknown): string => (v === null || v === undefined ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  if (typeof p !== 'object' || p === null || Array.isArray(p)) return `${text(msg.topic)} ${text(p)}`.trim();
  const o = p as Record<string, unknown>;
  // the controller's events (output 1): event, uplink, iface, active, time and the event's own fields
  if (typeof o['event'] === 'string') {
    const where = o['uplink'] ? ` ${text(o['uplink'])}${o['iface'] ? `/${text(o['iface'])}` : ''}` : '';
    const skip = ['event', 'uplink', 'iface', 'time', 'active'];
    const fields = Object.keys(o)
      .filter((k) => !skip.includes(k))
      .map((k) => `${k}=${text(o[k])}`);
    return [`${o['event']}${where}`, ...fields, `active=${text(o['active'])}`].join(' ');
  }
  // the modem's power (fona-power's answer)
  if (o['power'] === 'on' || o['power'] === 'off') {
    return `modem power ${o['power']} (${o['changed'] === false ? `already ${o['power']}` : 'switched'})`;
  }
  // the PPP link (ppp-control's up, down, and a failed step of bringing the modem up)
  if ((o['state'] === 'up' || o['state'] === 'down' || o['state'] === 'failed') && typeof o['peer'] === 'string') {
    const head = ['ppp', o['peer'], o['state'], o['iface']].map(text).join(' ');
    if (o['state'] === 'up') return o['address'] ? `${head} ${text(o['address'])}` : head;
    const why = [o['reason'] ?? o['step'], o['message']].filter((d) => typeof d === 'string' && d !== '').join(': ');
    return why ? `${head} (${why})` : head;
  }
  return `${text(msg.topic)} ${JSON.stringify(o)}`.trim();
}
