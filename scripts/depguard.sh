#!/usr/bin/env bash
# The public SDK packages import only the standard library, go-jose and
# golang.org/x/text (and this module's own packages, which the same check
# covers transitively). Fails naming the package and what it pulls in.
set -euo pipefail
cd "$(dirname "$0")/.."
sdk=(./client ./agentspec ./agentspec/specnode ./keys ./token ./dpop ./policy ./middleware ./proxy ./protocol)
allowed='^(github\.com/ajwt/ajwt(/|$)|github\.com/go-jose/go-jose/v4(/|$)|golang\.org/x/text(/|$))'
status=0
for pkg in "${sdk[@]}"; do
  extra=$(go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' "$pkg" | grep -Ev "$allowed" || true)
  if [ -n "$extra" ]; then
    echo "FAIL: $pkg depends on modules outside the SDK's allowed set:" >&2
    echo "$extra" | sed 's/^/    /' >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "SDK packages import only the standard library, go-jose and x/text"
exit $status
