"""The IdP side of the shim: discovery (RFC 8414), client authentication,
the token endpoint (§6) with DPoP nonces, and the run APIs (§5)."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Optional, TypedDict, cast
from urllib.parse import quote

import httpx

from ._http import decode_answer, send
from .dpop import create_dpop_proof, random_id
from .errors import AjwtError
from .keys import AgentKey, ProofKey
from .spec import AgentSpec, validate_spec

#: Default timeout of a call to the IdP, in seconds.
DEFAULT_TIMEOUT = 10.0
#: A token is renewed this long (seconds) before it expires, so that none expires in flight.
RENEW_BEFORE = 30.0


class RunStep(TypedDict, total=False):
    """One step of a run as the IdP reports it (§5)."""

    id: str
    state: str  # pending | ready | in_progress | completed
    completed_by: str
    completed_at: int
    approved_via: str


class Run(TypedDict, total=False):
    """A workflow run as the IdP reports it (§5); the IdP alone changes it."""

    run_id: str
    workflow_id: str
    workflow_version: int
    status: str  # active | completed | revoked
    initiated_by: str
    execution_context: dict[str, str]
    steps: list[RunStep]


class TokenResponse(TypedDict, total=False):
    access_token: str
    token_type: str
    expires_in: int
    scope: str
    run_id: str
    workflow_step: str
    issued_token_type: str


class Client:
    """One OAuth client of one IdP: it starts runs, reads them, and makes the
    :class:`~ajwt.agent.Agent` handles that obtain intent tokens. Thread-safe;
    no global state. Make it with :meth:`discover`; close it (or use ``with``)."""

    def __init__(
        self,
        metadata: Mapping[str, Any],
        client_id: str,
        *,
        client_secret: str | None = None,
        private_key: ProofKey | None = None,
        private_key_kid: str | None = None,
        http: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (client_secret is None) == (private_key is None):
            raise AjwtError("invalid_request", description="give exactly one of client_secret and private_key")
        self.metadata: Mapping[str, Any] = dict(metadata)
        self.client_id = client_id
        self.clock = clock
        self.http = http or httpx.Client(timeout=timeout)
        self._owns_http = http is None
        self._secret = client_secret
        self._private_key = private_key
        self._kid = private_key_kid
        self._lock = threading.Lock()
        self._nonce: str | None = None
        self._app_token: tuple[str, float] | None = None

    @classmethod
    def discover(
        cls,
        issuer: str,
        client_id: str,
        *,
        client_secret: str | None = None,
        private_key: ProofKey | None = None,
        private_key_kid: str | None = None,
        http: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Client:
        """Reads the IdP's metadata (``/.well-known/oauth-authorization-server``), which must name
        exactly ``issuer``, and returns a client authenticating with ``client_secret``
        (``client_secret_basic``) or ``private_key`` (``private_key_jwt``; the assertion's ``kid`` is
        ``private_key_kid``, default the key's RFC 7638 thumbprint)."""
        if not issuer or not client_id or (client_secret is None) == (private_key is None):
            raise AjwtError("invalid_request", description="issuer, client_id and exactly one of client_secret and private_key are required")
        issuer = issuer.rstrip("/")
        own = http or httpx.Client(timeout=timeout)
        try:
            res, body = send(own, "GET", f"{issuer}/.well-known/oauth-authorization-server")
            meta = decode_answer(res, body)
            if not isinstance(meta, dict) or meta.get("issuer") != issuer or not isinstance(meta.get("token_endpoint"), str):
                got = meta.get("issuer") if isinstance(meta, dict) else None
                raise AjwtError("invalid_response", description=f"metadata names issuer {got!r}, want {issuer!r}")
        except BaseException:
            if http is None:
                own.close()
            raise
        c = cls(meta, client_id, client_secret=client_secret, private_key=private_key, private_key_kid=private_key_kid, http=own, timeout=timeout)
        c._owns_http = http is None
        return c

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def issuer(self) -> str:
        return str(self.metadata["issuer"])

    def agent(self, spec: AgentSpec, key: AgentKey) -> Any:
        """The handle of the agent ``spec`` describes. The handle keeps the object: its checksum is
        recomputed for every grant, so a spec changed in memory is refused by the IdP
        (``agent_checksum_mismatch``). An invalid spec raises now."""
        from .agent import Agent

        validate_spec(spec)
        return Agent(self, spec, key)

    def start_run(self, workflow_id: str, initiated_by: str, execution_context: Mapping[str, str] | None = None) -> Run:
        """Starts a run of ``workflow_id`` (§5) on behalf of ``initiated_by``; needs ``ajwt:run``."""
        body = {"workflow_id": workflow_id, "initiated_by": initiated_by, "execution_context": dict(execution_context or {})}
        return cast(Run, self.app_json("POST", self.endpoint("run_endpoint"), body))

    def get_run(self, run_id: str) -> Run:
        """Reads a run."""
        return cast(Run, self.app_json("GET", f"{self.endpoint('run_endpoint')}/{quote(run_id, safe='')}"))

    def revoke_run(self, run_id: str) -> None:
        """Stops a run and revokes its tokens."""
        self.app_json("POST", f"{self.endpoint('run_endpoint')}/{quote(run_id, safe='')}/revoke")

    def approve(self, run_id: str, step: str, approver: str, comment: str = "") -> Run:
        """Completes an approval step (§5); the client needs ``ajwt:approve``."""
        url = f"{self.endpoint('run_endpoint')}/{quote(run_id, safe='')}/steps/{quote(step, safe='')}/approve"
        return cast(Run, self.app_json("POST", url, {"approver": approver, "comment": comment}))

    def endpoint(self, name: str) -> str:
        u = self.metadata.get(name)
        if not isinstance(u, str) or u == "":
            raise AjwtError("invalid_response", description=f"the IdP's metadata has no {name}")
        return u

    # ---- the token endpoint ----

    def token_request(self, form: Mapping[str, str], key: ProofKey | None) -> TokenResponse:
        """Posts a form to the token endpoint, authenticated as the client, with a fresh DPoP proof of
        ``key`` when given; retries once with the IdP's nonce when it asks for one (``use_dpop_nonce``)."""
        for attempt in range(2):
            try:
                return self._post_token(form, key)
            except AjwtError as e:
                if attempt == 0 and key is not None and e.code == "use_dpop_nonce":
                    continue
                raise
        raise AssertionError("unreachable")

    def _post_token(self, form: Mapping[str, str], key: ProofKey | None) -> TokenResponse:
        url = self.endpoint("token_endpoint")
        headers = {"Accept": "application/json"}
        data = dict(form)
        self._authenticate(headers, data)
        if key is not None:
            headers["DPoP"] = create_dpop_proof(key, "POST", url, nonce=self._nonce, now=self.clock())
        res, body = send(self.http, "POST", url, data=data, headers=headers)
        self.remember_nonce(res)
        tok = decode_answer(res, body)
        if not isinstance(tok, dict) or not isinstance(tok.get("access_token"), str) or not isinstance(tok.get("expires_in"), int):
            raise AjwtError("invalid_response", status=res.status_code, description="token answer without access_token or expires_in")
        return cast(TokenResponse, tok)

    def _authenticate(self, headers: dict[str, str], form: dict[str, str]) -> None:
        if self._secret is not None:
            # RFC 6749 §2.3.1: form-encode id and secret before Basic.
            pair = f"{quote(self.client_id, safe='')}:{quote(self._secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
            return
        key = self._private_key
        assert key is not None
        iat = int(self.clock())
        header = {"alg": key.alg, "typ": "JWT", "kid": self._kid or key.thumbprint}
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": self.issuer, "jti": random_id(), "iat": iat, "exp": iat + 60}
        form["client_id"] = self.client_id
        form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        form["client_assertion"] = key.sign_jws(header, claims)

    def remember_nonce(self, res: httpx.Response) -> None:
        n = res.headers.get("DPoP-Nonce")
        if n:
            with self._lock:
                self._nonce = n

    # ---- the client's own token, for the run and registry APIs ----

    def _app_bearer(self) -> str:
        with self._lock:
            cached = self._app_token
        if cached and self.clock() < cached[1]:
            return cached[0]
        tok = self.token_request({"grant_type": "client_credentials"}, None)
        renew_at = self.clock() + tok["expires_in"] - RENEW_BEFORE
        with self._lock:
            self._app_token = (tok["access_token"], renew_at)
        return tok["access_token"]

    def app_json(self, method: str, url: str, body: Optional[Mapping[str, Any]] = None) -> Any:
        """A JSON call to the IdP's APIs with the client's own token."""
        headers = {"Authorization": f"Bearer {self._app_bearer()}", "Accept": "application/json"}
        res, text = send(self.http, method, url, headers=headers, json=body)
        self.remember_nonce(res)
        return decode_answer(res, text)
