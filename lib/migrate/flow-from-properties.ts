/**
 * `ifacefailover import FILE.properties`: turns an ifacefailover properties file into an equivalent
 * Node-RED flow: uplink config nodes in file order, a failover-controller, and each route's handlers from
 * their typed specs (the properties reader's, the same the headless service runs):
 *   log  -> a function writing the guide's lines plus a debug node;
 *   http -> the pattern of example 03 (a queue function, http request nodes, a back-off delay): every http
 *           handler of the file shares one queue, as in the service, so events arrive in the order they
 *           happened; each handler's POST node carries its headers and basic auth (the user and password
 *           go to Node-RED credentials), and the queue's table its timeout, retryDelay and maxRetry;
 *   fona -> fona-power and ppp-control on setup/teardown.
 * What a flow cannot reproduce is a warning. Credentials are returned separately, never inside the flow.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import type { LifecycleEventType } from '../engine/events';
import { quoteValue } from '../errors';
import type { FonaHandlerSpec, HandlerSpec, HttpHandlerSpec, LogHandlerSpec } from '../properties/handler-specs';
import { HTTP_SUFFIX_KWARGS } from '../properties/http-kwargs';
import { ServiceProperties } from '../properties/ifacefailover-properties';
import { DEFAULT_METERING, UplinkConfig } from '../uplink/model';

export type FlowNode = { id: string; type: string; [key: string]: unknown };

export interface ImportedFlow {
  flow: FlowNode[];
  /** Node id -> credentials, in Node-RED's credentials format (see encryptCredentials). */
  credentials: Record<string, Record<string, string>>;
  warnings: string[];
}

/** The original logHandler's wording, as a Node-RED function node body (runs in the flow, not here). */
const GUIDE_LOG_FUNCTION = `// The original ifacefailover logHandler's lines.
const name = env.get('ROUTE_NAME') || msg.payload.uplink;
const p = msg.payload;
let line = null;
switch (msg.topic) {
  case 'setup': line = 'Setting up connection to ' + name; break;
  case 'teardown': line = 'Tearing down connection to ' + name; break;
  case 'connectionFailed': line = 'Connection failed on ' + name; break;
  case 'connectionRestored': line = 'Connection restored to ' + name; break;
  case 'connected': line = (p.from ? 'Failing over to ' : 'Connected to ') + name; break;
  case 'available': line = 'upRoutes=' + p.up.join(', ') + '; downRoutes=' + p.down.join(', '); break;
}
if (line === null) return null;
node.log(line);
msg.payload = line;
return msg;`;

/**
 * The shared queue of the http handlers, as a Node-RED function node body (runs in the flow, not here):
 * example 03's queue, with a table of the handlers (one output each, to its POST node) in place of its
 * constants, and the headless service's rules: one request in flight, 2xx delivers, no answer / 408 / 425 /
 * 429 / 5xx are retried after retryDelay doubled per failure up to 30 s, any other status drops that event,
 * maxRetry attempts at most (0: until delivered), at most 1000 waiting. HANDLERS is put in front of it.
 */
const HTTP_QUEUE_FUNCTION = `const MAX_RETRY_DELAY_MS = 30000; // the back-off doubles up to this, as in the headless service
const MAX_QUEUE = 1000;            // beyond this many waiting, the oldest is dropped
const BACK_OFF = HANDLERS.length;  // the output to the back-off delay node; outputs before it: one POST node per handler
//
// In:  an event with msg.url and msg.handler (from the change node of its event) -> queued
//      msg.ack true/false (from "delivered"/"failed")                            -> settles the request in flight
//      topic "retry" (back from "back-off")                                      -> the head goes again
//      topic "resume" (the inject, when the flow starts)                         -> sends what a redeploy left queued

const queue = context.get('queue') || [];

function send(output, message) {
    const out = HANDLERS.map(() => null).concat([null]);
    out[output] = message;
    node.send(out);
}

function sendHead() {
    const retryAt = context.get('retryAt');
    if (context.get('inFlight') || (retryAt && Date.now() < retryAt)) return;
    // Left from before a re-import: a notification whose handler is gone cannot be sent.
    while (queue.length > 0 && !HANDLERS[queue[0].handler]) node.warn('dropped ' + queue.shift().url + ': its http handler is no longer in this flow');
    if (queue.length === 0) return;
    const head = queue[0];
    head.attempts += 1;
    const attempt = head.id + '#' + head.attempts;
    context.set('inFlight', attempt);
    context.set('retryAt', null);
    // Redirects are not followed: a 3xx is the receiver's final word, as for the headless service.
    send(head.handler, { topic: head.topic, url: head.url, payload: head.body, requestTimeout: HANDLERS[head.handler].timeoutMs, followRedirects: false, notification: attempt });
}

if (msg.topic === 'retry' || msg.topic === 'resume') {
    if (msg.topic === 'retry') context.set('retryAt', null);
    sendHead();
} else if (msg.ack === true || msg.ack === false) {
    if (msg.notification !== context.get('inFlight') || queue.length === 0) return null; // a late answer to an attempt already given up on
    context.set('inFlight', null);
    const head = queue[0];
    const handler = HANDLERS[head.handler];
    const code = msg.statusCode;
    const final = typeof code === 'number' && code >= 300 && code < 500 && code !== 408 && code !== 425 && code !== 429;
    if (msg.ack) {
        queue.shift();
    } else if (final) {
        queue.shift();
        node.warn('dropped ' + head.url + ': HTTP ' + code + (code < 400 ? ' (redirects are not followed: use the final URL)' : ' (the same request would fail again)'));
    } else if (handler.maxRetry > 0 && head.attempts >= handler.maxRetry) {
        queue.shift();
        node.warn('giving up on ' + head.url + ' after ' + head.attempts + ' attempts');
    } else {
        const delay = Math.min(MAX_RETRY_DELAY_MS, handler.retryDelayMs * Math.pow(2, head.attempts - 1));
        context.set('retryAt', Date.now() + delay);
        send(BACK_OFF, { topic: 'retry', delay: delay });
    }
    sendHead();
} else if (typeof msg.url === 'string' && msg.url !== '' && typeof msg.handler === 'number') {
    const id = (context.get('seq') || 0) + 1;
    context.set('seq', id);
    // The body the headless service posts: the controller's event without its "active".
    const body = Object.assign({}, msg.payload);
    delete body.active;
    queue.push({ id: id, topic: msg.topic, url: msg.url, handler: msg.handler, body: JSON.stringify(body), attempts: 0 });
    if (queue.length > MAX_QUEUE) {
        const lost = queue.splice(context.get('inFlight') ? 1 : 0, 1)[0];
        node.warn('queue full: dropped ' + lost.url);
    }
    sendHead();
} else {
    node.warn('not queued: the message has no msg.url and msg.handler');
}
context.set('queue', queue);
if (queue.length === 0) node.status({ fill: 'green', shape: 'dot', text: 'all delivered' });
else node.status({ fill: 'yellow', shape: 'ring', text: queue.length + ' waiting, attempt ' + queue[0].attempts });
return null;
`;

const HTTP_QUEUE_FINALIZE = `// Stopped or redeployed: the request in flight and the pending back-off belong to the old flow (the delay
// node drops its timers on close). What is still queued stays in this node's context; the "resume" inject
// sends it again, head first, when the flow starts.
context.set('inFlight', null);
context.set('retryAt', null);
node.status({});
`;

class IdMaker {
  private n = 0;
  constructor(private readonly seed: string) {}
  next(): string {
    this.n++;
    return createHash('sha256').update(`${this.seed}:${this.n}`).digest('hex').slice(0, 16);
  }
}

/** Where a warning about one handler points: its file, line and route. */
function at(props: ServiceProperties, handler: HandlerSpec, routeName: string): string {
  return `${props.file}:${handler.line}: route "${routeName}"`;
}

/** The lifecycle events an http handler posts, in the order of the suffix table. */
function postedEvents(spec: HttpHandlerSpec): [LifecycleEventType, string][] {
  const events = Object.keys(HTTP_SUFFIX_KWARGS) as LifecycleEventType[];
  return events.flatMap((event): [LifecycleEventType, string][] => {
    const suffix = spec.suffixes[event];
    return suffix === undefined ? [] : [[event, suffix]];
  });
}

/**
 * The http request node's headers: what the service sends besides the body. The body goes out as a JSON
 * string (byte for byte the service's), so Content-Type is set here unless the file sets its own; with basic
 * auth the file's own Authorization header is left out, as the service's auth replaces it.
 */
function requestHeaders(spec: HttpHandlerSpec): { keyType: string; keyValue: string; valueType: string; valueValue: string }[] {
  const given = Object.entries(spec.headers).filter(([name]) => !(spec.auth && name.toLowerCase() === 'authorization'));
  const all = given.some(([name]) => name.toLowerCase() === 'content-type') ? given : [['Content-Type', 'application/json'], ...given];
  return all.map(([name, value]) => ({ keyType: 'other', keyValue: name, valueType: 'other', valueValue: value }));
}

/** What of an http handler a flow cannot reproduce, as warnings. */
function httpGaps(spec: HttpHandlerSpec, where: string): string[] {
  return Object.entries(spec.headers)
    .filter(([, value]) => value === '')
    .map(([name]) => `${where} http handler: header ${quoteValue(name)} has an empty value, which the http request node leaves out`);
}

function uplinkNode(id: string, u: UplinkConfig, props: ServiceProperties): FlowNode {
  return {
    id,
    type: 'uplink',
    name: u.name,
    iface: u.iface,
    gateway: u.gateway ?? '',
    gateway6: u.gateway6 ?? '',
    targets: u.targets.join(','),
    checks: u.checks.map((c) => c.text).join('\n'),
    interval: u.probe.interval,
    timeout: u.probe.timeout,
    retries: u.probe.retries,
    down: u.probe.down,
    up: u.probe.up,
    reliability: u.probe.reliability,
    profile: u.probe.profile,
    setupTimeout: u.setupTimeout,
    pinMode: u.pinMode ?? props.pinMode,
    dns: u.dns.join(','),
    prepare: u.prepare,
    qualityWindow: u.quality.window,
    latencyHigh: u.quality.latencyHigh,
    latencyLow: u.quality.latencyLow,
    lossHigh: u.quality.lossHigh,
    lossLow: u.quality.lossLow,
    onDegraded: u.quality.onDegraded,
    metered: u.metered !== undefined,
    idleInterval: (u.metered ?? DEFAULT_METERING).idleInterval,
    budget: (u.metered ?? DEFAULT_METERING).budget,
    budgetAlerts: (u.metered ?? DEFAULT_METERING).budgetAlerts.join(','),
    budgetResetDay: (u.metered ?? DEFAULT_METERING).budgetResetDay,
  };
}

export function flowFromProperties(props: ServiceProperties): ImportedFlow {
  const ids = new IdMaker(props.file);
  const warnings: string[] = [];
  const credentials: ImportedFlow['credentials'] = {};
  const tab = ids.next();
  const flow: FlowNode[] = [
    { id: tab, type: 'tab', label: 'ifacefailover', info: `Imported from ${props.file} by \`ifacefailover import\`.`, disabled: false },
  ];
  const uplinkIds = props.routes.map((route) => {
    const id = ids.next();
    flow.push(uplinkNode(id, route.uplink, props));
    return id;
  });

  const controller = ids.next();
  const byUplinkEvents = ids.next();
  const byUplinkRounds = ids.next();
  const routeNames = props.routes.map((r) => r.uplink.name);
  // Filled below as handlers are added; the routers' wires point at these arrays.
  const perRoute = routeNames.map(() => [] as string[]);
  const perRouteRounds = routeNames.map(() => [] as string[]);
  flow.push({
    id: controller,
    type: 'failover-controller',
    z: tab,
    name: 'ifacefailover',
    uplinks: uplinkIds,
    dryRun: false,
    setupRetry: 60,
    resetConnections: props.resetConnections,
    dns: props.dnsMethod,
    // The service's file is the service's: the controller keeps its own counters under Node-RED's userDir.
    usageFile: '',
    usageReport: props.usageReport,
    x: 160,
    y: 120,
    wires: [[byUplinkEvents], [byUplinkRounds]],
  });
  const router = (id: string, y: number, label: string, wires: string[][]): FlowNode => ({
    id,
    type: 'switch',
    z: tab,
    name: label,
    property: 'payload.uplink',
    propertyType: 'msg',
    rules: routeNames.map((name) => ({ t: 'eq', v: name, vt: 'str' })),
    checkall: 'false',
    repair: false,
    outputs: routeNames.length,
    x: 400,
    y,
    wires,
  });
  flow.push(router(byUplinkEvents, 100, 'events by uplink', perRoute), router(byUplinkRounds, 160, 'rounds by uplink', perRouteRounds));

  // Every http handler's events go through one queue (its id is known before the handlers are laid out).
  const http = new HttpQueue(ids, tab);
  let y = 240;
  props.routes.forEach((route, index) => {
    const name = route.uplink.name;
    for (const handler of route.handlers) {
      let added: HandlerNodes;
      switch (handler.kind) {
        case 'log':
          added = logNodes(handler, tab, ids, y);
          break;
        case 'http':
          warnings.push(...httpGaps(handler, at(props, handler, name)));
          added = http.add(handler, name, y, credentials);
          break;
        case 'fona':
          added = fonaNodes(handler, route.uplink, tab, ids, y);
          break;
        default:
          warnings.push(`${at(props, handler, name)} handler ${quoteValue(handler.path)} has no Node-RED equivalent; left out`);
          continue;
      }
      perRoute[index].push(...added.events);
      perRouteRounds[index].push(...added.rounds);
      flow.push(...added.nodes);
      y += added.height;
    }
  });
  flow.push(...http.sharedNodes(props.file, y));
  return { flow, credentials, warnings };
}

interface HandlerNodes {
  nodes: FlowNode[];
  /** Node ids that take this route's lifecycle events. */
  events: string[];
  /** Node ids that take this route's probe rounds. */
  rounds: string[];
  height: number;
}

function logNodes(spec: LogHandlerSpec, tab: string, ids: IdMaker, y: number): HandlerNodes {
  const fn = ids.next();
  const debug = ids.next();
  return {
    nodes: [
      { id: fn, type: 'function', z: tab, name: `log ${spec.name}`, func: GUIDE_LOG_FUNCTION, outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], env: [{ name: 'ROUTE_NAME', value: spec.name, type: 'str' }], x: 660, y, wires: [[debug]] },
      { id: debug, type: 'debug', z: tab, name: `${spec.name} log`, active: true, tosidebar: true, console: false, tostatus: false, complete: 'payload', targetType: 'msg', statusVal: '', statusType: 'auto', x: 880, y, wires: [] },
    ],
    events: [fn],
    rounds: [fn],
    height: 60,
  };
}

/**
 * The http handlers of a file on one queue (example 03's pattern): per handler a switch picking its events
 * and a change node per event setting msg.url and msg.handler, feeding the shared queue; per handler a POST
 * node; shared: the queue, "2xx?", "delivered"/"failed", the back-off delay and the "resume" inject.
 */
class HttpQueue {
  private readonly queue: string;
  private readonly check: string;
  /** One row of the queue's HANDLERS table per handler, and its POST node. */
  private readonly handlers: { route: string; timeoutMs: number; retryDelayMs: number; maxRetry: number; post: string }[] = [];

  constructor(
    private readonly ids: IdMaker,
    private readonly tab: string,
  ) {
    this.queue = ids.next();
    this.check = ids.next();
  }

  add(spec: HttpHandlerSpec, routeName: string, y: number, credentials: ImportedFlow['credentials']): HandlerNodes {
    const events = postedEvents(spec);
    // The service's handler posts nothing either (the properties reader has warned about it).
    if (events.length === 0) return { nodes: [], events: [], rounds: [], height: 0 };
    const index = this.handlers.length;
    const select = this.ids.next();
    const post = this.ids.next();
    const setters = events.map(() => this.ids.next());
    this.handlers.push({ route: routeName, timeoutMs: spec.timeoutMs, retryDelayMs: spec.retryDelayMs, maxRetry: spec.maxRetry, post });
    if (spec.auth) credentials[post] = { user: spec.auth.user, password: spec.auth.password };
    const nodes: FlowNode[] = [
      {
        id: select,
        type: 'switch',
        z: this.tab,
        name: `${routeName}: events to post`,
        property: 'topic',
        propertyType: 'msg',
        rules: events.map(([event]) => ({ t: 'eq', v: event, vt: 'str' })),
        checkall: 'false',
        repair: false,
        outputs: events.length,
        x: 660,
        y,
        wires: setters.map((s) => [s]),
      },
      ...events.map(([, suffix], i) => ({
        id: setters[i],
        type: 'change',
        z: this.tab,
        name: suffix,
        rules: [
          { t: 'set', p: 'url', pt: 'msg', to: spec.url + suffix, tot: 'str' },
          { t: 'set', p: 'handler', pt: 'msg', to: String(index), tot: 'num' },
        ],
        x: 880,
        y: y + i * 40,
        wires: [[this.queue]],
      })),
      {
        id: post,
        type: 'http request',
        z: this.tab,
        name: `POST ${spec.url}`,
        method: 'POST',
        ret: 'txt',
        paytoqs: 'ignore',
        url: '',
        tls: '',
        persist: false,
        proxy: '',
        insecureHTTPParser: false,
        authType: spec.auth ? 'basic' : '',
        senderr: false,
        headers: requestHeaders(spec),
        x: 1760,
        y: 240 + index * 40,
        wires: [[this.check]],
      },
    ];
    return { nodes, events: [select], rounds: [], height: events.length * 40 + 20 };
  }

  /** The queue and its loop, once there is a handler that posts. */
  sharedNodes(file: string, y: number): FlowNode[] {
    if (this.handlers.length === 0) return [];
    const [delivered, failed, backOff, resume] = [this.ids.next(), this.ids.next(), this.ids.next(), this.ids.next()];
    const table = this.handlers
      .map((h) => `    { route: ${JSON.stringify(h.route)}, timeoutMs: ${h.timeoutMs}, retryDelayMs: ${h.retryDelayMs}, maxRetry: ${h.maxRetry} },`)
      .join('\n');
    const func =
      `// The http handlers of ${JSON.stringify(file)}, in the order of this node's outputs (each to its POST node):\n` +
      '// timeoutMs per request, retryDelayMs before the first retry (doubled after each failure), maxRetry\n' +
      '// attempts per event before it is given up (0: until delivered).\n' +
      `const HANDLERS = [\n${table}\n];\n` +
      HTTP_QUEUE_FUNCTION;
    const tab = this.tab;
    const ack = (id: string, name: string, value: boolean, yy: number): FlowNode => ({
      id,
      type: 'change',
      z: tab,
      name,
      rules: [{ t: 'set', p: 'ack', pt: 'msg', to: String(value), tot: 'bool' }],
      x: 2140,
      y: yy,
      wires: [[this.queue]],
    });
    return [
      {
        id: this.queue,
        type: 'function',
        z: tab,
        name: 'http queue',
        func,
        outputs: this.handlers.length + 1,
        timeout: 0,
        noerr: 0,
        initialize: '',
        finalize: HTTP_QUEUE_FINALIZE,
        libs: [],
        x: 1540,
        y: 240,
        wires: [...this.handlers.map((h) => [h.post]), [backOff]],
      },
      {
        id: this.check,
        type: 'switch',
        z: tab,
        name: '2xx?',
        property: 'statusCode',
        propertyType: 'msg',
        rules: [{ t: 'btwn', v: '200', vt: 'num', v2: '299', v2t: 'num' }, { t: 'else' }],
        checkall: 'false',
        repair: false,
        outputs: 2,
        x: 1960,
        y: 240,
        wires: [[delivered], [failed]],
      },
      ack(delivered, 'delivered', true, 220),
      ack(failed, 'failed', false, 260),
      {
        id: backOff,
        type: 'delay',
        z: tab,
        name: 'back-off',
        pauseType: 'delayv',
        timeout: '1',
        timeoutUnits: 'seconds',
        rate: '1',
        nbRateUnits: '1',
        rateUnits: 'second',
        randomFirst: '1',
        randomLast: '5',
        randomUnits: 'seconds',
        drop: false,
        allowrate: false,
        outputs: 1,
        x: 1760,
        y: Math.max(y, 240 + this.handlers.length * 40 + 40),
        wires: [[this.queue]],
      },
      {
        id: resume,
        type: 'inject',
        z: tab,
        name: 'resume',
        props: [{ p: 'topic', vt: 'str' }],
        repeat: '',
        crontab: '',
        once: true,
        onceDelay: '1',
        topic: 'resume',
        x: 1540,
        y: Math.max(y, 240 + this.handlers.length * 40 + 40),
        wires: [[this.queue]],
      },
    ];
  }
}

function fonaNodes(spec: FonaHandlerSpec, uplink: UplinkConfig, tab: string, ids: IdMaker, y: number): HandlerNodes {
  const { settings } = spec;
  const select = ids.next();
  const powerOn = ids.next();
  const dial = ids.next();
  const hangUp = ids.next();
  const powerOff = ids.next();
  const onMsg = ids.next();
  const offMsg = ids.next();
  const startMsg = ids.next();
  const stopMsg = ids.next();
  const power = (id: string, label: string, yy: number, wires: string[][]): FlowNode => ({
    id,
    type: 'fona-power',
    z: tab,
    name: label,
    powerStatusPin: settings.powerStatusPin,
    keyPin: settings.keyPin,
    driver: settings.gpio,
    gpiochip: settings.gpiochip,
    keyPulse: settings.keyPulseMs / 1000,
    statusTimeout: settings.statusTimeoutMs / 1000,
    x: 1100,
    y: yy,
    wires,
  });
  const ppp = (id: string, label: string, yy: number, wires: string[][]): FlowNode => ({
    id,
    type: 'ppp-control',
    z: tab,
    name: label,
    peer: settings.peer,
    iface: uplink.iface,
    // As the service's FONA handler: the engine bounds the wait (setupTimeout); this only matters if it does not.
    upTimeout: Math.min(3600, Math.max(1, uplink.setupTimeout) + 5),
    redial: false,
    redialDelay: 10,
    dialer: 'pon',
    startCommand: '',
    stopCommand: '',
    // The fona-power nodes beside it switch the modem (this flow sequences them itself): no modem here.
    modem: 'none',
    powerStatusPin: settings.powerStatusPin,
    keyPin: settings.keyPin,
    driver: settings.gpio,
    gpiochip: settings.gpiochip,
    keyPulse: settings.keyPulseMs / 1000,
    statusTimeout: settings.statusTimeoutMs / 1000,
    x: 1320,
    y: yy,
    wires,
  });
  const set = (id: string, word: string, yy: number, wire: string): FlowNode => ({
    id,
    type: 'change',
    z: tab,
    name: word,
    rules: [{ t: 'set', p: 'payload', pt: 'msg', to: word, tot: 'str' }],
    x: 880,
    y: yy,
    wires: [[wire]],
  });
  return {
    nodes: [
      {
        id: select,
        type: 'switch',
        z: tab,
        name: `${uplink.name}: modem`,
        property: 'topic',
        propertyType: 'msg',
        rules: [
          { t: 'eq', v: 'setup', vt: 'str' },
          { t: 'eq', v: 'teardown', vt: 'str' },
        ],
        checkall: 'false',
        repair: false,
        outputs: 2,
        x: 660,
        y,
        wires: [[onMsg], [stopMsg]],
      },
      set(onMsg, 'on', y, powerOn),
      power(powerOn, 'power on', y, [[startMsg]]),
      set(startMsg, 'start', y + 40, dial),
      ppp(dial, 'dial', y + 40, [[], []]),
      set(stopMsg, 'stop', y + 80, hangUp),
      ppp(hangUp, 'hang up', y + 80, [[offMsg], [offMsg]]),
      set(offMsg, 'off', y + 120, powerOff),
      power(powerOff, 'power off', y + 120, [[]]),
    ],
    events: [select],
    rounds: [],
    height: 180,
  };
}

/**
 * Node-RED's credentials file format: plain JSON when credentialSecret is false, else
 * {"$": hex(iv) + base64(aes-256-ctr(JSON))} with the key sha256(secret).
 */
export function encryptCredentials(credentials: Record<string, unknown>, secret: string | false): Record<string, unknown> {
  if (secret === false) return credentials;
  const key = createHash('sha256').update(secret).digest();
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  return { $: iv.toString('hex') + cipher.update(JSON.stringify(credentials), 'utf8', 'base64') + cipher.final('base64') };
}
