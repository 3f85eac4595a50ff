"""MCP servers behind an ajwt enforcer (PROTOCOL.md §12). The official MCP
Python SDK is not needed: an MCP client that speaks Streamable HTTP with
httpx signs every message with :class:`~ajwt.auth.AjwtAuth`. The enforcer
refuses a ``tools/call`` with an HTTP 4xx and a §8 JSON body;
:func:`refusal_as_jsonrpc` turns that into the JSON-RPC error of the refused
request, like the Go shim's ``client.Transport{MCP: true}``, so an MCP client
reports it as that call's error and keeps the session."""

from __future__ import annotations

import json
from typing import Any

#: The JSON-RPC error code of an enforcer's refusal (Go: ``client.MCPRefusalCode``).
MCP_REFUSAL_CODE = -32001


def refusal_as_jsonrpc(request_body: bytes | str, status: int, content_type: str, body: bytes | str) -> dict[str, Any] | None:
    """The JSON-RPC error response for an enforcer's 4xx refusal of a JSON-RPC request: code
    :data:`MCP_REFUSAL_CODE`, ``data`` = ``{"status", "error", "error_description"?, "reason"?}``.
    None when the answer is not such a refusal or the message was a notification."""
    if not 400 <= status < 500 or content_type.split(";")[0].strip().lower() != "application/json":
        return None
    try:
        msg, refusal = json.loads(request_body), json.loads(body)
    except ValueError:
        return None
    if not isinstance(msg, dict) or not isinstance(msg.get("method"), str) or isinstance(msg.get("id"), bool):
        return None
    if not isinstance(msg.get("id"), (str, int)) or not isinstance(refusal, dict) or not refusal.get("error"):
        return None
    data: dict[str, Any] = {"status": status, "error": str(refusal["error"])}
    for k in ("error_description", "reason"):
        if isinstance(refusal.get(k), str):
            data[k] = refusal[k]
    message = data["error"] + (f" ({data['reason']})" if "reason" in data else "")
    if "error_description" in data:
        message += f": {data['error_description']}"
    return {"jsonrpc": "2.0", "id": msg["id"], "error": {"code": MCP_REFUSAL_CODE, "message": message, "data": data}}
