"""Starts the real servers the integration tests talk to: ``ajwt serve``,
``ajwt proxy`` and the example MCP forge, built from this repository with
``go build``, and a Python upstream that records what reached it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from ajwt import ProofKey, agent_checksum, derive_agent_key, load_spec

REPO = Path(__file__).resolve().parents[3]
FORGE = "https://forge.example"
OSV = "https://osv.example"
AGENT_IDS = ("supervisor", "classifier", "planner", "patcher")
MASTER = bytes([7]) * 32
SECRETS = {"app": "app-secret-0123456789abcdef0123456789", "approver": "approver-secret-0123456789abcdef0123"}
_SCOPES = {"supervisor": [], "classifier": ["repo:read"], "planner": ["repo:read", "osv:query"], "patcher": ["repo:read", "repo:write"]}


def specs() -> dict[str, dict[str, Any]]:
    """The example agents as spec dicts (a fresh copy each call), read as ``ajwt checksum`` reads them."""
    return {i: load_spec(REPO / "examples/vuln-patch/agents" / f"{i}.yaml") for i in AGENT_IDS}


def build(out: Path) -> tuple[Path, Path]:
    """Builds ajwt and the MCP forge; returns their paths."""
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("go is not on PATH")
    ajwt, forge = out / "ajwt", out / "mcpforge"
    subprocess.run([go, "build", "-o", str(ajwt), "./cmd/ajwt"], cwd=REPO, check=True, timeout=900)
    subprocess.run([go, "build", "-o", str(forge), "./examples/mcp"], cwd=REPO, check=True, timeout=900)
    return ajwt, forge


@dataclass
class Seen:
    method: str
    path: str
    agent: str
    step: str
    body: bytes


class World:
    """Everything a test session starts; stop() ends it all."""

    def __init__(self, ajwt: Path, forge: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ajwt-py-"))
        self.ajwt, self.forge = ajwt, forge
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.servers: list[ThreadingHTTPServer] = []

    def serve(self, name: str, *, require_nonce: bool = False, jwt_client_key: ProofKey | None = None) -> str:
        port = free_port()
        issuer = f"http://127.0.0.1:{port}"
        agents = []
        for i, spec in specs().items():
            key = derive_agent_key(MASTER, i, agent_checksum(spec))
            a: dict[str, Any] = {"agent_id": i, "client_id": "patch-app", "spec": spec, "public_jwk": dict(key.public_jwk),
                                 "scopes": _SCOPES[i], "audiences": [FORGE, OSV]}  # fmt: skip
            if i == "supervisor":
                a["may_delegate_to"] = ["patcher"]
            agents.append(a)
        clients: list[dict[str, Any]] = [
            {"client_id": "patch-app", "client_secret": SECRETS["app"], "scopes": ["ajwt:run", "repo:read", "repo:write", "osv:query"]},
            {"client_id": "approver", "client_secret": SECRETS["approver"], "scopes": ["ajwt:approve"], "approves_for": ["patch-app"]},
        ]
        if jwt_client_key is not None:
            jwk = {**jwt_client_key.public_jwk, "kid": jwt_client_key.thumbprint}
            clients.append({"client_id": "jwt-app", "jwks": {"keys": [jwk]}, "scopes": ["ajwt:run"]})
        workflow = yaml.safe_load((REPO / "examples/vuln-patch/workflow.yaml").read_text())
        config: dict[str, Any] = {"issuer": issuer, "token_ttl": "120s", "failed_grants_per_minute": 1000,
                                  "clients": clients, "agents": agents, "workflows": [workflow]}  # fmt: skip
        if require_nonce:
            config["dpop_require_nonce"] = True
        cfg = self.dir / f"{name}.yaml"
        cfg.write_text(json.dumps(config, indent=1))
        self.start([str(self.ajwt), "serve", "--quiet", "--config", str(cfg), "--data", str(self.dir / f"{name}-data"),
                    "--addr", f"127.0.0.1:{port}"], name)  # fmt: skip
        wait_for(f"{issuer}/readyz")
        return issuer

    def proxy(self, name: str, issuer: str, upstream: str, policy: dict[str, Any]) -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        f = self.dir / f"{name}-policy.yaml"
        f.write_text(json.dumps({**policy, "issuer": issuer, "public_url": url}, indent=1))
        self.start([str(self.ajwt), "proxy", "--policy", str(f), "--upstream", upstream, "--addr", f"127.0.0.1:{port}"], name)
        wait_for(f"{url}/.well-known/oauth-protected-resource", 60)  # the proxy listens after its restart guard
        return url

    def mcp_forge(self) -> str:
        port = free_port()
        self.start([str(self.forge), "--addr", f"127.0.0.1:{port}"], "mcpforge")
        url = f"http://127.0.0.1:{port}"
        wait_for(f"{url}/mcp", 30, any_status=True)
        return url

    def upstream(self) -> tuple[str, list[Seen]]:
        """A stand-in for the protected API: it records every request that reached it."""
        seen: list[Seen] = []

        class Handler(BaseHTTPRequestHandler):
            def handle_one(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen.append(Seen(self.command, self.path, self.headers.get("Ajwt-Agent", ""), self.headers.get("Ajwt-Step", ""), body))
                out = b'{"ok":true}'
                self.send_response(201 if self.command == "POST" else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = handle_one

            def log_message(self, *args: Any) -> None:
                pass

        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}", seen

    def start(self, argv: list[str], name: str) -> None:
        log = self.dir / f"{name}.log"
        with open(log, "wb") as out:
            self.procs.append((subprocess.Popen(argv, cwd=self.dir, stdout=out, stderr=subprocess.STDOUT), log))

    def output(self) -> str:
        """The last output of every process, for a failing test's message."""
        return "\n----\n".join(log.read_text(errors="replace")[-4000:] for _, log in self.procs if log.exists())

    def stop(self) -> None:
        for srv in self.servers:
            srv.shutdown()
            srv.server_close()
        for p, _ in self.procs:
            if p.poll() is None:
                p.terminate()
        for p, _ in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, seconds: float = 30, any_status: bool = False) -> None:
    """Polls ``url`` until it answers (2xx, or any status when any_status)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            res = httpx.get(url, timeout=2)
            if res.is_success or any_status:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up within {seconds} s")
        time.sleep(0.1)


def in_ci() -> bool:
    return os.environ.get("CI") == "true"
