"""The shortest real use of the ajwt Python SDK: the first step of the
vuln-patch workflow against an ``ajwt serve`` started from ``ajwt init``,
exactly as examples/quickstart does it in Go.

    go run ./cmd/ajwt init --dir ./ajwt-demo
    go run ./cmd/ajwt serve --config ./ajwt-demo/ajwt.yaml --data ./ajwt-demo/data &
    PYTHONPATH=sdk/python/src python3 examples/python/quickstart.py --dir ./ajwt-demo
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from ajwt import Agent, AjwtError, Client, DerivedKey, load_master_secret_file, load_spec


def quickstart(directory: Path, issuer: str, out: TextIO) -> None:
    secrets = read_env(directory / "client-secrets.env")
    master = load_master_secret_file(directory / "shim-master.key")
    with Client.discover(issuer, "patch-app", client_secret=secrets.get("AJWT_PATCH_APP_SECRET", "")) as c:
        classifier: Agent = c.agent(load_spec(directory / "agents" / "classifier.yaml"), DerivedKey(master))

        # Start-up check: the agent we run is the agent that was registered.
        classifier.verify_registration()
        print("classifier: registration verified", file=out)

        run = c.start_run("vuln-patch", "user:alice", {"repo": "acme/web"})
        print(f"run {run['run_id']} started", file=out)

        prompt = classifier.render({"repo": "acme/web"})
        print(f"prompt rendered ({len(prompt.encode())} bytes)", file=out)

        tok = classifier.token_source(run["run_id"], "classify").token()
        print(f'intent token for step {tok.step}, scope "{tok.scope}"', file=out)
        # A real agent would now call the forge with
        # httpx.get(url, auth=AjwtAuth(classifier.token_source(run["run_id"], "classify", resource="https://forge.example"))):
        # see tool.py.
        done = classifier.complete(run["run_id"], "classify")
        for s in done["steps"]:
            print(f"  {s['id']:<9} {s['state']}", file=out)


def read_env(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        k, sep, v = line.partition("=")
        if sep and not k.startswith("#"):
            env[k] = v.strip()
    return env


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="ajwt-demo", help="the directory `ajwt init` wrote")
    ap.add_argument("--issuer", default="http://127.0.0.1:8420", help="the IdP's issuer URL")
    args = ap.parse_args()
    try:
        quickstart(Path(args.dir), args.issuer, sys.stdout)
    except (AjwtError, OSError) as e:
        print(f"quickstart: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
