"""YAML agent specification files, read exactly as ``ajwt checksum`` reads
them (Go package specfile: go.yaml.in/yaml/v3, the YAML 1.2 core schema).

PyYAML resolves plain scalars by YAML 1.1 (``yes``/``on`` are booleans,
``1:20`` is sexagesimal, ``0o17`` a string), which would change checksums.
Here PyYAML only parses; every plain scalar is resolved by yaml.v3's rules,
and specfile's refusals apply: unknown members and duplicate keys, aliases,
merge keys, keys that are not strings, tags outside the core schema
(``!!binary``, ``!!timestamp``, custom tags), more than one document,
numbers without a JSON form, nesting deeper than 32.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from ._tree import Member, Node
from .errors import AjwtError, spec_error
from .jcs import MAX_JSON_DEPTH, is_well_formed

_CORE = "tag:yaml.org,2002:"
_UNRESOLVED = "ajwt:plain"  # the tag of a scalar without one; resolved below
_ALIAS = "ajwt:alias"


class _Resolver(BaseResolver):  # type: ignore[misc]
    """Resolves nothing: scalars keep a marker, collections their kind."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            return _UNRESOLVED
        return _CORE + ("seq" if kind is SequenceNode else "map")


class _Composer(Composer):  # type: ignore[misc]
    """Keeps an alias as a node of its own (PyYAML would share the anchored node)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(AliasEvent):
            event = self.get_event()
            return ScalarNode(_ALIAS, "", event.start_mark, event.end_mark)
        return super().compose_node(parent, index)


class _Loader(Reader, Scanner, Parser, _Composer, _Resolver):  # type: ignore[misc]
    # libyaml (and so yaml.v3) knows no \/ escape; PyYAML's scanner does.
    ESCAPE_REPLACEMENTS = {k: v for k, v in Scanner.ESCAPE_REPLACEMENTS.items() if k != "/"}

    def __init__(self, stream: bytes) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _Composer.__init__(self)
        _Resolver.__init__(self)


def yaml_tree(data: bytes) -> Node:
    """Parses exactly one YAML document into a positioned tree."""
    loader = _Loader(data)
    try:
        if not loader.check_node():
            raise spec_error("", "empty file")
        doc = loader.get_node()
        if loader.check_node():
            mark = loader.peek_event().start_mark
            raise spec_error("", "more than one YAML document", mark.line + 1, mark.column + 1)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise spec_error("", f"YAML: {e.problem or e}", mark.line + 1 if mark else 0) from None
    except yaml.YAMLError as e:
        raise spec_error("", f"YAML: {e}") from None
    except RecursionError:
        raise spec_error("", f"nested deeper than {MAX_JSON_DEPTH}") from None
    finally:
        loader.dispose()
    return _convert(doc, "", MAX_JSON_DEPTH)


def _err(n: Any, fld: str, msg: str) -> AjwtError:
    return spec_error(fld, msg, n.start_mark.line + 1, n.start_mark.column + 1)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag


def _convert(n: Any, fld: str, depth: int) -> Node:
    if n.tag == _ALIAS:
        raise _err(n, fld, "YAML aliases are not allowed in agent specs")
    if isinstance(n, ScalarNode):
        return _scalar(n, fld)
    if depth <= 0:
        raise _err(n, fld, f"nested deeper than {MAX_JSON_DEPTH}")
    want = "!!map" if isinstance(n, MappingNode) else "!!seq"
    if _short_tag(n.tag) != want:
        raise _err(n, fld, f"YAML type {_short_tag(n.tag)} is not allowed (only the core schema)")
    out = Node("object" if want == "!!map" else "array", line=n.start_mark.line + 1, col=n.start_mark.column + 1)
    if want == "!!seq":
        out.items = [_convert(c, f"{fld}[{i}]", depth - 1) for i, c in enumerate(n.value)]
        return out
    seen: set[str] = set()
    for k, v in n.value:
        _check_key(k, fld)
        path = k.value if fld == "" else f"{fld}.{k.value}"
        if k.value in seen:
            raise _err(k, path, "duplicate key")
        seen.add(k.value)
        out.members.append(Member(k.value, _convert(v, path, depth - 1), k.start_mark.line + 1, k.start_mark.column + 1))
    return out


def _check_key(k: Any, fld: str) -> None:
    """Only string keys: JSON has no others, and turning 1, true or ~ into text would make keys collide."""
    if k.tag == _ALIAS:
        raise _err(k, fld, "YAML aliases are not allowed in agent specs")
    if not isinstance(k, ScalarNode):
        raise _err(k, fld, "mapping keys must be strings")
    tag = _tag_of(k)
    if tag == "!!merge":
        raise _err(k, fld, "YAML merge keys (<<) are not allowed")
    if tag != "!!str":
        raise _err(k, fld, f"key {k.value[:32]!r} has YAML type {tag}; quote it to make it a string")
    if not is_well_formed(k.value):
        raise _err(k, fld, "key holds an unpaired surrogate")


def _tag_of(n: Any) -> str:
    """yaml.v3's tag of a scalar: its explicit tag, !!str when quoted or a block scalar, else resolved."""
    if n.tag != _UNRESOLVED:
        return _short_tag(n.tag)
    if n.style:  # ' " | >
        return "!!str"
    if n.value == "<<":
        return "!!merge"
    return resolve_plain(n.value)


def _scalar(n: Any, fld: str) -> Node:
    tag = _tag_of(n)
    out = Node("null", line=n.start_mark.line + 1, col=n.start_mark.column + 1)
    v: str = n.value
    if tag == "!!str":
        if not is_well_formed(v):
            raise _err(n, fld, "string holds an unpaired surrogate")
        if n.tag == _UNRESOLVED and not n.style and number_like(v):
            raise _err(n, fld, f"number {v[:32]!r} is out of range (quote it to make it a string)")
        out.kind, out.value = "string", v
    elif tag == "!!null":
        pass
    elif tag == "!!bool":
        if v not in _BOOLS:
            raise _err(n, fld, f"{v[:32]!r} is not a boolean")
        out.kind, out.value = "boolean", _BOOLS[v]
    elif tag in ("!!int", "!!float"):
        lit = yaml_number(v)
        if lit is None:
            raise _err(n, fld, f"number {v[:32]!r} has no JSON form")
        out.kind, out.literal, out.value = "number", lit, float(lit)
    else:
        raise _err(n, fld, f"value {v[:32]!r} has YAML type {tag}; quote it to make it a string")
    return out


# ---- yaml.v3's resolution of plain scalars ----

_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NULLS = {"", "~", "null", "Null", "NULL"}
_SPECIAL_FLOATS = {p + w for p in ("", "+", "-") for w in (".inf", ".Inf", ".INF")} | {".nan", ".NaN", ".NAN"}
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")


def resolve_plain(s: str) -> str:
    """The core-schema tag yaml.v3 gives an untagged plain scalar."""
    if s in _BOOLS:
        return "!!bool"
    if s in _NULLS:
        return "!!null"
    if s in _SPECIAL_FLOATS:
        return "!!float"
    hint = s[:1]
    if hint == ".":
        return "!!float" if _underscore_ok(s) and _go_float(s.replace("_", "")) else "!!str"
    if hint not in ("+", "-") and not ("0" <= hint <= "9"):
        return "!!str"
    if _is_timestamp(s):
        return "!!timestamp"
    plain = s.replace("_", "")
    if go_parse_int(plain, signed=True) is not None or go_parse_int(plain, signed=False) is not None:
        return "!!int"
    if _YAML_FLOAT.match(plain) and _go_float(plain):
        return "!!float"
    return "!!str"


def _go_float(s: str) -> bool:
    """strconv.ParseFloat on decimal syntax: false when malformed or out of the double range."""
    if not _YAML_FLOAT.match(s):
        return False
    return math.isfinite(float(s))


def _underscore_ok(s: str) -> bool:
    """strconv's rule for underscores in a decimal literal: only between digits."""
    saw = "^"
    for c in s[1:] if s[:1] in ("+", "-") else s:
        if "0" <= c <= "9":
            saw = "0"
        elif c == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


def go_parse_int(s: str, *, signed: bool) -> int | None:
    """strconv.ParseInt(s, 0, 64) (signed) or ParseUint(s, 0, 64): base prefixes 0x, 0o, 0b and a leading 0 (octal)."""
    neg = False
    body = s
    if signed and body[:1] in ("+", "-"):
        neg, body = body[0] == "-", body[1:]
    base = 10
    low = body[:2].lower()
    if low in ("0x", "0o", "0b"):
        base, body = {"0x": 16, "0o": 8, "0b": 2}[low], body[2:]
    elif len(body) > 1 and body[0] == "0":
        base, body = 8, body[1:]
    digits = "0123456789abcdef"[:base]
    if body == "" or any(c not in digits for c in body.lower()):
        return None
    v = int(body, base)
    v = -v if neg else v
    lo, hi = (-(1 << 63), (1 << 63) - 1) if signed else (0, (1 << 64) - 1)
    return v if lo <= v <= hi else None


_TS_DATE = r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
_TS_TIME = r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(\.[0-9]+)?"
_TIMESTAMPS = [
    re.compile(_TS_DATE + "[Tt]" + _TS_TIME + r"(Z|[-+][0-9]{2}:[0-9]{2})\Z"),
    re.compile(_TS_DATE + " " + _TS_TIME + r"\Z"),
    re.compile(_TS_DATE + r"\Z"),
]


def _is_timestamp(s: str) -> bool:
    """yaml.v3's parseTimestamp: YYYY-M-D, optionally with a time (time.Parse validates the fields)."""
    for rx in _TIMESTAMPS:
        m = rx.match(s)
        if not m:
            continue
        g = [int(x) for x in m.groups()[:6] if x is not None and x[:1] not in (".",)]
        try:
            datetime.date(g[0], g[1], g[2])
        except ValueError:
            return False
        return len(g) == 3 or (g[3] < 24 and g[4] < 60 and g[5] < 60)
    return False


# ---- specfile's conversion of numbers ----

_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")


def yaml_number(lit: str) -> str | None:
    """The JSON literal of a YAML number with exactly its value (specfile.yamlNumber), or None."""
    clean = lit.replace("_", "")
    if _JSON_NUMBER.match(clean) and math.isfinite(float(clean)):
        return clean
    for signed, text in ((True, clean), (False, clean[1:] if clean.startswith("+") else clean)):
        i = go_parse_int(text, signed=signed)
        if i is not None:
            return str(i)
    return _json_float(clean)


def _json_float(s: str) -> str | None:
    sign = ""
    if s[:1] in ("+", "-"):
        sign, s = ("-" if s[0] == "-" else ""), s[1:]
    if not _float_like(s):
        return None
    mant, exp = s, ""
    i = min((s.find(c) for c in "eE" if c in s), default=-1)
    if i >= 0:
        mant, exp = s[:i], s[i:]
    whole, _, frac = mant.partition(".")
    whole = whole.lstrip("0") or "0"
    num = sign + whole + ("." + frac if frac else "") + exp
    if not _JSON_NUMBER.match(num) or not math.isfinite(float(num)):
        return None
    return num


def number_like(s: str) -> bool:
    """A plain scalar spelled as a YAML 1.2 core int or float (specfile.numberLike)."""
    if s == "" or s[0] not in "0123456789+-." or (s[0] == "." and "_" in s):
        return False
    s = s.replace("_", "")
    if s[:1] in ("+", "-"):
        s = s[1:]
    for prefix, digits in (("0x", "0123456789abcdefABCDEF"), ("0o", "01234567"), ("0b", "01")):
        if s.startswith(prefix):
            rest = s[2:]
            return rest != "" and rest.strip(digits) == ""
    return _float_like(s)


def _float_like(s: str) -> bool:
    """(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?"""
    mant, has_exp, exp = s.lower().partition("e")
    whole, has_point, frac = mant.partition(".")
    if not _digits(whole) or not _digits(frac):
        return False
    if whole == "" and (frac == "" or not has_point):
        return False
    if not has_exp:
        return True
    if exp[:1] in ("+", "-"):
        exp = exp[1:]
    return exp != "" and _digits(exp)


def _digits(s: str) -> bool:
    return all("0" <= c <= "9" for c in s)
