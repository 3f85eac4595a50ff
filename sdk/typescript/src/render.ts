/**
 * Safe runtime substitution (PROTOCOL.md §2.5): the checksum covers the
 * template, so the values put into it must stay within what the
 * declarations allow, or the prompt sent would not be the agent that was
 * registered.
 *
 * @packageDocumentation
 */

import { normalizePrompt, validateSubstitutions } from './checksum.js';
import { AjwtError } from './errors.js';
import { isWellFormed } from './jcs.js';
import { compileRE2 } from './regex.js';
import type { Substitution } from './spec.js';
import { specError } from './specnode.js';

/** Characters a value may not hold: LF, CR, VT, FF, NEL, LINE and PARAGRAPH SEPARATOR. */
const LINE_BREAKS = /[\n\r\v\f\u0085\u2028\u2029]/;

/**
 * Fills the normalized template (§2.3) with `values`, refusing — before
 * any model sees the prompt — a value that is missing, not declared, not
 * well-formed Unicode, holds a line break, is longer than `max_length`
 * code points or does not match its pattern in full (applied as
 * `^(?:pattern)$`). The same refusals as Go's `agentspec.Spec.Render`: an
 * invalid template or declaration is `invalid_request` (naming the field),
 * a refused value `substitution_refused` (naming the placeholder in
 * `field`); messages never repeat the value.
 */
export function render(
  template: string,
  values: Readonly<Record<string, string>>,
  substitutions: Readonly<Record<string, Substitution>> = {},
): string {
  if (!isWellFormed(template)) throw specError('prompt_template', 'not valid UTF-8');
  const tmpl = normalizePrompt(template);
  if (tmpl === '') throw specError('prompt_template', 'empty after normalization');
  const subs = new Map(Object.entries(substitutions));
  validateSubstitutions(tmpl, subs);
  for (const name of Object.keys(values).sort()) {
    if (!subs.has(name)) throw refused(name, 'not declared in the spec');
  }
  for (const name of [...subs.keys()].sort()) checkValue(name, subs.get(name)!, values);
  let out = '';
  let last = 0;
  forEachPlaceholderRange(tmpl, (start, end, name) => {
    out += tmpl.slice(last, start) + (values[name] as string);
    last = end;
  });
  return out + tmpl.slice(last);
}

function checkValue(name: string, sub: Substitution, values: Readonly<Record<string, string>>): void {
  const v = Object.prototype.hasOwnProperty.call(values, name) ? values[name] : undefined;
  if (typeof v !== 'string') throw refused(name, 'no value given');
  if (!isWellFormed(v)) throw refused(name, 'value is not valid UTF-8');
  if (LINE_BREAKS.test(v)) throw refused(name, 'value contains a line break');
  const length = Array.from(v).length;
  if (length > sub.max_length) throw refused(name, `value longer than max_length ${sub.max_length}`);
  if (!compileRE2(sub.pattern).test(v)) throw refused(name, `value (${length} characters) does not match the declared pattern`);
}

function refused(placeholder: string, msg: string): AjwtError {
  return new AjwtError({ code: 'substitution_refused', field: placeholder, description: `substitution {{${placeholder}}}: ${msg}` });
}

/** The placeholders of a template with their ranges: the scan validation uses (checksum.ts). */
function forEachPlaceholderRange(s: string, fn: (start: number, end: number, name: string) => void): void {
  for (const m of s.matchAll(/\{\{([^{}]*)\}\}/g)) fn(m.index ?? 0, (m.index ?? 0) + m[0].length, m[1] ?? '');
}
