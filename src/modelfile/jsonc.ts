/**
 * A JSON-with-comments parser that keeps the position of every value and key, for located errors
 * and editor ranges. Accepts `//` and `/* *\/` comments and trailing commas (as VS Code's jsonc);
 * everything else is strict JSON (no NaN, Infinity, hex, leading +, single quotes). Nesting deeper
 * than MAX_DEPTH is an error, not a stack overflow. Offsets are UTF-16 code units into the text
 * after a leading BOM (which is dropped, as editors do).
 */

export type JsonNode = JsonObject | JsonArray | JsonString | JsonNumber | JsonBool | JsonNull;

interface Span {
  /** Offset of the first character. */
  start: number;
  /** Offset just past the last character. */
  end: number;
}

export interface JsonProperty {
  key: string;
  keySpan: Span;
  value: JsonNode;
}

export interface JsonObject extends Span {
  kind: 'object';
  props: JsonProperty[];
}
export interface JsonArray extends Span {
  kind: 'array';
  items: JsonNode[];
}
export interface JsonString extends Span {
  kind: 'string';
  value: string;
}
export interface JsonNumber extends Span {
  kind: 'number';
  value: number;
  raw: string;
}
export interface JsonBool extends Span {
  kind: 'boolean';
  value: boolean;
}
export interface JsonNull extends Span {
  kind: 'null';
}

interface SyntaxProblem {
  start: number;
  end: number;
  message: string;
}

const MAX_DEPTH = 64;

type ParseResult = { ok: true; root: JsonNode; text: string } | { ok: false; error: SyntaxProblem; text: string };

class Fail extends Error {
  constructor(readonly problem: SyntaxProblem) {
    super(problem.message);
  }
}

/** Strips a leading byte-order mark. */
function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

export function parseJsonc(input: string): ParseResult {
  const text = stripBom(input);
  const p = new Parser(text);
  try {
    p.ws();
    if (p.i >= text.length) throw new Fail({ start: 0, end: 0, message: 'the file is empty; expected a JSON object' });
    const root = p.value(0);
    p.ws();
    if (p.i < text.length) p.fail(`unexpected ${describe(text, p.i)} after the end of the top-level value`);
    return { ok: true, root, text };
  } catch (e) {
    if (e instanceof Fail) return { ok: false, error: e.problem, text };
    throw e;
  }
}

function describe(text: string, i: number): string {
  if (i >= text.length) return 'end of file';
  const c = text[i]!;
  const code = c.charCodeAt(0);
  if (code < 0x20 || code === 0x7f) return `control character U+${code.toString(16).padStart(4, '0').toUpperCase()}`;
  if (code === 0xfffd) return 'invalid byte (the file is not UTF-8 text)';
  const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i, i + 32));
  return word ? `"${word[0]}"` : `"${c}"`;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

class Parser {
  i = 0;
  constructor(private readonly s: string) {}

  fail(message: string, start = this.i, end = Math.min(this.s.length, start + 1)): never {
    throw new Fail({ start, end, message });
  }

  ws(): void {
    const s = this.s;
    for (;;) {
      const c = s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0xfeff) {
        this.i++;
        continue;
      }
      if (c === 0x2f /* / */) {
        const n = s.charCodeAt(this.i + 1);
        if (n === 0x2f) {
          while (this.i < s.length && s[this.i] !== '\n') this.i++;
          continue;
        }
        if (n === 0x2a) {
          const close = s.indexOf('*/', this.i + 2);
          if (close < 0) this.fail('unterminated /* comment', this.i, this.i + 2);
          this.i = close + 2;
          continue;
        }
      }
      return;
    }
  }

  value(depth: number): JsonNode {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH} levels`);
    const s = this.s,
      start = this.i,
      c = s[start];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') {
      const v = this.string();
      return { kind: 'string', value: v, start, end: this.i };
    }
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    for (const [word, node] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (s.startsWith(word, start) && !/[A-Za-z0-9_]/.test(s[start + word.length] ?? '')) {
        this.i += word.length;
        return node === null
          ? { kind: 'null', start, end: this.i }
          : { kind: 'boolean', value: node, start, end: this.i };
      }
    }
    if (/^(NaN|-?Infinity)\b/.test(s.slice(start, start + 10)))
      this.fail(`${describe(s, start)} is not a JSON number; write a finite number`, start, start + 3);
    if (c === "'") this.fail('strings must use double quotes (")');
    this.fail(
      `unexpected ${describe(s, start)}; expected a value (object, array, string, number, true, false or null)`,
    );
  }

  object(depth: number): JsonObject {
    const start = this.i;
    this.i++;
    const props: JsonProperty[] = [];
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return { kind: 'object', props, start, end: this.i };
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] === '}' && props.length > 0) {
        this.i++;
        break;
      } // trailing comma
      if (this.s[this.i] !== '"') {
        if (this.i >= this.s.length)
          this.fail('unexpected end of file inside an object; expected "}"', start, start + 1);
        this.fail(`unexpected ${describe(this.s, this.i)}; expected a property name in double quotes`);
      }
      const ks = this.i;
      const key = this.string();
      const keySpan = { start: ks, end: this.i };
      this.ws();
      if (this.s[this.i] !== ':')
        this.fail(`expected ":" after property name "${key}", found ${describe(this.s, this.i)}`);
      this.i++;
      this.ws();
      if (this.i >= this.s.length) this.fail(`unexpected end of file; expected a value for "${key}"`);
      const value = this.value(depth + 1);
      props.push({ key, keySpan, value });
      this.ws();
      const c = this.s[this.i];
      if (c === ',') {
        this.i++;
        continue;
      }
      if (c === '}') {
        this.i++;
        break;
      }
      if (this.i >= this.s.length)
        this.fail('unexpected end of file inside an object; expected "," or "}"', start, start + 1);
      this.fail(`expected "," or "}" after the value of "${key}", found ${describe(this.s, this.i)}`);
    }
    return { kind: 'object', props, start, end: this.i };
  }

  array(depth: number): JsonArray {
    const start = this.i;
    this.i++;
    const items: JsonNode[] = [];
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return { kind: 'array', items, start, end: this.i };
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] === ']' && items.length > 0) {
        this.i++;
        break;
      } // trailing comma
      if (this.i >= this.s.length) this.fail('unexpected end of file inside an array; expected "]"', start, start + 1);
      items.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i];
      if (c === ',') {
        this.i++;
        continue;
      }
      if (c === ']') {
        this.i++;
        break;
      }
      if (this.i >= this.s.length)
        this.fail('unexpected end of file inside an array; expected "," or "]"', start, start + 1);
      this.fail(`expected "," or "]" in the array, found ${describe(this.s, this.i)}`);
    }
    return { kind: 'array', items, start, end: this.i };
  }

  string(): string {
    const s = this.s,
      start = this.i;
    this.i++;
    let out = '';
    let run = this.i;
    for (;;) {
      if (this.i >= s.length) this.fail('unterminated string', start, start + 1);
      const c = s.charCodeAt(this.i);
      if (c === 0x22) {
        out += s.slice(run, this.i);
        this.i++;
        return out;
      }
      if (c === 0x0a || c === 0x0d)
        this.fail('unterminated string (a line break comes before its closing quote)', start, start + 1);
      if (c < 0x20) this.fail(`${describe(s, this.i)} inside a string; escape it`);
      if (c === 0x5c) {
        out += s.slice(run, this.i);
        const e = s[this.i + 1];
        const simple: Record<string, string> = {
          '"': '"',
          '\\': '\\',
          '/': '/',
          b: '\b',
          f: '\f',
          n: '\n',
          r: '\r',
          t: '\t',
        };
        if (e !== undefined && e in simple) {
          out += simple[e];
          this.i += 2;
        } else if (e === 'u') {
          const hex = s.slice(this.i + 2, this.i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('invalid \\u escape; expected 4 hex digits', this.i, this.i + 2);
          out += String.fromCharCode(parseInt(hex, 16));
          this.i += 6;
        } else this.fail(`invalid escape "\\${e ?? ''}" in a string`, this.i, this.i + 2);
        run = this.i;
        continue;
      }
      this.i++;
    }
  }

  number(): JsonNumber {
    const start = this.i;
    NUMBER.lastIndex = start;
    const m = NUMBER.exec(this.s);
    if (!m || m[0] === '-') this.fail(`invalid number ${describe(this.s, start)}`);
    const raw = m[0];
    const after = this.s[start + raw.length];
    if (after !== undefined && /[0-9A-Za-z_.+-]/.test(after)) {
      const bad = /^[-+0-9A-Za-z_.]+/.exec(this.s.slice(start, start + 40))![0];
      this.fail(
        `invalid number "${bad}" (JSON numbers are decimal: no leading zeros, hex, or trailing characters)`,
        start,
        start + bad.length,
      );
    }
    this.i = start + raw.length;
    return { kind: 'number', value: Number(raw), raw, start, end: this.i };
  }
}

/** Offsets where lines start (lines end at \n, \r\n or \r), for locating many offsets in one text. */
function lineStarts(text: string): Int32Array {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) starts.push(i + 1);
    else if (c === 0x0d && text.charCodeAt(i + 1) !== 0x0a) starts.push(i + 1);
  }
  return Int32Array.from(starts);
}

let indexed: { text: string; starts: Int32Array } | null = null;

/**
 * 1-based line and column (UTF-16 units) of an offset. Lines end at \n, \r\n or \r. The text's
 * line starts are indexed once and kept for the next call on the same text, so locating each of
 * many problems costs a binary search, not a scan from the start.
 */
export function lineCol(text: string, offset: number): { line: number; col: number } {
  if (indexed === null || indexed.text !== text) indexed = { text, starts: lineStarts(text) };
  const starts = indexed.starts;
  const at = Math.max(0, Math.min(offset, text.length));
  let lo = 0,
    hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= at) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, col: offset - starts[lo]! + 1 };
}

/** The property of an object node, by key (the last one if duplicated). */
export function prop(obj: JsonObject, key: string): JsonProperty | undefined {
  for (let i = obj.props.length - 1; i >= 0; i--) if (obj.props[i]!.key === key) return obj.props[i];
  return undefined;
}
