"""Agent proof keys (PROTOCOL.md §3): the derived Ed25519 key of the shim's
default, keys from PEM or JWK files as ``ajwt keys`` writes them, and
external signers (KMS, HSM). A :class:`ProofKey` never exposes its private
half: not as an attribute, not in ``repr``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, Union

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import AjwtError

#: The HKDF salt of §3.
DERIVE_SALT = b"ajwt agent key v1"
#: The shortest master secret accepted (§3).
MIN_MASTER_SECRET = 32
_MAX_KEY_FILE = 64 << 10

#: Signs the JWS signing input and returns the JWS signature (ES256: the 64-byte r || s).
RawSigner = Callable[[bytes], bytes]
PrivateKey = Union[ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey]


def b64url(b: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def _b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class ProofKey:
    """An agent's signing key: its JWS algorithm, public JWK and RFC 7638 thumbprint."""

    __slots__ = ("alg", "public_jwk", "thumbprint", "_sign")

    alg: str
    public_jwk: Mapping[str, str]
    thumbprint: str

    def __init__(self, alg: str, public_jwk: Mapping[str, str], sign: RawSigner) -> None:
        pub = {k: public_jwk[k] for k in ("kty", "crv", "x", "y", "n", "e") if k in public_jwk}
        _check_alg_fits(alg, pub)
        self.alg = alg
        self.public_jwk = pub
        self.thumbprint = jwk_thumbprint(pub)
        self._sign = sign

    @classmethod
    def from_signer(cls, alg: str, public_jwk: Mapping[str, str], sign: RawSigner) -> ProofKey:
        """A key held elsewhere (KMS, HSM): ``sign`` receives the JWS signing input and returns the signature."""
        return cls(alg, public_jwk, sign)

    @classmethod
    def from_private_key(cls, key: object) -> ProofKey:
        """Wraps a ``cryptography`` private key: Ed25519 signs EdDSA, P-256 ES256, RSA (2048–4096 bits, e = 65537) RS256."""
        if isinstance(key, ed25519.Ed25519PrivateKey):
            raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return cls("EdDSA", {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}, key.sign)
        if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
            eck = key
            nums = eck.public_key().public_numbers()
            jwk = {"kty": "EC", "crv": "P-256", "x": b64url(nums.x.to_bytes(32, "big")), "y": b64url(nums.y.to_bytes(32, "big"))}
            return cls("ES256", jwk, lambda data: _es256(eck, data))
        if isinstance(key, rsa.RSAPrivateKey):
            rk = key
            pn = rk.public_key().public_numbers()
            if not 2048 <= rk.key_size <= 4096 or pn.e != 65537:
                raise _key_error("RSA keys must have 2048 to 4096 bits and exponent 65537")
            jwk = {"kty": "RSA", "n": b64url(_int_bytes(pn.n)), "e": b64url(_int_bytes(pn.e))}
            return cls("RS256", jwk, lambda data: _rs256(rk, data))
        raise _key_error(f"unsupported key type {type(key).__name__}")

    def sign_jws(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
        """A compact JWS with the given protected header and claims (member order kept)."""
        h = b64url(_compact_json(header))
        p = b64url(_compact_json(claims))
        return f"{h}.{p}.{b64url(self._sign(f'{h}.{p}'.encode('ascii')))}"

    def __repr__(self) -> str:  # never prints key material
        return f"ProofKey(alg={self.alg!r}, thumbprint={self.thumbprint!r})"


def _compact_json(v: Mapping[str, Any]) -> bytes:
    return json.dumps(v, separators=(",", ":")).encode("utf-8")


def _es256(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _rs256(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _int_bytes(i: int) -> bytes:
    return i.to_bytes((i.bit_length() + 7) // 8 or 1, "big")


def _check_alg_fits(alg: str, jwk: Mapping[str, str]) -> None:
    kty, crv = jwk.get("kty"), jwk.get("crv")
    fits = (
        (alg in ("EdDSA", "Ed25519") and kty == "OKP" and crv == "Ed25519")
        or (alg == "ES256" and kty == "EC" and crv == "P-256")
        or (alg == "RS256" and kty == "RSA")
    )
    if not fits:
        raise _key_error(f"a {kty} {crv or ''} key cannot sign {alg}".replace("  ", " "))


def jwk_thumbprint(jwk: Mapping[str, str]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK."""
    required = {"OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}.get(jwk.get("kty", ""))
    if required is None or any(k not in jwk for k in required):
        raise _key_error("JWK without the members of its kty")
    canon = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canon.encode("utf-8")).digest())


def _key_error(description: str) -> AjwtError:
    return AjwtError("invalid_key", description=description)


def derive_seed(master_secret: bytes, agent_id: str, agent_checksum: str) -> bytes:
    """The 32-byte Ed25519 seed of §3: HKDF-SHA256(ikm = master secret, salt = "ajwt agent key v1",
    info = agent_id || 0x00 || agent_checksum), the checksum in its ``sha256:`` form."""
    if len(master_secret) < MIN_MASTER_SECRET:
        raise _key_error(f"master secret has {len(master_secret)} bytes, want at least {MIN_MASTER_SECRET}")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", agent_id):
        raise _key_error("agent id is not valid")
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", agent_checksum):
        raise _key_error("agent checksum must be sha256:<64 lowercase hex>")
    info = agent_id.encode("ascii") + b"\x00" + agent_checksum.encode("ascii")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=DERIVE_SALT, info=info).derive(bytes(master_secret))


def derive_agent_key(master_secret: bytes, agent_id: str, checksum: str) -> ProofKey:
    """Derives an agent's Ed25519 key (§3) from the shim's master secret, the agent id and its checksum:
    a changed agent gets a changed key."""
    return ed25519_from_seed(derive_seed(master_secret, agent_id, checksum))


def ed25519_from_seed(seed: bytes) -> ProofKey:
    """The Ed25519 key whose 32-byte seed is given."""
    if len(seed) != 32:
        raise _key_error("an Ed25519 seed has 32 bytes")
    return ProofKey.from_private_key(ed25519.Ed25519PrivateKey.from_private_bytes(seed))


def proof_key_from_private_key(data: str | bytes | Mapping[str, Any]) -> ProofKey:
    """Reads a private key: PEM (PKCS#8, SEC 1 ``EC PRIVATE KEY``, PKCS#1 ``RSA PRIVATE KEY``) or a
    private JWK (mapping or JSON text), as ``ajwt keys`` writes and reads them."""
    if isinstance(data, Mapping):
        return ProofKey.from_private_key(_private_jwk(data))
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > _MAX_KEY_FILE:
        raise _key_error("key data larger than 64 KiB")
    if raw.strip().startswith(b"{"):
        try:
            jwk = json.loads(raw)
        except ValueError:
            raise _key_error("malformed JWK") from None
        if not isinstance(jwk, dict):
            raise _key_error("malformed JWK")
        return ProofKey.from_private_key(_private_jwk(jwk))
    try:
        key = serialization.load_pem_private_key(raw, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise _key_error("not a readable private key (unencrypted PEM or JWK)") from None
    return ProofKey.from_private_key(key)


def load_proof_key_file(path: str | os.PathLike[str]) -> ProofKey:
    """Reads a private key file (see :func:`proof_key_from_private_key`)."""
    with open(path, "rb") as f:
        return proof_key_from_private_key(f.read(_MAX_KEY_FILE + 1))


def _private_jwk(jwk: Mapping[str, Any]) -> PrivateKey:
    try:
        num = {k: int.from_bytes(_b64url_decode(v), "big") for k, v in jwk.items() if k in _JWK_INTS and isinstance(v, str)}
        kty, crv = jwk.get("kty"), jwk.get("crv")
        if kty == "OKP" and crv == "Ed25519" and isinstance(jwk.get("d"), str):
            return ed25519.Ed25519PrivateKey.from_private_bytes(_b64url_decode(jwk["d"]))
        if kty == "EC" and crv == "P-256" and {"d", "x", "y"} <= num.keys():
            pub = ec.EllipticCurvePublicNumbers(num["x"], num["y"], ec.SECP256R1())
            return ec.EllipticCurvePrivateNumbers(num["d"], pub).private_key()
        if kty == "RSA" and {"n", "e", "d", "p", "q", "dp", "dq", "qi"} <= num.keys():
            pub_rsa = rsa.RSAPublicNumbers(num["e"], num["n"])
            return rsa.RSAPrivateNumbers(num["p"], num["q"], num["d"], num["dp"], num["dq"], num["qi"], pub_rsa).private_key()
    except (ValueError, TypeError):
        pass
    raise _key_error("JWK is not a private signing key (Ed25519, P-256 or RSA)")


_JWK_INTS = ("d", "x", "y", "n", "e", "p", "q", "dp", "dq", "qi")


def parse_master_secret(text: str | bytes) -> bytes:
    """Reads a master secret from file or environment text: 64 or more hex digits are decoded, anything
    else is taken as raw bytes; at least 32 bytes either way."""
    b = (text.encode("utf-8") if isinstance(text, str) else bytes(text)).strip(b" \t\n\r\v\f")
    if len(b) >= 2 * MIN_MASTER_SECRET and len(b) % 2 == 0 and re.fullmatch(rb"[0-9a-fA-F]+", b):
        return bytes.fromhex(b.decode("ascii"))
    if len(b) < MIN_MASTER_SECRET:
        raise _key_error(
            f"master secret too short: want at least {MIN_MASTER_SECRET} bytes (or {2 * MIN_MASTER_SECRET} hex digits)"
        )
    return b


def load_master_secret_file(path: str | os.PathLike[str]) -> bytes:
    """Reads a master-secret file (see :func:`parse_master_secret`)."""
    with open(path, "rb") as f:
        return parse_master_secret(f.read(_MAX_KEY_FILE))


class DerivedKey:
    """The shim's default agent key: derived from a master secret, per agent and checksum (§3)."""

    __slots__ = ("_master",)

    def __init__(self, master_secret: bytes) -> None:
        if len(master_secret) < MIN_MASTER_SECRET:
            raise _key_error(f"master secret has {len(master_secret)} bytes, want at least {MIN_MASTER_SECRET}")
        self._master = bytes(master_secret)

    def key_for(self, agent_id: str, checksum: str) -> ProofKey:
        return derive_agent_key(self._master, agent_id, checksum)

    def __repr__(self) -> str:  # never prints the secret
        return "DerivedKey(…)"


#: An agent's key: derived (the default) or one fixed :class:`ProofKey` (file, KMS).
AgentKey = Union[DerivedKey, ProofKey]
