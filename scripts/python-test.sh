#!/usr/bin/env bash
# Tests of the Python SDK (sdk/python, issue #23) and its examples.
# Python packages come from Debian only: this installs the missing ones with
# apt-get (running `apt-get update` only when the install fails), then runs
# mypy (strict, on the SDK and the examples) and pytest with /usr/bin/python3.
# Without the packages the run is skipped with a warning, except under CI
# (CI=true), where it fails. The integration tests build ./cmd/ajwt and
# ./examples/mcp with `go build`, so Go must be on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1  # keep __pycache__ out of the work tree
PKGS=(python3-cryptography python3-yaml python3-httpx python3-requests python3-pytest python3-mypy)
# module each package provides, in the same order
MODS=(cryptography yaml httpx requests pytest mypy)

missing() {
  local out=() i
  for i in "${!PKGS[@]}"; do
    "$PY" -c "import ${MODS[$i]}" 2>/dev/null || out+=("${PKGS[$i]}")
  done
  echo "${out[@]:-}"
}

install() { # packages...
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo -n)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get install -y --no-install-recommends "$@" ||
    { "${sudo[@]}" apt-get update && "${sudo[@]}" apt-get install -y --no-install-recommends "$@"; }
}

if [ ! -x "$PY" ]; then
  if [ "${CI:-}" = "true" ]; then echo "FATAL: $PY not found" >&2; exit 1; fi
  echo "warning: $PY not found; Python SDK tests skipped" >&2
  exit 0
fi
need=$(missing)
if [ -n "$need" ]; then
  echo "== installing from Debian: $need"
  # shellcheck disable=SC2086
  if ! install $need >/tmp/ajwt-python-apt.log 2>&1; then
    tail -n 20 /tmp/ajwt-python-apt.log >&2
    if [ "${CI:-}" = "true" ]; then echo "FATAL: could not install $need" >&2; exit 1; fi
    echo "warning: could not install $need; Python SDK tests skipped" >&2
    exit 0
  fi
fi

echo "== Python SDK: mypy --strict"
"$PY" -m mypy --config-file sdk/python/pyproject.toml sdk/python/src/ajwt examples/python
echo "== Python SDK: pytest"
PYTHONPATH="$PWD/sdk/python/src${PYTHONPATH:+:$PYTHONPATH}" \
  "$PY" -m pytest -q -p no:cacheprovider sdk/python/tests "$@"
