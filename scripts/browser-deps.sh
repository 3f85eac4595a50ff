#!/usr/bin/env bash
# Installs Debian's Chromium, which the console's browser tests drive
# (internal/console), when it is missing. Exits non-zero if it cannot.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x "${AJWT_CHROMIUM:-}" ]; then
  exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "installing chromium (apt-get) for the console's browser tests"
if ! $sudo apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; then
  $sudo apt-get update -qq
  $sudo apt-get install -y --no-install-recommends chromium >/dev/null
fi
command -v chromium >/dev/null
