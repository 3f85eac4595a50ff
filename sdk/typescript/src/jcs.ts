/**
 * RFC 8785 JSON Canonicalization Scheme, and the I-JSON number rule
 * (RFC 7493 §2.2) that agent specifications obey (PROTOCOL.md §2.2, §2.4).
 *
 * @packageDocumentation
 */

import { AjwtError } from './errors.js';

/** A JSON value as JavaScript holds it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Nesting limit of arrays and objects (PROTOCOL.md §10). */
export const MAX_JSON_DEPTH = 32;

/**
 * Returns the RFC 8785 canonical text of `value`: members sorted by UTF-16
 * code units, numbers in ECMAScript form, strings escaped minimally.
 * NaN, infinities, lone surrogates, `undefined`, functions, bigints and
 * nesting deeper than {@link MAX_JSON_DEPTH} are refused with an
 * `invalid_request` {@link AjwtError}.
 */
export function canonicalize(value: unknown): string {
  return encode(value, MAX_JSON_DEPTH);
}

function encode(v: unknown, depth: number): string {
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      return canonicalNumber(v);
    case 'string':
      return canonicalString(v);
    case 'object':
      if (v === null) return 'null';
      if (depth <= 0) throw jcsError(`nesting deeper than ${MAX_JSON_DEPTH}`);
      return Array.isArray(v) ? encodeArray(v, depth - 1) : encodeObject(v, depth - 1);
  }
  throw jcsError(`a ${typeof v} has no JSON form`);
}

function encodeArray(a: readonly unknown[], depth: number): string {
  return '[' + a.map((e) => encode(e, depth)).join(',') + ']';
}

function encodeObject(o: object, depth: number): string {
  if (!isPlainObject(o)) throw jcsError('only plain objects have a JSON form');
  const rec = o as Record<string, unknown>;
  // Default sort compares UTF-16 code units: exactly RFC 8785 §3.2.3.
  const keys = Object.keys(rec).sort();
  return '{' + keys.map((k) => canonicalString(k) + ':' + encode(rec[k], depth)).join(',') + '}';
}

/** @internal */
export function isPlainObject(o: object): boolean {
  const proto = Object.getPrototypeOf(o);
  return proto === Object.prototype || proto === null;
}

/**
 * Writes a number as RFC 8785 §3.2.2.3 does: the ECMAScript
 * Number.prototype.toString form, `-0` as `0`. NaN and infinities are
 * refused.
 */
export function canonicalNumber(n: number): string {
  if (!Number.isFinite(n)) throw jcsError(`${n} has no JSON form`);
  return JSON.stringify(n); // ECMAScript form; -0 gives "0"
}

/**
 * Writes a string as RFC 8785 §3.2.2.2 does. A lone surrogate has no UTF-8
 * form and is refused: replacing it would hash a value nobody wrote.
 */
export function canonicalString(s: string): string {
  if (!isWellFormed(s)) throw jcsError('string holds a lone surrogate (not valid Unicode)');
  return JSON.stringify(s); // escapes exactly ", \, and U+0000–U+001F (short forms where JSON has them)
}

/** Reports whether `s` holds no lone surrogate, i.e. has a UTF-8 form. */
export function isWellFormed(s: string): boolean {
  return !/\p{Surrogate}/u.test(s);
}

function jcsError(description: string): AjwtError {
  return new AjwtError({ code: 'invalid_request', description: `JCS: ${description}` });
}

// ---- I-JSON numbers (RFC 7493 §2.2, PROTOCOL.md §2.5 "ajwt's choices") ----

const EXACT_LIMIT = 2 ** 53;

/**
 * Checks a JavaScript number as the JSON text every encoder writes for it
 * (its shortest decimal): from 2^53 on, that text must be the double's
 * exact value, or two specifications could share one checksum. Returns an
 * explanation when the number is refused, `undefined` when it is I-JSON.
 */
export function checkIJsonNumber(n: number): string | undefined {
  if (!Number.isFinite(n)) return `${n} has no JSON form`;
  if (Math.abs(n) < EXACT_LIMIT) return undefined;
  const exact = BigInt(n).toString();
  if (!sameDecimal(decimalOf(n.toExponential()), decimalOf(exact))) {
    return `integer ${canonicalNumber(n)} is beyond 2^53 and names the double ${exact}: not an exact value (RFC 7493); quote it to make it a string`;
  }
  return undefined;
}

const NUMBER_SYNTAX = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

/**
 * Parses a JSON number literal of an I-JSON document: the literal must name
 * exactly the value its RFC 8785 form names (`0.1`, `4.50`, `1e2`,
 * `9007199254740992` pass; `9007199254740993`, `1e30`,
 * `0.10000000000000001` and `1e-400` do not). Returns the number, or an
 * explanation of the refusal.
 */
export function parseIJsonNumber(literal: string): { value: number } | { refused: string } {
  if (!NUMBER_SYNTAX.test(literal)) return { refused: `${short(literal)} is not JSON number syntax` };
  const f = Number(literal);
  if (!Number.isFinite(f)) return { refused: `number ${short(literal)} is not a finite JSON number` };
  const a = Math.abs(f);
  // A decimal of at most 15 significant digits survives the round trip
  // through a normal double (DBL_DIG): it is the shortest form.
  if (a >= 2 ** -1022 && a < EXACT_LIMIT && significantDigits(literal) <= 15) return { value: f };
  const canon = decimalOf(f.toExponential());
  if (!sameDecimal(decimalOf(literal), canon)) {
    return { refused: `number ${short(literal)} canonicalizes to ${canonicalNumber(f)}, another value: more precision than a double holds (RFC 7493); quote it to make it a string` };
  }
  if (a >= EXACT_LIMIT && !sameDecimal(decimalOf(BigInt(f).toString()), canon)) {
    return { refused: `integer ${short(literal)} is beyond 2^53 and canonicalizes to ${canonicalNumber(f)}, while the double it reads as is ${BigInt(f)}: not an exact value (RFC 7493); quote it to make it a string` };
  }
  return { value: f };
}

function short(s: string): string {
  return s.length > 32 ? s.slice(0, 32) + '…' : s;
}

function significantDigits(s: string): number {
  const mant = s.split(/[eE]/)[0] ?? '';
  const digits = mant.replace(/[^0-9]/g, '').replace(/^0+/, '').replace(/0+$/, '');
  return digits.length;
}

/** The exact value of a number text: 0.digits × 10^exp; zero has no digits and no sign. */
interface Decimal {
  neg: boolean;
  digits: string;
  exp: bigint;
}

function decimalOf(text: string): Decimal {
  let s = text;
  let neg = false;
  if (s.startsWith('-')) {
    neg = true;
    s = s.slice(1);
  }
  const [mant = '', expText] = s.split(/[eE]/);
  const [whole = '', frac = ''] = mant.split('.');
  const all = whole + frac;
  const lead = all.length - all.replace(/^0+/, '').length;
  const trimmed = all.replace(/^0+/, '').replace(/0+$/, '');
  if (trimmed === '') return { neg: false, digits: '', exp: 0n };
  const exp = BigInt(whole.length - lead) + BigInt(expText ?? '0');
  return { neg, digits: trimmed, exp };
}

function sameDecimal(a: Decimal, b: Decimal): boolean {
  return a.neg === b.neg && a.digits === b.digits && a.exp === b.exp;
}
