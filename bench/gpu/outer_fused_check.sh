#!/usr/bin/env bash
# outer/fused on a GPU host in one command (issue 12's targets): builds
# nothing; runs a bundle made by deploy/bundle.sh.
#
#   bench/gpu/outer_fused_check.sh BUNDLE OUTDIR [DEVICE]
#
#   OUTDIR/nvidia-smi.csv               the card as found
#   OUTDIR/gpu_tests.log                flopd_gpu_tests (every impl, dtype, mode)
#   OUTDIR/fused_{f32,f64}_{hot,graph}.jsonl
#                                       flopctl run --op outer --impl fused,
#                                       both axes, N = 1000 ... 20000 step 500,
#                                       two jobs each (r1 then r2 in the file)
#   OUTDIR/summary.txt                  the test summary and
#                                       outer_fused_table.py's tables
# Leaves the card's clocks and settings alone. Prints the summary last.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
begin_check "$@"

rc=0
for dtype in f32 f64; do
  for timing in hot graph; do
    for job in 1 2; do
      FLOPCTL_TIMING=$timing flopctl_into "fused_${dtype}_${timing}_r$job" --op outer --impl fused \
        --axis 0,1 --sizes 1000:20000:500,20000 --dtype "$dtype" || rc=1
    done
    cat "$OUT/fused_${dtype}_${timing}_r1.jsonl" "$OUT/fused_${dtype}_${timing}_r2.jsonl" \
      >"$OUT/fused_${dtype}_${timing}.jsonl"
    rm -f "$OUT/fused_${dtype}_${timing}_r1.jsonl" "$OUT/fused_${dtype}_${timing}_r2.jsonl"
  done
done
stop_flopd
trap - EXIT

{
  echo "== card"
  cat "$OUT/nvidia-smi.csv"
  tests_summary
  for dtype in f32 f64; do
    python3 "$here/outer_fused_table.py" "$OUT/fused_${dtype}_hot.jsonl" "$OUT/fused_${dtype}_graph.jsonl"
  done
  echo "exit codes: gpu tests $TESTS_RC, flopctl $rc"
} >"$OUT/summary.txt" 2>&1
cat "$OUT/summary.txt"
exit $((TESTS_RC | rc))
