#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/lint.sh - the checks of STYLE.md that a machine can make:
#   1. every file in src/ starts with the SPDX line, then "<path> - <purpose>";
#   2. every header compiles alone;
#   3. every exported symbol of the module libraries is kv_* (or kv__* internal);
#   4. no non-const file-scope variables (nm: data/bss symbols), but the log settings;
#   5. the pure libraries (block pool, tokenizer, engine, prefix index, scheduler) include no uv.h.
# Usage: scripts/lint.sh BUILD_DIR (a configured and built tree). Exits 1 on any finding.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
fail=0
say() { echo "lint: $*"; fail=1; }

for f in $(git ls-files 'src/*.c' 'src/*.h' 2>/dev/null || find src -name '*.[ch]'); do
    line1=$(sed -n 1p "$f"); line2=$(sed -n 2p "$f")
    [[ "$line1" == "/* SPDX-License-Identifier: MIT */" ]] || say "$f: first line must be the SPDX line"
    [[ "$line2" == "/* $f - "* ]] || say "$f: second line must be '/* $f - <purpose>'"
done

inc="-Isrc $(pkg-config --cflags libuv yajl yaml-0.1 libxxhash 2>/dev/null)"
for h in $(git ls-files 'src/*.h' 2>/dev/null || find src -name '*.h'); do
    echo "#include \"${h#src/}\"" | ${CC:-cc} -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $inc \
        -x c -fsyntax-only - 2>/dev/null || say "$h: does not compile alone"
done

for lib in "$BUILD"/src/*/libkv_*.a; do
    [ -f "$lib" ] || continue
    # Exported functions and data defined here must carry the project prefix.
    for sym in $(nm --defined-only -g "$lib" 2>/dev/null | awk 'NF==3 {print $3}' | grep -v '^kv_' | grep -v '^__\(odr_\)\?asan'); do
        say "$lib: exported symbol '$sym' lacks the kv_ prefix"
    done
    # Writable file-scope data lives in .data or .bss (const tables of pointers go to
    # .data.rel.ro, string tables to .rodata); function-local statics are named x.N.
    for sym in $(objdump -t "$lib" 2>/dev/null | awk '$0 ~ / O \.(data|bss)[ \t]/ {print $NF}' |
                 grep -v '\.' | grep -vx 'log_cfg'); do
        say "$lib: writable file-scope variable '$sym'"
    done
done

for f in src/sim/blockpool.[ch] src/sim/tokenizer.[ch] src/sim/engine.[ch] src/prefix/*.[ch] \
         src/router/sched*.[ch] src/router/score*.[ch] src/router/policy*.[ch] src/router/session.[ch]; do
    [ -f "$f" ] || continue
    grep -q '#include <uv.h>' "$f" && say "$f: a pure library must not include uv.h"
done

[ "$fail" = 0 ] && echo "lint: ok"
exit "$fail"
