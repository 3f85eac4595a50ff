#!/usr/bin/env bash
# A long run of the run-state machine property (internal/authserver, TestRunStateMachine and
# TestRunStateMachinePostgres) and of the two-node linearizability check (cmd/ajwt,
# TestLinearizableStepCompletion).
#
#   scripts/statemachine-long.sh [SEQUENCES]
#
# SEQUENCES (default 20000) sequential sequences on SQLite and a fifth of them with racing
# requests; a fifth of both on PostgreSQL; ten rounds of the linearizability check.
# AJWT_LONG_RACE=1 runs the property under the race detector too (about six times slower).
# PostgreSQL and Redis come from AJWT_TEST_POSTGRES / AJWT_TEST_REDIS (defaults as in
# scripts/test.sh); an unreachable one is skipped with a warning, or fails the run under CI=true.
# A failure prints the shrunk sequence and the -rapid.seed that reproduces it.
set -euo pipefail
cd "$(dirname "$0")/.."

n="${1:-20000}"
case "$n" in '' | *[!0-9]* | 0) echo "usage: $0 [SEQUENCES]" >&2; exit 2 ;; esac
export AJWT_TEST_POSTGRES="${AJWT_TEST_POSTGRES-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
export AJWT_TEST_REDIS="${AJWT_TEST_REDIS-redis://127.0.0.1:6379/0}"

reachable() { # DSN
  local rest=${1#*://}; rest=${rest#*@}; rest=${rest%%/*}; rest=${rest%%\?*}
  timeout 3 bash -c "exec 3<>/dev/tcp/${rest%%:*}/${rest##*:}" 2>/dev/null
}
for var in AJWT_TEST_POSTGRES AJWT_TEST_REDIS; do
  if [ -n "${!var}" ] && ! reachable "${!var}"; then
    if [ "${CI:-}" = "true" ]; then
      echo "FATAL: $var=${!var} is unreachable" >&2
      exit 1
    fi
    echo "warning: $var=${!var} unreachable; its tests will be skipped" >&2
    export "$var="
  fi
done

race=()
[ -n "${AJWT_LONG_RACE:-}" ] && race=(-race)
flags=(-count=1 -timeout "${AJWT_LONG_TIMEOUT:-12h}")
rapid=(-rapid.shrinktime=5m) # after the package: go test passes it on to the test binary

echo "== run-state machine on SQLite: $n sequences, $((n / 5)) with races"
AJWT_STATEMACHINE_CHECKS="$n" go test ${race[@]+"${race[@]}"} "${flags[@]}" -run '^TestRunStateMachine$' ./internal/authserver/ "${rapid[@]}"
pg=$((n / 5 > 0 ? n / 5 : 1))
echo "== run-state machine on PostgreSQL: $pg sequences, $((pg / 5)) with races"
AJWT_STATEMACHINE_CHECKS="$pg" go test ${race[@]+"${race[@]}"} "${flags[@]}" -run '^TestRunStateMachinePostgres$' ./internal/authserver/ "${rapid[@]}"
echo "== linearizability of two IdPs on PostgreSQL, 10 rounds"
go test -race -count=10 -timeout "${AJWT_LONG_TIMEOUT:-12h}" -run '^TestLinearizableStepCompletion$' ./cmd/ajwt/
echo "== long state-machine run passed"
