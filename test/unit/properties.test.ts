import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConfigError, ConfigIssue } from '../../lib/errors';
import { normaliseUplink } from '../../lib/uplink/model';
import {
  loadServiceProperties,
  MIN_VERIFIER_DELAY,
  parseServiceProperties,
  ServiceProperties,
} from '../../lib/properties/ifacefailover-properties';

const SAMPLE_NAME = 'ifacefailover.properties.sample';

/** test/fixtures/ from the compiled test, wherever the build went (dist/, or an --outDir elsewhere). */
function fixture(name: string): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const candidate = join(dir, 'test', 'fixtures', name);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) break;
  }
  return join(process.cwd(), 'test', 'fixtures', name);
}

const FILE = '/opt/ifacefailover/config/ifacefailover.properties';

/** A minimal valid route, to which a test adds the property under test. */
const BASE = ['route.primary.gateway=192.168.1.1', 'route.primary.iface=eth0'];

function parse(lines: string[]): ServiceProperties {
  return parseServiceProperties(lines.join('\n'), FILE);
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

/** Expects one ConfigError whose message has `FILE:line:` and every text in `includes` on that same line. */
function expectError(lines: string[], line: number, includes: string[]): ConfigError {
  const err = configError(() => parse(lines));
  const row = err.message.split('\n').find((l) => l.startsWith(`${FILE}:${line}: `));
  assert.ok(row, `no message line for ${FILE}:${line} in:\n${err.message}`);
  for (const text of includes) assert.ok(row.includes(text), `"${row}" should contain ${text}`);
  const issue = err.issues.find((i) => i.line === line);
  assert.ok(issue, 'the issue carries the line');
  assert.equal(issue.file, FILE);
  return err;
}

describe('parseServiceProperties: the guide sample', () => {
  const text = readFileSync(fixture(SAMPLE_NAME), 'utf8');
  const props = parseServiceProperties(text, 'sample.properties');

  it('finds two routes in file order, primary first', () => {
    assert.deepEqual(
      props.routes.map((r) => r.uplink.name),
      ['primary', 'fona'],
    );
    assert.deepEqual(
      props.routes.map((r) => r.line),
      [7, 28],
    );
    assert.equal(props.file, 'sample.properties');
    assert.equal(props.logProperties, '/opt/ifacefailover/config/log.properties');
    assert.equal(props.pinMode, 'policy');
    assert.deepEqual(props.warnings, []);
  });

  it('maps the primary route onto the uplink model', () => {
    const primary = props.routes[0].uplink;
    assert.equal(primary.iface, 'eth0');
    assert.equal(primary.gateway, '192.168.1.1');
    assert.deepEqual(primary.targets, ['8.8.8.8', '8.8.4.4']);
    assert.equal(primary.probe.interval, 10);
    assert.equal(primary.probe.timeout, 1);
    assert.equal(primary.probe.retries, 1, "maxRetry 2 is two attempts in total, as in the original's ICMP verifier");
  });

  it('maps the fona route: no gateway, no targets, model defaults', () => {
    const fona = props.routes[1].uplink;
    assert.equal(fona.iface, 'ppp0');
    assert.equal(fona.gateway, null);
    assert.deepEqual(fona.targets, []);
  });

  it('turns the handlers into typed specs: the log name, the http settings with auth, the FONA settings', () => {
    const [primary, fona] = props.routes;
    const url = 'https://localhost:5000/myapp/contextroot/';
    const auth = { user: 'username', password: 'password' };
    const httpDefaults = { headers: {}, maxRetry: 0, retryDelayMs: 500, timeoutMs: 10_000 };
    assert.deepEqual(primary.handlers, [
      { kind: 'log', path: '/opt/ifacefailover/config/logHandler.pkl', line: 22, name: 'primary' },
      {
        kind: 'http',
        path: '/opt/ifacefailover/config/httpHandler.pkl',
        line: 22,
        url,
        auth,
        suffixes: { connectionFailed: 'primaryconnectionfailed', connectionRestored: 'primaryconnectionrestored' },
        ...httpDefaults,
      },
    ]);
    assert.deepEqual(fona.handlers, [
      { kind: 'log', path: '/opt/ifacefailover/config/logHandler.pkl', line: 38, name: 'fona' },
      {
        kind: 'fona',
        path: '/opt/ifacefailover/config/fonaRaspberryPiHandler.pkl',
        line: 38,
        settings: { powerStatusPin: 23, keyPin: 24, gpio: 'auto', gpiochip: 'gpiochip0', peer: 'fona', keyPulseMs: 2000, statusTimeoutMs: 10_000 },
      },
      { kind: 'http', path: '/opt/ifacefailover/config/httpHandler.pkl', line: 38, url, auth, suffixes: { connected: 'fonaconnected' }, ...httpDefaults },
    ]);
  });

  it('loads the same from the file', async () => {
    const file = fixture(SAMPLE_NAME);
    const loaded = await loadServiceProperties(file);
    assert.equal(loaded.file, file);
    assert.deepEqual(loaded.routes, props.routes);
  });

  it('reads the sample with CRLF line endings too', () => {
    const crlf = parseServiceProperties(text.replace(/\n/g, '\r\n'), 'sample.properties');
    assert.deepEqual(crlf.routes, props.routes);
  });
});

describe('parseServiceProperties: route order', () => {
  it('keeps the first route seen first even when its keys are in reverse order', () => {
    const props = parse([
      "route.primary.verifierKwargs={'maxRetry':3}",
      'route.primary.targets=8.8.8.8',
      'route.primary.iface=eth0',
      'route.primary.gateway=192.168.1.1',
      'route.fona.iface=ppp0',
      'route.fona.gateway=0.0.0.0',
    ]);
    assert.deepEqual(
      props.routes.map((r) => r.uplink.name),
      ['primary', 'fona'],
    );
    assert.equal(props.routes[0].uplink.probe.retries, 2);
    assert.equal(props.routes[0].line, 1);
    assert.equal(props.routes[1].line, 5);
  });

  it('orders routes by their first key even when the keys are interleaved', () => {
    const props = parse([
      'route.primary.iface=eth0',
      'route.fona.iface=ppp0',
      'route.backup.iface=wlan0',
      'route.fona.gateway=0.0.0.0',
      'route.backup.gateway=192.168.2.1',
      'route.primary.gateway=192.168.1.1',
    ]);
    assert.deepEqual(
      props.routes.map((r) => r.uplink.name),
      ['primary', 'fona', 'backup'],
    );
  });

  it('does not sort routes by name: a route named "zeta" defined first is the primary', () => {
    const props = parse(['route.zeta.gateway=10.0.0.1', 'route.zeta.iface=eth1', 'route.alpha.gateway=0.0.0.0', 'route.alpha.iface=ppp0']);
    assert.deepEqual(
      props.routes.map((r) => r.uplink.name),
      ['zeta', 'alpha'],
    );
  });
});

describe('parseServiceProperties: accepted variations', () => {
  it('accepts ":" separators, spaces around the separator and "!" comments', () => {
    const props = parse(['! a Java-style comment', 'route.primary.gateway : 192.168.1.1', 'route.primary.iface = eth0', '   # indented comment']);
    assert.equal(props.routes[0].uplink.gateway, '192.168.1.1');
    assert.equal(props.routes[0].uplink.iface, 'eth0');
  });

  it('keeps values with "=", ":" and "#" intact', () => {
    const props = parse([
      ...BASE,
      'route.primary.handlers=["/opt/h/httpHandler.pkl"]',
      "route.primary.handlerKwargs=[{'url':'https://host:5000/a?b=c#frag', 'onConnectedUrlSuffix':''}]",
    ]);
    const [handler] = props.routes[0].handlers;
    assert.equal(handler.kind === 'http' && handler.url, 'https://host:5000/a?b=c#frag');
  });

  it('reads failover.pinMode', () => {
    assert.equal(parse([...BASE, 'failover.pinMode=host-route']).pinMode, 'host-route');
    assert.equal(parse([...BASE, 'failover.pinMode=policy']).pinMode, 'policy');
  });

  it('reads route.NAME.profile, and refuses a profile it does not know', () => {
    assert.equal(parse([...BASE, 'route.primary.profile=fast']).routes[0].uplink.probe.profile, 'fast');
    assert.equal(parse(BASE).routes[0].uplink.probe.profile, 'standard');
    const err = configError(() => parse([...BASE, 'route.primary.profile=turbo']));
    assert.match(err.message, /profile="?turbo"?.*standard.*fast/);
  });

  it('maps verifierKwargs, verifierDelay and setupTimeout onto the probe settings', () => {
    const props = parse([
      ...BASE,
      'route.primary.targets=8.8.8.8, 8.8.4.4,1.1.1.1',
      'route.primary.verifierDelay=2.5',
      "route.primary.verifierKwargs={'timeout': 0.5, 'maxRetry': 1, 'down': 4, 'up': 5, 'reliability': 2}",
      'route.primary.setupTimeout=120',
    ]);
    const u = props.routes[0].uplink;
    assert.deepEqual(u.targets, ['8.8.8.8', '8.8.4.4', '1.1.1.1']);
    assert.deepEqual(u.probe, { interval: 2.5, timeout: 0.5, retries: 0, down: 4, up: 5, reliability: 2, profile: 'standard' });
    assert.equal(u.setupTimeout, 120);
  });

  it('turns verifierDelay=0 into the model minimum, with a warning instead of a busy loop', () => {
    const props = parse([...BASE, 'route.primary.verifierDelay=0']);
    assert.equal(props.routes[0].uplink.probe.interval, MIN_VERIFIER_DELAY);
    assert.equal(props.warnings.length, 1);
    assert.match(props.warnings[0], new RegExp(`^${FILE}:3: .*verifierDelay=0`));
  });

  it('MIN_VERIFIER_DELAY is still accepted by the uplink model', () => {
    const issues: ConfigIssue[] = [];
    const u = normaliseUplink({ name: 'x', iface: 'eth0', probe: { interval: MIN_VERIFIER_DELAY } }, 0, issues);
    assert.deepEqual(issues, []);
    assert.equal(u.probe.interval, MIN_VERIFIER_DELAY);
    normaliseUplink({ name: 'x', iface: 'eth0', probe: { interval: MIN_VERIFIER_DELAY / 2 } }, 0, issues);
    assert.equal(issues.length, 1, 'and nothing smaller, so it is the minimum');
  });

  it('warns about unknown handler pickles and keeps them as kind "unknown"', () => {
    const props = parse([...BASE, "route.primary.handlers=['/opt/h/logHandler.pkl', '/opt/h/smsHandler.pkl']", 'route.primary.handlerKwargs=[{}, {}]']);
    assert.deepEqual(
      props.routes[0].handlers.map((h) => h.kind),
      ['log', 'unknown'],
    );
    assert.equal(props.warnings.length, 1);
    assert.ok(props.warnings[0].startsWith(`${FILE}:3: `));
    assert.ok(props.warnings[0].includes('/opt/h/smsHandler.pkl'));
  });

  it('warns that ICMP is used for a verifier other than the ICMP pickle', () => {
    const icmp = parse([...BASE, 'route.primary.verifier=/opt/ifacefailover/config/icmpRouteVerifier.pkl']);
    assert.deepEqual(icmp.warnings, []);
    const http = parse([...BASE, 'route.primary.verifier=/opt/ifacefailover/config/httpRouteVerifier.pkl']);
    assert.equal(http.warnings.length, 1);
    assert.match(http.warnings[0], /httpRouteVerifier\.pkl.*ICMP/);
    assert.ok(http.warnings[0].startsWith(`${FILE}:3: `));
  });

  it('accepts handlers and handlerKwargs both absent', () => {
    assert.deepEqual(parse(BASE).routes[0].handlers, []);
    assert.deepEqual(parse([...BASE, 'route.primary.handlers=[]', 'route.primary.handlerKwargs=[]']).routes[0].handlers, []);
  });

  it('leaves out logProperties when absent', () => {
    assert.equal('logProperties' in parse(BASE), false);
  });
});

describe('parseServiceProperties: errors name file, line and value', () => {
  it('malformed line without a separator', () => {
    expectError([...BASE, 'route.primary.targets 8.8.8.8'], 3, ['route.primary.targets 8.8.8.8', 'no "=" or ":"']);
  });

  it('[section] headers, which properties-reader would silently prefix to later keys', () => {
    expectError(['[main]', ...BASE], 1, ['[main]', 'section']);
  });

  it('route key with no property part', () => {
    expectError([...BASE, 'route.primary=eth0'], 3, ['route.primary', 'eth0', 'property part']);
    expectError([...BASE, 'route.primary.=eth0'], 3, ['route.primary.', 'property part']);
    expectError([...BASE, 'route..iface=eth0'], 3, ['route..iface', 'route name']);
  });

  it('unknown key', () => {
    expectError([...BASE, 'route.primary.colour=blue'], 3, ['route.primary.colour', '"blue"', 'unknown key']);
    expectError([...BASE, 'metrics.enabled=true'], 3, ['metrics.enabled', '"true"', 'unknown key']);
    expectError([...BASE, 'route.primary.iface.extra=1'], 3, ['route.primary.iface.extra', 'route.NAME.PROPERTY']);
  });

  it('typo key, with the closest known property suggested', () => {
    expectError(['route.primary.gatway=192.168.1.1', 'route.primary.iface=eth0'], 1, [
      'route.primary.gatway',
      '"192.168.1.1"',
      'did you mean "route.primary.gateway"',
    ]);
    expectError([...BASE, 'route.primary.verifierKwarg={}'], 3, ['did you mean "route.primary.verifierKwargs"']);
    expectError([...BASE, 'routes.primary.targets=8.8.8.8'], 3, ['did you mean "route.primary.targets"']);
    expectError([...BASE, 'log.propertie=/x'], 3, ['did you mean "log.properties"']);
    expectError([...BASE, 'failover.pinmode=policy'], 3, ['did you mean "failover.pinMode"']);
    expectError([...BASE, 'route.primary.timeout=1'], 3, ['route.primary.verifierKwargs']);
  });

  it('bad IPv4 gateway', () => {
    expectError(['route.primary.iface=eth0', 'route.primary.gateway=192.168.1.300'], 2, ['uplink "primary"', 'gateway="192.168.1.300"', 'IPv4']);
  });

  it('16-character interface name', () => {
    expectError(['route.primary.gateway=192.168.1.1', 'route.primary.iface=eth0123456789abc'], 2, ['iface="eth0123456789abc"', '15']);
  });

  it('bad targets', () => {
    expectError([...BASE, 'route.primary.targets=8.8.8.8,8.8.4'], 3, ['targets="8.8.4"', 'IPv4']);
  });

  it("__import__('os') in verifierKwargs", () => {
    expectError([...BASE, "route.primary.verifierKwargs=__import__('os')"], 3, ["__import__('os')", 'column 1']);
  });

  it("{'timeout': os.system} in verifierKwargs", () => {
    expectError([...BASE, "route.primary.verifierKwargs={'timeout': os.system}"], 3, ["{'timeout': os.system}", 'os.system', 'column 13']);
  });

  it('verifierKwargs that is not a dict', () => {
    expectError([...BASE, "route.primary.verifierKwargs=['timeout', 1]"], 3, ["['timeout', 1]", 'dict']);
  });

  it('unknown verifier kwarg', () => {
    expectError([...BASE, "route.primary.verifierKwargs={'timeout':1, 'retry':2}"], 3, ['verifierKwargs.retry=2', 'unknown verifier option']);
    expectError([...BASE, "route.primary.verifierKwargs={'maxretry':2}"], 3, ['verifierKwargs.maxretry=2', 'did you mean "maxRetry"']);
  });

  it('maxRetry below 1, or so large that retries leave the model range', () => {
    expectError([...BASE, "route.primary.verifierKwargs={'maxRetry':0}"], 3, ['verifierKwargs.maxRetry=0', 'at least 1']);
    expectError([...BASE, "route.primary.verifierKwargs={'maxRetry':50}"], 3, ['verifierKwargs.maxRetry=50', 'retries=49']);
  });

  it('bad probe values from verifierKwargs and verifierDelay', () => {
    expectError([...BASE, "route.primary.verifierKwargs={'timeout': 'soon'}"], 3, ['verifierKwargs.timeout="soon"']);
    expectError([...BASE, 'route.primary.verifierDelay=ten'], 3, ['verifierDelay="ten"', 'seconds']);
    expectError([...BASE, 'route.primary.verifierDelay=-5'], 3, ['verifierDelay=-5']);
    expectError([...BASE, 'route.primary.setupTimeout=forever'], 3, ['setupTimeout="forever"']);
  });

  it('handlers and handlerKwargs of different lengths', () => {
    expectError(
      [...BASE, "route.primary.handlers=['/opt/h/logHandler.pkl','/opt/h/httpHandler.pkl']", "route.primary.handlerKwargs=[{'name':'primary'}]"],
      4,
      ['handlerKwargs=', "[{'name':'primary'}]", '2 handlers', '1 dict'],
    );
  });

  it('handlers without handlerKwargs, as the original raised too', () => {
    expectError([...BASE, "route.primary.handlers=['/opt/h/logHandler.pkl']"], 3, ['handlers=', '1 handler', '0 dicts']);
  });

  it('handlerKwargs entries that are not dicts, and handlers that are not a list of paths', () => {
    expectError([...BASE, "route.primary.handlers=['/opt/h/logHandler.pkl']", "route.primary.handlerKwargs=['name']"], 4, ['entry 1 is not a dict']);
    expectError([...BASE, "route.primary.handlers='/opt/h/logHandler.pkl'", 'route.primary.handlerKwargs=[{}]'], 3, ['list of pickle paths']);
  });

  it('missing iface and missing gateway', () => {
    expectError(['route.primary.gateway=192.168.1.1'], 1, ['uplink "primary"', 'iface=(missing)', 'required']);
    expectError(['route.primary.iface=eth0'], 1, ['uplink "primary"', 'gateway=(missing)', 'required', '0.0.0.0']);
  });

  it('empty values', () => {
    expectError([...BASE, 'route.primary.verifierKwargs='], 3, ['verifierKwargs=""', 'no value']);
  });

  it('bad route name and interface used twice', () => {
    expectError(['route.prim@ry.gateway=192.168.1.1', 'route.prim@ry.iface=eth0'], 1, ['uplink "prim@ry"', 'name']);
    expectError([...BASE, 'route.backup.gateway=192.168.1.2', 'route.backup.iface=eth0'], 4, ['uplink "backup"', 'iface="eth0"', 'two uplinks']);
  });

  it('bad failover.pinMode', () => {
    expectError([...BASE, 'failover.pinMode=hostroute'], 3, ['failover.pinMode="hostroute"', 'did you mean "host-route"']);
  });

  it('no routes at all', () => {
    const err = configError(() => parse(['log.properties=/opt/ifacefailover/config/log.properties']));
    assert.ok(err.message.startsWith(`${FILE}: `));
    assert.match(err.message, /no routes/);
    assert.equal(configError(() => parseServiceProperties('', FILE)).issues.length, 1);
  });

  it('collects every problem into one ConfigError, in line order', () => {
    const err = configError(() =>
      parse([
        'garbage',
        'route.primary.gatway=192.168.1.1',
        'route.primary.iface=eth0123456789abc',
        "route.primary.verifierKwargs={'timeout': os.system}",
        'route.fona.iface=ppp0',
        'route.fona.gateway=0.0.0.0',
        'route.fona.targets=1.2.3',
      ]),
    );
    const lines = err.message.split('\n');
    assert.equal(lines.length, err.issues.length);
    assert.deepEqual(
      err.issues.map((i) => i.line),
      [1, 2, 3, 3, 4, 7],
    );
    assert.ok(lines.every((l) => l.startsWith(`${FILE}:`)));
    assert.match(lines[2], /uplink "primary" gateway=\(missing\)/);
  });
});

describe('loadServiceProperties', () => {
  it('names a missing file', async () => {
    const missing = join(tmpdir(), 'no-such-dir-ifacefailover', 'ifacefailover.properties');
    await assert.rejects(loadServiceProperties(missing), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(err.message.includes(missing));
      assert.match(err.message, /does not exist/);
      return true;
    });
  });

  it('names a directory given as the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ifacefailover-props-'));
    try {
      await assert.rejects(loadServiceProperties(dir), (err: unknown) => err instanceof ConfigError && err.message.includes(dir));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports errors with the path it was given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ifacefailover-props-'));
    const file = join(dir, 'bad.properties');
    try {
      writeFileSync(file, 'route.primary.gateway=192.168.1.300\nroute.primary.iface=eth0\n');
      await assert.rejects(loadServiceProperties(file), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.ok(err.message.startsWith(`${file}:1: uplink "primary" gateway="192.168.1.300"`), err.message);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
