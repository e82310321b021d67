#!/usr/bin/env bash
# The fuzzing stage of the tests (issue 9): configures and builds build-fuzz
# (clang-16 with libFuzzer, ASan and UBSan, CUDA off; only the fuzz targets),
# replays each committed seed corpus once, then runs every fuzz target for
# SECONDS (default 60) on a copy of its corpus, one after the other
# (tests/fuzz/run_fuzzers.sh). Fails on any crash, leak, timeout or OOM.
#
#   deploy/fuzz.sh [SECONDS] [OUTDIR]      (OUTDIR default: build-fuzz/fuzz-out)
#
# Environment: JOBS (default 2), NICE (default 10), FUZZ_BUILD_DIR (default
# build-fuzz at the repository root).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-60}
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
outdir=${2:-$build/fuzz-out}
jobs=${JOBS:-2}
nice=${NICE:-10}

t0=$(date +%s)
nice -n "$nice" cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE=-O1 -DCMAKE_C_FLAGS_RELEASE=-O1 \
  -DCMAKE_CXX_COMPILER=clang++-16 -DCMAKE_C_COMPILER=clang-16 \
  -DFLOPD_CUDA=OFF -DFLOPD_FUZZ=ON -DFLOPD_BUILD_TESTS=ON >/dev/null
nice -n "$nice" cmake --build "$build" -j "$jobs" --target flopd_fuzzers >&2
echo "fuzz: built $(basename "$build") in $(($(date +%s) - t0))s" >&2

# Every seed still runs clean (fast; a regression shows here first).
(cd "$build" && ctest --output-on-failure -L '^fuzz$')

FUZZ_NICE=$nice bash "$root/tests/fuzz/run_fuzzers.sh" "$build" "$seconds" "$outdir"
echo "fuzz: done in $(($(date +%s) - t0))s" >&2
