"""RFC 8785 JSON Canonicalization Scheme, and the I-JSON number rule (RFC 7493
§2.2) that agent specifications obey (PROTOCOL.md §2.2, §2.4).

Python's ``json.dumps(sort_keys=True)`` is not RFC 8785: it sorts members by
code point rather than UTF-16 code unit and writes numbers in Python's form
(``1e+21`` vs ``1e21``, ``100.0``). This module writes exactly RFC 8785.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Union

from .errors import AjwtError

#: Nesting limit of arrays and objects (PROTOCOL.md §10).
MAX_JSON_DEPTH = 32

#: A JSON value as Python holds it.
JsonValue = Union[None, bool, int, float, str, list["JsonValue"], dict[str, "JsonValue"]]

_EXACT_LIMIT = 2.0**53
_SMALLEST_NORMAL = 2.0**-1022
_SURROGATE = re.compile("[\ud800-\udfff]")
_NUMBER_SYNTAX = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")


def canonicalize(value: object) -> str:
    """Returns the RFC 8785 canonical text of ``value``.

    Members are sorted by UTF-16 code units, numbers written in ECMAScript
    form, strings escaped minimally. NaN, infinities, integers that are not
    I-JSON, lone surrogates, non-string keys, other types and nesting deeper
    than :data:`MAX_JSON_DEPTH` raise an ``invalid_request`` :class:`AjwtError`.
    """
    return _encode(value, MAX_JSON_DEPTH)


def _encode(v: object, depth: int) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        why = check_int(v)
        if why:
            raise _jcs_error(why)
        return canonical_number(float(v))
    if isinstance(v, float):
        return canonical_number(v)
    if isinstance(v, str):
        return canonical_string(v)
    if isinstance(v, (list, tuple, dict)):
        if depth <= 0:
            raise _jcs_error(f"nesting deeper than {MAX_JSON_DEPTH}")
        if isinstance(v, dict):
            return _encode_object(v, depth - 1)
        return "[" + ",".join(_encode(e, depth - 1) for e in v) + "]"
    raise _jcs_error(f"a {type(v).__name__} has no JSON form")


def _encode_object(o: dict[object, object], depth: int) -> str:
    for k in o:
        if not isinstance(k, str):
            raise _jcs_error("object member names must be strings")
    keys = sorted((k for k in o if isinstance(k, str)), key=utf16_key)
    return "{" + ",".join(canonical_string(k) + ":" + _encode(o[k], depth) for k in keys) + "}"


def utf16_key(s: str) -> bytes:
    """Sort key ordering strings by UTF-16 code units (RFC 8785 §3.2.3)."""
    return s.encode("utf-16-be", "surrogatepass")


def canonical_number(f: float) -> str:
    """Writes a double as RFC 8785 §3.2.2.3 does (ECMAScript ``Number::toString``); ``-0`` is ``0``."""
    if not math.isfinite(f):
        raise _jcs_error(f"{f} has no JSON form")
    if f == 0:
        return "0"
    sign = "-" if f < 0 else ""
    digits, n = _shortest(abs(f))
    return sign + _ecma_layout(digits, n)


def _shortest(f: float) -> tuple[str, int]:
    """The shortest round-trip digits of ``f`` (repr's) and n, with f = 0.digits × 10^n."""
    t = Decimal(repr(f)).as_tuple()
    digits = "".join(map(str, t.digits)).lstrip("0")
    exp = int(t.exponent)
    stripped = digits.rstrip("0")
    exp += len(digits) - len(stripped)
    return stripped, len(stripped) + exp


def _ecma_layout(d: str, n: int) -> str:
    k = len(d)
    if k <= n <= 21:
        return d + "0" * (n - k)
    if 0 < n <= 21:
        return d[:n] + "." + d[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + d
    e = n - 1
    mant = d[0] + ("." + d[1:] if k > 1 else "")
    return f"{mant}e{'+' if e >= 0 else '-'}{abs(e)}"


def canonical_string(s: str) -> str:
    """Writes a string as RFC 8785 §3.2.2.2 does; a lone surrogate has no UTF-8 form and is refused."""
    if not is_well_formed(s):
        raise _jcs_error("string holds a lone surrogate (not valid Unicode)")
    # ensure_ascii=False escapes exactly ", \ and U+0000–U+001F, short forms where JSON has them.
    return json.dumps(s, ensure_ascii=False)


def is_well_formed(s: str) -> bool:
    """Reports whether ``s`` holds no surrogate code point, i.e. has a UTF-8 form."""
    return _SURROGATE.search(s) is None


def _jcs_error(description: str) -> AjwtError:
    return AjwtError("invalid_request", description=f"JCS: {description}")


# ---- I-JSON numbers (RFC 7493 §2.2) ----


def parse_ijson_number(literal: str) -> float:
    """Parses a JSON number literal of an I-JSON document.

    The literal must name exactly the value its RFC 8785 form names
    (``0.1``, ``4.50``, ``1e2``, ``9007199254740992`` pass;
    ``9007199254740993``, ``1e30``, ``0.10000000000000001`` and ``1e-400``
    do not). Raises ``ValueError`` with the reason.
    """
    if not _NUMBER_SYNTAX.match(literal):
        raise ValueError(f"{_short(literal)} is not JSON number syntax")
    f = float(literal)
    if not math.isfinite(f):
        raise ValueError(f"number {_short(literal)} is not a finite JSON number")
    a = abs(f)
    # At most 15 significant digits survive the round trip through a normal double (DBL_DIG).
    if _SMALLEST_NORMAL <= a < _EXACT_LIMIT and _significant_digits(literal) <= 15:
        return f
    canon = Decimal(repr(f))
    if Decimal(literal) != canon:
        raise ValueError(
            f"number {_short(literal)} canonicalizes to {canonical_number(f)}, another value: "
            "more precision than a double holds (RFC 7493); quote it to make it a string"
        )
    if a >= _EXACT_LIMIT and Decimal(f) != canon:
        raise ValueError(
            f"integer {_short(literal)} is beyond 2^53 and canonicalizes to {canonical_number(f)}, "
            f"while the double it reads as is {int(f)}: not an exact value (RFC 7493); quote it to make it a string"
        )
    return f


def check_float(f: float) -> str | None:
    """Checks a Python float as the JSON text every encoder writes for it; returns the refusal, or None."""
    if not math.isfinite(f):
        return "NaN and infinities have no JSON form"
    if abs(f) < _EXACT_LIMIT or Decimal(f) == Decimal(repr(f)):
        return None
    return (
        f"integer {canonical_number(f)} is beyond 2^53 and names the double {int(f)}: "
        "not an exact value (RFC 7493); quote it to make it a string"
    )


def check_int(i: int) -> str | None:
    """Checks a Python int, which is exact, as the literal it is; returns the refusal, or None."""
    try:
        parse_ijson_number(str(i))
    except ValueError as e:
        return str(e)
    return None


def _significant_digits(s: str) -> int:
    mant = re.split("[eE]", s, maxsplit=1)[0]
    return len(re.sub("[^0-9]", "", mant).strip("0"))


def _short(s: str) -> str:
    return s if len(s) <= 32 else s[:32] + "…"
