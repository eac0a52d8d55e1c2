/**
 * One source of truth for the settings' rules (issue 9): the table of lib/settings/rules.ts and the checker
 * of lib/settings/check.ts, written by the build into each editor .html. The editor's validators (the built
 * html's generated script, run in a `vm` context with a stub RED) must agree with the runtime's checker on
 * every rule, and no editor .html may keep a hand-written range or IPv4 pattern.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { isIPv4 as netIsIPv4 } from 'node:net';
import { join, resolve } from 'node:path';
import { createContext, runInContext } from 'node:vm';
import { isValidChip, isValidPin } from '../../lib/gpio/gpio';
import { isValidPeer } from '../../lib/ppp/peer';
import { MIN_VERIFIER_DELAY } from '../../lib/properties/ifacefailover-properties';
import { checkSetting, EditorRules, isBlank, isIPv4, SettingRule, Validator } from '../../lib/settings/check';
import { SETTING_RULES } from '../../lib/settings/rules';
import { MAX_DNS_SERVERS, MAX_TARGETS, UPLINK_RULES } from '../../lib/uplink/model';
import { editorScripts } from '../support/editor-html';

/** The repository (sources) and this build's output (dist, or the folder given to tsc --outDir). */
const ROOT = resolve(__dirname, '../../..');
const BUILT = resolve(__dirname, '../..');
const BEGIN = '// <settings-rules>';
const END = '// </settings-rules>';

/** The node types' sections of the table (their defaults have the table's setting names). */
const SECTION_OF: Readonly<Record<string, keyof typeof SETTING_RULES>> = {
  uplink: 'uplink',
  'failover-controller': 'controller',
  'route-verifier': 'verifier',
  'fona-power': 'fona',
  'ppp-control': 'ppp',
  'failover-mqtt': 'mqtt',
};

const editorFiles = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.html'));
const builtHtml = (file: string): string => readFileSync(join(BUILT, 'nodes', file), 'utf8');

/** The generated `var IFF = ...` of a built editor file, run on its own: the editor's rules. */
function generatedRules(html: string): EditorRules {
  const begin = html.indexOf(BEGIN);
  const end = html.indexOf(END, begin);
  assert.ok(begin >= 0 && end > begin, 'no generated settings rules');
  return runInContext(`${html.slice(begin, end)}\nIFF`, createContext({})) as EditorRules;
}

interface Definition {
  defaults: Record<string, { validate?: Validator }>;
}

/** Runs a built editor file's scripts with a stub RED (and jQuery): what it registers. */
function registered(html: string): Map<string, Definition> {
  const found = new Map<string, Definition>();
  const noop = (): void => undefined;
  const RED = {
    nodes: { registerType: (type: string, def: Definition) => found.set(type, def), eachConfig: noop, eachNode: noop, node: noop },
    events: { on: noop },
    utils: {},
    _: (key: string) => key,
  };
  // No dialog is open: `$('#node-input-…')` finds nothing, so validators read the node's own properties.
  const $ = (): { length: number } => ({ length: 0 });
  for (const script of editorScripts(html)) runInContext(script, createContext({ RED, $ }));
  return found;
}

const ALL_RULES: [string, SettingRule][] = Object.entries(SETTING_RULES).flatMap(([section, rules]) =>
  Object.entries(rules as Record<string, SettingRule>).map(([key, rule]): [string, SettingRule] => [`${section}.${key}`, rule]),
);

const addresses = (n: number): string[] => Array.from({ length: n }, (_, i) => `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`);

/** Values every rule is tried with: blanks, wrong types, and a bit of everything. */
const COMMON: unknown[] = [
  undefined, null, '', ' ', true, false, {}, [], [''], Number.NaN, Infinity, -Infinity, 0, 1, -1, 1.5, '1', '0x10', '1e3', 'abc',
  '203.0.113.1', ' 203.0.113.1 ', '203.0.113.1,203.0.113.2', '203.0.113.1,203.0.113.1', '203.0.113.1,', ['203.0.113.1', '203.0.113.2'],
  ['203.0.113.1', '203.0.113.1'], [203], '1.2.3.04', '256.0.0.1', '1.2.3', '1.2.3.4.5', '0.0.0.0', 'none', '192.168.1.300',
  'eth0', 'wlan0', 'ppp0', 'eth0.100', 'br-lan', 'a'.repeat(15), 'a'.repeat(16), 'eth0:1', 'eth/0', 'eth 0', 'eth0\n', '.', '..', 'é',
  'fona', '../x', '-x', 'a'.repeat(64), 'a'.repeat(65), 'my uplink', 'gpiochip0', 'gpiochip4', '/dev/gpiochip0', '12', '1234', 'gpiochip',
];

/** Values near the edges of one rule. */
function samples(rule: SettingRule): unknown[] {
  switch (rule.kind) {
    case 'number': {
      const { min, max } = rule;
      const step = rule.integer ? 1 : 0.001;
      return [min, max, min - step, max + step, (min + max) / 2, min + 0.5, String(min), ` ${max} `, String(max + step), `${min}x`, [min], '1e400'];
    }
    case 'ipv4-list':
      return [addresses(rule.max), addresses(rule.max + 1), addresses(rule.max).join(','), addresses(rule.max + 1).join(','), [...addresses(2), '10.0.0.1']];
    case 'enum':
      return [...rule.values, ...rule.values.map((v) => v.toUpperCase()), ...rule.values.map((v) => ` ${v} `), rule.values.join(',')];
    case 'check-list': {
      // Each line alone, then all together: every kind, option and mistake the grammar knows.
      const lines = [
        'tcp://192.0.2.10:443', 'tcp://192.0.2.10', 'tcp://192.0.2.10:0', 'tcp://192.0.2.10:65536', 'tcp://example.com:80', 'tcp://192.0.2.10:22/x',
        'http://203.0.113.5:8080/health', 'http://203.0.113.5/ expect=204', 'http://203.0.113.5/ expect=2xx', 'http://203.0.113.5/ expect=99',
        'https://203.0.113.5/health expect=200 insecure', 'http://203.0.113.5/ insecure', 'https://203.0.113.5/ insecure=1', 'http://203.0.113.5/é',
        'dns://203.0.113.53/example.com', 'dns://203.0.113.53/example.com type=AAAA', 'dns://203.0.113.53', 'dns://203.0.113.53/a..b', 'dns://203.0.113.53/x type=MX',
        `tcp://192.0.2.10:443 timeout=${rule.timeout.min}`, `tcp://192.0.2.10:443 timeout=${rule.timeout.max + 1}`, 'tcp://192.0.2.10:443 timeout=1 timeout=2',
        'tcp://192.0.2.10:443 color=red', 'ftp://192.0.2.10/', 'flow://web', 'flow://web timeout=5', 'flow://', 'flow://a/b', 'flow://web expect=200', '192.0.2.10', 'tcp://[192.0.2.10]:443', 'tcp://[192.0.2.10:443', `http://192.0.2.1/${'a'.repeat(600)}`,
      ];
      const many = Array.from({ length: rule.max + 1 }, (_, i) => `tcp://192.0.2.1:${i + 1}`);
      return [...lines, lines.join('\n'), lines.slice(0, 3), 'tcp://192.0.2.1:1\ntcp://192.0.2.1:1', many.slice(0, rule.max).join('\n'), many.join('\n'), many, [5], [{ text: 'tcp://192.0.2.1:1' }]];
    }
    default:
      return [];
  }
}

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v) : Array.isArray(v) && v.length > 4 ? `[${v.length} items]` : String(v));

/** The runtime's verdict for an editor field: blank is the default unless the rule is required. */
function runtimeProblem(rule: SettingRule, value: unknown): string | null {
  if (isBlank(value) && !rule.required) return null;
  const [issue] = checkSetting(rule, value);
  if (!issue) return null;
  return 'entry' in issue ? `${String(issue.entry)} ${issue.message}` : issue.message;
}

describe('settings rules: one table, one checker, the editors generated from them', () => {
  const files = editorFiles(join(ROOT, 'nodes'));

  it('the build writes the generated rules into every editor that uses them, and leaves no marker', () => {
    for (const file of files) {
      const source = readFileSync(join(ROOT, 'nodes', file), 'utf8');
      const built = builtHtml(file);
      const uses = /\bIFF\./.test(source);
      assert.equal(/\/\* @settings-rules \*\//.test(source), uses, `nodes/${file}: a marker exactly where IFF is used`);
      assert.equal(built.includes(BEGIN), uses, `built ${file}`);
      assert.ok(!built.includes('/* @settings-rules */'), `built ${file} still has its marker`);
      assert.ok(!/<script[^>]*\bsrc=/i.test(built), `built ${file} loads a script`);
    }
  });

  it('every editor gets the same generated code, whose table is the runtime table', () => {
    const built = files.map(builtHtml).filter((h) => h.includes(BEGIN));
    assert.ok(built.length >= 5);
    const blocks = new Set(built.map((h) => h.slice(h.indexOf(BEGIN), h.indexOf(END))));
    assert.equal(blocks.size, 1);
    const table = /editorRules\((\{.*\})\);\n/.exec([...blocks][0])?.[1];
    assert.deepEqual(JSON.parse(table ?? 'null'), JSON.parse(JSON.stringify(SETTING_RULES)));
  });

  it('for every rule, the editor and the runtime checker agree on valid and invalid values', () => {
    const editor = generatedRules(builtHtml('uplink.html'));
    for (const [name, rule] of ALL_RULES) {
      const verdicts = new Set<boolean>();
      for (const value of [...COMMON, ...samples(rule)]) {
        const expected = runtimeProblem(rule, value);
        verdicts.add(expected === null);
        assert.equal(editor.problem(name, value), expected, `${name} ${show(value)}: the reason`);
        assert.equal(editor.rule(name)(value), expected === null, `${name} ${show(value)}: rule()`);
        assert.equal(editor.reason(name)(value), expected ?? true, `${name} ${show(value)}: reason()`);
        assert.equal(editor.valid(name, value), expected === null, `${name} ${show(value)}: valid()`);
      }
      assert.equal(verdicts.size, 2, `${name}: the samples have both valid and invalid values`);
    }
    assert.throws(() => editor.rule('uplink.nosuch'), /no settings rule "uplink.nosuch"/);
  });

  it("each editor's validators, as registered, are the table's", () => {
    const seen: string[] = [];
    for (const file of files) {
      for (const [type, def] of registered(builtHtml(file))) {
        const section = SECTION_OF[type];
        for (const [prop, field] of Object.entries(def.defaults)) {
          const rule = section ? (SETTING_RULES[section] as Record<string, SettingRule>)[prop] : undefined;
          if (!rule || !field.validate) continue;
          seen.push(`${type}.${prop}`);
          for (const value of [...COMMON, ...samples(rule)]) {
            const ok: boolean = runtimeProblem(rule, value) === null;
            // `this` is the node: the verifier's targets are a list when typed as a string.
            const got: boolean | string = field.validate.call({ targetsType: 'str' }, value, {});
            assert.equal(got === true, ok, `${type}.${prop} ${show(value)}`);
          }
        }
      }
    }
    for (const must of ['uplink.iface', 'uplink.gateway', 'uplink.gateway6', 'uplink.targets', 'uplink.checks', 'uplink.interval', 'uplink.dns', 'failover-controller.setupRetry', 'route-verifier.interval', 'route-verifier.targets', 'fona-power.keyPin', 'fona-power.keyPulse', 'ppp-control.iface', 'ppp-control.upTimeout']) {
      assert.ok(seen.includes(must), `${must} is validated from the table`);
    }
  });

  it('the examples from the issue: bad IPv4, bad interface names, too many or repeated targets', () => {
    const t = SETTING_RULES.uplink;
    for (const bad of ['1.2.3.04', '256.0.0.1', '1.2.3', '01.2.3.4', '1.2.3.4.5', '+1.2.3.4']) {
      assert.deepEqual(checkSetting(t.gateway, bad), [{ message: 'must be an IPv4 address, or none / 0.0.0.0 for a point-to-point device' }], bad);
      assert.deepEqual(checkSetting(t.targets, bad), [{ message: 'is not an IPv4 or IPv6 address', entry: bad }], bad);
    }
    for (const bad of ['eth/0', 'eth0:1', 'eth 0', 'a'.repeat(16), '', '.', 5]) {
      assert.deepEqual(checkSetting(t.iface, bad), [{ message: 'must be a Linux interface name: 1-15 characters, no "/", ":" or spaces' }], String(bad));
    }
    assert.deepEqual(checkSetting(t.targets, addresses(MAX_TARGETS + 1)), [{ message: 'lists 65 addresses: at most 64 targets per uplink' }]);
    assert.deepEqual(checkSetting(t.dns, addresses(MAX_DNS_SERVERS + 1).join(',')), [{ message: 'lists 9 addresses: at most 8 DNS servers per uplink' }]);
    assert.deepEqual(checkSetting(t.targets, '203.0.113.1, 203.0.113.1'), [{ message: 'is listed twice', entry: ' 203.0.113.1' }]);
    assert.deepEqual(checkSetting(t.interval, 0), [{ message: 'must be a number from 0.1 to 3600' }]);
    assert.deepEqual(checkSetting(t.down, 1.5), [{ message: 'must be a whole number from 1 to 1000' }]);
    assert.deepEqual(checkSetting(SETTING_RULES.controller.setupRetry, 0), [{ message: 'must be a number of seconds from 1 to 86400' }]);
    assert.deepEqual(checkSetting(SETTING_RULES.fona.keyPin, 54), [{ message: 'must be a BCM GPIO number from 0 to 53 (not a physical pin number)' }]);
  });

  it('limits are derived, not copied', () => {
    assert.equal(MIN_VERIFIER_DELAY, UPLINK_RULES.interval.min);
    assert.equal(MAX_TARGETS, SETTING_RULES.uplink.targets.max);
    assert.equal(SETTING_RULES.verifier.targets, SETTING_RULES.uplink.targets);
    assert.equal(SETTING_RULES.uplink.reliability.max, MAX_TARGETS);
    // A check's timeout= is the uplink's timeout, the same rule.
    assert.equal(SETTING_RULES.uplink.checks.timeout, SETTING_RULES.uplink.timeout);
  });

  it("the checker's IPv4 test is node:net's", () => {
    const octets = ['0', '1', '9', '10', '01', '001', '99', '100', '199', '200', '249', '250', '255', '256', '300', '1000', '-1', '+1', '0x1', ' 1', '１'];
    for (const a of octets) {
      for (const b of ['0', a]) {
        for (const text of [`${a}.${b}.0.1`, `1.2.3.${a}`, `${a}.${a}.${a}.${a}`, `${a}.${b}.1`, `${a}.${b}.1.2.3`]) assert.equal(isIPv4(text), netIsIPv4(text), text);
      }
    }
  });

  // lib/gpio and lib/ppp still have their own checks (outside this change); until they read the table, they must agree.
  it('agrees with the GPIO pin, chip and peer checks of lib/gpio and lib/ppp', () => {
    for (const pin of [-1, 0, 1, 27, 53, 54, 1.5, Number.NaN]) assert.equal(checkSetting(SETTING_RULES.fona.keyPin, pin).length === 0, isValidPin(pin), String(pin));
    for (const chip of ['gpiochip0', 'gpiochip4', 'gpiochip1234', '0', '123', '1234', '/dev/gpiochip0', '/dev/gpiochip', 'gpiochip', '-c', 'gpiochip0;x']) {
      assert.equal(checkSetting(SETTING_RULES.fona.gpiochip, chip).length === 0, isValidChip(chip), chip);
    }
    for (const peer of ['fona', 'a', 'my.peer_1-x', '-x', '.x', '../x', 'a/b', 'a'.repeat(64), 'a'.repeat(65), 'a b']) {
      assert.equal(checkSetting(SETTING_RULES.fona.peer, peer).length === 0, isValidPeer(peer), peer);
    }
  });

  it('no editor .html under nodes/ keeps a hand-written range or IPv4 pattern', () => {
    const html = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? html(join(dir, e.name)) : e.name.endsWith('.html') ? [join(dir, e.name)] : []));
    const forbidden: [RegExp, string][] = [
      [/25\[0-5\]|\\d\{1,3\}|\[0-9\]\{1,3\}/, 'an IPv4 or digits pattern'],
      [/\(\s*-?\d+(\.\d+)?\s*,\s*-?\d+(\.\d+)?\s*[,)]/, 'a call with a numeric range'],
      [/[<>]=?\s*-?\d/, 'a comparison with a number'],
      [/\bisFinite\s*\(|\bNumber\s*\(/, 'a number check of its own'],
      [/\\x21|\{1,15\}|\{0,63\}/, 'an interface or peer name pattern'],
      [/\/\^[^\n]*\$\/\s*\.test\s*\(/, 'a pattern test of its own'],
    ];
    const found: string[] = [];
    for (const file of html(join(ROOT, 'nodes'))) {
      const text = readFileSync(file, 'utf8');
      // Nor does a form field carry one (<input min=... max=... pattern=...>).
      const attribute = /<input\b[^>]*\b(min|max|pattern|maxlength)\s*=/i.exec(text);
      if (attribute) found.push(`${file.slice(ROOT.length + 1)}: a form field's ${attribute[1]}`);
      for (const script of editorScripts(text)) {
        for (const [pattern, what] of forbidden) {
          const m = pattern.exec(script);
          if (m) found.push(`${file.slice(ROOT.length + 1)}: ${what}: ${JSON.stringify(m[0])}`);
        }
      }
    }
    assert.deepEqual(found, []);
  });
});
