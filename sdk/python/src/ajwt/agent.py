"""Agent handles and their token sources: what one agent of the client may
do, signing only with its own key and only in its own name (§2–§6)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Protocol, cast
from urllib.parse import quote

from ._http import decode_answer, send
from .dpop import create_delegation_assertion
from .errors import AjwtError
from .keys import AgentKey, DerivedKey, ProofKey
from .render import render
from .spec import AgentSpec, agent_checksum, checksums_equal

if TYPE_CHECKING:
    from .client import Client, Run, TokenResponse


@dataclass(frozen=True)
class Token:
    """An access token bound to an agent's key. Send it only with a proof (``Authorization: DPoP``)."""

    access_token: str = field(repr=False)
    token_type: str
    scope: str
    expires_at: float  # seconds since the epoch
    run_id: str  # "" without a run
    step: str  # "" without a run
    proof_key: ProofKey  # the key its cnf.jkt names
    checksum: str  # the agent checksum the grant showed


class TokenSource(Protocol):
    """Supplies tokens, like Go's ``client.TokenSource``."""

    def token(self) -> Token: ...

    def invalidate(self, token: Token) -> None: ...


class StepTokenSource:
    """The token source of one agent for one step of one run: it caches its token and renews it
    30 s before expiry, and drops it when the live spec's checksum or key changed. Thread-safe."""

    def __init__(self, agent: Agent, run_id: str, step: str, resource: str | None, scopes: Sequence[str]) -> None:
        self.agent = agent
        self.run_id = run_id
        self.step = step
        self.resource = resource
        self.scopes = tuple(scopes)
        self.delegation: Callable[[], str] | None = None
        self._token: Token | None = None
        self._lock = threading.Lock()

    def token(self) -> Token:
        """The cached token while it is valid for 30 s more and the live spec still has its checksum; otherwise a new one."""
        with self._lock:
            cached = self.cached()
            if cached is not None:
                return cached
            self._token = self._fetch()
            return self._token

    def cached(self) -> Token | None:
        """The cached token if it may still be used (no I/O)."""
        from .client import RENEW_BEFORE

        t = self._token
        if t is None or self.agent.now() >= t.expires_at - RENEW_BEFORE:
            return None
        try:
            checksum, key = self.agent.identity()
        except AjwtError:
            return None
        return t if checksum == t.checksum and key.thumbprint == t.proof_key.thumbprint else None

    def invalidate(self, token: Token) -> None:
        """Drops ``token`` from the cache (an enforcer said it expired or was spent)."""
        with self._lock:
            if self._token is token:
                self._token = None

    def _fetch(self) -> Token:
        form: dict[str, str] = {}
        if self.run_id:
            form["run_id"], form["workflow_step"] = self.run_id, self.step
        if self.resource:
            form["resource"] = self.resource
        if self.scopes:
            form["scope"] = " ".join(self.scopes)
        if self.delegation is not None:
            try:
                form["delegation_assertion"] = self.delegation()
            except AjwtError:
                raise
            except Exception as e:
                raise AjwtError("invalid_request", description="delegation assertion could not be made") from e
        return self.agent.grant(form)


class Agent:
    """One agent of the client. Make it with :meth:`Client.agent`."""

    def __init__(self, client: Client, spec: AgentSpec, key: AgentKey) -> None:
        self._client = client
        self._spec = spec
        self._key = key
        self._sources: dict[tuple[str, str, str, str], StepTokenSource] = {}
        self._last: tuple[str, ProofKey] | None = None
        self._lock = threading.Lock()

    @property
    def id(self) -> str:
        """The agent id of the live specification."""
        return str(self._spec["agent_id"])

    @property
    def client(self) -> Client:
        return self._client

    def now(self) -> float:
        return self._client.clock()

    def checksum(self) -> str:
        """Recomputes the checksum of the live specification."""
        return agent_checksum(self._spec)

    def identity(self) -> tuple[str, ProofKey]:
        """The checksum and key of the specification as it is now (the key derived again only when the checksum changed)."""
        checksum = self.checksum()
        with self._lock:
            if self._last is not None and self._last[0] == checksum:
                return self._last
        key = self._key.key_for(self.id, checksum) if isinstance(self._key, DerivedKey) else self._key
        with self._lock:
            self._last = (checksum, key)
        return checksum, key

    def render(self, values: Mapping[str, str]) -> str:
        """Fills the agent's prompt template (§2.5), refusing values outside their declarations."""
        return render(str(self._spec["prompt_template"]), values, self._spec.get("substitutions") or {})

    def verify_registration(self) -> None:
        """Compares the local checksum and key thumbprint with the IdP's registration; run it at
        start-up. A difference raises ``registration_mismatch`` with ``reason`` ``agent_checksum``,
        ``jkt``, ``revoked`` or ``registration`` (not registered)."""
        checksum, key = self.identity()
        url = f"{self._client.endpoint('agent_registration_endpoint')}/{quote(self.id, safe='')}"
        try:
            reg = self._client.app_json("GET", url)
        except AjwtError as e:
            if e.status == 404:
                raise _mismatch(self.id, "registration", "not registered at the IdP") from None
            raise
        if not isinstance(reg, dict):
            raise AjwtError("invalid_response", description="registration is not an object")
        if not checksums_equal(str(reg.get("agent_checksum", "")), checksum):
            raise _mismatch(self.id, "agent_checksum", f"local {checksum}, IdP {reg.get('agent_checksum')}")
        if reg.get("jkt") != key.thumbprint:
            raise _mismatch(self.id, "jkt", f"local {key.thumbprint}, IdP {reg.get('jkt')}")
        if reg.get("revoked"):
            raise _mismatch(self.id, "revoked", "the IdP has revoked the agent")

    def token_source(
        self,
        run_id: str,
        step: str,
        *,
        resource: str | None = None,
        scopes: Sequence[str] = (),
        delegation: Callable[[], str] | None = None,
    ) -> StepTokenSource:
        """The agent's token source for one step of one run (``run_id`` ``""`` for agents registered
        without ``workflow_required``). Sources are cached per (run, step, resource, scope): a token
        never crosses steps or runs. ``delegation`` supplies a fresh delegation assertion for each grant
        (they are single use), e.g. ``lambda: supervisor.delegate("patcher", run_id, "patch")``."""
        k = (run_id, step, resource or "", " ".join(scopes))
        with self._lock:
            src = self._sources.get(k)
            if src is None:
                src = self._sources[k] = StepTokenSource(self, run_id, step, resource, scopes)
        if delegation is not None:
            src.delegation = delegation
        return src

    def grant(self, form: Mapping[str, str]) -> Token:
        """The ``agent_checksum`` grant (§6.2) with a fresh proof, the checksum recomputed from the live spec."""
        checksum, key = self.identity()
        full = {**form, "grant_type": "urn:ietf:params:oauth:grant-type:agent_checksum", "agent_id": self.id, "agent_checksum": checksum}
        return self._token_of(self._client.token_request(full, key), key, checksum)

    def _token_of(self, res: TokenResponse, key: ProofKey, checksum: str) -> Token:
        return Token(
            access_token=res["access_token"],
            token_type=res.get("token_type", ""),
            scope=res.get("scope", ""),
            expires_at=self.now() + res["expires_in"],
            run_id=res.get("run_id", ""),
            step=res.get("workflow_step", ""),
            proof_key=key,
            checksum=checksum,
        )

    def complete(self, run_id: str, step: str, *, result_sha256: str | None = None) -> Run:
        """Reports the agent's step done (§5), with the step's own token and a proof with ``ath``."""
        from .auth import AjwtAuth

        src = self._live_source(run_id, step) or self.token_source(run_id, step)
        tok = src.token()
        url = f"{self._client.endpoint('run_endpoint')}/{quote(run_id, safe='')}/steps/{quote(step, safe='')}/complete"
        kw: dict[str, Any] = {"headers": {"Accept": "application/json"}, "auth": AjwtAuth(src)}
        if result_sha256:
            kw["content"] = json.dumps({"result_sha256": result_sha256}).encode()
            kw["headers"]["Content-Type"] = "application/json"
        res, body = send(self._client.http, "POST", url, **kw)
        self._client.remember_nonce(res)
        run = decode_answer(res, body)
        src.invalidate(tok)
        return cast("Run", run)

    def _live_source(self, run_id: str, step: str) -> StepTokenSource | None:
        """A source of this run and step that holds a token still in use: completing the step
        with it costs no grant (one ``grant issued`` per step in the audit log)."""
        with self._lock:
            mine = [src for (r, s, _, _), src in self._sources.items() if r == run_id and s == step]
        # cached() reads the agent's clock, which takes the agent's lock: not under it
        return next((src for src in mine if src.cached() is not None), None)

    def delegate(self, to: str, run_id: str, step: str) -> str:
        """Signs a delegation assertion (§6.3) that lets agent ``to`` execute ``step`` of ``run_id``;
        ``to`` sends it with its own grant. Valid for 30 seconds, once."""
        _, key = self.identity()
        return create_delegation_assertion(
            key, delegator=self.id, delegate=to, issuer=self._client.issuer, run_id=run_id, step=step, now=self.now()
        )

    def exchange(
        self, subject_token: str, *, scopes: Sequence[str] = (), resource: Optional[str] = None, audience: Optional[str] = None
    ) -> Token:
        """Trades one of the agent's tokens for a narrower one (§6.4, RFC 8693): same agent, run,
        step and key; a subset of the scope, or one audience."""
        checksum, key = self.identity()
        form = {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": subject_token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
        }
        if scopes:
            form["scope"] = " ".join(scopes)
        if resource:
            form["resource"] = resource
        if audience:
            form["audience"] = audience
        return self._token_of(self._client.token_request(form, key), key, checksum)


def _mismatch(agent_id: str, what: str, detail: str) -> AjwtError:
    return AjwtError(
        "registration_mismatch", reason=what, description=f"agent {agent_id}: {what} differs from the registration ({detail})"
    )
