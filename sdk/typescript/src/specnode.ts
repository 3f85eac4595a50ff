/**
 * A strict JSON reader for agent specifications: positions for errors,
 * number literals kept as written (so the I-JSON rule can judge them),
 * duplicate members, nesting beyond 32, lone surrogate escapes and
 * trailing data refused. Also turns JavaScript values into the same tree.
 *
 * @internal
 * @packageDocumentation
 */

import { AjwtError, isRecord } from './errors.js';
import { MAX_JSON_DEPTH, isPlainObject, isWellFormed } from './jcs.js';

/** @internal */
export type SpecNode =
  | { kind: 'object'; members: Member[]; at: number }
  | { kind: 'array'; items: SpecNode[]; at: number }
  | { kind: 'string'; value: string; at: number }
  | { kind: 'number'; value: number; literal: string | undefined; at: number }
  | { kind: 'boolean'; value: boolean; at: number }
  | { kind: 'null'; at: number };

/** @internal */
export interface Member {
  key: string;
  value: SpecNode;
  /** Offset of the member name in the text; -1 for trees of JavaScript values. */
  at: number;
}

/** Line and column (1-based, in characters) of a text offset; 0, 0 when unknown. @internal */
export type Locate = (at: number) => { line: number; col: number };

/** A parsed document and the way back from offsets to positions. @internal */
export interface Tree {
  root: SpecNode;
  locate: Locate;
}

/** @internal */
export function specError(field: string, description: string, line = 0, col = 0): AjwtError {
  return new AjwtError({ code: 'invalid_request', field, description, line, column: col });
}

/** Parses JSON text into a tree; errors name field "" and the position. @internal */
export function parseJsonTree(text: string): Tree {
  const p = new Parser(text);
  p.skipSpace();
  if (p.atEnd()) throw p.error('empty document, want a JSON object');
  const root = p.value(MAX_JSON_DEPTH);
  p.skipSpace();
  if (!p.atEnd()) throw p.error('data after the JSON value');
  return { root, locate: (at) => locate(text, at) };
}

/** Positions are computed only for errors: tracking them per token costs every valid spec. */
function locate(s: string, at: number): { line: number; col: number } {
  if (at < 0) return { line: 0, col: 0 };
  let line = 1;
  let col = 1;
  for (let j = 0; j < at && j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 0x0a) {
      line++;
      col = 1;
    } else if (!(c >= 0xdc00 && c <= 0xdfff && j > 0 && isHigh(s.charCodeAt(j - 1)))) {
      col++; // a surrogate pair is one character
    }
  }
  return { line, col };
}

class Parser {
  private i = 0;

  constructor(private readonly s: string) {}

  atEnd(): boolean {
    return this.i >= this.s.length;
  }

  error(msg: string, at = this.i): AjwtError {
    const { line, col } = locate(this.s, at);
    return specError('', msg, line, col);
  }

  skipSpace(): void {
    while (this.i < this.s.length) {
      const c = this.s[this.i];
      if (c !== ' ' && c !== '\t' && c !== '\r' && c !== '\n') return;
      this.i++;
    }
  }

  value(depth: number): SpecNode {
    const at = this.i;
    const c = this.s[this.i];
    if (c === '{' || c === '[') {
      if (depth <= 0) throw this.error(`nested deeper than ${MAX_JSON_DEPTH}`, at);
      return c === '{' ? this.object(depth - 1, at) : this.array(depth - 1, at);
    }
    if (c === '"') return { kind: 'string', value: this.string(), at };
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number(at);
    for (const [word, node] of LITERALS) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        return { ...node, at } as SpecNode;
      }
    }
    throw this.error(c === undefined ? 'unexpected end of document' : `unexpected character ${JSON.stringify(c)}`);
  }

  private object(depth: number, at: number): SpecNode {
    this.i++;
    const members: Member[] = [];
    const seen = new Set<string>();
    this.skipSpace();
    if (this.s[this.i] === '}') {
      this.i++;
      return { kind: 'object', members, at };
    }
    for (;;) {
      this.skipSpace();
      const keyAt = this.i;
      if (this.s[this.i] !== '"') throw this.error('want a member name');
      const key = this.string();
      if (seen.has(key)) throw this.error(`duplicate member ${JSON.stringify(key)}`, keyAt);
      seen.add(key);
      this.skipSpace();
      this.expect(':');
      this.skipSpace();
      members.push({ key, value: this.value(depth), at: keyAt });
      this.skipSpace();
      if (this.s[this.i] === '}') {
        this.i++;
        return { kind: 'object', members, at };
      }
      this.expect(',');
    }
  }

  private array(depth: number, at: number): SpecNode {
    this.i++;
    const items: SpecNode[] = [];
    this.skipSpace();
    if (this.s[this.i] === ']') {
      this.i++;
      return { kind: 'array', items, at };
    }
    for (;;) {
      this.skipSpace();
      items.push(this.value(depth));
      this.skipSpace();
      if (this.s[this.i] === ']') {
        this.i++;
        return { kind: 'array', items, at };
      }
      this.expect(',');
    }
  }

  private expect(c: string): void {
    if (this.s[this.i] !== c) throw this.error(`want ${JSON.stringify(c)}`);
    this.i++;
  }

  private number(at: number): SpecNode {
    const m = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(this.s.slice(this.i, this.i + 4096));
    if (!m) throw this.error('malformed number');
    this.i += m[0].length;
    return { kind: 'number', value: Number(m[0]), literal: m[0], at };
  }

  /** Reads a string token; a lone surrogate escape is refused at the string's start. */
  private string(): string {
    const at = this.i;
    this.i++;
    let out = '';
    for (;;) {
      const c = this.s[this.i];
      if (c === undefined) throw this.error('unterminated string', at);
      if (c === '"') break;
      if (c < ' ') throw this.error('control character in a string');
      if (c === '\\') {
        out += this.escape();
        continue;
      }
      out += c;
      this.i++;
    }
    this.i++;
    if (!isWellFormed(out)) throw this.error('string holds an unpaired surrogate', at);
    return out;
  }

  private escape(): string {
    const c = this.s[this.i + 1];
    this.i += 2;
    const simple = c === undefined ? undefined : ESCAPES[c];
    if (simple !== undefined) return simple;
    if (c !== 'u') throw this.error('bad escape');
    const hex = this.s.slice(this.i, this.i + 4);
    if (!/^[0-9A-Fa-f]{4}$/.test(hex)) throw this.error('bad \\u escape');
    this.i += 4;
    return String.fromCharCode(parseInt(hex, 16));
  }
}

function isHigh(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

const LITERALS: [string, object][] = [
  ['true', { kind: 'boolean', value: true }],
  ['false', { kind: 'boolean', value: false }],
  ['null', { kind: 'null' }],
];

/**
 * Turns a JavaScript value into a tree. Members whose value is `undefined`
 * are absent, as `JSON.stringify` has them; anything without a JSON form is
 * refused, naming its field. @internal
 */
export function treeOf(v: unknown, field: string, depth = MAX_JSON_DEPTH): SpecNode {
  const pos = { at: -1 };
  switch (typeof v) {
    case 'string':
      if (!isWellFormed(v)) throw specError(field, 'string holds a lone surrogate (not valid UTF-8)');
      return { kind: 'string', value: v, ...pos };
    case 'number':
      return { kind: 'number', value: v, literal: undefined, ...pos };
    case 'boolean':
      return { kind: 'boolean', value: v, ...pos };
    case 'object':
      if (v === null) return { kind: 'null', ...pos };
      if (depth <= 0) throw specError(field, `nested deeper than ${MAX_JSON_DEPTH} (the whole spec counts)`);
      if (Array.isArray(v)) return { kind: 'array', items: v.map((e, i) => treeOf(e, `${field}[${i}]`, depth - 1)), ...pos };
      if (isRecord(v) && isPlainObject(v)) return objectTree(v, field, depth - 1);
  }
  throw specError(field, `unsupported value of type ${typeof v}`);
}

function objectTree(o: Record<string, unknown>, field: string, depth: number): SpecNode {
  const members: Member[] = [];
  for (const [key, value] of Object.entries(o)) {
    if (value === undefined) continue;
    const f = field === '' ? key : `${field}.${key}`;
    if (!isWellFormed(key)) throw specError(field, 'member name is not valid UTF-8');
    members.push({ key, value: treeOf(value, f, depth), at: -1 });
  }
  return { kind: 'object', members, at: -1 };
}

/** The plain JavaScript value of a tree. @internal */
export function plainOf(n: SpecNode): unknown {
  switch (n.kind) {
    case 'object': {
      const o: Record<string, unknown> = {};
      for (const m of n.members) {
        Object.defineProperty(o, m.key, { value: plainOf(m.value), enumerable: true, writable: true, configurable: true });
      }
      return o;
    }
    case 'array':
      return n.items.map(plainOf);
    case 'null':
      return null;
    default:
      return n.value;
  }
}
