#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/deploy/install.sh - install the manifest validators pinned in package-lock.json (npm ci).
# Skips the install when node_modules already matches the lock file (stamp = its sha256), so the
# test can call it every run. Needs node and npm on PATH (scripts/install-deps.sh provides them).
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "tests/deploy/install.sh: node and npm are needed (run scripts/install-deps.sh)" >&2
    exit 1
fi
want=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.kvroute-lock-sha256
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
# The models declare engines node>=22 but run on the Node 20 this machine has (ESM only, no
# newer syntax); the engine notice is expected, errors are not.
npm ci --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
