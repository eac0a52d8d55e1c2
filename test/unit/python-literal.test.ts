import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isPyDict, parsePythonLiteral, PyLiteralError, PyTuple } from '../../lib/properties/python-literal';

/** Asserts that parsing fails at `column`, with `snippet` (the offending text) in the message. */
function rejects(text: string, column: number, snippet: string): PyLiteralError {
  let caught: unknown;
  try {
    parsePythonLiteral(text);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof PyLiteralError, `expected PyLiteralError for ${text}, got ${String(caught)}`);
  assert.equal(caught.column, column, `column for ${text}: ${caught.message}`);
  assert.ok(caught.message.includes(snippet), `message "${caught.message}" should name ${snippet}`);
  assert.ok(caught.message.includes(`column ${column}`));
  return caught;
}

describe('parsePythonLiteral: values', () => {
  it('parses the dicts, lists and tuples of the sample file', () => {
    assert.deepEqual(parsePythonLiteral("{'timeout':1, 'maxRetry':2}"), { timeout: 1, maxRetry: 2 });
    assert.deepEqual(parsePythonLiteral("['/opt/a/logHandler.pkl','/opt/a/httpHandler.pkl']"), [
      '/opt/a/logHandler.pkl',
      '/opt/a/httpHandler.pkl',
    ]);
    assert.deepEqual(parsePythonLiteral("[{'name':'fona'},{'powerStatusPin':23, 'keyPin':24},{'auth':('username', 'password')}]"), [
      { name: 'fona' },
      { powerStatusPin: 23, keyPin: 24 },
      { auth: new PyTuple(['username', 'password']) },
    ]);
  });

  it('parses nested containers', () => {
    assert.deepEqual(parsePythonLiteral("{'a': [1, (2, [3, {'b': None}])], 'c': {}}"), {
      a: [1, new PyTuple([2, [3, { b: null }]])],
      c: {},
    });
    assert.deepEqual(parsePythonLiteral('[[], [[]], ()]'), [[], [[]], new PyTuple([])]);
  });

  it('parses scalars', () => {
    assert.equal(parsePythonLiteral('True'), true);
    assert.equal(parsePythonLiteral('False'), false);
    assert.equal(parsePythonLiteral('None'), null);
    assert.equal(parsePythonLiteral('  42  '), 42);
    assert.equal(parsePythonLiteral('0'), 0);
    assert.equal(parsePythonLiteral('00'), 0);
    assert.equal(parsePythonLiteral('1.5'), 1.5);
    assert.equal(parsePythonLiteral('.5'), 0.5);
    assert.equal(parsePythonLiteral('2.'), 2);
    assert.equal(parsePythonLiteral('1e3'), 1000);
    assert.equal(parsePythonLiteral('1.5E-2'), 0.015);
    assert.equal(parsePythonLiteral('1_000'), 1000);
    assert.equal(parsePythonLiteral('0x1F'), 31);
    assert.equal(parsePythonLiteral('0o17'), 15);
    assert.equal(parsePythonLiteral('0b101'), 5);
    assert.equal(parsePythonLiteral('10L'), 10, 'Python 2 long, as the original service ran on Python 2');
  });

  it('parses negative and signed numbers', () => {
    assert.equal(parsePythonLiteral('-1'), -1);
    assert.equal(parsePythonLiteral('- 2'), -2);
    assert.equal(parsePythonLiteral('+3'), 3);
    assert.equal(parsePythonLiteral('-0.25'), -0.25);
    assert.equal(parsePythonLiteral('-1e3'), -1000);
    assert.equal(parsePythonLiteral('-0'), 0);
    assert.deepEqual(parsePythonLiteral('[-1, -2.5, {"x": -3}]'), [-1, -2.5, { x: -3 }]);
  });

  it('parses strings with escapes, both quotes, prefixes and concatenation', () => {
    assert.equal(parsePythonLiteral(`'it\\'s'`), "it's");
    assert.equal(parsePythonLiteral(`"say \\"hi\\""`), 'say "hi"');
    assert.equal(parsePythonLiteral(`"it's"`), "it's");
    assert.equal(parsePythonLiteral(`'a\\nb\\tc\\\\d'`), 'a\nb\tc\\d');
    assert.equal(parsePythonLiteral(`'\\x41\\101\\u00e9\\U0001F600'`), 'AAé😀');
    assert.equal(parsePythonLiteral(`'\\0'`), '\0');
    assert.equal(parsePythonLiteral(`'C:\\d'`), 'C:\\d', 'unknown escapes stay as written, as in Python');
    assert.equal(parsePythonLiteral(`r'C:\\new\\'x'`), "C:\\new\\'x");
    assert.equal(parsePythonLiteral(`u'unicode'`), 'unicode');
    assert.equal(parsePythonLiteral(`'a' "b" 'c'`), 'abc');
    assert.equal(parsePythonLiteral(`'''it's "triple"'''`), `it's "triple"`);
    assert.equal(parsePythonLiteral(`''`), '');
    assert.equal(parsePythonLiteral(`'# not a comment'`), '# not a comment');
  });

  it('accepts trailing commas and Python comments', () => {
    assert.deepEqual(parsePythonLiteral('[1, 2,]'), [1, 2]);
    assert.deepEqual(parsePythonLiteral("{'a': 1,}"), { a: 1 });
    assert.deepEqual(parsePythonLiteral('(1, 2,)'), new PyTuple([1, 2]));
    assert.deepEqual(parsePythonLiteral("{'a': 1} # one"), { a: 1 });
  });

  it('tells tuples from lists and from parentheses', () => {
    assert.deepEqual(parsePythonLiteral('()'), new PyTuple([]));
    assert.deepEqual(parsePythonLiteral('(1,)'), new PyTuple([1]));
    assert.equal(parsePythonLiteral('(1)'), 1);
    assert.equal(parsePythonLiteral("('x')"), 'x');
    const t = parsePythonLiteral("('username', 'password')");
    assert.ok(t instanceof PyTuple);
    assert.deepEqual(t.items, ['username', 'password']);
    assert.ok(Array.isArray(parsePythonLiteral('[1]')));
  });

  it('handles dict keys like Python: last duplicate wins, int keys become strings', () => {
    assert.deepEqual(parsePythonLiteral("{'a': 1, 'b': 2, 'a': 3}"), { a: 3, b: 2 });
    assert.deepEqual(Object.keys(parsePythonLiteral("{'a': 1, 'b': 2, 'a': 3}") as object), ['a', 'b']);
    assert.deepEqual(parsePythonLiteral("{1: 'one', -2: 'minus two'}"), { '1': 'one', '-2': 'minus two' });
  });

  it('stores a "__proto__" key as data, never as the prototype', () => {
    const d = parsePythonLiteral("{'__proto__': {'polluted': True}}");
    assert.ok(isPyDict(d));
    assert.equal(Object.getPrototypeOf(d), Object.prototype);
    assert.deepEqual(Object.keys(d), ['__proto__']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('isPyDict tells dicts from lists, tuples and scalars', () => {
    assert.equal(isPyDict({}), true);
    assert.equal(isPyDict([]), false);
    assert.equal(isPyDict(new PyTuple([])), false);
    assert.equal(isPyDict(null), false);
    assert.equal(isPyDict('x'), false);
  });
});

describe('parsePythonLiteral: rejects anything that is not a literal', () => {
  it('rejects calls, names and attribute access', () => {
    rejects("__import__('os')", 1, "__import__('os')");
    rejects("{'timeout': os.system}", 13, 'os.system');
    rejects("{'timeout': os}", 13, '"os"');
    rejects("[1, eval('2')]", 5, "eval('2')");
    rejects("'a'.upper()", 4, '.upper');
    rejects('lambda: 1', 1, 'lambda');
    const e = rejects('true', 1, 'true');
    assert.match(e.message, /did you mean True/);
  });

  it('rejects operators, subscripts and trailing garbage', () => {
    rejects('1 + 2', 3, '"+"');
    rejects("'a' * 3", 5, '"*"');
    rejects('[1][0]', 4, '[0]');
    rejects("{'a': 1} x", 10, '"x"');
    rejects('1 2', 3, '"2"');
    rejects('--1', 1, '--');
    rejects('[1 2]', 4, '"2]"');
    rejects("{**{'a': 1}}", 2, '**');
  });

  it('rejects f-strings, bytes, sets, complex numbers and bad numbers', () => {
    rejects("f'{os.system}'", 1, "f'{os.system}'");
    rejects("b'x'", 1, "b'x'");
    rejects('{1, 2}', 1, 'set');
    rejects('1j', 1, '1j');
    rejects('010', 1, '"010"');
    rejects('1__0', 1, '1__0');
    rejects('1e', 1, '1e');
    rejects('12abc', 1, '12abc');
    rejects('99999999999999999999', 1, 'too large');
    rejects('1e999', 1, 'too large');
  });

  it('rejects bad dict keys and unsupported escapes', () => {
    rejects("{1.5: 'x'}", 2, '1.5');
    rejects("{None: 'x'}", 2, 'None');
    rejects("{('a',): 1}", 2, "('a',)");
    rejects("'\\x4'", 2, '\\x4');
    rejects("'\\N{DASH}'", 2, '\\N{DASH}');
  });

  it('reports the column of an unterminated string', () => {
    rejects("'abc", 1, 'unterminated');
    rejects("{'a': 'b}", 7, 'unterminated');
    rejects("['x', \"y]", 7, '"y]');
    rejects("r'abc\\'", 1, 'unterminated');
    rejects("'''abc''", 1, 'unterminated');
  });

  it('reports unclosed brackets and empty input', () => {
    rejects('[1, 2', 1, '"["');
    rejects("{'a': 1", 1, '"{"');
    rejects('(1, 2', 1, '"("');
    rejects("{'a'", 1, '"{"');
    rejects("{'a':", 1, '"{"');
    rejects('', 1, 'empty');
    rejects('   ', 4, 'empty');
    rejects(']', 1, '"]"');
  });

  it('limits nesting depth', () => {
    rejects('['.repeat(200) + ']'.repeat(200), 65, 'nested');
    assert.deepEqual(parsePythonLiteral('[[[[1]]]]'), [[[[1]]]]);
  });
});
