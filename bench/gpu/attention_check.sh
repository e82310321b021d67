#!/usr/bin/env bash
# attention on a GPU host in one command (issue 13's attention targets):
# builds nothing; runs a bundle made by deploy/bundle.sh.
#
#   bench/gpu/attention_check.sh BUNDLE OUTDIR [DEVICE]
#
#   OUTDIR/nvidia-smi.csv        the card as found
#   OUTDIR/gpu_tests.log         flopd_gpu_tests (every impl, dtype, mode)
#   OUTDIR/attention_f32.jsonl   flopctl run --op attention, f32, the default
#                                sizes, both d, both impls
#   OUTDIR/attention_f64.jsonl   f64 at N = 1024 and 4096
#   OUTDIR/sdpa_f32.json         PyTorch's scaled_dot_product_attention at the
#                                same sizes (bench/gpu/sdpa_reference.py), when
#                                the host has PyTorch
#   OUTDIR/summary.txt           the test summary, the fused kernel's launch
#                                shapes timed side by side (the tests'
#                                [timing] lines) and attention_table.py's table
# Leaves the card's clocks and settings alone. Prints the summary last.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
begin_check "$@"

flopctl_into attention_f32 --op attention --dtype f32
f32_rc=$?
flopctl_into attention_f64 --op attention --dtype f64 --sizes 1024,4096
f64_rc=$?
stop_flopd
trap - EXIT

sdpa=()
if python3 -c 'import torch' 2>/dev/null; then
  python3 "$here/sdpa_reference.py" --out "$OUT/sdpa_f32.json" >"$OUT/sdpa.log" 2>&1 &&
    sdpa=(--sdpa "$OUT/sdpa_f32.json")
fi

{
  echo "== card"
  cat "$OUT/nvidia-smi.csv"
  tests_summary
  echo "== the fused kernel's launch shapes (AttentionKernelsTest.TimingInformational)"
  grep -F '[timing]' "$OUT/gpu_tests.log" | grep -F ' d=' || true
  python3 "$here/attention_table.py" "$OUT/attention_f32.jsonl" ${sdpa[@]+"${sdpa[@]}"}
  python3 "$here/attention_table.py" "$OUT/attention_f64.jsonl"
  echo "exit codes: gpu tests $TESTS_RC, f32 $f32_rc, f64 $f64_rc"
} >"$OUT/summary.txt" 2>&1
cat "$OUT/summary.txt"
exit $((TESTS_RC | f32_rc | f64_rc))
