"""A JSON value tree that remembers where each value sits in its file, so
that specification errors name the line and column. The strict JSON reader
and the YAML reader (``_yaml``) build it; ``spec`` decodes it.

Number nodes keep their literal as written (JSON text, or the JSON spelling
of a YAML number) so that the I-JSON rule judges what the author wrote.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Union

from .errors import AjwtError, spec_error
from .jcs import MAX_JSON_DEPTH, is_well_formed

Scalar = Union[None, bool, int, float, str]


@dataclass
class Node:
    """One JSON value: kind is object, array, string, number, boolean or null."""

    kind: str
    value: Scalar = None
    literal: str | None = None  # numbers read from text
    members: list[Member] = field(default_factory=list)
    items: list[Node] = field(default_factory=list)
    line: int = 0
    col: int = 0


@dataclass
class Member:
    key: str
    value: Node
    line: int = 0
    col: int = 0


# ---- strict JSON text ----

_WS = " \t\r\n"
_PLAIN = re.compile(r'[^"\\\x00-\x1f]*')
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def parse_json(text: str) -> Node:
    """Parses JSON text strictly: duplicate members, nesting beyond 32, lone
    surrogate escapes, control characters in strings and trailing data are
    refused with the line and column (field ``""``)."""
    p = _Parser(text)
    p.skip()
    if p.i >= len(text):
        raise p.error("empty document, want a JSON object")
    root = p.value(MAX_JSON_DEPTH)
    p.skip()
    if p.i < len(text):
        raise p.error("data after the JSON value")
    return root


def locate(s: str, at: int) -> tuple[int, int]:
    """1-based line and column (in characters) of offset ``at`` of ``s``."""
    line = s.count("\n", 0, at) + 1
    return line, at - (s.rfind("\n", 0, at) + 1) + 1


class _Parser:
    def __init__(self, s: str) -> None:
        self.s = s
        self.i = 0

    def error(self, msg: str, at: int | None = None) -> AjwtError:
        line, col = locate(self.s, self.i if at is None else at)
        return spec_error("", msg, line, col)

    def skip(self) -> None:
        s, i = self.s, self.i
        while i < len(s) and s[i] in _WS:
            i += 1
        self.i = i

    def node(self, kind: str, at: int, **kw: object) -> Node:
        line, col = locate(self.s, at)
        return Node(kind, line=line, col=col, **kw)  # type: ignore[arg-type]

    def value(self, depth: int) -> Node:
        at, c = self.i, self.s[self.i : self.i + 1]
        if c in ("{", "["):
            if depth <= 0:
                raise self.error(f"nested deeper than {MAX_JSON_DEPTH}")
            return self.obj(depth - 1) if c == "{" else self.arr(depth - 1)
        if c == '"':
            return self.node("string", at, value=self.string())
        if c == "-" or c.isdigit() and c.isascii():
            m = _NUMBER.match(self.s, self.i)
            if not m:
                raise self.error("malformed number")
            self.i = m.end()
            return self.node("number", at, value=float(m.group()), literal=m.group())
        for word, kind, v in (("true", "boolean", True), ("false", "boolean", False), ("null", "null", None)):
            if self.s.startswith(word, self.i):
                self.i += len(word)
                return self.node(kind, at, value=v)
        raise self.error("unexpected end of document" if c == "" else f"unexpected character {c!r}")

    def obj(self, depth: int) -> Node:
        n = self.node("object", self.i)
        self.i += 1
        seen: set[str] = set()
        self.skip()
        if self.s.startswith("}", self.i):
            self.i += 1
            return n
        while True:
            self.skip()
            key_at = self.i
            if not self.s.startswith('"', self.i):
                raise self.error("want a member name")
            key = self.string()
            if key in seen:
                raise self.error(f"duplicate member {key!r}", key_at)
            seen.add(key)
            self.skip()
            self.expect(":")
            self.skip()
            line, col = locate(self.s, key_at)
            n.members.append(Member(key, self.value(depth), line, col))
            self.skip()
            if self.s.startswith("}", self.i):
                self.i += 1
                return n
            self.expect(",")

    def arr(self, depth: int) -> Node:
        n = self.node("array", self.i)
        self.i += 1
        self.skip()
        if self.s.startswith("]", self.i):
            self.i += 1
            return n
        while True:
            self.skip()
            n.items.append(self.value(depth))
            self.skip()
            if self.s.startswith("]", self.i):
                self.i += 1
                return n
            self.expect(",")

    def expect(self, c: str) -> None:
        if not self.s.startswith(c, self.i):
            raise self.error(f"want {c!r}")
        self.i += 1

    def string(self) -> str:
        at = self.i
        self.i += 1
        parts: list[str] = []
        s = self.s
        while True:
            m = _PLAIN.match(s, self.i)
            assert m is not None
            parts.append(m.group())
            self.i = m.end()
            c = s[self.i : self.i + 1]
            if c == "":
                raise self.error("unterminated string", at)
            if c == '"':
                break
            if c != "\\":
                raise self.error("control character in a string")
            parts.append(self.escape())
        self.i += 1
        out = "".join(parts)
        if not is_well_formed(out):
            raise self.error("string holds an unpaired surrogate", at)
        return out

    def escape(self) -> str:
        c = self.s[self.i + 1 : self.i + 2]
        self.i += 2
        if c in _ESCAPES:
            return _ESCAPES[c]
        if c != "u":
            raise self.error("bad escape")
        h = self.s[self.i : self.i + 4]
        if not re.fullmatch("[0-9A-Fa-f]{4}", h):
            raise self.error("bad \\u escape")
        self.i += 4
        u = int(h, 16)
        if 0xD800 <= u <= 0xDBFF and re.match(r"\\u[dD][c-fC-F][0-9A-Fa-f]{2}", self.s[self.i : self.i + 6]):
            lo = int(self.s[self.i + 2 : self.i + 6], 16)
            self.i += 6
            return chr(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00))
        return chr(u)  # a lone surrogate is refused for the whole string


# ---- Python values ----


def tree_of(v: object, fld: str, depth: int = MAX_JSON_DEPTH) -> Node:
    """Turns plain JSON values (dict, list, tuple, str, int, float, bool, None) into a tree.
    Anything else is refused, naming its field."""
    if v is None:
        return Node("null")
    if isinstance(v, bool):
        return Node("boolean", value=v)
    if isinstance(v, (int, float)):
        return Node("number", value=v)
    if isinstance(v, str):
        if not is_well_formed(v):
            raise spec_error(fld, "string holds a lone surrogate (not valid UTF-8)")
        return Node("string", value=v)
    if isinstance(v, (dict, list, tuple)):
        if depth <= 0:
            raise spec_error(fld, f"nested deeper than {MAX_JSON_DEPTH} (the whole spec counts)")
        if isinstance(v, dict):
            return _object_tree(v, fld, depth - 1)
        return Node("array", items=[tree_of(e, f"{fld}[{i}]", depth - 1) for i, e in enumerate(v)])
    raise spec_error(fld, f"unsupported value of type {type(v).__name__}")


def _object_tree(o: dict[object, object], fld: str, depth: int) -> Node:
    n = Node("object")
    for k, e in o.items():
        if not isinstance(k, str) or not is_well_formed(k):
            raise spec_error(fld, "member names must be strings with a UTF-8 form")
        n.members.append(Member(k, tree_of(e, k if fld == "" else f"{fld}.{k}", depth)))
    return n


def plain_of(n: Node) -> object:
    """The plain Python value of a tree: numbers from text become int when integral and exact, else float."""
    if n.kind == "object":
        return {m.key: plain_of(m.value) for m in n.members}
    if n.kind == "array":
        return [plain_of(e) for e in n.items]
    if n.kind == "number" and n.literal is not None:
        return _number_of(n.literal)
    return n.value


def _number_of(literal: str) -> int | float:
    if re.fullmatch(r"-?[0-9]+", literal):
        return int(literal)
    return float(literal)


Locate = Callable[[int], tuple[int, int]]
