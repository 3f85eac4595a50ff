/**
 * Agent specifications (PROTOCOL.md §2.1): their types, and the decoder
 * that maps a JSON tree onto them strictly (unknown members refused,
 * members typed), remembering where each field sits for error positions.
 *
 * @packageDocumentation
 */

import type { JsonValue } from './jcs.js';
import { parseIJsonNumber } from './jcs.js';
import { type Locate, type Member, type SpecNode, specError } from './specnode.js';

/** A runtime placeholder's declaration (§2.5): a full-match pattern and a length cap in characters. */
export interface Substitution {
  /** Regular expression (RE2 syntax, applied anchored as `^(?:…)$`). */
  pattern: string;
  /** Longest value in Unicode code points, from 1 to 1,048,576. */
  max_length: number;
}

/** One tool the agent may call. */
export interface Tool {
  /** Unique, non-empty tool name. */
  name: string;
  /** Hashed as given (never normalized); `""` when absent. */
  description?: string;
  /** A JSON Schema; `{}` when absent. */
  parameters?: { [key: string]: JsonValue };
  /** Optional SHA-256 of the tool's code ("deep" checksum), 64 lowercase hex digits. */
  source_sha256?: string;
}

/**
 * An agent specification exactly as a JSON spec file holds it (§2.1). The
 * SDK keeps a reference to the object an {@link Agent} was made from and
 * recomputes its checksum for every grant.
 */
export interface AgentSpec {
  /** Matches `^[a-z0-9][a-z0-9-]{0,62}$`. */
  agent_id: string;
  /** The prompt with `{{name}}` placeholders; normalized before hashing (§2.3). */
  prompt_template: string;
  /** Placeholder name → declaration; every placeholder must be declared and every declaration used. */
  substitutions?: { [name: string]: Substitution };
  /** The agent's tools. */
  tools?: Tool[];
  /** Model settings, any JSON object. */
  configuration?: { [key: string]: JsonValue };
}

/** Longest substitution value the protocol allows (code points). */
export const MAX_VALUE_LENGTH = 1 << 20;

/** A decoded specification whose JSON values are still trees, with positions. @internal */
export interface DecodedSpec {
  agentId: string;
  promptTemplate: string;
  substitutions: Map<string, Substitution>;
  tools: DecodedTool[];
  configuration: SpecNode | undefined;
  /** Position of a field or its nearest known ancestor. */
  position(field: string): { line: number; col: number };
}

/** @internal */
export interface DecodedTool {
  name: string;
  description: string;
  parameters: SpecNode | undefined;
  sourceSha256: string;
}

/** Maps a tree onto a specification; errors are `invalid_request` naming the field. @internal */
export function decodeSpec(root: SpecNode, locate: Locate): DecodedSpec {
  return new Decoder(locate).spec(root);
}

class Decoder {
  private readonly pos = new Map<string, number>();

  constructor(private readonly locate: Locate) {}

  position(field: string): { line: number; col: number } {
    for (let f = field; ; f = parentField(f)) {
      const at = this.pos.get(f);
      if (at !== undefined) return this.locate(at);
      if (f === '') return { line: 0, col: 0 };
    }
  }

  private err(at: number, field: string, msg: string) {
    const { line, col } = this.locate(at);
    return specError(field, msg, line, col);
  }

  private want<K extends SpecNode['kind']>(n: SpecNode, field: string, kind: K): Extract<SpecNode, { kind: K }> {
    this.pos.set(field, n.at);
    if (n.kind !== kind) throw this.err(n.at, field, `want ${kind === 'object' || kind === 'array' ? 'an' : 'a'} ${kind}, got ${n.kind}`);
    return n as Extract<SpecNode, { kind: K }>;
  }

  spec(root: SpecNode): DecodedSpec {
    const obj = this.want(root, '', 'object');
    const s: DecodedSpec = {
      agentId: '', promptTemplate: '', substitutions: new Map(), tools: [], configuration: undefined,
      position: (f) => this.position(f),
    };
    for (const m of obj.members) {
      switch (m.key) {
        case 'agent_id': s.agentId = this.want(m.value, m.key, 'string').value; break;
        case 'prompt_template': s.promptTemplate = this.want(m.value, m.key, 'string').value; break;
        case 'substitutions': s.substitutions = this.substitutions(m.value); break;
        case 'tools': s.tools = this.tools(m.value); break;
        case 'configuration': s.configuration = this.want(m.value, m.key, 'object'); break;
        default: throw this.unknown(m, m.key, 'agent_id, prompt_template, substitutions, tools, configuration');
      }
    }
    this.required(obj, '', 'agent_id', 'prompt_template');
    return s;
  }

  private substitutions(n: SpecNode): Map<string, Substitution> {
    const out = new Map<string, Substitution>();
    for (const m of this.want(n, 'substitutions', 'object').members) {
      out.set(m.key, this.substitution(m.value, `substitutions.${m.key}`));
    }
    return out;
  }

  private substitution(n: SpecNode, field: string): Substitution {
    const obj = this.want(n, field, 'object');
    const sub: Substitution = { pattern: '', max_length: 0 };
    for (const m of obj.members) {
      switch (m.key) {
        case 'pattern': sub.pattern = this.want(m.value, `${field}.pattern`, 'string').value; break;
        case 'max_length': sub.max_length = this.integer(m.value, `${field}.max_length`); break;
        default: throw this.unknown(m, `${field}.${m.key}`, 'pattern, max_length');
      }
    }
    this.required(obj, field, 'pattern', 'max_length');
    return sub;
  }

  private tools(n: SpecNode): DecodedTool[] {
    return this.want(n, 'tools', 'array').items.map((item, i) => this.tool(item, `tools[${i}]`));
  }

  private tool(n: SpecNode, field: string): DecodedTool {
    const obj = this.want(n, field, 'object');
    const t: DecodedTool = { name: '', description: '', parameters: undefined, sourceSha256: '' };
    for (const m of obj.members) {
      switch (m.key) {
        case 'name': t.name = this.want(m.value, `${field}.name`, 'string').value; break;
        case 'description': t.description = this.want(m.value, `${field}.description`, 'string').value; break;
        case 'parameters': t.parameters = this.want(m.value, `${field}.parameters`, 'object'); break;
        case 'source_sha256': t.sourceSha256 = this.want(m.value, `${field}.source_sha256`, 'string').value; break;
        default: throw this.unknown(m, `${field}.${m.key}`, 'name, description, parameters, source_sha256');
      }
    }
    this.required(obj, field, 'name');
    return t;
  }

  /** 100, 100.0 and 1e2 are one number to RFC 8785, so they are one here. */
  private integer(n: SpecNode, field: string): number {
    const num = this.want(n, field, 'number');
    const parsed = num.literal === undefined ? { value: num.value } : parseIJsonNumber(num.literal);
    const f = 'value' in parsed ? parsed.value : NaN;
    if (!Number.isInteger(f) || f < 0 || f > MAX_VALUE_LENGTH) {
      throw this.err(n.at, field, `want an integer from 1 to ${MAX_VALUE_LENGTH}`);
    }
    return f;
  }

  private unknown(m: Member, field: string, allowed: string) {
    return this.err(m.at, field, `unknown member (allowed: ${allowed})`);
  }

  private required(n: Extract<SpecNode, { kind: 'object' }>, parent: string, ...names: string[]): void {
    for (const name of names) {
      if (!n.members.some((m) => m.key === name)) {
        throw this.err(n.at, parent === '' ? name : `${parent}.${name}`, 'required member missing');
      }
    }
  }
}

function parentField(f: string): string {
  const i = Math.max(f.lastIndexOf('.'), f.lastIndexOf('['));
  return i < 0 ? '' : f.slice(0, i);
}
