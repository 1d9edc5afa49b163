#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer
# (docs/reliability.md "Sanitizers"): ddkit, its tests and the `ddkit` binary they run are
# built with -DDDKIT_SANITIZE=ON into build-asan/ (gcc, RelWithDebInfo, ccache), then ctest
# runs there. libtorch itself is not instrumented: ASan sees ddkit's memory and every
# allocation libtorch makes through malloc/new, UBSan sees ddkit's code. Arguments go to ctest.
#   bash scripts/sanitize.sh                 # everything
#   bash scripts/sanitize.sh -R CliFaults    # some tests
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDDKIT_SANITIZE=ON -DDDKIT_BUILD_BENCH=OFF > /dev/null
cmake --build build-asan -j"$(nproc)"
# Leaks: libtorch's start-up allocations are never freed, and are not ddkit's findings.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-asan --output-on-failure -j"$(nproc)" "$@"
