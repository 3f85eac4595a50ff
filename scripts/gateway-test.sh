#!/usr/bin/env bash
# With --install-only it installs what they need and stops there
# (scripts/test.sh does so, then runs every test).
# Runs the tests that put real gateways (nginx auth_request, Caddy
# forward_auth, from examples/gateways/) in front of an API with
# `ajwt authz` deciding, and the authorizer's own tests.
# Installs Debian's nginx and caddy when missing (apt-get update only if
# the install needs it). Under CI (CI=true) a failed install fails the
# run; elsewhere the gateway tests skip with a warning.
# The nginx package may start a service on :80 when installed: the tests
# never use it; they run their own nginx in the foreground under a
# temporary prefix.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for bin in nginx caddy; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  install_gateways() { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; }
  if ! { command -v apt-get >/dev/null 2>&1 && { install_gateways || { apt-get update && install_gateways; }; }; }; then
    if [ "${CI:-}" = "true" ]; then
      echo "FATAL: could not install ${missing[*]} (CI requires the gateway tests to run)" >&2
      exit 1
    fi
    echo "warning: could not install ${missing[*]}; their gateway tests will be skipped" >&2
  fi
fi

[ "${1:-}" = "--install-only" ] && exit 0

echo "== go test -race: internal/authz and the authz command (gateways included)"
go test -race -count=1 ./internal/authz/
go test -race -count=1 -run 'TestAuthz|TestGateways' ./cmd/ajwt/
