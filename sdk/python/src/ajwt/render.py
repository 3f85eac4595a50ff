"""Safe runtime substitution (PROTOCOL.md §2.5): the checksum covers the
template, so the values put into it must stay within what the declarations
allow, or the prompt sent would not be the agent that was registered."""

from __future__ import annotations

from collections.abc import Mapping

from ._re2 import PatternError, Unsupported, compile_re2
from .errors import AjwtError, spec_error
from .jcs import is_well_formed, utf16_key
from .spec import normalize_prompt, placeholders, validate_substitutions

#: Characters a value may not hold: LF, CR, VT, FF, NEL, LINE and PARAGRAPH SEPARATOR.
LINE_BREAKS = frozenset("\n\r\v\f\x85\u2028\u2029")

#: A placeholder's declaration as a spec holds it: ``{"pattern": …, "max_length": …}``.
Substitutions = Mapping[str, Mapping[str, object]]


def render(template: str, values: Mapping[str, str], substitutions: Substitutions | None = None) -> str:
    """Fills the normalized template (§2.3) with ``values``.

    Refuses, before any model sees the prompt, a value that is missing, not
    declared, not well-formed Unicode, holds a line break, is longer than
    ``max_length`` code points or does not match its pattern in full (applied
    as ``^(?:pattern)$``). The refusals of Go's ``agentspec.Spec.Render``: an
    invalid template or declaration is ``invalid_request`` (naming the
    field), a refused value ``substitution_refused`` (naming the placeholder
    in ``field``); messages never repeat the value.
    """
    if not is_well_formed(template):
        raise spec_error("prompt_template", "not valid UTF-8")
    tmpl = normalize_prompt(template)
    if tmpl == "":
        raise spec_error("prompt_template", "empty after normalization")
    subs = _declarations(substitutions or {})
    validate_substitutions(tmpl, subs)
    for name in sorted(values, key=utf16_key):
        if name not in subs:
            raise _refused(name, "not declared in the spec")
    for name in sorted(subs, key=utf16_key):
        _check_value(name, subs[name], values)
    out: list[str] = []
    last = 0
    for m in placeholders(tmpl):
        out += [tmpl[last : m.start()], values[m.group(1)]]
        last = m.end()
    return "".join(out) + tmpl[last:]


def _declarations(subs: Substitutions) -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    for name, d in subs.items():
        pattern, max_length = d.get("pattern"), d.get("max_length")
        if not isinstance(pattern, str) or isinstance(max_length, bool) or not isinstance(max_length, (int, float)):
            raise spec_error(f"substitutions.{name}", "want {pattern: string, max_length: integer}")
        if max_length != int(max_length):
            raise spec_error(f"substitutions.{name}.max_length", "want an integer")
        out[name] = (pattern, int(max_length))
    return out


def _check_value(name: str, sub: tuple[str, int], values: Mapping[str, str]) -> None:
    v = values.get(name)
    if not isinstance(v, str):
        raise _refused(name, "no value given")
    if not is_well_formed(v):
        raise _refused(name, "value is not valid UTF-8")
    if any(c in LINE_BREAKS for c in v):
        raise _refused(name, "value contains a line break")
    if len(v) > sub[1]:
        raise _refused(name, f"value longer than max_length {sub[1]}")
    try:
        rx = compile_re2(sub[0])
    except (PatternError, Unsupported) as e:
        raise AjwtError(
            "invalid_request", field=f"substitutions.{name}.pattern", description=f"cannot be evaluated here: {e}"
        ) from None
    if rx.match(v) is None:
        raise _refused(name, f"value ({len(v)} characters) does not match the declared pattern")


def _refused(placeholder: str, msg: str) -> AjwtError:
    return AjwtError("substitution_refused", field=placeholder, description=f"substitution {{{{{placeholder}}}}}: {msg}")
