/**
 * The agent checksum (PROTOCOL.md §2): validation of a specification, its
 * canonical form (RFC 8785 over the §2.2 members, the template normalized
 * as §2.3 says) and `"sha256:" + hex` of those bytes.
 *
 * @packageDocumentation
 */

import { createHash, timingSafeEqual } from 'node:crypto';

import { AjwtError } from './errors.js';
import { MAX_JSON_DEPTH, canonicalString, checkIJsonNumber, isWellFormed, parseIJsonNumber } from './jcs.js';
import { compileRE2 } from './regex.js';
import { type AgentSpec, type DecodedSpec, type DecodedTool, MAX_VALUE_LENGTH, decodeSpec } from './spec.js';
import { type SpecNode, parseJsonTree, plainOf, specError, treeOf } from './specnode.js';

/** Largest specification text accepted (PROTOCOL.md §10, registration bodies). */
export const MAX_SPEC_BYTES = 1 << 20;

/**
 * Returns the agent checksum of `spec` (§2.4): `"sha256:"` and the 64
 * lowercase hex digits of the SHA-256 of {@link canonicalSpec}. An invalid
 * specification throws an `invalid_request` {@link AjwtError} naming the
 * field. Asynchronous so that a WebCrypto implementation can stand behind
 * it on other runtimes.
 */
export async function agentChecksum(spec: AgentSpec): Promise<string> {
  return checksumOfCanonical(canonicalSpec(spec));
}

/**
 * Returns the canonical text of `spec` (§2.2), the exact input of the
 * checksum: `{"agent_id", "configuration"?, "prompt_template",
 * "substitutions"?, "tools"}` in RFC 8785 form.
 */
export function canonicalSpec(spec: AgentSpec): string {
  return canonicalOf(decodeSpec(treeOf(spec, ''), () => ({ line: 0, col: 0 })));
}

/**
 * Parses a JSON specification file strictly — unknown or duplicate members,
 * nesting beyond 32, lone surrogate escapes, numbers that are not I-JSON
 * and trailing data are refused, with the field, line and column — and
 * returns the specification as a plain object.
 */
export function parseSpec(text: string | Uint8Array): AgentSpec {
  const str = typeof text === 'string' ? text : decodeUTF8(text);
  if (Buffer.byteLength(str, 'utf8') > MAX_SPEC_BYTES) throw specError('', 'spec larger than 1 MiB');
  const { root, locate } = parseJsonTree(str);
  const decoded = decodeSpec(root, locate);
  try {
    validate(decoded);
  } catch (e) {
    throw placed(e, decoded);
  }
  return plainOf(root) as AgentSpec;
}

/**
 * Checks `spec` against every rule of §2 (the same rules {@link agentChecksum}
 * applies) and throws an `invalid_request` {@link AjwtError} naming the field.
 */
export function validateSpec(spec: AgentSpec): void {
  canonicalSpec(spec);
}

/** Hashes bytes that already are the canonical form. */
export function checksumOfCanonical(canonical: string): string {
  return 'sha256:' + createHash('sha256').update(canonical, 'utf8').digest('hex');
}

/**
 * Accepts `"sha256:<64 lowercase hex>"` and the bare 64 hex digits (§2.4)
 * and returns the prefixed form; anything else is `invalid_request`.
 */
export function parseChecksum(s: string): string {
  const hex = s.startsWith('sha256:') ? s.slice(7) : s;
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new AjwtError({ code: 'invalid_request', description: 'agent_checksum: want sha256:<64 lowercase hex> or 64 lowercase hex' });
  }
  return 'sha256:' + hex;
}

/** Compares two checksums in constant time (§2.4). */
export function checksumsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Applies §2.3 to a prompt: NFC; CRLF and lone CR become LF; each line
 * trimmed of Unicode `White_Space` at both ends; empty lines dropped; lines
 * joined with LF, none after the last.
 */
export function normalizePrompt(s: string): string {
  return s
    .normalize('NFC')
    .split(/\r\n|\r|\n/)
    .map((line) => line.replace(/^\p{White_Space}+|\p{White_Space}+$/gu, ''))
    .filter((line) => line !== '')
    .join('\n');
}

function decodeUTF8(b: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(b);
  } catch {
    throw specError('', 'spec is not valid UTF-8');
  }
}

/** Adds the position of the field an error names, when the spec came from text. */
function placed(e: unknown, s: DecodedSpec): unknown {
  if (!(e instanceof AjwtError) || e.line !== 0 || e.field === undefined) return e;
  const { line, col } = s.position(e.field);
  return specError(e.field, e.description ?? '', line, col);
}

function canonicalOf(s: DecodedSpec): string {
  const tmpl = validate(s);
  let out = `{"agent_id":${canonicalString(s.agentId)}`;
  if (s.configuration && s.configuration.kind === 'object' && s.configuration.members.length > 0) {
    out += `,"configuration":${canonicalNode(s.configuration)}`;
  }
  out += `,"prompt_template":${canonicalString(tmpl)}`;
  if (s.substitutions.size > 0) {
    const names = [...s.substitutions.keys()].sort();
    const subs = names.map((n) => {
      const sub = s.substitutions.get(n)!;
      return `${canonicalString(n)}:{"max_length":${sub.max_length},"pattern":${canonicalString(sub.pattern)}}`;
    });
    out += `,"substitutions":{${subs.join(',')}}`;
  }
  return out + `,"tools":[${sortTools(s.tools).map(canonicalTool).join(',')}]}`;
}

/** Tools sort by the UTF-8 bytes of their names (§2.2), not by UTF-16 units as member names do. */
function sortTools(tools: DecodedTool[]): DecodedTool[] {
  return [...tools].sort((a, b) => Buffer.compare(Buffer.from(a.name, 'utf8'), Buffer.from(b.name, 'utf8')));
}

function canonicalTool(t: DecodedTool): string {
  const params = t.parameters && t.parameters.kind === 'object' && t.parameters.members.length > 0 ? canonicalNode(t.parameters) : '{}';
  const deep = t.sourceSha256 === '' ? '' : `,"source_sha256":"${t.sourceSha256}"`;
  return `{"description":${canonicalString(t.description)},"name":${canonicalString(t.name)},"parameters":${params}${deep}}`;
}

/** RFC 8785 text of a validated tree: numbers were checked to be I-JSON, so their double is exact. */
function canonicalNode(n: SpecNode): string {
  switch (n.kind) {
    case 'object': {
      const members = [...n.members].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      return '{' + members.map((m) => canonicalString(m.key) + ':' + canonicalNode(m.value)).join(',') + '}';
    }
    case 'array':
      return '[' + n.items.map(canonicalNode).join(',') + ']';
    case 'string':
      return canonicalString(n.value);
    case 'number':
      return JSON.stringify(n.value);
    case 'boolean':
      return n.value ? 'true' : 'false';
    case 'null':
      return 'null';
  }
}

// ---- validation (the rules and order of the Go agentspec package) ----

/** Document depth of the values a spec holds: the spec is 1, configuration 2, a tool's parameters 4. */
const CONFIGURATION_DEPTH = 2;
const PARAMETERS_DEPTH = 4;

/** Validates a decoded spec and returns its normalized template. @internal */
export function validate(s: DecodedSpec): string {
  const tmpl = validateStructure(s);
  s.tools.forEach((t, i) => t.parameters && checkValue(t.parameters, PARAMETERS_DEPTH, `tools[${i}].parameters`));
  if (s.configuration) checkValue(s.configuration, CONFIGURATION_DEPTH, 'configuration');
  return tmpl;
}

function validateStructure(s: DecodedSpec): string {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(s.agentId)) {
    throw specError('agent_id', `${JSON.stringify(trunc(s.agentId))} does not match ^[a-z0-9][a-z0-9-]{0,62}$`);
  }
  if (!isWellFormed(s.promptTemplate)) throw specError('prompt_template', 'not valid UTF-8');
  const tmpl = normalizePrompt(s.promptTemplate);
  if (tmpl === '') throw specError('prompt_template', 'empty after normalization');
  validateSubstitutions(tmpl, s.substitutions);
  validateTools(s.tools);
  return tmpl;
}

/** Calls fn with the text between the braces of each `{{…}}`: `{{`, no braces, `}}`, leftmost first. @internal */
export function forEachPlaceholder(s: string, fn: (name: string) => void): void {
  for (const m of s.matchAll(/\{\{([^{}]*)\}\}/g)) fn(m[1] ?? '');
}

const PLACEHOLDER_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Validates the declarations against the normalized template. @internal */
export function validateSubstitutions(tmpl: string, subs: ReadonlyMap<string, { pattern: string; max_length: number }>): void {
  const used = new Set<string>();
  forEachPlaceholder(tmpl, (name) => {
    if (!PLACEHOLDER_NAME.test(name)) {
      throw specError('prompt_template', `placeholder {{${trunc(name)}}}: name must match [A-Za-z_][A-Za-z0-9_]*`);
    }
    if (!subs.has(name)) throw specError('prompt_template', `placeholder {{${name}}} is not declared in substitutions`);
    used.add(name);
  });
  for (const name of [...subs.keys()].sort()) {
    const sub = subs.get(name)!;
    const field = `substitutions.${name}`;
    if (!PLACEHOLDER_NAME.test(name)) throw specError(field, 'name must match [A-Za-z_][A-Za-z0-9_]*');
    if (!used.has(name)) throw specError(field, 'declared but not used in prompt_template');
    if (sub.pattern === '') throw specError(`${field}.pattern`, 'required');
    if (!Number.isInteger(sub.max_length) || sub.max_length < 1 || sub.max_length > MAX_VALUE_LENGTH) {
      throw specError(`${field}.max_length`, `must be from 1 to ${MAX_VALUE_LENGTH}`);
    }
    if (!isWellFormed(sub.pattern)) throw specError(`${field}.pattern`, 'not valid UTF-8');
    try {
      compileRE2(sub.pattern);
    } catch (e) {
      throw specError(`${field}.pattern`, `does not compile: ${(e as Error).message}`);
    }
  }
}

function validateTools(tools: DecodedTool[]): void {
  const seen = new Set<string>();
  tools.forEach((t, i) => {
    const field = `tools[${i}]`;
    if (t.name === '') throw specError(`${field}.name`, 'required');
    if (seen.has(t.name)) throw specError(`${field}.name`, `duplicate tool name ${JSON.stringify(trunc(t.name))}`);
    if (t.sourceSha256 !== '' && !/^[0-9a-f]{64}$/.test(t.sourceSha256)) {
      throw specError(`${field}.source_sha256`, 'want 64 lowercase hex digits');
    }
    seen.add(t.name);
  });
}

/** Refuses values without an RFC 8785 form, numbers that are not I-JSON, and nesting beyond 32. */
function checkValue(n: SpecNode, depth: number, field: string): void {
  switch (n.kind) {
    case 'number': {
      const why = n.literal === undefined ? checkIJsonNumber(n.value) : refusal(parseIJsonNumber(n.literal));
      if (why) throw specError(field, why);
      return;
    }
    case 'object':
    case 'array':
      if (depth > MAX_JSON_DEPTH) throw specError(field, `nested deeper than ${MAX_JSON_DEPTH} (the whole spec counts)`);
      if (n.kind === 'object') n.members.forEach((m) => checkValue(m.value, depth + 1, `${field}.${m.key}`));
      else n.items.forEach((e, i) => checkValue(e, depth + 1, `${field}[${i}]`));
  }
}

function refusal(r: { value: number } | { refused: string }): string | undefined {
  return 'refused' in r ? r.refused : undefined;
}

function trunc(s: string): string {
  const cps = Array.from(s);
  return cps.length > 32 ? cps.slice(0, 32).join('') + '…' : s;
}
