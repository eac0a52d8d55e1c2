/**
 * `ifacefailover import FILE.properties`: turns an ifacefailover properties file into an equivalent
 * Node-RED flow: uplink config nodes in file order, a failover-controller, and each route's handlers
 * (log -> a function writing the guide's lines plus a debug node; http -> http request nodes whose
 * basic auth goes to Node-RED credentials; fona -> fona-power and ppp-control on setup/teardown).
 * Credentials are returned separately, never inside the flow.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { parseFonaKwargs } from '../service/fona-kwargs';
import { HandlerSpec, ServiceProperties } from '../properties/ifacefailover-properties';
import { PyTuple, PyValue } from '../properties/python-literal';

export type FlowNode = { id: string; type: string; [key: string]: unknown };

export interface ImportedFlow {
  flow: FlowNode[];
  /** Node id -> credentials, in Node-RED's credentials format (see encryptCredentials). */
  credentials: Record<string, Record<string, string>>;
  warnings: string[];
}

/** The original httpHandler's kwargs that name a URL suffix, and the event each one posts. */
export const HTTP_SUFFIXES: Readonly<Record<string, string>> = {
  onSetupUrlSuffix: 'setup',
  onTearDownUrlSuffix: 'teardown',
  onConnectionFailedUrlSuffix: 'connectionFailed',
  onConnectionRestoredUrlSuffix: 'connectionRestored',
  onConnectedUrlSuffix: 'connected',
};

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

class IdMaker {
  private n = 0;
  constructor(private readonly seed: string) {}
  next(): string {
    this.n++;
    return createHash('sha256').update(`${this.seed}:${this.n}`).digest('hex').slice(0, 16);
  }
}

function str(v: PyValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
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
    const u = route.uplink;
    const id = ids.next();
    flow.push({
      id,
      type: 'uplink',
      name: u.name,
      iface: u.iface,
      gateway: u.gateway ?? '',
      targets: u.targets.join(','),
      interval: u.probe.interval,
      timeout: u.probe.timeout,
      retries: u.probe.retries,
      down: u.probe.down,
      up: u.probe.up,
      reliability: u.probe.reliability,
      setupTimeout: u.setupTimeout,
      pinMode: u.pinMode ?? props.pinMode,
    });
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

  let y = 240;
  props.routes.forEach((route, index) => {
    route.handlers.forEach((handler) => {
      const added = handlerNodes(handler, route.uplink.name, tab, ids, y, credentials, warnings);
      perRoute[index].push(...added.events);
      perRouteRounds[index].push(...added.rounds);
      flow.push(...added.nodes);
      y += added.height;
    });
  });
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

function handlerNodes(
  handler: HandlerSpec,
  routeName: string,
  tab: string,
  ids: IdMaker,
  y: number,
  credentials: ImportedFlow['credentials'],
  warnings: string[],
): HandlerNodes {
  const kw = handler.kwargs;
  switch (handler.kind) {
    case 'log': {
      const fn = ids.next();
      const debug = ids.next();
      const name = str(kw.name) ?? routeName;
      return {
        nodes: [
          { id: fn, type: 'function', z: tab, name: `log ${name}`, func: GUIDE_LOG_FUNCTION, outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], env: [{ name: 'ROUTE_NAME', value: name, type: 'str' }], x: 660, y, wires: [[debug]] },
          { id: debug, type: 'debug', z: tab, name: `${name} log`, active: true, tosidebar: true, console: false, tostatus: false, complete: 'payload', targetType: 'msg', statusVal: '', statusType: 'auto', x: 880, y, wires: [] },
        ],
        events: [fn],
        rounds: [fn],
        height: 60,
      };
    }
    case 'http': {
      const url = str(kw.url);
      const rules = Object.entries(HTTP_SUFFIXES).filter(([key]) => str(kw[key]) !== undefined);
      if (!url || rules.length === 0) {
        warnings.push(`route ${routeName}: http handler without url or URL suffixes; nothing to post`);
        return { nodes: [], events: [], rounds: [], height: 0 };
      }
      const select = ids.next();
      const request = ids.next();
      const done = ids.next();
      const setters = rules.map(() => ids.next());
      const nodes: FlowNode[] = [
        {
          id: select,
          type: 'switch',
          z: tab,
          name: `${routeName}: events to post`,
          property: 'topic',
          propertyType: 'msg',
          rules: rules.map(([, event]) => ({ t: 'eq', v: event, vt: 'str' })),
          checkall: 'false',
          repair: false,
          outputs: rules.length,
          x: 660,
          y,
          wires: setters.map((s) => [s]),
        },
        ...rules.map(([key], i) => ({
          id: setters[i],
          type: 'change',
          z: tab,
          name: String(kw[key]),
          rules: [{ t: 'set', p: 'url', pt: 'msg', to: url + String(kw[key]), tot: 'str' }],
          x: 880,
          y: y + i * 40,
          wires: [[request]],
        })),
        {
          id: request,
          type: 'http request',
          z: tab,
          name: `POST ${url}`,
          method: 'POST',
          ret: 'txt',
          paytoqs: 'ignore',
          url: '',
          tls: '',
          persist: false,
          proxy: '',
          insecureHTTPParser: false,
          authType: kw.auth instanceof PyTuple ? 'basic' : '',
          senderr: false,
          headers: [],
          x: 1100,
          y,
          wires: [[done]],
        },
        { id: done, type: 'debug', z: tab, name: `${routeName} http`, active: true, tosidebar: true, console: false, tostatus: true, complete: 'statusCode', targetType: 'msg', statusVal: 'statusCode', statusType: 'msg', x: 1300, y, wires: [] },
      ];
      if (kw.auth instanceof PyTuple) {
        const [user, password] = kw.auth.items;
        credentials[request] = { user: String(user ?? ''), password: String(password ?? '') };
      }
      return { nodes, events: [select], rounds: [], height: Math.max(1, rules.length) * 40 + 40 };
    }
    case 'fona': {
      const { settings } = parseFonaKwargs(kw);
      if (!settings) {
        warnings.push(`route ${routeName}: fona handler options are invalid`);
        return { nodes: [], events: [], rounds: [], height: 0 };
      }
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
        iface: 'ppp0',
        upTimeout: 60,
        redial: false,
        redialDelay: 10,
        dialer: 'pon',
        startCommand: '',
        stopCommand: '',
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
            name: `${routeName}: modem`,
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
    default:
      warnings.push(`route ${routeName}: handler ${handler.path} has no Node-RED equivalent; left out`);
      return { nodes: [], events: [], rounds: [], height: 0 };
  }
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
