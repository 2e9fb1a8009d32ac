#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/test.sh - install dependencies, build with ASan+UBSan, run every test (unit and
# integration) through ctest. This is the README's test command and what .ci/run runs.
# Environment: BUILD_DIR (default build-asan), CC (default gcc), KV_CLANG_CHECK=0 to skip the
# extra clang -Werror build, JOBS (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build-asan}
JOBS=${JOBS:-$(nproc)}

cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Debug -DKV_SANITIZE=ON -DCMAKE_C_COMPILER="${CC:-gcc}" >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS"

# The code and its tests must also build warning-free with clang (the other supported compiler).
if [ "${KV_CLANG_CHECK:-1}" = 1 ] && command -v clang >/dev/null; then
    cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang -DKV_TESTS=ON >/dev/null
    cmake --build build-clang -j"$JOBS" >/dev/null
    echo "clang build: ok"
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS" "$@"
