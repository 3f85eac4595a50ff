"""``ajwt``: the Python client SDK of ajwt (Agentic JWT).

It computes agent checksums (RFC 8785), derives per-agent keys, signs DPoP
proofs and obtains intent tokens per workflow step from an ajwt IdP, and signs
every API request (:class:`AjwtAuth` for httpx, :class:`AjwtRequestsAuth` for
requests), MCP included. The wire protocol is docs/PROTOCOL.md of the ajwt
repository; the Go shim (``client``) is the reference behaviour::

    c = Client.discover(issuer, "patch-app", client_secret=secret)
    patcher = c.agent(load_spec("agents/patcher.yaml"), DerivedKey(master))
    patcher.verify_registration()
    run = c.start_run("vuln-patch", "user:alice", {"repo": "acme/web"})
    auth = AjwtAuth(patcher.token_source(run["run_id"], "patch", resource="https://forge.example"))
    httpx.post("https://forge.example/repos/acme/web/pulls", json=pr, auth=auth)
    patcher.complete(run["run_id"], "patch")
"""

from .agent import Agent, StepTokenSource, Token, TokenSource
from .auth import AjwtAuth, AjwtRequestsAuth
from .client import DEFAULT_TIMEOUT, RENEW_BEFORE, Client, Run, RunStep
from .dpop import DELEGATION_LIFETIME_SECONDS, access_token_hash, create_delegation_assertion, create_dpop_proof, dpop_htu
from .errors import MAX_RESPONSE_BYTES, AjwtError
from .jcs import MAX_JSON_DEPTH, canonicalize, canonical_number, canonical_string, parse_ijson_number
from .keys import (
    DERIVE_SALT,
    MIN_MASTER_SECRET,
    AgentKey,
    DerivedKey,
    ProofKey,
    derive_agent_key,
    derive_seed,
    ed25519_from_seed,
    jwk_thumbprint,
    load_master_secret_file,
    load_proof_key_file,
    parse_master_secret,
    proof_key_from_private_key,
)
from .mcp import MCP_REFUSAL_CODE, refusal_as_jsonrpc
from .render import render
from .spec import (
    MAX_SPEC_BYTES,
    MAX_VALUE_LENGTH,
    AgentSpec,
    agent_checksum,
    canonical_spec,
    checksum_of_canonical,
    checksums_equal,
    load_spec,
    normalize_prompt,
    parse_checksum,
    parse_spec,
    parse_spec_yaml,
    validate_spec,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_TIMEOUT", "DELEGATION_LIFETIME_SECONDS", "DERIVE_SALT", "MAX_JSON_DEPTH", "MAX_RESPONSE_BYTES", "MAX_SPEC_BYTES",
    "MAX_VALUE_LENGTH", "MCP_REFUSAL_CODE", "MIN_MASTER_SECRET", "RENEW_BEFORE", "Agent", "AgentKey", "AgentSpec", "AjwtAuth",
    "AjwtError", "AjwtRequestsAuth", "Client", "DerivedKey", "ProofKey", "Run", "RunStep", "StepTokenSource", "Token",
    "TokenSource", "access_token_hash", "agent_checksum", "canonical_number", "canonical_spec", "canonical_string",
    "canonicalize", "checksum_of_canonical", "checksums_equal", "create_delegation_assertion", "create_dpop_proof",
    "derive_agent_key", "derive_seed", "dpop_htu", "ed25519_from_seed", "jwk_thumbprint", "load_master_secret_file",
    "load_proof_key_file", "load_spec", "normalize_prompt", "parse_checksum", "parse_ijson_number", "parse_master_secret",
    "parse_spec", "parse_spec_yaml", "proof_key_from_private_key", "refusal_as_jsonrpc", "render", "validate_spec",
]  # fmt: skip
