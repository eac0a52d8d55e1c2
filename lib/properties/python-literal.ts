/**
 * A small, safe parser for the Python literals used in ifacefailover.properties values
 * (what the original read with ast.literal_eval): dicts, lists, tuples, strings, numbers,
 * True / False / None. Nothing is ever evaluated: names, calls, attribute access, operators,
 * f-strings, sets and anything after the value are rejected with the offending text and its
 * 1-based column.
 */

export type PyValue = string | number | boolean | null | PyValue[] | PyTuple | { [key: string]: PyValue };

/** A Python tuple, kept apart from lists: `('username', 'password')`. */
export class PyTuple {
  readonly items: PyValue[];
  constructor(items: PyValue[]) {
    this.items = items;
  }
}

export type PyDict = { [key: string]: PyValue };

/** True for a parsed Python dict (a plain object, not a list or tuple). */
export function isPyDict(value: PyValue | undefined): value is PyDict {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof PyTuple);
}

/** Raised for text that is not a plain Python literal; `column` is 1-based within the parsed text. */
export class PyLiteralError extends Error {
  readonly column: number;
  /** The text at fault, as it appears in the input. */
  readonly snippet: string;
  /** The message without the column. */
  readonly detail: string;
  constructor(detail: string, column: number, snippet: string) {
    super(`column ${column}: ${detail}`);
    this.name = 'PyLiteralError';
    this.column = column;
    this.snippet = snippet;
    this.detail = detail;
  }
}

const MAX_DEPTH = 64;
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};
const OPERATOR_CHARS = '+-*/%@&|^<>=!~';

function isIdentStart(c: string): boolean {
  return /^[\p{L}\p{Nl}_]$/u.test(c);
}

function isIdentPart(c: string): boolean {
  return /^[\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}_]$/u.test(c);
}

function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

class Parser {
  private pos = 0;
  private depth = 0;

  constructor(private readonly text: string) {}

  parse(): PyValue {
    this.skipSpace();
    if (this.atEnd()) throw this.fail('empty value: expected a Python literal', this.pos, '');
    const value = this.parseValue();
    this.skipSpace();
    if (!this.atEnd()) throw this.unexpected('after the value');
    return value;
  }

  private atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  private peek(offset = 0): string {
    return this.text[this.pos + offset] ?? '';
  }

  private fail(message: string, at: number, snippet: string): PyLiteralError {
    return new PyLiteralError(message, at + 1, snippet);
  }

  /** Whitespace, line continuations and `#` comments (ast.literal_eval accepts them too). */
  private skipSpace(): void {
    for (;;) {
      const c = this.peek();
      if (c === ' ' || c === '\t' || c === '\f' || c === '\r' || c === '\n') {
        this.pos++;
      } else if (c === '\\' && (this.peek(1) === '\n' || this.peek(1) === '\r')) {
        this.pos += 2;
      } else if (c === '#') {
        while (!this.atEnd() && this.peek() !== '\n') this.pos++;
      } else {
        return;
      }
    }
  }

  /** Builds the error for whatever stands at the current position. */
  private unexpected(context: string): PyLiteralError {
    const start = this.pos;
    const c = this.peek();
    if (c === '') return this.fail(`unexpected end of text ${context}`, start, '');
    if (isIdentStart(c)) return this.nameError();
    if (c === '.' && isIdentStart(this.peek(1))) {
      const end = this.scanDotted(start + 1);
      const snippet = this.text.slice(start, end);
      return this.fail(`attribute access ${quote(snippet)} is not allowed: only literal values`, start, snippet);
    }
    if (c === '(' || c === '[') {
      const snippet = this.text.slice(start, start + 20);
      const what = c === '(' ? 'call' : 'subscript';
      return this.fail(`${what} ${quote(snippet)} ${context} is not allowed: only literal values`, start, snippet);
    }
    if (OPERATOR_CHARS.includes(c)) {
      let end = start + 1;
      while (end < this.text.length && OPERATOR_CHARS.includes(this.text[end])) end++;
      const snippet = this.text.slice(start, end);
      return this.fail(`operator ${quote(snippet)} ${context} is not allowed: only literal values`, start, snippet);
    }
    const snippet = this.text.slice(start, start + 20);
    return this.fail(`unexpected ${quote(snippet)} ${context}`, start, snippet);
  }

  private scanDotted(from: number): number {
    let end = from;
    for (;;) {
      while (end < this.text.length && isIdentPart(this.text[end])) end++;
      if (this.text[end] === '.' && isIdentStart(this.text[end + 1] ?? '')) {
        end++;
      } else {
        return end;
      }
    }
  }

  /** A bare name: the only ones allowed are True, False and None. */
  private nameError(): PyLiteralError {
    const start = this.pos;
    const end = this.scanDotted(start);
    const name = this.text.slice(start, end);
    let after = end;
    while (this.text[after] === ' ' || this.text[after] === '\t') after++;
    if (this.text[after] === '(') {
      let close = this.text.indexOf(')', after);
      close = close < 0 ? Math.min(this.text.length, after + 20) : close + 1;
      const snippet = this.text.slice(start, close);
      return this.fail(`function call ${quote(snippet)} is not allowed: only literal values`, start, snippet);
    }
    if (name.includes('.')) {
      return this.fail(`attribute access ${quote(name)} is not allowed: only literal values`, start, name);
    }
    const hint: Record<string, string> = { true: 'True', false: 'False', none: 'None', null: 'None' };
    const suggestion = hint[name.toLowerCase()];
    const tail = suggestion ? ` (did you mean ${suggestion}?)` : '';
    return this.fail(`name ${quote(name)} is not allowed: only literal values${tail}`, start, name);
  }

  private parseValue(): PyValue {
    const c = this.peek();
    if (c === '{' || c === '[' || c === '(') {
      if (++this.depth > MAX_DEPTH) throw this.fail(`nested more than ${MAX_DEPTH} levels deep`, this.pos, c);
      const value = c === '{' ? this.parseDict() : c === '[' ? this.parseList() : this.parseParen();
      this.depth--;
      return value;
    }
    if (c === '"' || c === "'") return this.parseStrings();
    if (c === '+' || c === '-') return this.parseSigned();
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(this.peek(1)))) return this.parseNumber().value;
    if (isIdentStart(c)) {
      const start = this.pos;
      let end = start;
      while (end < this.text.length && isIdentPart(this.text[end])) end++;
      const word = this.text.slice(start, end);
      const next = this.text[end];
      if ((next === '"' || next === "'") && /^[rRuUbBfF]{1,2}$/.test(word)) return this.parseStrings();
      if (word === 'True' || word === 'False' || word === 'None') {
        this.pos = end;
        return word === 'True' ? true : word === 'False' ? false : null;
      }
      throw this.nameError();
    }
    throw this.unexpected('where a value was expected');
  }

  private parseSigned(): number {
    const start = this.pos;
    const negative = this.peek() === '-';
    this.pos++;
    this.skipSpace();
    const c = this.peek();
    if (!(/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(this.peek(1))))) {
      const snippet = this.text.slice(start, this.pos + 1);
      throw this.fail(`sign ${quote(snippet)} must be followed by a number`, start, snippet);
    }
    const { value, integer } = this.parseNumber();
    if (negative) {
      // -0 and 0 are the same int in Python; keep JSON-friendly 0.
      return integer && value === 0 ? 0 : -value;
    }
    return value;
  }

  private parseNumber(): { value: number; integer: boolean } {
    const start = this.pos;
    const text = this.text;
    let end = start;
    const radix = /^0[xXoObB]/.test(text.slice(start, start + 2)) ? text[start + 1].toLowerCase() : '';
    let integer = true;
    let value: number;
    if (radix) {
      end += 2;
      const digit = radix === 'x' ? /[0-9a-fA-F]/ : radix === 'o' ? /[0-7]/ : /[01]/;
      const digitsStart = end;
      while (end < text.length && (digit.test(text[end]) || (text[end] === '_' && digit.test(text[end + 1] ?? '')))) end++;
      if (end === digitsStart) throw this.badNumber(start, end);
      const digits = text.slice(digitsStart, end).replace(/_/g, '');
      value = parseInt(digits, radix === 'x' ? 16 : radix === 'o' ? 8 : 2);
    } else {
      const decimal = /(?:[0-9](?:_?[0-9])*)?(?:\.(?:[0-9](?:_?[0-9])*)?)?(?:[eE][+-]?[0-9](?:_?[0-9])*)?/y;
      decimal.lastIndex = start;
      const match = decimal.exec(text);
      end = start + (match ? match[0].length : 0);
      const literal = text.slice(start, end);
      if (literal === '' || literal === '.') throw this.badNumber(start, end + 1);
      integer = !/[.eE]/.test(literal);
      if (integer && /^0[0-9_]*[1-9]/.test(literal)) {
        throw this.fail(`number ${quote(literal)} has leading zeros (write 0o${literal.replace(/^0+/, '')} for octal)`, start, literal);
      }
      value = Number(literal.replace(/_/g, ''));
    }
    let suffixEnd = end;
    while (suffixEnd < text.length && isIdentPart(text[suffixEnd])) suffixEnd++;
    const suffix = text.slice(end, suffixEnd);
    if (suffix === 'L' || suffix === 'l') {
      if (!integer) throw this.badNumber(start, suffixEnd);
      end = suffixEnd; // Python 2 long literal, as the original service ran on Python 2
    } else if (suffix === 'j' || suffix === 'J') {
      const snippet = text.slice(start, suffixEnd);
      throw this.fail(`complex number ${quote(snippet)} is not supported`, start, snippet);
    } else if (suffix !== '') {
      throw this.badNumber(start, suffixEnd);
    }
    const snippet = text.slice(start, end);
    if (!Number.isFinite(value)) throw this.fail(`number ${quote(snippet)} is too large`, start, snippet);
    if (integer && !Number.isSafeInteger(value)) {
      throw this.fail(`integer ${quote(snippet)} is too large (limit ${Number.MAX_SAFE_INTEGER})`, start, snippet);
    }
    this.pos = end;
    return { value, integer };
  }

  private badNumber(start: number, end: number): PyLiteralError {
    const snippet = this.text.slice(start, Math.max(end, start + 1));
    return this.fail(`invalid number ${quote(snippet)}`, start, snippet);
  }

  /** One string literal, or several adjacent ones which Python joins: 'a' "b" -> "ab". */
  private parseStrings(): string {
    let result = this.parseString();
    for (;;) {
      const save = this.pos;
      this.skipSpace();
      const c = this.peek();
      const prefixed = /^[rRuUbBfF]{1,2}['"]/.test(this.text.slice(this.pos, this.pos + 3));
      if (c === '"' || c === "'" || prefixed) {
        result += this.parseString();
      } else {
        this.pos = save;
        return result;
      }
    }
  }

  private parseString(): string {
    const start = this.pos;
    let prefix = '';
    while (/[a-zA-Z]/.test(this.peek())) prefix += this.text[this.pos++];
    const lower = prefix.toLowerCase();
    if (lower.includes('f')) {
      const snippet = this.text.slice(start, start + 20);
      throw this.fail(`f-string ${quote(snippet)} is not allowed: it is an expression, not a literal`, start, snippet);
    }
    if (lower.includes('b')) {
      const snippet = this.text.slice(start, start + 20);
      throw this.fail(`bytes literal ${quote(snippet)} is not supported: use a plain string`, start, snippet);
    }
    if (!['', 'r', 'u'].includes(lower)) {
      throw this.fail(`string prefix ${quote(prefix)} is not valid`, start, prefix);
    }
    const raw = lower === 'r';
    const q = this.peek();
    const triple = this.text.startsWith(q.repeat(3), this.pos);
    const delimiter = triple ? q.repeat(3) : q;
    this.pos += delimiter.length;
    let out = '';
    for (;;) {
      if (this.atEnd()) {
        const snippet = this.text.slice(start, start + 20);
        throw this.fail(`unterminated string ${quote(snippet)}`, start, snippet);
      }
      if (this.text.startsWith(delimiter, this.pos)) {
        this.pos += delimiter.length;
        return out;
      }
      const c = this.text[this.pos];
      if (!triple && (c === '\n' || c === '\r')) {
        const snippet = this.text.slice(start, this.pos);
        throw this.fail(`unterminated string ${quote(snippet)}`, start, snippet);
      }
      if (c !== '\\') {
        out += c;
        this.pos++;
        continue;
      }
      const next = this.text[this.pos + 1];
      if (next === undefined) {
        const snippet = this.text.slice(start, start + 20);
        throw this.fail(`unterminated string ${quote(snippet)}`, start, snippet);
      }
      if (raw) {
        // In raw strings a backslash keeps the next character, and both stay in the value.
        out += c + next;
        this.pos += 2;
        continue;
      }
      out += this.parseEscape();
    }
  }

  /** At a backslash inside a non-raw string: returns what the escape stands for. */
  private parseEscape(): string {
    const start = this.pos;
    const next = this.text[this.pos + 1];
    if (next === '\n') {
      this.pos += 2;
      return '';
    }
    if (next === '\r') {
      this.pos += this.text[this.pos + 2] === '\n' ? 3 : 2;
      return '';
    }
    const simple = SIMPLE_ESCAPES[next];
    if (simple !== undefined) {
      this.pos += 2;
      return simple;
    }
    if (/[0-7]/.test(next)) {
      const digits = /^[0-7]{1,3}/.exec(this.text.slice(this.pos + 1, this.pos + 4))![0];
      this.pos += 1 + digits.length;
      return String.fromCodePoint(parseInt(digits, 8));
    }
    const width = next === 'x' ? 2 : next === 'u' ? 4 : next === 'U' ? 8 : 0;
    if (width > 0) {
      const hex = this.text.slice(this.pos + 2, this.pos + 2 + width);
      const code = parseInt(hex, 16);
      if (!new RegExp(`^[0-9a-fA-F]{${width}}$`).test(hex) || code > 0x10ffff) {
        const snippet = this.text.slice(start, start + 2 + width);
        throw this.fail(`invalid escape ${quote(snippet)}`, start, snippet);
      }
      this.pos += 2 + width;
      return String.fromCodePoint(code);
    }
    if (next === 'N') {
      const snippet = this.text.slice(start, start + 20);
      throw this.fail(`named escape ${quote(snippet)} is not supported: use \\u or \\x`, start, snippet);
    }
    // Python keeps unknown escapes such as "\d" as written.
    this.pos += 2;
    return `\\${next}`;
  }

  /** After an item in a container: returns true at the closing bracket, false after a comma. */
  private endOrComma(close: string, open: number): boolean {
    this.skipSpace();
    const c = this.peek();
    if (c === close) {
      this.pos++;
      return true;
    }
    if (c === ',') {
      this.pos++;
      this.skipSpace();
      if (this.peek() === close) {
        this.pos++;
        return true;
      }
      return false;
    }
    if (c === '') {
      const opener = this.text[open];
      throw this.fail(`${quote(opener)} is never closed: expected ${quote(close)}`, open, opener);
    }
    throw this.unexpected(`where "," or ${quote(close)} was expected`);
  }

  private parseList(): PyValue[] {
    const open = this.pos++;
    const items: PyValue[] = [];
    this.skipSpace();
    if (this.peek() === ']') {
      this.pos++;
      return items;
    }
    for (;;) {
      this.skipSpace();
      if (this.atEnd()) throw this.fail('"[" is never closed: expected "]"', open, '[');
      items.push(this.parseValue());
      if (this.endOrComma(']', open)) return items;
    }
  }

  /** `()` empty tuple, `(x)` just x, `(x,)` and `(x, y)` tuples. */
  private parseParen(): PyValue {
    const open = this.pos++;
    this.skipSpace();
    if (this.peek() === ')') {
      this.pos++;
      return new PyTuple([]);
    }
    if (this.atEnd()) throw this.fail('"(" is never closed: expected ")"', open, '(');
    const first = this.parseValue();
    this.skipSpace();
    if (this.peek() === ')') {
      this.pos++;
      return first;
    }
    const items: PyValue[] = [first];
    if (this.endOrComma(')', open)) return new PyTuple(items);
    for (;;) {
      this.skipSpace();
      if (this.atEnd()) throw this.fail('"(" is never closed: expected ")"', open, '(');
      items.push(this.parseValue());
      if (this.endOrComma(')', open)) return new PyTuple(items);
    }
  }

  private parseDict(): PyDict {
    const open = this.pos++;
    const dict: PyDict = {};
    this.skipSpace();
    if (this.peek() === '}') {
      this.pos++;
      return dict;
    }
    for (;;) {
      this.skipSpace();
      if (this.atEnd()) throw this.fail('"{" is never closed: expected "}"', open, '{');
      const keyStart = this.pos;
      const key = this.parseValue();
      const keyText = this.text.slice(keyStart, this.pos);
      this.skipSpace();
      if (this.peek() !== ':') {
        if (this.peek() === ',' || this.peek() === '}') {
          throw this.fail(`set ${quote(this.text.slice(open, this.pos + 1))} is not supported: expected a dict ("key": value)`, open, '{');
        }
        if (this.atEnd()) throw this.fail('"{" is never closed: expected "}"', open, '{');
        throw this.unexpected('where ":" was expected');
      }
      let name: string;
      if (typeof key === 'string') {
        name = key;
      } else if (typeof key === 'number' && Number.isInteger(key) && !/[.eE]/.test(keyText)) {
        name = String(key);
      } else {
        throw this.fail(`dict key ${quote(keyText)} must be a string or an integer`, keyStart, keyText);
      }
      this.pos++;
      this.skipSpace();
      if (this.atEnd()) throw this.fail('"{" is never closed: expected "}"', open, '{');
      const value = this.parseValue();
      // defineProperty so that a key such as "__proto__" is stored as data, never as the prototype.
      Object.defineProperty(dict, name, { value, enumerable: true, writable: true, configurable: true });
      if (this.endOrComma('}', open)) return dict;
    }
  }
}

/** Parses one Python literal; throws PyLiteralError (with a 1-based column) for anything else. */
export function parsePythonLiteral(text: string): PyValue {
  return new Parser(text).parse();
}
