# SPDX-License-Identifier: MIT
# scripts/lib.sh - shell helpers shared by the scripts that start local fleets (sourced).

# Prints a TCP port on 127.0.0.1 that was free a moment ago.
kv_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# kv_wait_ok URL [SECONDS]: polls until GET URL answers 2xx; returns 1 after SECONDS (20).
kv_wait_ok() {
    local tries=$(( ${2:-20} * 10 ))
    for _ in $(seq 1 "$tries"); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
