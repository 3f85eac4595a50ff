#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run runs exactly this).
# Runs vet, the race-enabled test suite, the benchmark guard (every benchmark briefly:
# none may report less time than its work takes), and a short run (20,000
# inputs) of each fuzz target.
# PostgreSQL and Redis tests read AJWT_TEST_POSTGRES / AJWT_TEST_REDIS; under CI
# (CI=true) both must be reachable or the run fails.
set -euo pipefail
cd "$(dirname "$0")/.."

export AJWT_TEST_POSTGRES="${AJWT_TEST_POSTGRES-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
export AJWT_TEST_REDIS="${AJWT_TEST_REDIS-redis://127.0.0.1:6379/0}"

reachable() { # host port
  timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}
hostport() { # DSN -> "host port"
  local rest=${1#*://}; rest=${rest#*@}; rest=${rest%%/*}; rest=${rest%%\?*}
  echo "${rest%%:*} ${rest##*:}"
}
for var in AJWT_TEST_POSTGRES AJWT_TEST_REDIS; do
  dsn=${!var}
  [ -n "$dsn" ] || continue
  if ! reachable $(hostport "$dsn"); then
    if [ "${CI:-}" = "true" ]; then
      echo "FATAL: $var=$dsn is unreachable (CI requires PostgreSQL and Redis; see README)" >&2
      exit 1
    fi
    echo "warning: $var=$dsn unreachable; its tests will be skipped" >&2
    export "$var="
  fi
done

echo "== browser for the console tests (Debian chromium)"
if ! scripts/browser-deps.sh; then
  if [ "${CI:-}" = "true" ]; then
    echo "FATAL: chromium could not be installed (CI runs the console's browser tests)" >&2
    exit 1
  fi
  echo "warning: chromium missing; the console's browser tests will be skipped" >&2
fi
export AJWT_ARTIFACTS="${AJWT_ARTIFACTS-$PWD/artifacts}"
echo "== gateways for the ajwt authz tests (Debian nginx and caddy)"
scripts/gateway-test.sh --install-only

echo "== go vet"
go vet ./...
echo "== SDK dependency guard"
scripts/depguard.sh
echo "== go test -race"
go test -race -count=1 ./...
echo "== benchmark guard (${AJWT_BENCHTIME:=300ms} per benchmark)"
go run ./scripts/benchguard -benchtime "$AJWT_BENCHTIME"
echo "== run-state machine property without the race detector (1,000 + 200 sequences on SQLite, 150 + 30 on PostgreSQL)"
go test -count=1 -run 'TestRunStateMachine' ./internal/authserver/
echo "== fuzz smoke (${AJWT_FUZZTIME:=20000x} per target)"
scripts/fuzz.sh "$AJWT_FUZZTIME"
echo "== TypeScript SDK"
(cd sdk/typescript && npm ci && npm run build && npm test)
echo "== Python SDK (Debian's python3 packages)"
scripts/python-test.sh
echo "== interop: oauth4webapi"
(cd interop/oauth4webapi && npm ci && npm test)
echo "== all checks passed (vet, race tests, benchmark guard, fuzz smoke)"
