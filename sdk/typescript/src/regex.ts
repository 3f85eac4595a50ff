/**
 * Substitution patterns are RE2 syntax (the Go IdP compiles them with
 * regexp/syntax.Perl). This module translates that syntax to an equivalent
 * JavaScript `u`-mode expression and refuses what RE2 refuses (back
 * references, look-around) or what cannot be translated faithfully, so that
 * a value passes here exactly when it passes in Go.
 *
 * @internal
 * @packageDocumentation
 */

const GENERAL_CATEGORIES = new Set(
  'L Lu Ll Lt Lm Lo M Mn Mc Me N Nd Nl No P Pc Pd Ps Pe Pi Pf Po S Sm Sc Sk So Z Zs Zl Zp C Cc Cf Cs Co Cn Any'.split(' '),
);

// RE2's Perl classes are ASCII-only, unlike JavaScript's \s.
const PERL_SPACE = '\\t\\n\\f\\r ';

const POSIX: Record<string, string> = {
  alnum: '0-9A-Za-z', alpha: 'A-Za-z', ascii: '\\x00-\\x7F', blank: '\\t ', cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9', graph: '!-~', lower: 'a-z', print: ' -~', punct: '!-\\/:-@\\[-`\\{-~',
  space: '\\t\\n\\x0B\\f\\r ', upper: 'A-Z', word: '0-9A-Za-z_', xdigit: '0-9A-Fa-f',
};

/** Thrown for a pattern RE2 would refuse or that has no faithful translation. */
class PatternError extends Error {}

/**
 * Compiles an RE2 pattern to a JavaScript RegExp matching whole values
 * (`^(?:pattern)$`). Throws an Error naming the problem.
 * @internal
 */
export function compileRE2(pattern: string): RegExp {
  let flags = 'u';
  let body = pattern;
  const lead = /^\(\?([imsU]+)\)/.exec(body);
  if (lead) {
    for (const f of lead[1] ?? '') {
      if (f === 'U') throw new PatternError('the U (ungreedy) flag is not supported');
      if (!flags.includes(f)) flags += f;
    }
    body = body.slice(lead[0].length);
  }
  return new RegExp(`^(?:${translate(body)})$`, flags);
}

function translate(p: string): string {
  let out = '';
  let i = 0;
  const cps = Array.from(p);
  while (i < cps.length) {
    const c = cps[i] as string;
    if (c === '\\') {
      const [text, used] = escape(cps, i, false);
      out += text;
      i += used;
    } else if (c === '[') {
      const [text, used] = charClass(cps, i);
      out += text;
      i += used;
    } else if (c === '(') {
      const [text, used] = group(cps, i);
      out += text;
      i += used;
    } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(cps.slice(i, i + 24).join(''));
      if (m) {
        if (Number(m[1]) > 1000 || (m[3] !== undefined && m[3] !== '' && Number(m[3]) > 1000)) {
          throw new PatternError('repeat count above 1000');
        }
        out += m[0];
        i += m[0].length;
      } else {
        out += '\\{'; // RE2 reads a brace that starts no repeat as a literal
        i++;
      }
    } else if (c === '}' || c === ']') {
      out += '\\' + c;
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function group(cps: string[], i: number): [string, number] {
  const rest = cps.slice(i, i + 4).join('');
  if (!rest.startsWith('(?')) return ['(', 1];
  if (rest.startsWith('(?:')) return ['(?:', 3];
  if (rest.startsWith('(?P<')) return ['(?<', 4];
  if (/^\(\?<[A-Za-z_]/.test(rest)) return ['(?<', 3];
  throw new PatternError('look-around and inline flags other than a leading (?i), (?m) or (?s) are not supported');
}

/** Translates the escape at cps[i]; returns the text and the code points it used. */
function escape(cps: string[], i: number, inClass: boolean): [string, number] {
  const e = cps[i + 1];
  if (e === undefined) throw new PatternError('trailing backslash');
  if ('dDwWnrtfv'.includes(e)) return ['\\' + e, 2];
  if ((e === 'b' || e === 'B') && !inClass) return ['\\' + e, 2];
  if (e === 'a') return ['\\x07', 2];
  if (e === 's') return [inClass ? PERL_SPACE : `[${PERL_SPACE}]`, 2];
  if (e === 'S' && !inClass) return [`[^${PERL_SPACE}]`, 2];
  if ((e === 'A' || e === 'z') && !inClass) return [e === 'A' ? '^' : '$', 2];
  if (e === 'p' || e === 'P') return unicodeClass(cps, i);
  if (e === 'x') return hexEscape(cps, i);
  if (e === 'Q') return quoted(cps, i);
  if (/^[\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]$/.test(e)) {
    return ['\\x' + e.charCodeAt(0).toString(16).padStart(2, '0'), 2];
  }
  throw new PatternError(`escape \\${e} is not supported`);
}

function unicodeClass(cps: string[], i: number): [string, number] {
  let neg = cps[i + 1] === 'P';
  let name: string;
  let used: number;
  if (cps[i + 2] === '{') {
    const close = cps.indexOf('}', i + 3);
    if (close < 0) throw new PatternError('unterminated \\p{');
    name = cps.slice(i + 3, close).join('');
    used = close - i + 1;
  } else {
    name = cps[i + 2] ?? '';
    used = 3;
  }
  if (name.startsWith('^')) {
    neg = !neg;
    name = name.slice(1);
  }
  if (!/^[A-Za-z_]+$/.test(name)) throw new PatternError(`bad Unicode class ${name}`);
  const prop = GENERAL_CATEGORIES.has(name) ? name : `Script=${name}`;
  return [`\\${neg ? 'P' : 'p'}{${prop}}`, used];
}

function hexEscape(cps: string[], i: number): [string, number] {
  if (cps[i + 2] === '{') {
    const close = cps.indexOf('}', i + 3);
    const hex = close < 0 ? '' : cps.slice(i + 3, close).join('');
    if (!/^[0-9A-Fa-f]{1,6}$/.test(hex) || parseInt(hex, 16) > 0x10ffff) throw new PatternError('bad \\x{…} escape');
    return [`\\u{${hex}}`, close - i + 1];
  }
  const hex = cps.slice(i + 2, i + 4).join('');
  if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new PatternError('bad \\x escape');
  return ['\\x' + hex, 4];
}

function quoted(cps: string[], i: number): [string, number] {
  let j = i + 2;
  let text = '';
  while (j < cps.length && !(cps[j] === '\\' && cps[j + 1] === 'E')) {
    text += (cps[j] as string).replace(/[\\^$.*+?()[\]{}|/-]/g, (ch) => '\\x' + ch.charCodeAt(0).toString(16).padStart(2, '0'));
    j++;
  }
  return [text, j - i + (j < cps.length ? 2 : 0)];
}

function charClass(cps: string[], i: number): [string, number] {
  let out = '[';
  let j = i + 1;
  if (cps[j] === '^') {
    out += '^';
    j++;
  }
  if (cps[j] === ']') {
    out += '\\]'; // a leading ] is a literal in RE2
    j++;
  }
  for (; j < cps.length; j++) {
    const c = cps[j] as string;
    if (c === ']') return [out + ']', j - i + 1];
    if (c === '[' && cps[j + 1] === ':') {
      const close = cps.indexOf(']', j);
      const m = /^\[:(\^?)([a-z]+):\]$/.exec(cps.slice(j, close + 1).join(''));
      const set = m && m[1] === '' ? POSIX[m[2] ?? ''] : undefined;
      if (set === undefined) throw new PatternError('bad or negated POSIX class');
      out += set;
      j = close;
    } else if (c === '\\') {
      const [text, used] = escape(cps, j, true);
      if (text.startsWith('[')) throw new PatternError(`\\${cps[j + 1]} inside a class is not supported`);
      out += text;
      j += used - 1;
    } else if (c === '[' || c === '/' || c === '{' || c === '}' || c === '(' || c === ')' || c === '|') {
      out += '\\' + c;
    } else {
      out += c;
    }
  }
  throw new PatternError('missing closing ]');
}
