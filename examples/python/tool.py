"""An agent tool as a plain function, the way agent frameworks call tools:
``list_tree(repo, ref)`` returns text for the model. Its HTTP call goes
through :class:`ajwt.AjwtAuth`, so it carries the classify step's intent
token and a fresh DPoP proof, and the enforcer in front of the forge decides
what it may read. A refusal comes back to the model as text naming the
enforcer's reason; it is never retried with other credentials.

    tools = {"list_tree": make_list_tree(forge_url, classifier.token_source(run_id, "classify",
                                                                            resource="https://forge.example"))}
    answer = tools["list_tree"](repo="acme/web")       # what a framework does with a tool call
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import quote

import httpx

from ajwt import AjwtAuth, TokenSource


def make_list_tree(forge_url: str, source: TokenSource, *, http: httpx.Client | None = None) -> Callable[..., str]:
    """Returns the classifier's ``list_tree`` tool bound to one step's token source."""
    client = http or httpx.Client(timeout=10)
    auth = AjwtAuth(source)

    def list_tree(repo: str, ref: str = "main") -> str:
        """List the files of the repository's branch ``ref``."""
        owner, _, name = repo.partition("/")
        url = f"{forge_url}/repos/{quote(owner, safe='')}/{quote(name, safe='')}/tree"
        res = client.get(url, params={"ref": ref}, auth=auth)
        if res.is_error:
            try:
                body = res.json()
            except ValueError:
                body = {}
            return f"refused ({res.status_code}): {body.get('error', 'error')} {body.get('reason', '')}".strip()
        return json.dumps(res.json())

    return list_tree
