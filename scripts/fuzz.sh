#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, AddressSanitizer, UndefinedBehaviorSanitizer)
# into build-fuzz/ and runs each for a bounded time from its seed corpus
# (docs/reliability.md). Exits non-zero on the first crash, abort, sanitizer
# report, timeout or out-of-memory; the input that caused it is kept as
# build-fuzz/artifacts/<target>-crash-… (or -oom-, -timeout-), to become a regression test
# (those found so far are in tests/test_data_errors.cpp).
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET (default 30)] [TARGET...]
# DDKIT_FUZZ_SEED (default 1) seeds libFuzzer's mutations, so a run is repeatable up to
# how many inputs fit in the time.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER=${1:-30}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(idx cifar image metadata tensor model run_json config)
# clang with libFuzzer and the sanitizer runtimes (Debian 12: clang 14).
if ! command -v clang++-14 > /dev/null ||
  [ ! -f "$(clang++-14 -print-resource-dir)/lib/linux/libclang_rt.fuzzer-x86_64.a" ]; then
  SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev > /dev/null
fi
CXX_FUZZ=${CXX_FUZZ:-$(command -v clang++-14 || command -v clang++)}
C_FUZZ=${C_FUZZ:-$(command -v clang-14 || command -v clang)}
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX_FUZZ" \
  -DCMAKE_C_COMPILER="$C_FUZZ" -DDDKIT_BUILD_FUZZ=ON -DDDKIT_BUILD_TESTS=OFF -DDDKIT_BUILD_BENCH=OFF > /dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${TARGETS[@]/#/fuzz_}"
mkdir -p build-fuzz/artifacts
# libtorch's own start-up allocations are never freed: leaks are not ddkit's findings.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for target in "${TARGETS[@]}"; do
  work=build-fuzz/corpus/$target
  mkdir -p "$work"
  echo "== fuzz_$target: $SECONDS_PER s"
  # New inputs go to the first folder (build-fuzz/corpus), the committed seeds are read only.
  rc=0
  build-fuzz/fuzz/fuzz_"$target" -max_total_time="$SECONDS_PER" -timeout=10 -rss_limit_mb=2560 \
    -malloc_limit_mb=1024 -print_final_stats=1 -seed="${DDKIT_FUZZ_SEED:-1}" -artifact_prefix="build-fuzz/artifacts/$target-" \
    "$work" "fuzz/corpus/$target" > "build-fuzz/fuzz_$target.log" 2>&1 || rc=$?
  grep -E "^#[0-9]+ +DONE|^stat::number_of_executed_units" "build-fuzz/fuzz_$target.log" || true
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "build-fuzz/fuzz_$target.log" >&2
    echo "fuzz.sh: fuzz_$target failed (exit $rc); the input is in build-fuzz/artifacts/" >&2
    exit 1
  fi
done
echo "fuzz.sh: ${#TARGETS[@]} targets, $SECONDS_PER s each, no crash"
