/**
 * The checks' grammar (lib/probes/check-spec.ts) through the uplink's settings rule: what each kind reads
 * to, and a bad spec refused with a sentence naming what was wrong (the editor shows the same, see
 * test/unit/settings-rules.test.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../lib/errors';
import { statusAnswers } from '../../lib/probes/check-spec';
import { checkSetting, readSetting } from '../../lib/settings/check';
import { MAX_CHECKS, probeCount, UPLINK_RULES, validateUplinks } from '../../lib/uplink/model';
import { parseServiceProperties } from '../../lib/properties/ifacefailover-properties';

const RULE = UPLINK_RULES.checks;
const read = (value: unknown) => readSetting(RULE, value);

/** The one problem of a single spec, as the editor shows it: the spec, then why. */
function problem(spec: string): string {
  const issues = checkSetting(RULE, spec);
  assert.equal(issues.length, 1, `${spec}: ${JSON.stringify(issues)}`);
  return `${String(issues[0].entry)} ${issues[0].message}`;
}

describe('check specs', () => {
  it('reads each kind with its defaults', () => {
    const { value, issues } = read(
      [
        'tcp://192.0.2.10:443',
        'http://203.0.113.5:8080/health',
        'https://203.0.113.5/health?full=1 expect=200 insecure',
        'dns://203.0.113.53/example.com',
        'DNS://203.0.113.53:5353/example.com. type=aaaa   timeout=2.5',
        'http://203.0.113.5 expect=3XX',
      ].join('\n'),
    );
    assert.deepEqual(issues, []);
    assert.deepEqual(value, [
      { kind: 'tcp', text: 'tcp://192.0.2.10:443', host: '192.0.2.10', port: 443, timeout: null },
      { kind: 'http', text: 'http://203.0.113.5:8080/health', host: '203.0.113.5', port: 8080, timeout: null, path: '/health', expect: '2xx', insecure: false },
      {
        kind: 'https',
        text: 'https://203.0.113.5/health?full=1 expect=200 insecure',
        host: '203.0.113.5',
        port: 443,
        timeout: null,
        path: '/health?full=1',
        expect: '200',
        insecure: true,
      },
      { kind: 'dns', text: 'dns://203.0.113.53/example.com', host: '203.0.113.53', port: 53, timeout: null, name: 'example.com', type: 'A' },
      { kind: 'dns', text: 'DNS://203.0.113.53:5353/example.com. type=aaaa timeout=2.5', host: '203.0.113.53', port: 5353, timeout: 2.5, name: 'example.com', type: 'AAAA' },
      { kind: 'http', text: 'http://203.0.113.5 expect=3XX', host: '203.0.113.5', port: 80, timeout: null, path: '/', expect: '3xx', insecure: false },
    ]);
  });

  it('flow://NAME: the user\'s own check, with how long a verdict counts', () => {
    assert.deepEqual(read('flow://web-health\nflow://db timeout=10').value, [
      { kind: 'flow', text: 'flow://web-health', name: 'web-health', timeout: null },
      { kind: 'flow', text: 'flow://db timeout=10', name: 'db', timeout: 10 },
    ]);
    assert.equal(problem('flow://'), 'flow:// needs a name of 1-64 letters, digits, ".", "_" or "-": flow://NAME');
    assert.equal(problem('flow://a/b'), 'flow://a/b needs a name of 1-64 letters, digits, ".", "_" or "-": flow://NAME');
    assert.equal(problem('flow://web expect=200'), 'flow://web expect=200 has option expect, which flow checks do not take (they take timeout=)');
    assert.equal(problem('flow://web timeout=99'), 'flow://web timeout=99 has timeout=99, which must be a number from 0.1 to 60');
    assert.throws(
      () => parseServiceProperties("route.p.gateway=192.0.2.1\nroute.p.iface=eth0\nroute.p.checks=['flow://web']\n", 'f.properties'),
      (e: unknown) => e instanceof ConfigError && /f\.properties:3: .*"flow:\/\/web": is a flow check, whose verdicts come from a Node-RED flow/.test(e.message),
    );
  });

  it('a list is one check per line (blank lines and CRLF too), or an array; blank is none', () => {
    assert.equal(read('tcp://192.0.2.1:22\r\n\r\n  \ntcp://192.0.2.1:23\n').value?.length, 2);
    assert.equal(read(['tcp://192.0.2.1:22', 'tcp://192.0.2.1:23']).value?.length, 2);
    for (const blank of ['', undefined, null]) assert.deepEqual(read(blank), { value: [], issues: [] });
    // A parsed check is read again from its text (the controller validates uplinks it got from config nodes).
    const parsed = read('tcp://192.0.2.1:22').value ?? [];
    assert.deepEqual(read(parsed).value, parsed);
  });

  it('bad specs: one sentence each, naming the spec and what is wrong with it', () => {
    const cases: [string, string][] = [
      ['192.0.2.1:443', 'is not a check: write KIND://ADDRESS, e.g. tcp://192.0.2.10:443 (kinds: tcp://, http://, https://, dns://, flow://)'],
      ['ftp://192.0.2.1/', 'has an unknown kind "ftp": use tcp://, http://, https://, dns://, flow://'],
      ['tcp://192.0.2.1', 'needs a port: tcp://HOST:PORT'],
      ['tcp://192.0.2.1:0', 'has port "0": a port is a number from 1 to 65535'],
      ['tcp://192.0.2.1:65536', 'has port "65536": a port is a number from 1 to 65535'],
      ['tcp://192.0.2.1:080', 'has port "080": a port is a number from 1 to 65535'],
      ['tcp://192.0.2.1:22/x', 'has a path, which a tcp check does not take: tcp://HOST:PORT'],
      ['tcp://example.com:443', 'has host "example.com", which is not an IP address (a check never looks a name up)'],
      ['http://1.2.3.04/', 'has host "1.2.3.04", which is not an IP address (a check never looks a name up)'],
      ['http:///health', 'has no address: http://ADDRESS...'],
      ['tcp://192.0.2.1:22 expect=200', 'has option expect, which tcp checks do not take (they take timeout=)'],
      ['http://192.0.2.1/ insecure', 'has option insecure, which http checks do not take (they take timeout=, expect=)'],
      ['https://192.0.2.1/ insecure=yes', 'has "insecure=yes": insecure takes no value'],
      ['https://192.0.2.1/ verify=no', 'has an unknown option "verify=no": https checks take timeout=, expect=, insecure'],
      ['http://192.0.2.1/ expect=abc', 'has expect=abc, which must be a status code (100-599) or a class such as 2xx'],
      ['http://192.0.2.1/ expect=600', 'has expect=600, which must be a status code (100-599) or a class such as 2xx'],
      ['http://192.0.2.1/ expect=200 expect=204', 'gives expect twice'],
      ['http://192.0.2.1/ timeout=', 'has timeout without a value: timeout=...'],
      ['http://192.0.2.1/ timeout=0', 'has timeout=0, which must be a number from 0.1 to 60'],
      ['http://192.0.2.1/ timeout=61', 'has timeout=61, which must be a number from 0.1 to 60'],
      ['http://192.0.2.1/é', 'has a path with a character that is not printable ASCII (encode it as %XX)'],
      ['dns://192.0.2.53', 'needs a name to ask for: dns://SERVER/NAME'],
      ['dns://192.0.2.53/bad..name', 'asks for "bad..name", which is not a DNS name'],
      ['dns://192.0.2.53/example.com type=MX', 'has type=MX, which must be A or AAAA'],
      ['[192.0.2.1:80', 'is not a check: write KIND://ADDRESS, e.g. tcp://192.0.2.10:443 (kinds: tcp://, http://, https://, dns://, flow://)'],
      ['tcp://[192.0.2.1:80', 'has an unclosed "[" in its address'],
    ];
    for (const [spec, message] of cases) assert.equal(problem(spec), `${spec} ${message}`);
    assert.equal(problem(`http://192.0.2.1/${'a'.repeat(600)}`).endsWith(' is longer than 512 characters'), true);
  });

  it('list problems: not a list, too many, a spec twice, an entry that is no text', () => {
    assert.deepEqual(checkSetting(RULE, 5), [{ message: 'must be a list of checks, one per line (e.g. tcp://192.0.2.10:443)' }]);
    const many = Array.from({ length: MAX_CHECKS + 1 }, (_, i) => `tcp://192.0.2.1:${i + 1}`);
    assert.deepEqual(checkSetting(RULE, many.join('\n')), [{ message: `lists ${MAX_CHECKS + 1} checks: at most ${MAX_CHECKS} per uplink` }]);
    assert.deepEqual(checkSetting(RULE, 'tcp://192.0.2.1:22\ntcp://192.0.2.1:22 '), [{ message: 'is listed twice', entry: 'tcp://192.0.2.1:22 ' }]);
    assert.deepEqual(checkSetting(RULE, [7]), [{ message: 'is not a check (a text such as tcp://192.0.2.10:443)', entry: 7 }]);
  });

  it('the uplink model: checks count with the targets, for reliability and for "trusted while up"', () => {
    const [u] = validateUplinks([{ name: 'tcp-only', iface: 'eth0', checks: 'tcp://192.0.2.10:443\nhttp://192.0.2.10/', probe: { reliability: 2 } }]);
    assert.equal(probeCount(u), 2);
    assert.deepEqual(u.targets, []);
    assert.throws(
      () => validateUplinks([{ name: 'p', iface: 'eth0', targets: '203.0.113.1', checks: 'tcp://192.0.2.10:443', probe: { reliability: 3 } }]),
      (e: unknown) => e instanceof ConfigError && /reliability=3: cannot exceed the number of targets and checks \(2\)/.test(e.message),
    );
    assert.throws(
      () => validateUplinks([{ name: 'p', iface: 'eth0', checks: 'tcp://192.0.2.10' }]),
      (e: unknown) => e instanceof ConfigError && e.message.includes('"tcp://192.0.2.10": needs a port: tcp://HOST:PORT'),
    );
  });

  it('the properties file: route.NAME.checks is a Python list, a bad one named with file and line', () => {
    const base = 'route.primary.gateway=192.0.2.1\nroute.primary.iface=eth0\n';
    const ok = parseServiceProperties(`${base}route.primary.checks=['tcp://203.0.113.2:8443', 'http://203.0.113.2:8080/health expect=204']\n`, 'f.properties');
    assert.deepEqual(
      ok.routes[0].uplink.checks.map((c) => c.text),
      ['tcp://203.0.113.2:8443', 'http://203.0.113.2:8080/health expect=204'],
    );
    assert.throws(
      () => parseServiceProperties(`${base}route.primary.checks=['tcp://203.0.113.2']\n`, 'f.properties'),
      (e: unknown) => e instanceof ConfigError && /f\.properties:3: .*checks.*"tcp:\/\/203\.0\.113\.2": needs a port/.test(e.message),
    );
    assert.throws(
      () => parseServiceProperties(`${base}route.primary.checks=tcp://203.0.113.2:22\n`, 'f.properties'),
      (e: unknown) => e instanceof ConfigError && /f\.properties:3: .*checks.*is not a plain Python literal/.test(e.message),
    );
    assert.throws(
      () => parseServiceProperties(`${base}route.primary.checks={'a': 1}\n`, 'f.properties'),
      (e: unknown) => e instanceof ConfigError && /f\.properties:3: .*checks.*must be a Python list of checks/.test(e.message),
    );
  });

  it('expect: a code or a class', () => {
    assert.ok(statusAnswers('2xx', 204));
    assert.ok(!statusAnswers('2xx', 301));
    assert.ok(statusAnswers('204', 204));
    assert.ok(!statusAnswers('204', 200));
    assert.ok(statusAnswers('3xx', 302));
  });
});
