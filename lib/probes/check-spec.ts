/**
 * The grammar of an uplink's checks: probes other than ICMP echo, one per line in the editor.
 *
 *   tcp://HOST:PORT                     a TCP connect (then close)
 *   http://HOST[:PORT][/PATH]           an HTTP GET: a 2xx answers, unless expect=CODE (204) or expect=CLASS (3xx)
 *   https://HOST[:PORT][/PATH]          the same over TLS; `insecure` accepts any certificate (self-signed)
 *   dns://SERVER[:PORT]/NAME            one DNS query over UDP: a NOERROR answer with a record; type=A (default) or AAAA
 *   flow://NAME                         the user's own check: its verdicts arrive as messages (Node-RED's failover-controller)
 *
 * and every kind takes `timeout=SECONDS` (default: the uplink's probe timeout; for flow: how long a verdict
 * counts, default FLOW_VERDICT_TTL_S). Options follow the address,
 * separated by spaces: `https://203.0.113.5/health expect=200 insecure timeout=2`. Hosts are IP literals:
 * a check never looks a name up (the lookup would itself need a working uplink).
 *
 * This is the one parser: the uplink's settings rule (lib/settings/check.ts) reads a list with it, and the
 * build bundles both files into each editor .html, so the editor refuses exactly what the runtime refuses.
 * Hence it imports nothing (the caller hands it the host and number checks) and uses only what an ES5
 * runtime has: no startsWith/includes, no Set, no regex flags.
 */

export type CheckKind = 'tcp' | 'http' | 'https' | 'dns' | 'flow';
export const CHECK_KINDS: readonly CheckKind[] = ['tcp', 'http', 'https', 'dns', 'flow'];

/** Seconds a flow check's verdict counts when its spec gives no timeout=. */
export const FLOW_VERDICT_TTL_S = 30;

interface CheckBase {
  /** The spec as written (whitespace runs made one space): the target's name in rounds and events. */
  text: string;
  host: string;
  port: number;
  /** Seconds per attempt; null: the uplink's probe timeout. */
  timeout: number | null;
}

/** The user's own check (a Node-RED flow): no packet of ours, its verdicts are handed in by name. */
export interface FlowCheck {
  kind: 'flow';
  text: string;
  /** What verdict messages call it. */
  name: string;
  /** Seconds a verdict counts; null: FLOW_VERDICT_TTL_S. */
  timeout: number | null;
}

export interface TcpCheck extends CheckBase {
  kind: 'tcp';
}

export interface HttpCheck extends CheckBase {
  kind: 'http' | 'https';
  /** Path and query, from the first "/" (default "/"). */
  path: string;
  /** The status that answers: a code ("204") or a class ("2xx", the default). */
  expect: string;
  /** https only: do not verify the server's certificate. */
  insecure: boolean;
}

export interface DnsCheck extends CheckBase {
  kind: 'dns';
  /** The name asked for, without a trailing dot. */
  name: string;
  type: 'A' | 'AAAA';
}

/** A check that sends packets of its own to a host. */
export type NetworkCheck = TcpCheck | HttpCheck | DnsCheck;
export type CheckSpec = NetworkCheck | FlowCheck;

/** What the parser needs from the settings checker, so it imports nothing and never copies a rule. */
export interface SpecReaders {
  /** Whether `text` is an address a check may talk to. */
  isHost(text: string): boolean;
  /** A timeout in seconds, or why `text` is none. */
  seconds(text: string): { value?: number; problem?: string };
}

/** The spec, or a sentence saying what is wrong with it (to follow the spec in a message). */
export interface SpecRead {
  spec?: CheckSpec;
  problem?: string;
}

/** Longest spec: a URL path of a health check is short; a 50 MB one is a mistake. */
export const MAX_SPEC_LENGTH = 512;

const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443, dns: 53 };
const EXAMPLE = 'tcp://192.0.2.10:443';
/** Printable ASCII but space: a path never holds a space (options start there). */
const PATH = /^\/[\x21-\x7e]*$/;
/** A DNS label: letters, digits, "-" and "_" (SRV-style names), 1-63 characters. */
const LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
const PORT = /^[1-9][0-9]{0,4}$/;
const STATUS = /^[1-5]([0-9][0-9]|xx)$/;
/** A flow check's name: what the user's verdict messages give as `check`. */
const FLOW_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function kindList(): string {
  return CHECK_KINDS.join('://, ') + '://';
}

function readPort(text: string): number | undefined {
  if (!PORT.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function isDnsName(name: string): boolean {
  if (name.length < 1 || name.length > 253) return false;
  const labels = name.split('.');
  for (let i = 0; i < labels.length; i++) if (!LABEL.test(labels[i])) return false;
  return true;
}

/** Splits HOST[:PORT] (an IPv6 host in brackets) into its parts, or says what is wrong. */
function readAuthority(kind: CheckKind, authority: string, readers: SpecReaders): { host?: string; port?: number; problem?: string } {
  let host = authority;
  let portText: string | undefined;
  if (authority.charAt(0) === '[') {
    const close = authority.indexOf(']');
    if (close < 0) return { problem: 'has an unclosed "[" in its address' };
    host = authority.slice(1, close);
    const rest = authority.slice(close + 1);
    if (rest !== '') {
      if (rest.charAt(0) !== ':') return { problem: 'has "' + rest + '" after its address' };
      portText = rest.slice(1);
    }
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon >= 0) {
      host = authority.slice(0, colon);
      portText = authority.slice(colon + 1);
    }
  }
  if (host === '') return { problem: 'has no address: ' + kind + '://ADDRESS...' };
  if (!readers.isHost(host)) return { problem: 'has host "' + host + '", which is not an IP address (a check never looks a name up)' };
  if (portText === undefined) {
    const port = DEFAULT_PORTS[kind];
    if (port === undefined) return { problem: 'needs a port: ' + kind + '://HOST:PORT' };
    return { host: host, port: port };
  }
  const port = readPort(portText);
  if (port === undefined) return { problem: 'has port "' + portText + '": a port is a number from 1 to 65535' };
  return { host: host, port: port };
}

/** Which kinds take an option (timeout: all). */
const OPTION_KINDS: Readonly<Record<string, readonly CheckKind[]>> = {
  timeout: CHECK_KINDS,
  expect: ['http', 'https'],
  insecure: ['https'],
  type: ['dns'],
};

function takes(option: string, kind: CheckKind): boolean {
  const kinds = OPTION_KINDS[option];
  for (let i = 0; i < kinds.length; i++) if (kinds[i] === kind) return true;
  return false;
}

function optionsOf(kind: CheckKind): string {
  const names: string[] = [];
  for (const name in OPTION_KINDS) {
    if (Object.prototype.hasOwnProperty.call(OPTION_KINDS, name) && takes(name, kind)) names.push(name === 'insecure' ? name : name + '=');
  }
  return names.join(', ');
}

/** Reads one check; `text` may carry surrounding whitespace. */
export function parseCheckSpec(text: unknown, readers: SpecReaders): SpecRead {
  if (typeof text !== 'string') return { problem: 'is not a check (a text such as ' + EXAMPLE + ')' };
  if (text.length > MAX_SPEC_LENGTH) return { problem: 'is longer than ' + MAX_SPEC_LENGTH + ' characters' };
  const words = text.split(/\s+/).filter(function (w) {
    return w !== '';
  });
  if (words.length === 0) return { problem: 'is empty: write a check such as ' + EXAMPLE };
  const address = words[0];
  const sep = address.indexOf('://');
  if (sep < 0) return { problem: 'is not a check: write KIND://ADDRESS, e.g. ' + EXAMPLE + ' (kinds: ' + kindList() + ')' };
  const kindText = address.slice(0, sep).toLowerCase();
  let kind: CheckKind | undefined;
  for (let i = 0; i < CHECK_KINDS.length; i++) if (CHECK_KINDS[i] === kindText) kind = CHECK_KINDS[i];
  if (!kind) return { problem: 'has an unknown kind "' + address.slice(0, sep) + '": use ' + kindList() };
  const rest = address.slice(sep + 3);
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  // A flow check has a name where the others have an address.
  const where = kind === 'flow' ? { host: '', port: 0 } : readAuthority(kind, authority, readers);
  if (where.problem !== undefined || where.host === undefined || where.port === undefined) return { problem: where.problem };

  let timeout: number | null = null;
  let expect = '2xx';
  let insecure = false;
  let type: 'A' | 'AAAA' = 'A';
  const seen: Record<string, boolean> = {};
  for (let i = 1; i < words.length; i++) {
    const word = words[i];
    const eq = word.indexOf('=');
    const name = eq < 0 ? word : word.slice(0, eq);
    const value = eq < 0 ? undefined : word.slice(eq + 1);
    if (!Object.prototype.hasOwnProperty.call(OPTION_KINDS, name)) {
      return { problem: 'has an unknown option "' + word + '": ' + kind + ' checks take ' + optionsOf(kind) };
    }
    if (!takes(name, kind)) return { problem: 'has option ' + name + ', which ' + kind + ' checks do not take (they take ' + optionsOf(kind) + ')' };
    if (seen[name] === true) return { problem: 'gives ' + name + ' twice' };
    seen[name] = true;
    if (name === 'insecure') {
      if (value !== undefined) return { problem: 'has "' + word + '": insecure takes no value' };
      insecure = true;
      continue;
    }
    if (value === undefined || value === '') return { problem: 'has ' + name + ' without a value: ' + name + '=...' };
    if (name === 'timeout') {
      const seconds = readers.seconds(value);
      if (seconds.value === undefined) return { problem: 'has timeout=' + value + ', which ' + (seconds.problem || 'is not a number of seconds') };
      timeout = seconds.value;
    } else if (name === 'expect') {
      if (!STATUS.test(value.toLowerCase())) return { problem: 'has expect=' + value + ', which must be a status code (100-599) or a class such as 2xx' };
      expect = value.toLowerCase();
    } else {
      const t = value.toUpperCase();
      if (t !== 'A' && t !== 'AAAA') return { problem: 'has type=' + value + ', which must be A or AAAA' };
      type = t === 'A' ? 'A' : 'AAAA';
    }
  }

  const base = { text: words.join(' '), host: where.host, port: where.port, timeout: timeout };
  if (kind === 'flow') {
    if (!FLOW_NAME.test(rest)) return { problem: 'needs a name of 1-64 letters, digits, ".", "_" or "-": flow://NAME' };
    return { spec: { kind: kind, text: base.text, name: rest, timeout: timeout } };
  }
  if (kind === 'tcp') {
    if (path !== '') return { problem: 'has a path, which a tcp check does not take: tcp://HOST:PORT' };
    return { spec: { kind: kind, text: base.text, host: base.host, port: base.port, timeout: base.timeout } };
  }
  if (kind === 'dns') {
    const name = path.slice(1).replace(/\.$/, '');
    if (name === '') return { problem: 'needs a name to ask for: dns://SERVER/NAME' };
    if (!isDnsName(name)) return { problem: 'asks for "' + name + '", which is not a DNS name' };
    return { spec: { kind: kind, text: base.text, host: base.host, port: base.port, timeout: base.timeout, name: name, type: type } };
  }
  if (path !== '' && !PATH.test(path)) return { problem: 'has a path with a character that is not printable ASCII (encode it as %XX)' };
  return {
    spec: { kind: kind, text: base.text, host: base.host, port: base.port, timeout: base.timeout, path: path || '/', expect: expect, insecure: insecure },
  };
}

/** Whether an HTTP status answers the check's `expect` (a code, or a class such as 2xx). */
export function statusAnswers(expect: string, status: number): boolean {
  const code = String(status);
  return expect.slice(1) === 'xx' ? code.length === 3 && code.charAt(0) === expect.charAt(0) : code === expect;
}
