#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/install-deps.sh - install every Debian package kvroute's build, tests and demo need.
# Idempotent: packages already present are skipped by apt; uses sudo when not root.
set -euo pipefail

PKGS=(
    build-essential cmake pkg-config clang clang-format
    libuv1-dev libhttp-parser-dev libyajl-dev libyaml-dev libxxhash-dev libssl-dev
    libcmocka-dev
    python3 curl ca-certificates procps iproute2
    haproxy nginx-light wrk gnuplot-nox prometheus
)
command -v npm >/dev/null || PKGS+=(nodejs npm) # tests/deploy's validators (npm ci); else PATH's node

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: all ${#PKGS[@]} packages present"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts prometheus, nginx and haproxy as services on install; the project starts its own
# instances on loopback ports, so stop the system ones where a service manager runs.
for svc in prometheus nginx haproxy; do
    $SUDO systemctl stop "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
echo "install-deps: done"
