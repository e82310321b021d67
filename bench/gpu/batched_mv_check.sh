#!/usr/bin/env bash
# batched_mv on a GPU host in one command (issue 13's batched_mv targets):
# builds nothing; runs a bundle made by deploy/bundle.sh.
#
#   bench/gpu/batched_mv_check.sh BUNDLE OUTDIR [DEVICE]
#
#   OUTDIR/nvidia-smi.csv          the card as found
#   OUTDIR/gpu_tests.log           flopd_gpu_tests (every impl, dtype, mode)
#   OUTDIR/batched_mv_f32.jsonl    flopctl run --op batched_mv, f32, the
#                                  default sizes, every B, every impl
#   OUTDIR/matvec_f32.jsonl        matvec/gemv at the same sizes (the loop's
#                                  "B x matvec" reference, same daemon, same run)
#   OUTDIR/batched_mv_f64.jsonl    f64 at N = 4000 and 16000, every B and impl
#   OUTDIR/summary.txt             bench/gpu/batched_mv_table.py's tables
# Leaves the card's clocks and settings alone. Prints the summary last.
set -uo pipefail
bundle=$(cd "${1:?bundle dir}" && pwd)
out=${2:?output dir}
device=${3:-cuda:0}
mkdir -p "$out"
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
gpu_env "$bundle"

record_card "$out/nvidia-smi.csv"
"$bundle/bin/flopd_gpu_tests" >"$out/gpu_tests.log" 2>&1
tests_rc=$?

start_flopd "$bundle/bin/flopd" "$out/flopd" ||
  { echo "flopd did not start" >&2; cat "$out/flopd.log" >&2; exit 1; }
trap stop_flopd EXIT
address=$FLOPD_ADDRESS

run() {  # NAME ARGS...: one flopctl run into OUTDIR/NAME.jsonl
  local name=$1
  shift
  "$bundle/bin/flopctl" run --host "$address" --device "$device" --timing hot --quiet \
    --out "$out/$name.jsonl" "$@" >"$out/$name.txt" 2>"$out/$name.err"
}
run batched_mv_f32 --op batched_mv --dtype f32
f32_rc=$?
run matvec_f32 --op matvec --impl gemv --sizes 2000,4000,8000,16000 --dtype f32
matvec_rc=$?
run batched_mv_f64 --op batched_mv --sizes 4000,16000 --dtype f64
f64_rc=$?

{
  echo "== card"
  cat "$out/nvidia-smi.csv"
  echo "== gpu tests"
  grep -E '^\[  (FAILED|SKIPPED) ' "$out/gpu_tests.log" | head -20
  grep -E '^\[  PASSED  \]|^\[==========\]' "$out/gpu_tests.log" | tail -2
  python3 "$here/batched_mv_table.py" "$out/batched_mv_f32.jsonl" "$out/matvec_f32.jsonl"
  python3 "$here/batched_mv_table.py" "$out/batched_mv_f64.jsonl"
  echo "exit codes: gpu tests $tests_rc, f32 $f32_rc, matvec $matvec_rc, f64 $f64_rc"
} >"$out/summary.txt" 2>&1
cat "$out/summary.txt"
exit $((tests_rc | f32_rc | matvec_rc | f64_rc))
