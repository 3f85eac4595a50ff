"""The agent checksum (PROTOCOL.md §2): validation of a specification, its
canonical form (RFC 8785 over the §2.2 members, the template normalized as
§2.3 says) and ``"sha256:" + hex`` of those bytes; spec files in JSON and YAML
read as ``ajwt checksum`` reads them.

Validation follows the Go ``agentspec`` package rule by rule and in its
order, so that an invalid spec names the same field in every implementation.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._re2 import check_re2
from ._tree import Member, Node, parse_json, plain_of, tree_of
from .errors import AjwtError, spec_error
from .jcs import (
    MAX_JSON_DEPTH,
    canonical_number,
    canonical_string,
    check_float,
    check_int,
    is_well_formed,
    parse_ijson_number,
    utf16_key,
)

#: Largest specification file accepted (PROTOCOL.md §10, registration bodies).
MAX_SPEC_BYTES = 1 << 20
#: Longest substitution value the protocol allows (code points).
MAX_VALUE_LENGTH = 1 << 20

#: An agent specification as a JSON spec file holds it (§2.1), as plain values.
AgentSpec = Mapping[str, Any]


def agent_checksum(spec: AgentSpec) -> str:
    """Returns the agent checksum of ``spec`` (§2.4): ``"sha256:"`` and the 64
    lowercase hex digits of the SHA-256 of :func:`canonical_spec`.

    An invalid specification raises an ``invalid_request`` :class:`AjwtError` naming the field."""
    return checksum_of_canonical(canonical_spec(spec))


def canonical_spec(spec: AgentSpec) -> str:
    """Returns the canonical text of ``spec`` (§2.2), the exact input of the checksum:
    ``{"agent_id", "configuration"?, "prompt_template", "substitutions"?, "tools"}`` in RFC 8785 form."""
    return _canonical(_decode(tree_of(spec, "")))


def validate_spec(spec: AgentSpec) -> None:
    """Checks ``spec`` against every rule of §2; raises ``invalid_request`` naming the field."""
    canonical_spec(spec)


def checksum_of_canonical(canonical: str) -> str:
    """Hashes text that already is the canonical form."""
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_spec(text: str | bytes) -> dict[str, Any]:
    """Parses a JSON spec strictly (unknown or duplicate members, nesting beyond
    32, lone surrogate escapes, numbers that are not I-JSON and trailing data are
    refused with the field, line and column) and returns it as plain values."""
    if isinstance(text, bytes):
        if len(text) > MAX_SPEC_BYTES:
            raise spec_error("", "spec larger than 1 MiB")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise spec_error("", "spec is not valid UTF-8") from None
    elif len(text.encode("utf-8", "surrogatepass")) > MAX_SPEC_BYTES:
        raise spec_error("", "spec larger than 1 MiB")
    return _from_tree(parse_json(text))


def parse_spec_yaml(data: str | bytes) -> dict[str, Any]:
    """Parses a YAML spec as ``ajwt checksum`` does (YAML 1.2 core schema, see ``load_spec``).
    Needs PyYAML (the ``ajwt-client[yaml]`` extra), used as a parser only."""
    try:
        from ._yaml import yaml_tree
    except ImportError:
        raise AjwtError("invalid_request", description="YAML spec files need PyYAML: install ajwt-client[yaml]") from None
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > MAX_SPEC_BYTES:
        raise spec_error("", "file larger than 1 MiB")
    return _from_tree(yaml_tree(raw))


def load_spec(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Reads a spec file like ``ajwt checksum FILE``: ``.json`` files are JSON,
    anything else YAML (1.2 core schema: ``yes``/``on`` stay strings, ``0o17``
    is 15, no sexagesimal). Returns the spec as plain values, ready for
    :func:`agent_checksum` and ``Client.agent``; an invalid file raises
    ``invalid_request`` with the field, line and column."""
    with open(path, "rb") as f:
        data = f.read(MAX_SPEC_BYTES + 1)
    if len(data) > MAX_SPEC_BYTES:
        raise spec_error("", "file larger than 1 MiB")
    if os.fspath(path).lower().endswith(".json"):
        return parse_spec(data)
    return parse_spec_yaml(data)


def parse_checksum(s: str) -> str:
    """Accepts ``sha256:<64 lowercase hex>`` and the bare 64 hex digits (§2.4) and returns the prefixed form."""
    h = s[7:] if s.startswith("sha256:") else s
    if not re.fullmatch("[0-9a-f]{64}", h):
        raise AjwtError("invalid_request", description="agent_checksum: want sha256:<64 lowercase hex> or 64 lowercase hex")
    return "sha256:" + h


def checksums_equal(a: str, b: str) -> bool:
    """Compares two checksums in constant time (§2.4)."""
    return hmac.compare_digest(a.encode(), b.encode())


_WHITE_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def normalize_prompt(s: str) -> str:
    """Applies §2.3: NFC; CRLF and lone CR become LF; each line trimmed of Unicode
    White_Space at both ends; empty lines dropped; joined with LF, none after the last."""
    lines = (ln.strip(_WHITE_SPACE) for ln in re.split("\r\n|\r|\n", unicodedata.normalize("NFC", s)))
    return "\n".join(ln for ln in lines if ln)


# ---- decoding a tree (the order and messages of agentspec's decoder) ----


@dataclass
class _Tool:
    name: str = ""
    description: str = ""
    parameters: Node | None = None
    source_sha256: str = ""


@dataclass
class _Spec:
    agent_id: str = ""
    prompt_template: str = ""
    substitutions: dict[str, tuple[str, int]] = field(default_factory=dict)
    tools: list[_Tool] = field(default_factory=list)
    configuration: Node | None = None
    pos: dict[str, tuple[int, int]] = field(default_factory=dict)


def _from_tree(root: Node) -> dict[str, Any]:
    s = _decode(root)
    try:
        _validate(s)
    except AjwtError as e:
        if e.line or e.field is None:
            raise
        line, col = _position(s, e.field)
        raise spec_error(e.field, e.description or "", line, col) from None
    out = plain_of(root)
    assert isinstance(out, dict)
    return out


def _position(s: _Spec, fld: str) -> tuple[int, int]:
    while True:
        if fld in s.pos:
            return s.pos[fld]
        if fld == "":
            return (0, 0)
        i = max(fld.rfind("."), fld.rfind("["))
        fld = "" if i < 0 else fld[:i]


def _decode(root: Node) -> _Spec:
    s = _Spec()
    want = _wanter(s)
    want(root, "", "object")
    for m in root.members:
        k = m.key
        if k == "agent_id":
            s.agent_id = str(want(m.value, k, "string").value)
        elif k == "prompt_template":
            s.prompt_template = str(want(m.value, k, "string").value)
        elif k == "substitutions":
            s.substitutions = _substitutions(want, m.value)
        elif k == "tools":
            s.tools = [_tool(want, t, f"tools[{i}]") for i, t in enumerate(want(m.value, k, "array").items)]
        elif k == "configuration":
            s.configuration = want(m.value, k, "object")
        else:
            raise _unknown(m, k, "agent_id, prompt_template, substitutions, tools, configuration")
    _required(root, "", "agent_id", "prompt_template")
    return s


_Want = Callable[[Node, str, str], Node]


def _wanter(s: _Spec) -> _Want:
    def want(n: Node, fld: str, kind: str) -> Node:
        s.pos[fld] = (n.line, n.col)
        if n.kind != kind:
            article = "an" if kind in ("object", "array") else "a"
            raise spec_error(fld, f"want {article} {kind}, got {n.kind}", n.line, n.col)
        return n

    return want


def _substitutions(want: _Want, n: Node) -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    for m in want(n, "substitutions", "object").members:
        fld = f"substitutions.{m.key}"
        obj = want(m.value, fld, "object")
        pattern, max_length = "", 0
        for sm in obj.members:
            if sm.key == "pattern":
                pattern = str(want(sm.value, f"{fld}.pattern", "string").value)
            elif sm.key == "max_length":
                max_length = _integer(want(sm.value, f"{fld}.max_length", "number"), f"{fld}.max_length")
            else:
                raise _unknown(sm, f"{fld}.{sm.key}", "pattern, max_length")
        _required(obj, fld, "pattern", "max_length")
        out[m.key] = (pattern, max_length)
    return out


def _tool(want: _Want, n: Node, fld: str) -> _Tool:
    t = _Tool()
    for m in want(n, fld, "object").members:
        if m.key == "name":
            t.name = str(want(m.value, f"{fld}.name", "string").value)
        elif m.key == "description":
            t.description = str(want(m.value, f"{fld}.description", "string").value)
        elif m.key == "parameters":
            t.parameters = want(m.value, f"{fld}.parameters", "object")
        elif m.key == "source_sha256":
            t.source_sha256 = str(want(m.value, f"{fld}.source_sha256", "string").value)
        else:
            raise _unknown(m, f"{fld}.{m.key}", "name, description, parameters, source_sha256")
    _required(n, fld, "name")
    return t


def _integer(n: Node, fld: str) -> int:
    """100, 100.0 and 1e2 are one number to RFC 8785, so they are one here."""
    try:
        f = _number_value(n)
    except ValueError:
        f = math.nan
    if not math.isfinite(f) or f != math.floor(f) or f < 0 or f > MAX_VALUE_LENGTH:
        raise spec_error(fld, f"want an integer from 1 to {MAX_VALUE_LENGTH}", n.line, n.col)
    return int(f)


def _number_value(n: Node) -> float:
    if n.literal is not None:
        return parse_ijson_number(n.literal)
    v = n.value
    why = check_int(v) if isinstance(v, int) else check_float(float(v))  # type: ignore[arg-type]
    if why:
        raise ValueError(why)
    return float(v)  # type: ignore[arg-type]


def _unknown(m: Member, fld: str, allowed: str) -> AjwtError:
    return spec_error(fld, f"unknown member (allowed: {allowed})", m.line, m.col)


def _required(n: Node, parent: str, *names: str) -> None:
    for name in names:
        if not any(m.key == name for m in n.members):
            raise spec_error(name if parent == "" else f"{parent}.{name}", "required member missing", n.line, n.col)


# ---- validation (agentspec's rules, in its order) ----

_AGENT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")
_PLACEHOLDER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")
_CONFIGURATION_DEPTH = 2  # document depth of configuration: the spec is 1
_PARAMETERS_DEPTH = 4  # spec, tools, a tool, its parameters


def _validate(s: _Spec) -> str:
    tmpl = _validate_structure(s)
    for i, t in enumerate(s.tools):
        if t.parameters is not None:
            _check_value(t.parameters, _PARAMETERS_DEPTH, f"tools[{i}].parameters")
    if s.configuration is not None:
        _check_value(s.configuration, _CONFIGURATION_DEPTH, "configuration")
    return tmpl


def _validate_structure(s: _Spec) -> str:
    if not _AGENT_ID.match(s.agent_id) or not s.agent_id.isascii():
        raise spec_error("agent_id", f"{s.agent_id[:32]!r} does not match ^[a-z0-9][a-z0-9-]{{0,62}}$")
    tmpl = normalize_prompt(s.prompt_template)
    if tmpl == "":
        raise spec_error("prompt_template", "empty after normalization")
    validate_substitutions(tmpl, s.substitutions)
    _validate_tools(s.tools)
    return tmpl


def placeholders(tmpl: str) -> list[re.Match[str]]:
    """The ``{{…}}`` of a template: ``{{``, no braces, ``}}``, leftmost first."""
    return list(_PLACEHOLDER.finditer(tmpl))


def validate_substitutions(tmpl: str, subs: Mapping[str, tuple[str, int]]) -> None:
    """Checks the declarations against the normalized template (every placeholder declared, every declaration used)."""
    used: set[str] = set()
    for m in placeholders(tmpl):
        name = m.group(1)
        if not _PLACEHOLDER_NAME.match(name) or not name.isascii():
            raise spec_error("prompt_template", f"placeholder {{{{{name[:32]}}}}}: name must match [A-Za-z_][A-Za-z0-9_]*")
        if name not in subs:
            raise spec_error("prompt_template", f"placeholder {{{{{name}}}}} is not declared in substitutions")
        used.add(name)
    for name in sorted(subs, key=utf16_key):
        pattern, max_length = subs[name]
        fld = f"substitutions.{name}"
        if not _PLACEHOLDER_NAME.match(name) or not name.isascii():
            raise spec_error(fld, "name must match [A-Za-z_][A-Za-z0-9_]*")
        if name not in used:
            raise spec_error(fld, "declared but not used in prompt_template")
        if pattern == "":
            raise spec_error(f"{fld}.pattern", "required")
        if not 1 <= max_length <= MAX_VALUE_LENGTH:
            raise spec_error(f"{fld}.max_length", f"must be from 1 to {MAX_VALUE_LENGTH}")
        why = check_re2(pattern)
        if why:
            raise spec_error(f"{fld}.pattern", f"does not compile: {why}")


def _validate_tools(tools: list[_Tool]) -> None:
    seen: set[str] = set()
    for i, t in enumerate(tools):
        fld = f"tools[{i}]"
        if t.name == "":
            raise spec_error(f"{fld}.name", "required")
        if t.name in seen:
            raise spec_error(f"{fld}.name", f"duplicate tool name {t.name[:32]!r}")
        if t.source_sha256 != "" and not re.fullmatch("[0-9a-f]{64}", t.source_sha256):
            raise spec_error(f"{fld}.source_sha256", "want 64 lowercase hex digits")
        seen.add(t.name)


def _check_value(n: Node, depth: int, fld: str) -> None:
    """Refuses numbers that are not I-JSON and nesting beyond 32 (the whole document counts)."""
    if n.kind == "number":
        try:
            _number_value(n)
        except ValueError as e:
            raise spec_error(fld, str(e)) from None
    elif n.kind in ("object", "array"):
        if depth > MAX_JSON_DEPTH:
            raise spec_error(fld, f"nested deeper than {MAX_JSON_DEPTH} (the whole spec counts)")
        for m in n.members:
            _check_value(m.value, depth + 1, f"{fld}.{m.key}")
        for i, item in enumerate(n.items):
            _check_value(item, depth + 1, f"{fld}[{i}]")


# ---- the canonical form ----


def _canonical(s: _Spec) -> str:
    tmpl = _validate(s)
    out = ['{"agent_id":', canonical_string(s.agent_id)]
    if s.configuration is not None and s.configuration.members:
        out += [',"configuration":', _canonical_node(s.configuration)]
    out += [',"prompt_template":', canonical_string(tmpl)]
    if s.substitutions:
        subs = [
            f'{canonical_string(n)}:{{"max_length":{s.substitutions[n][1]},"pattern":{canonical_string(s.substitutions[n][0])}}}'
            for n in sorted(s.substitutions, key=utf16_key)
        ]
        out += [',"substitutions":{', ",".join(subs), "}"]
    # Tools sort by the UTF-8 bytes of their names (§2.2), not by UTF-16 units as member names do.
    tools = sorted(s.tools, key=lambda t: t.name.encode("utf-8"))
    out += [',"tools":[', ",".join(_canonical_tool(t) for t in tools), "]}"]
    return "".join(out)


def _canonical_tool(t: _Tool) -> str:
    params = _canonical_node(t.parameters) if t.parameters is not None and t.parameters.members else "{}"
    deep = f',"source_sha256":"{t.source_sha256}"' if t.source_sha256 else ""
    return f'{{"description":{canonical_string(t.description)},"name":{canonical_string(t.name)},"parameters":{params}{deep}}}'


def _canonical_node(n: Node) -> str:
    if n.kind == "object":
        members = sorted(n.members, key=lambda m: utf16_key(m.key))
        return "{" + ",".join(canonical_string(m.key) + ":" + _canonical_node(m.value) for m in members) + "}"
    if n.kind == "array":
        return "[" + ",".join(_canonical_node(e) for e in n.items) + "]"
    if n.kind == "string":
        return canonical_string(str(n.value))
    if n.kind == "number":
        return canonical_number(_number_value(n))  # validated: the double is exact
    if n.kind == "boolean":
        return "true" if n.value else "false"
    return "null"


__all__ = [
    "MAX_SPEC_BYTES",
    "MAX_VALUE_LENGTH",
    "AgentSpec",
    "agent_checksum",
    "canonical_spec",
    "checksum_of_canonical",
    "checksums_equal",
    "load_spec",
    "normalize_prompt",
    "parse_checksum",
    "parse_spec",
    "parse_spec_yaml",
    "validate_spec",
    "placeholders",
    "validate_substitutions",
    "is_well_formed",
    "MAX_JSON_DEPTH",
]
