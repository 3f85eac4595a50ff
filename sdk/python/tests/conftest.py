"""Session fixtures: the ajwt binaries built once, and the servers of the
integration tests (two IdPs, three proxies, the MCP forge, an upstream)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ajwt import ProofKey  # noqa: E402
from harness import FORGE, OSV, REPO, Seen, World, build, in_ci  # noqa: E402

FORGE_POLICY = {
    "resource": FORGE,
    "routes": [
        {"match": {"method": "GET", "path": "/repos/{owner}/{repo}/tree"}, "scopes": ["repo:read"], "workflow": "vuln-patch",
         "context": {"repo": "{owner}/{repo}"}},
        {"match": {"method": "POST", "path": "/repos/{owner}/{repo}/pulls"}, "scopes": ["repo:write"], "workflow": "vuln-patch",
         "steps": ["patch"], "agents": ["patcher"], "context": {"repo": "{owner}/{repo}"}},
    ],
    "default": "deny",
}  # fmt: skip
OSV_POLICY = {
    "resource": OSV,
    "routes": [{"match": {"method": "POST", "path": "/v1/query"}, "scopes": ["osv:query"], "workflow": "vuln-patch", "steps": ["assess"]}],
    "default": "deny",
}


@pytest.fixture(scope="session")
def binaries() -> Iterator[tuple[Path, Path]]:
    if shutil.which("go") is None:
        if in_ci():
            pytest.fail("go is not on PATH")
        pytest.skip("go is not on PATH: the integration tests build ajwt")
    out = Path(tempfile.mkdtemp(prefix="ajwt-py-bin-"))
    try:
        yield build(out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


@dataclass
class Env:
    world: World
    issuer: str
    nonce_issuer: str
    forge: str
    osv: str
    mcp: str
    seen: list[Seen]
    jwt_client_key: ProofKey


@pytest.fixture(scope="session")
def env(binaries: tuple[Path, Path]) -> Iterator[Env]:
    import yaml

    world = World(*binaries)
    try:
        key = ProofKey.from_private_key(ec.generate_private_key(ec.SECP256R1()))
        issuer = world.serve("idp", jwt_client_key=key)
        nonce_issuer = world.serve("idp-nonce", require_nonce=True)
        upstream, seen = world.upstream()
        mcp_policy = {**yaml.safe_load((REPO / "examples/mcp/policy.yaml").read_text()), "resource": FORGE}
        forge = world.mcp_forge()
        # Each proxy listens only after its restart guard (5 s): start them side by side.
        with ThreadPoolExecutor(3) as pool:
            proxies = [
                pool.submit(world.proxy, "forge", issuer, upstream, FORGE_POLICY),
                pool.submit(world.proxy, "osv", issuer, upstream, OSV_POLICY),
                pool.submit(world.proxy, "mcp", issuer, forge, mcp_policy),
            ]
            forge_url, osv_url, mcp_url = (p.result() for p in proxies)
        yield Env(world, issuer, nonce_issuer, forge_url, osv_url, mcp_url, seen, key)
    except BaseException:
        print(world.output(), file=sys.stderr)
        raise
    finally:
        world.stop()
