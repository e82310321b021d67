#!/usr/bin/env bash
# Runs every libFuzzer target of a FLOPD_FUZZ=ON build for SECONDS each, one
# after the other, each on a copy of its seed corpus (tests/fuzz/corpus/NAME:
# the committed seeds are never changed). Fails when any target crashes, leaks,
# times out or runs out of memory. Prints one summary line per target.
#
#   tests/fuzz/run_fuzzers.sh BUILD_DIR SECONDS OUTDIR [TARGET...]
#
# A dictionary tests/fuzz/NAME.dict (field and parameter names) is used when
# present. OUTDIR/NAME/ keeps the target's log (fuzz.log), its grown corpus (corpus/)
# and any crashing input (crash-*, leak-*, timeout-*, oom-*). Configure and
# build BUILD_DIR with
#   cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++-16 -DCMAKE_C_COMPILER=clang-16 \
#         -DFLOPD_CUDA=OFF -DFLOPD_FUZZ=ON -DCMAKE_BUILD_TYPE=Release \
#         -DCMAKE_CXX_FLAGS_RELEASE=-O1 -DCMAKE_C_FLAGS_RELEASE=-O1
#   cmake --build build-fuzz -j2 --target flopd_fuzzers
# Environment: FUZZ_NICE (default 10) is the nice level of each run.
set -euo pipefail
if (($# < 3)); then
  echo "usage: $0 BUILD_DIR SECONDS OUTDIR [TARGET...]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
seconds=$2
outdir=$3
shift 3
targets=("$@")
if ((${#targets[@]} == 0)); then
  for dir in "$here"/corpus/*/; do targets+=("$(basename "$dir")"); done
fi
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)

# Leaks are findings too (libFuzzer's -detect_leaks defaults on with ASan);
# UBSan aborts (the build also uses -fno-sanitize-recover=undefined).
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:abort_on_error=1}
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer-16 ||
  ls /usr/lib/llvm-16/bin/llvm-symbolizer 2>/dev/null || true)}

failed=()
for name in "${targets[@]}"; do
  binary=$(find "$build/tests/fuzz" -maxdepth 1 -type f -name "$name" -perm -u+x | head -1)
  if [[ -z $binary ]]; then
    echo "$name: FAIL: no binary in $build/tests/fuzz (build target flopd_fuzzers)" >&2
    failed+=("$name")
    continue
  fi
  work="$outdir/$name"
  rm -rf "$work"
  mkdir -p "$work/corpus"
  cp "$here/corpus/$name"/* "$work/corpus/"
  seeds=$(find "$work/corpus" -type f | wc -l)
  dict=()
  [[ -f $here/$name.dict ]] && dict=(-dict="$here/$name.dict")
  status=0
  # -artifact_prefix: crash-/leak-/timeout-/oom- inputs land in $work.
  nice -n "${FUZZ_NICE:-10}" "$binary" "$work/corpus" "${dict[@]}" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$work/" -print_final_stats=1 >"$work/fuzz.log" 2>&1 || status=$?
  # The last status line ("#N DONE cov: C ft: F corp: K/B ...") and the
  # final stats.
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -1)
  per_s=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz.log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$work/fuzz.log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$work/fuzz.log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
  artifacts=$(find "$work" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o \
    -name 'timeout-*' -o -name 'oom-*' \) -printf '%f ' | sed 's/ $//')
  # libFuzzer also saves an input that took over 10 s of wall time as
  # slow-unit-*: named in the summary, not a failure (on a busy machine a
  # 44-byte RunRequest planning thousands of points, 3.5 s of CPU here, took
  # 10 s of wall time); an input over -timeout is a timeout-* and fails.
  slow=$(find "$work" -maxdepth 1 -type f -name 'slow-unit-*' -printf '%f ' | sed 's/ $//')
  verdict=ok
  if ((status != 0)) || [[ -n $artifacts ]] ||
    grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|FUZZ_CHECK failed' \
      "$work/fuzz.log"; then
    verdict=FAIL
    failed+=("$name")
  fi
  printf '%-22s %-4s %ss  execs %s (%s/s)  cov %s  ft %s  corpus %s (from %s seeds)  peak rss %s MB%s%s\n' \
    "$name" "$verdict" "$seconds" "${execs:-?}" "${per_s:-?}" "${cov:-?}" "${ft:-?}" \
    "${corp:-?}" "$seeds" "${rss:-?}" "${artifacts:+  artifacts: $artifacts}" \
    "${slow:+  slow (not a failure): $slow}"
  if [[ $verdict == FAIL ]]; then
    echo "--- $name: exit $status; the end of $work/fuzz.log:" >&2
    tail -n 40 "$work/fuzz.log" >&2
    # Each input that failed, in the log itself (CI keeps no files), up to
    # 64 KB: `base64 -d > crash` then `BUILD_DIR/tests/fuzz/NAME crash`.
    for artifact in $artifacts; do
      size=$(stat -c %s "$work/$artifact")
      if ((size <= 65536)); then
        echo "--- $name: $artifact ($size bytes), base64:" >&2
        base64 -w 76 "$work/$artifact" >&2
      else
        echo "--- $name: $artifact ($size bytes, too large to print)" >&2
      fi
    done
  fi
done

if ((${#failed[@]})); then
  echo "fuzzing: FAILED: ${failed[*]} (logs and inputs under $outdir)" >&2
  exit 1
fi
echo "fuzzing: ${#targets[@]} targets, ${seconds}s each, no crash, leak, timeout or OOM"
