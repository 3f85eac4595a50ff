"""HTTP plumbing shared by the client and the agents: bounded reads, protocol
error bodies, network errors that name the method and path only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from .errors import MAX_RESPONSE_BYTES, AjwtError, error_from_body


@contextmanager
def network_errors(method: str, url: str) -> Iterator[None]:
    """Turns httpx's transport failures into ``network_error`` (no headers, no bodies in the message)."""
    try:
        yield
    except httpx.TimeoutException as e:
        raise AjwtError("network_error", description=f"{method} {httpx.URL(url).path}: timed out") from e
    except httpx.TransportError as e:
        raise AjwtError("network_error", description=f"{method} {httpx.URL(url).path}: {type(e).__name__}") from e


def send(http: httpx.Client, method: str, url: str, **kw: Any) -> tuple[httpx.Response, bytes]:
    """Sends a request and reads its answer, at most 1 MiB."""
    with network_errors(method, url), http.stream(method, url, **kw) as res:
        body = bytearray()
        for chunk in res.iter_bytes():
            body += chunk
            if len(body) > MAX_RESPONSE_BYTES:
                raise AjwtError("invalid_response", status=res.status_code, description=f"answer larger than {MAX_RESPONSE_BYTES} bytes")
        return res, bytes(body)


def decode_answer(res: httpx.Response, body: bytes) -> Any:
    """Decodes a JSON answer; a non-2xx answer raises the error its body names."""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        if res.is_success:
            raise AjwtError("invalid_response", status=res.status_code, description="answer is not JSON") from None
        parsed = None
    if not res.is_success:
        raise error_from_body(res.status_code, parsed)
    return parsed
