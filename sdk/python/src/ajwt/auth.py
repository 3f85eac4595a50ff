"""Signed HTTP: :class:`AjwtAuth` for httpx (``httpx.Client`` and
``httpx.AsyncClient``) and :class:`AjwtRequestsAuth` for requests. Every
request goes out with ``Authorization: DPoP <token>`` and a fresh proof (``ath``,
``htu`` without query or fragment), like the Go shim's ``client.Transport``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator
from typing import TYPE_CHECKING, Any

import httpx

from .agent import Token, TokenSource
from .dpop import create_dpop_proof

if TYPE_CHECKING:
    import requests


def retry_reason(status: int, headers: Any) -> str:
    """Reads a 401 challenge: ``use_dpop_nonce``, ``expired``, ``token_used`` or ``""``."""
    if status != 401:
        return ""
    h = headers.get("WWW-Authenticate", "")
    if 'error="use_dpop_nonce"' in h and headers.get("DPoP-Nonce"):
        return "use_dpop_nonce"
    if 'error="invalid_token"' in h and "expired" in h.lower():
        return "expired"
    if 'error="invalid_token"' in h and 'error_description="token_used"' in h:
        return "token_used"
    return ""


def _sign(headers: Any, method: str, url: str, tok: Token, nonce: str | None) -> None:
    proof = create_dpop_proof(tok.proof_key, method, url, access_token=tok.access_token, nonce=nonce)
    headers["Authorization"] = f"DPoP {tok.access_token}"
    headers["DPoP"] = proof


class AjwtAuth(httpx.Auth):
    """httpx authentication with a step's intent token: ``Authorization: DPoP`` and a fresh proof per
    request. When the server answers 401 it retries at most once with the ``DPoP-Nonce`` it asked
    for (``use_dpop_nonce``) and at most once with a new token when it says the token expired; the
    body is read once and re-sent. A ``token_used`` refusal is returned as is (the one-time action is
    not repeated) and the spent token dropped. Works with ``httpx.Client`` and ``httpx.AsyncClient``;
    in the async flow a token that must be fetched is fetched in a worker thread."""

    requires_request_body = True

    def __init__(self, source: TokenSource) -> None:
        self.source = source

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.read()
        tok = self.source.token()
        response = yield self._signed(request, tok, None)
        retried: set[str] = set()
        while (step := self._retry(response, tok, retried)) is not None:
            nonce, refresh = step
            if refresh:
                fresh = self.source.token()
                if fresh.access_token == tok.access_token:
                    return
                tok = fresh
            response = yield self._signed(request, tok, nonce)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        tok = await self._token_async()
        response = yield self._signed(request, tok, None)
        retried: set[str] = set()
        while (step := self._retry(response, tok, retried)) is not None:
            nonce, refresh = step
            if refresh:
                fresh = await self._token_async()
                if fresh.access_token == tok.access_token:
                    return
                tok = fresh
            response = yield self._signed(request, tok, nonce)

    def _retry(self, response: httpx.Response, tok: Token, retried: set[str]) -> tuple[str | None, bool] | None:
        """What to resend after ``response``, or None: with the nonce the server asked for, or with a
        new token (the expired one dropped); each at most once. A spent one-time token is dropped."""
        why = retry_reason(response.status_code, response.headers)
        if why == "token_used":
            self.source.invalidate(tok)
        if why not in ("use_dpop_nonce", "expired") or why in retried:
            return None
        retried.add(why)
        if why == "use_dpop_nonce":
            return response.headers["DPoP-Nonce"], False
        self.source.invalidate(tok)
        return None, True

    async def _token_async(self) -> Token:
        cached = getattr(self.source, "cached", None)
        tok = cached() if callable(cached) else None
        if isinstance(tok, Token):
            return tok
        return await asyncio.to_thread(self.source.token)

    @staticmethod
    def _signed(request: httpx.Request, tok: Token, nonce: str | None) -> httpx.Request:
        _sign(request.headers, request.method, str(request.url), tok, nonce)
        return request


def _requests_base() -> type:
    try:
        from requests.auth import AuthBase
    except ImportError:  # the optional extra is not installed
        return object
    base: type = AuthBase
    return base


class AjwtRequestsAuth(_requests_base()):  # type: ignore[misc]
    """The same for requests (the ``ajwt-client[requests]`` extra): ``session.get(url,
    auth=AjwtRequestsAuth(source))``. Retries (nonce, expired token) re-send the prepared request
    through the same connection adapter; a streamed body (generator) is never re-sent."""

    def __init__(self, source: TokenSource) -> None:
        self.source = source

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        tok = self.source.token()
        _sign(r.headers, str(r.method), str(r.url), tok, None)
        retried: set[str] = set()

        def on_response(res: requests.Response, **kw: Any) -> requests.Response:
            nonlocal tok
            why = retry_reason(res.status_code, res.headers)
            if why == "token_used":
                self.source.invalidate(tok)
            if why not in ("use_dpop_nonce", "expired") or why in retried or not _replayable(r):
                return res
            retried.add(why)
            nonce = None
            if why == "use_dpop_nonce":
                nonce = res.headers["DPoP-Nonce"]
            else:
                self.source.invalidate(tok)
                fresh = self.source.token()
                if fresh.access_token == tok.access_token:
                    return res
                tok = fresh
            again = r.copy()
            _sign(again.headers, str(again.method), str(again.url), tok, nonce)
            res.content  # noqa: B018 - read the refused answer so the connection can be reused
            res.close()
            out: requests.Response = res.connection.send(again, **kw)
            out.history.append(res)
            out.request = again
            return on_response(out, **kw)

        r.register_hook("response", on_response)
        return r


def _replayable(r: requests.PreparedRequest) -> bool:
    return r.body is None or isinstance(r.body, (bytes, str))
