"""RFC 9449 DPoP proofs as ajwt's enforcers and IdP check them (PROTOCOL.md
§3), and the delegation assertions of §6.3."""

from __future__ import annotations

import hashlib
import os
import re
import time
from typing import Any
from urllib.parse import urlsplit

from .errors import AjwtError
from .keys import ProofKey, b64url

#: How long the SDK's delegation assertions live (the protocol allows at most 60 s).
DELEGATION_LIFETIME_SECONDS = 30
_TOKEN_CHARS = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_UNRESERVED = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
_PATH_CHARS = _UNRESERVED | frozenset(b"!$&'()*+,;=:@/")


def create_dpop_proof(
    key: ProofKey,
    method: str,
    url: str,
    *,
    access_token: str | None = None,
    nonce: str | None = None,
    now: float | None = None,
    jti: str | None = None,
) -> str:
    """Signs a proof for one request: header ``{alg, jwk, typ: "dpop+jwt"}`` (the public key
    embedded, never a ``kid``), claims ``jti``, ``htm``, ``htu``, ``iat`` and, when given, ``ath`` and
    ``nonce`` — in that order, so that the inputs of testdata/vectors/dpop.json give that proof byte
    for byte."""
    if not _TOKEN_CHARS.match(method):
        raise AjwtError("invalid_request", description="DPoP: method is not an HTTP token")
    claims: dict[str, Any] = {
        "jti": jti or random_id(),
        "htm": method,
        "htu": dpop_htu(url),
        "iat": int(time.time() if now is None else now),
    }
    if access_token:
        claims["ath"] = access_token_hash(access_token)
    if nonce:
        claims["nonce"] = nonce
    return key.sign_jws({"alg": key.alg, "jwk": dict(key.public_jwk), "typ": "dpop+jwt"}, claims)


def dpop_htu(url: str) -> str:
    """The ``htu`` of a request URL as the Go enforcer normalizes it (dpop.NormalizeHTU): scheme
    and host lowercased, default port dropped, escapes of unreserved characters decoded and the
    others upper-cased, query and fragment removed."""
    u = urlsplit(url)
    scheme = u.scheme.lower()
    if scheme not in ("http", "https"):
        raise _htu_error("want an http or https URI")
    if "@" in u.netloc:
        raise _htu_error("user information is refused")
    host = u.hostname or ""
    if host == "" or not host.isascii() or "%" in host:
        raise _htu_error("host must be ASCII, without an IPv6 zone")
    host = f"[{host}]" if ":" in host else host
    try:
        port = u.port
    except ValueError:
        raise _htu_error("bad port") from None
    if port is not None and (port < 1 or (scheme, port) in (("http", 80), ("https", 443))):
        port = None
    return f"{scheme}://{host}{'' if port is None else f':{port}'}{_normalize_path(_raw_path(url))}"


def _raw_path(url: str) -> str:
    rest = url.split("#", 1)[0].split("?", 1)[0].split("://", 1)[-1]
    i = rest.find("/")
    return rest[i:] if i >= 0 else ""


def _normalize_path(p: str) -> str:
    if p == "":
        return "/"
    b = p.encode("utf-8")
    out: list[str] = []
    i = 0
    while i < len(b):
        c = b[i]
        if c == 0x25:  # %
            h = b[i + 1 : i + 3]
            if not re.fullmatch(rb"[0-9A-Fa-f]{2}", h):
                raise _htu_error("bad percent-encoding")
            out.append(_octet(int(h, 16)))
            i += 3
            continue
        out.append(chr(c) if c in _PATH_CHARS else _octet(c))
        i += 1
    return "".join(out)


def _octet(c: int) -> str:
    return chr(c) if c in _UNRESERVED else f"%{c:02X}"


def _htu_error(msg: str) -> AjwtError:
    return AjwtError("invalid_request", description=f"DPoP: htu: {msg}")


def access_token_hash(token: str) -> str:
    """The ``ath`` of a token: base64url SHA-256 of its ASCII text (RFC 9449 §4.2)."""
    return b64url(hashlib.sha256(token.encode("utf-8")).digest())


def create_delegation_assertion(
    key: ProofKey, *, delegator: str, delegate: str, issuer: str, run_id: str, step: str, now: float | None = None
) -> str:
    """Signs a delegation assertion (§6.3): header ``typ`` ``delegation+jwt``, claims ``iss``
    (delegator), ``sub`` (delegate), ``aud`` (issuer), ``run_id``, ``workflow_step``, ``iat``, ``exp``
    (30 s later) and a random single-use ``jti``."""
    iat = int(time.time() if now is None else now)
    claims = {
        "iss": delegator,
        "sub": delegate,
        "aud": issuer,
        "run_id": run_id,
        "workflow_step": step,
        "iat": iat,
        "exp": iat + DELEGATION_LIFETIME_SECONDS,
        "jti": random_id(),
    }
    return key.sign_jws({"alg": key.alg, "typ": "delegation+jwt"}, claims)


def random_id() -> str:
    """128 random bits, base64url."""
    return b64url(os.urandom(16))
