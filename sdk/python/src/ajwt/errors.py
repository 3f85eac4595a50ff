"""The one exception of the SDK, :class:`AjwtError`.

Protocol errors keep the IdP's or the enforcer's ``error`` code, ``reason``,
HTTP status and ``error_description`` (PROTOCOL.md §8, §9). Local refusals use
codes of their own:

- ``invalid_request``: an invalid agent specification (``field`` names it), or
  a malformed argument;
- ``substitution_refused``: :func:`ajwt.render` refused a runtime value (§2.5);
- ``registration_mismatch``: the local agent differs from its registration
  (``reason``: ``agent_checksum``, ``jkt``, ``revoked`` or ``registration``);
- ``invalid_key``: a key that cannot sign proofs;
- ``network_error``: no answer (connection refused, timeout);
- ``invalid_response``: an answer that is not what the protocol promises;
- ``server_error``: an error answer without a protocol body.

Messages never hold tokens, proofs, secrets or refused substitution values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Cap on the protocol bodies the SDK reads (PROTOCOL.md §10).
MAX_RESPONSE_BYTES = 1 << 20


class AjwtError(Exception):
    """An error of the ajwt protocol or of the SDK.

    Compare :attr:`code` and :attr:`reason` (both stable), not the message.
    """

    code: str
    reason: str | None
    status: int | None
    description: str | None
    field: str | None
    line: int
    column: int
    extra: Mapping[str, Any]

    def __init__(
        self,
        code: str,
        *,
        reason: str | None = None,
        status: int | None = None,
        description: str | None = None,
        field: str | None = None,
        line: int = 0,
        column: int = 0,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.code = code
        self.reason = reason
        self.status = status
        self.description = description
        self.field = field
        self.line = line
        self.column = column
        self.extra = dict(extra or {})
        super().__init__(self._message())

    def _message(self) -> str:
        s = self.code
        if self.reason:
            s += f" ({self.reason})"
        if self.field:
            s += f" {self.field}"
        if self.description:
            s += f": {self.description}"
        if self.status is not None:
            s += f" [HTTP {self.status}]"
        if self.line:
            s = f"line {self.line}: {s}"
        return s

    def is_(self, code: str, reason: str | None = None) -> bool:
        """Reports whether this error has ``code`` and, when given, ``reason``."""
        return self.code == code and (reason is None or self.reason == reason)


def spec_error(field: str, description: str, line: int = 0, column: int = 0) -> AjwtError:
    """An ``invalid_request`` naming a specification field."""
    return AjwtError("invalid_request", field=field, description=description, line=line, column=column)


def error_from_body(status: int, body: object) -> AjwtError:
    """The error an error answer stands for, from its ``{"error", "error_description", "reason", …}`` body."""
    m: Mapping[str, Any] = body if isinstance(body, dict) else {}
    code = m.get("error")
    if not isinstance(code, str) or code == "":
        return AjwtError("server_error", status=status, description=f"HTTP {status} without a protocol error body")
    reason = m.get("reason")
    desc = m.get("error_description")
    extra = {k: v for k, v in m.items() if k not in ("error", "error_description", "reason")}
    return AjwtError(
        code,
        reason=reason if isinstance(reason, str) else None,
        status=status,
        description=desc if isinstance(desc, str) else None,
        extra=extra,
    )
