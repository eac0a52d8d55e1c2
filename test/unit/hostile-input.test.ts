/**
 * Input that cannot hurt: each hostile properties file found while trying to break the reader (issue 9)
 * is refused as a whole, with the exact error naming file, line, field and a value quoted at most ~100
 * characters long. parseServiceProperties returns nothing when it throws, so nothing can be applied; the
 * CLI test (test/package/bad-input.test.ts) shows the service exits 2 without running a command.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, describeIssue, MAX_LISTED_ISSUES, quoteValue } from '../../lib/errors';
import { loadServiceProperties, MAX_FILE_BYTES, MAX_LINE_LENGTH, parseServiceProperties } from '../../lib/properties/ifacefailover-properties';
import { MAX_TARGETS, validateUplinks } from '../../lib/uplink/model';

const FILE = '/etc/ifacefailover/ifacefailover.properties';
const BASE = ['route.primary.gateway=192.168.1.1', 'route.primary.iface=eth0'];
const LOG_HANDLER = "route.primary.handlers=['/opt/ifacefailover/config/logHandler.pkl']";

/** The error's message, line by line; fails if the text parses. */
function refused(text: string): string[] {
  try {
    parseServiceProperties(text, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message.split('\n');
  }
  assert.fail('the file was accepted');
}

/** What an error message quotes of a long string value. */
function quotedStart(value: string): string {
  return `${JSON.stringify(value.slice(0, 100)).slice(0, -1)}…" (${value.length} characters)`;
}

function ms(fn: () => unknown): number {
  const start = process.hrtime.bigint();
  try {
    fn();
  } catch {
    // measured either way
  }
  return Number(process.hrtime.bigint() - start) / 1e6;
}

describe('control characters in the file', () => {
  it('a stray CR inside a value is an error naming file:line and column, not a vanished key', () => {
    assert.deepEqual(refused([...BASE, 'route.primary.targets=203.0.113.8,\r203.0.113.9'].join('\n')), [
      `${FILE}:3: route.primary.targets="203.0.113.8,\\r203.0.113.9": contains a control character at column 35 (U+000D, carriage return): a value must be plain text on one line`,
    ]);
  });

  it('U+2028, NEL (C1) and NUL, in a value or a comment, are refused and shown escaped', () => {
    assert.deepEqual(refused([...BASE, 'route.primary.dns=192.168.1.1,\u20289.9.9.9'].join('\n')), [
      `${FILE}:3: route.primary.dns="192.168.1.1,\\u20289.9.9.9": contains a control character at column 31 (U+2028, line separator): a value must be plain text on one line`,
    ]);
    assert.deepEqual(refused([...BASE, 'route.primary.targets=8.8.8.8\u0085'].join('\n')), [
      `${FILE}:3: route.primary.targets="8.8.8.8\\u0085": contains a control character at column 30 (U+0085, next line): a value must be plain text on one line`,
    ]);
    // Some readers end a line at a CR: a comment could hide a key from us and show it to them.
    assert.deepEqual(refused([...BASE, '# note\0'].join('\n')), [
      `${FILE}:3: line="# note\\u0000": contains a control character at column 7 (U+0000, NUL): a value must be plain text on one line`,
    ]);
  });

  it('CRLF line endings stay fine; a CR-only file (old Mac) is refused', () => {
    assert.equal(parseServiceProperties(BASE.join('\r\n'), FILE).routes.length, 1);
    assert.deepEqual(refused(BASE.join('\r')), [
      `${FILE}:1: route.primary.gateway="192.168.1.1\\rroute.primary.iface=eth0": contains a control character at column 34 (U+000D, carriage return): a value must be plain text on one line`,
      `${FILE}: route=(missing): no routes defined: add route.NAME.gateway and route.NAME.iface lines (the first route is the primary)`,
    ]);
  });

  it('a newline from a Python escape in a log name cannot forge log lines', () => {
    assert.deepEqual(refused([...BASE, LOG_HANDLER, "route.primary.handlerKwargs=[{'name':'primary\\nINFO Connected to FAKE'}]"].join('\n')), [
      `${FILE}:4: uplink "primary" handlerKwargs="[{'name':'primary\\\\nINFO Connected to FAKE'}]": has a string with a control character (U+000A, line feed, from an escape): strings must be plain text on one line`,
    ]);
  });

  it('a URL with a tab (which the URL parser would silently drop) is refused too', () => {
    const lines = refused(
      [...BASE, "route.primary.handlers=['/opt/h/httpHandler.pkl']", "route.primary.handlerKwargs=[{'url':'https://host/a\\tb/', 'onConnectedUrlSuffix':'x'}]"].join('\n'),
    );
    assert.deepEqual(lines, [`${FILE}:4: uplink "primary" handlerKwargs.url="https://host/a\\tb/": must not contain control characters or line breaks`]);
  });
});

describe('names are printable text on one line', () => {
  const logName = (kwargs: string): string[] => refused([...BASE, LOG_HANDLER, `route.primary.handlerKwargs=[${kwargs}]`].join('\n'));

  it("a log handler's name: no tab, no bidi override, at most 64 characters, no unknown option", () => {
    assert.deepEqual(logName("{'name':'a\\tb'}"), [`${FILE}:4: uplink "primary" handlerKwargs.name="a\\tb": must be printable characters on one line: U+0009 at position 2 is not`]);
    assert.deepEqual(logName("{'name':'safe\\u202eEFAS'}"), [
      `${FILE}:4: uplink "primary" handlerKwargs.name="safe\\u202eEFAS": must be printable characters on one line: U+202E at position 5 is not`,
    ]);
    const long = 'n'.repeat(65);
    assert.deepEqual(logName(`{'name':'${long}'}`), [`${FILE}:4: uplink "primary" handlerKwargs.name="${long}": must be at most 64 characters (it has 65)`]);
    assert.deepEqual(logName("{'nmae':'primary'}"), [`${FILE}:4: uplink "primary" handlerKwargs.nmae="primary": unknown log handler option; known: name`]);
    // A plain name, spaces and all, is fine.
    const props = parseServiceProperties([...BASE, LOG_HANDLER, "route.primary.handlerKwargs=[{'name':'Primary (eth0) – Büro'}]"].join('\n'), FILE);
    assert.deepEqual(props.routes[0].handlers, [{ kind: 'log', path: '/opt/ifacefailover/config/logHandler.pkl', line: 4, name: 'Primary (eth0) – Büro' }]);
  });

  it('a route name: letters, digits, "_" and "-"', () => {
    assert.deepEqual(refused(['route.prim\u00e4ry.gateway=192.168.1.1', 'route.prim\u00e4ry.iface=eth0'].join('\n')), [
      `${FILE}:1: uplink "primäry" name="primäry": route name must be 1-64 letters, digits, "_" or "-"`,
    ]);
  });
});

describe('a key set twice', () => {
  it('is an error naming both lines, whatever the values', () => {
    assert.deepEqual(refused([...BASE, 'route.primary.iface=wlan0'].join('\n')), [
      `${FILE}:3: route.primary.iface="wlan0": is set twice, on lines 2 and 3: each key may be set once`,
    ]);
    assert.deepEqual(refused([...BASE, 'route.primary.iface=eth0', '# a comment', 'route.primary.iface = eth0'].join('\n')), [
      `${FILE}:3: route.primary.iface="eth0": is set twice, on lines 2 and 3: each key may be set once`,
      `${FILE}:5: route.primary.iface="eth0": is set twice, on lines 2 and 5: each key may be set once`,
    ]);
  });
});

describe('limits', () => {
  const targets = (n: number): string => Array.from({ length: n }, (_, i) => `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`).join(',');

  it(`at most ${MAX_TARGETS} targets per uplink, said so, in the file and for Node-RED uplinks`, () => {
    assert.equal(parseServiceProperties([...BASE, `route.primary.targets=${targets(64)}`].join('\n'), FILE).routes[0].uplink.targets.length, 64);
    const value = targets(65);
    assert.deepEqual(refused([...BASE, `route.primary.targets=${value}`].join('\n')), [
      `${FILE}:3: uplink "primary" targets=${quotedStart(value)}: lists 65 addresses: at most 64 targets per uplink`,
    ]);
    assert.throws(() => validateUplinks([{ name: 'nr', iface: 'eth0', targets: targets(65).split(',') }]), /targets=\["10\.0\.0\.1",.*… \(65 items\): lists 65 addresses: at most 64 targets per uplink/);
  });

  it('10 000 targets: one issue (not 10 000), found at once', () => {
    // 10 000 addresses make a 134 KB line: over the line limit before the model ever sees them.
    assert.match(refused([...BASE, `route.primary.targets=${targets(10_000)}`].join('\n'))[0], /^[^\n]{0,300}: is \d{6} characters long: a line may have at most 4096$/);
    let issues = 0;
    const took = ms(() => {
      try {
        validateUplinks([{ name: 'nr', iface: 'eth0', targets: targets(100_000) }]);
      } catch (err) {
        issues = (err as ConfigError).issues.length;
      }
    });
    assert.equal(issues, 1);
    assert.ok(took < 500, `100 000 targets checked in ${took} ms`);
  });

  it(`a line over ${MAX_LINE_LENGTH} characters is refused before it is parsed, quoted short`, () => {
    const line = `route.primary.verifierKwargs={'timeout': ${'1'.repeat(5000)}}`;
    assert.deepEqual(refused([...BASE, line].join('\n')), [`${FILE}:3: line=${quotedStart(line)}: is ${line.length} characters long: a line may have at most 4096`]);
  });

  it('a file over 1 MiB is refused before it is scanned, read or not', async () => {
    assert.deepEqual(refused(`${BASE.join('\n')}\n${'#'.repeat(MAX_FILE_BYTES)}`), [
      `${FILE}: file="${FILE}": is larger than 1048576 bytes (1 MiB), the most a properties file may have`,
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'iff-hostile-'));
    try {
      const big = join(dir, 'big.properties');
      writeFileSync(big, '#'.repeat(2 * MAX_FILE_BYTES));
      await assert.rejects(loadServiceProperties(big), { message: `${big}: file="${big}": is larger than 1048576 bytes (1 MiB), the most a properties file may have` });
      // A device that never ends is read no further than the limit.
      await assert.rejects(loadServiceProperties('/dev/zero'), { message: '/dev/zero: file="/dev/zero": is larger than 1048576 bytes (1 MiB), the most a properties file may have' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('errors quote at most ~100 characters of a value, with an ellipsis and the full length', () => {
    const gateway = 'g'.repeat(3000);
    assert.deepEqual(refused(['route.primary.iface=eth0', `route.primary.gateway=${gateway}`].join('\n')), [
      `${FILE}:2: uplink "primary" gateway=${quotedStart(gateway)}: must be an IPv4 address, or none / 0.0.0.0 for a point-to-point device`,
    ]);
    const huge = 'x'.repeat(50_000_000);
    assert.equal(quoteValue(huge), `${quotedStart(huge)}`);
    assert.equal(quoteValue(Array.from({ length: 100_000 }, (_, i) => i)).length < 140, true);
    assert.match(quoteValue(Array.from({ length: 100_000 }, (_, i) => i)), /^\[0,1,2,[0-9,]*… \(100000 items\)$/);
    // A field or uplink name is user text as well.
    const line = describeIssue({ uplink: 'u'.repeat(500), field: `headers.${'h'.repeat(500)}`, value: 'v', message: 'is bad' });
    assert.ok(line.length < 400, line);
    assert.match(line, /^uplink "u{100}… \(500 characters\)" headers\.h{92}… \(508 characters\)="v": is bad$/);
  });

  it(`one error lists at most ${MAX_LISTED_ISSUES} problems and counts the rest`, () => {
    const lines = refused(Array.from({ length: 2000 }, (_, i) => `garbage${i}`).join('\n'));
    assert.equal(lines.length, MAX_LISTED_ISSUES + 1);
    assert.equal(lines[0], `${FILE}:1: line="garbage0": is not a "key=value" line: no "=" or ":" separator`);
    assert.equal(lines[MAX_LISTED_ISSUES], `... and ${2001 - MAX_LISTED_ISSUES} more problems`);
  });

  it('a 1 MiB file of hostile lines is refused in well under a second: no quadratic step', () => {
    const longKey = `route.${'r'.repeat(4000)}.gatway=1`; // a typo check against a 4000-character key
    const hostile = [
      Array.from({ length: 150 }, () => longKey).join('\n'), // also each key set again and again
      Array.from({ length: 5000 }, (_, i) => `route.r${i}.iface=eth0`).join('\n'), // 5000 routes on one interface
      Array.from({ length: 5000 }, (_, i) => `route.r${i}.gateway=192.168.1.1`).join('\n'),
    ].join('\n');
    assert.ok(Buffer.byteLength(hostile) < MAX_FILE_BYTES);
    const took = ms(() => parseServiceProperties(hostile, FILE));
    assert.ok(took < 1500, `refused in ${took} ms`);
    assert.equal(refused(hostile).length, MAX_LISTED_ISSUES + 1);
  });
});
