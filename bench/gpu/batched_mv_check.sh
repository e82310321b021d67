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
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
begin_check "$@"

flopctl_into batched_mv_f32 --op batched_mv --dtype f32
f32_rc=$?
flopctl_into matvec_f32 --op matvec --impl gemv --sizes 2000,4000,8000,16000 --dtype f32
matvec_rc=$?
flopctl_into batched_mv_f64 --op batched_mv --sizes 4000,16000 --dtype f64
f64_rc=$?

{
  echo "== card"
  cat "$OUT/nvidia-smi.csv"
  tests_summary
  python3 "$here/batched_mv_table.py" "$OUT/batched_mv_f32.jsonl" "$OUT/matvec_f32.jsonl"
  python3 "$here/batched_mv_table.py" "$OUT/batched_mv_f64.jsonl"
  echo "exit codes: gpu tests $TESTS_RC, f32 $f32_rc, matvec $matvec_rc, f64 $f64_rc"
} >"$OUT/summary.txt" 2>&1
cat "$OUT/summary.txt"
exit $((TESTS_RC | f32_rc | matvec_rc | f64_rc))
