"""The shared vectors of testdata/vectors (PROTOCOL.md "Interoperability"):
every one the Go shim passes, this SDK passes too; and YAML spec files read
exactly as the Go binary's ``ajwt checksum`` reads them."""

from __future__ import annotations

import base64
import json
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from harness import REPO

from ajwt import (
    AjwtError,
    access_token_hash,
    agent_checksum,
    canonical_spec,
    canonicalize,
    create_dpop_proof,
    derive_agent_key,
    derive_seed,
    ed25519_from_seed,
    jwk_thumbprint,
    load_proof_key_file,
    load_spec,
    parse_spec,
    parse_spec_yaml,
)

VECTORS = REPO / "testdata/vectors"


def vectors(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def named(items: list[dict[str, Any]], key: str = "name") -> Any:
    return pytest.mark.parametrize("v", items, ids=[str(i[key]) for i in items])


@named(vectors("checksum.json")["vectors"])
def test_checksum(v: dict[str, Any], tmp_path: Path) -> None:
    assert canonical_spec(v["spec"]) == v["canonical"]
    assert agent_checksum(v["spec"]) == v["agent_checksum"]
    # The same spec read from its JSON text, strictly, and from a .json file.
    assert agent_checksum(parse_spec(json.dumps(v["spec"]))) == v["agent_checksum"]
    (tmp_path / "a.json").write_text(json.dumps(v["spec"], ensure_ascii=False), encoding="utf-8")
    assert agent_checksum(load_spec(tmp_path / "a.json")) == v["agent_checksum"]
    if "spec_yaml" in v:
        (tmp_path / "a.yaml").write_text(v["spec_yaml"], encoding="utf-8")
        assert agent_checksum(load_spec(tmp_path / "a.yaml")) == v["agent_checksum"]
        assert canonical_spec(parse_spec_yaml(v["spec_yaml"])) == v["canonical"]


def test_checksum_has_yaml_vectors() -> None:
    assert any("spec_yaml" in v for v in vectors("checksum.json")["vectors"])


@named(vectors("shared-checksum.json")["vectors"])
def test_shared_checksum(v: dict[str, Any]) -> None:
    if v.get("canonical"):
        assert canonical_spec(v["spec"]) == v["canonical"]
    assert agent_checksum(v["spec"]) == v["agent_checksum"]


@named(vectors("checksum-invalid.json")["vectors"])
def test_checksum_invalid(v: dict[str, Any], tmp_path: Path) -> None:
    def check(e: AjwtError) -> None:
        assert e.code == "invalid_request"
        assert e.field == v["field"], str(e)
        if v["line"]:
            assert e.line == v["line"], str(e)
        if v["column"]:
            assert e.column == v["column"], str(e)

    with pytest.raises(AjwtError) as info:
        parse_spec(v["spec"])
    check(info.value)
    f = tmp_path / "bad.json"
    f.write_bytes(v["spec"].encode("utf-8", "surrogatepass"))
    with pytest.raises(AjwtError) as info:
        load_spec(f)
    check(info.value)


JCS = vectors("jcs-numbers.json")


def test_jcs_appendix_b() -> None:
    assert len(JCS["samples"]) == 26
    for bits, want in JCS["samples"]:
        (f,) = struct.unpack(">d", bytes.fromhex(bits))
        if want == "":
            with pytest.raises(AjwtError):
                canonicalize(f)
        else:
            assert canonicalize(f) == want, bits


def js_parse(text: str) -> Any:
    """JSON.parse: every number a double."""
    return json.loads(text, parse_int=float)


def test_jcs_example_3_2_4() -> None:
    assert canonicalize(js_parse(JCS["example_3_2_4"]["input"])) == JCS["example_3_2_4"]["canonical"]


def test_jcs_sorting_3_2_3() -> None:
    out = canonicalize(js_parse(JCS["sorting_3_2_3"]["input"]))
    assert list(json.loads(out)) == JCS["sorting_3_2_3"]["order"]


@named(JCS["documents"])
def test_jcs_documents(v: dict[str, Any]) -> None:
    assert canonicalize(js_parse(v["input"])) == v["canonical"]


def test_jcs_is_not_json_dumps() -> None:
    doc = {"a": 1, "B": 2, "\ue000": 3, "\U0001f600": 4, "n": 1e21, "m": 100.0}
    assert canonicalize(doc) == '{"B":2,"a":1,"m":100,"n":1e+21,"\U0001f600":4,"\ue000":3}'
    assert json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")) != canonicalize(doc)


@named(vectors("keys-derive.json")["vectors"], "agent_id")
def test_keys_derive(v: dict[str, Any]) -> None:
    master = bytes.fromhex(v["master_hex"])
    assert derive_seed(master, v["agent_id"], v["agent_checksum"]).hex() == v["seed_hex"]
    key = derive_agent_key(master, v["agent_id"], v["agent_checksum"])
    assert key.alg == "EdDSA"
    assert dict(key.public_jwk) == {"kty": "OKP", "crv": "Ed25519", "x": v["x"]}
    assert key.thumbprint == v["jkt"] == jwk_thumbprint({"kty": "OKP", "crv": "Ed25519", "x": v["x"]})


@named(vectors("keys-files.json")["files"], "file")
def test_keys_files(v: dict[str, Any]) -> None:
    key = load_proof_key_file(REPO / "testdata/keys" / v["file"])
    assert (key.alg, key.thumbprint) == (v["alg"], v["jkt"])


def b64d(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


DPOP = vectors("dpop.json")


def test_dpop_reproduces_the_proof() -> None:
    key = ed25519_from_seed(bytes.fromhex(DPOP["seed_hex"]))
    assert key.thumbprint == DPOP["jkt"]
    proof = create_dpop_proof(key, DPOP["method"], DPOP["uri"], access_token=DPOP["access_token"], jti=DPOP["jti"], now=DPOP["now"])
    assert proof == DPOP["proof"]


def test_dpop_vector_claims_and_signature() -> None:
    h, p, s = DPOP["proof"].split(".")
    header, claims = json.loads(b64d(h)), json.loads(b64d(p))
    assert header == DPOP["header"] and claims == DPOP["claims"]
    assert claims["ath"] == access_token_hash(DPOP["access_token"])
    assert claims["htu"] == DPOP["htu"]
    assert jwk_thumbprint(header["jwk"]) == DPOP["jkt"]
    Ed25519PublicKey.from_public_bytes(b64d(header["jwk"]["x"])).verify(b64d(s), f"{h}.{p}".encode())


@pytest.mark.parametrize("agent", ["supervisor", "classifier", "planner", "patcher"])
def test_example_agents(agent: str, binaries: tuple[Path, Path]) -> None:
    f = REPO / "examples/vuln-patch/agents" / f"{agent}.yaml"
    assert agent_checksum(load_spec(f)) == go_checksum(binaries[0], f)


# YAML 1.1 surprises and ajwt's YAML refusals, each checked against the real `ajwt checksum`:
# PyYAML alone would read yes/on as booleans, 1:20 as 80 and 0o17 as a string.
YAML_VALUES = [
    "yes", "on", "off", "y", "n", "No", "1:20", "0o17", "0777", "012", "09", "0x1F", "0X1f", "-0x10", "0b101", "+1", "1_000",
    ".5", "+.5", "1.", "01.50e1", "-.5E-1", "1e21", "1_000.000_1", "~", "null", "Null", "nUll", "True", "TRUE", "tRue",
    "'1.0'", '"yes"', "!!str 12", "!!float 1", "! 12", "! '12'", "|\n    12", "2024-1-1", "2024-02-30", "2001-12-14 21:59:43.10",
    "2024-01-01", "1e400", "-0xFFFFFFFFFFFFFFFF", "0xFFFFFFFFFFFFFFFF", ".inf", "-.Inf", ".nan", "!!float nan", "!!binary aGVsbG8=",
    "!!bool yes", "!!int 0o17", "9007199254740993", "0x20000000000001", "18014398509481984", "+0.10000000000000001", "1e-400",
    "&a x", "[1, *a]", "{<<: {a: 1}}", "{1: a}", "{~: a}", "{yes: a}", "{on: 1, 'on': 2}", "!foo {a: 1}", "!!set {a, b}",
    "!!omap [a: 1]", "-1.5e999", "0x_1F", "._5", "'\\ud800'", "\"\\ud800\"", "\"\\ud83d\\ude00\"", "\"\\x41\\u00e9\\/\"",
]  # fmt: skip


def go_checksum(ajwt: Path, f: Path) -> str | None:
    """What `ajwt checksum FILE` prints, or None when it refuses the file."""
    res = subprocess.run([str(ajwt), "checksum", str(f)], capture_output=True, text=True, timeout=60)
    return res.stdout.strip() if res.returncode == 0 else None


@pytest.mark.parametrize("value", YAML_VALUES)
def test_yaml_like_ajwt_checksum(value: str, binaries: tuple[Path, Path], tmp_path: Path) -> None:
    text = f"agent_id: a\nprompt_template: p\nconfiguration:\n  k: {value}\n"
    f = tmp_path / "agent.yaml"
    f.write_text(text, encoding="utf-8")
    want = go_checksum(binaries[0], f)
    try:
        got: str | None = agent_checksum(load_spec(f))
    except AjwtError as e:
        assert e.code == "invalid_request"
        assert e.field is not None and e.field.startswith("configuration") or e.field == "", str(e)
        got = None
    assert got == want, f"{value!r}: python {got}, ajwt checksum {want}"
