#!/usr/bin/env bash
# Runs every fuzz target for the given time or count (default 20000x executions);
# for long runs:
#   scripts/fuzz.sh 10m
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-20000x}
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "-- $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s "$pkg" >/tmp/ajwt-fuzz.log 2>&1 || { cat /tmp/ajwt-fuzz.log; exit 1; }
  done
done
