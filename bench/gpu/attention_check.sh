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

run() {  # NAME ARGS...: one flopctl run into OUTDIR/NAME.jsonl
  local name=$1
  shift
  "$bundle/bin/flopctl" run --host "$FLOPD_ADDRESS" --device "$device" --timing hot --quiet \
    --out "$out/$name.jsonl" "$@" >"$out/$name.txt" 2>"$out/$name.err"
}
run attention_f32 --op attention --dtype f32
f32_rc=$?
run attention_f64 --op attention --dtype f64 --sizes 1024,4096
f64_rc=$?
stop_flopd
trap - EXIT

sdpa=()
if python3 -c 'import torch' 2>/dev/null; then
  python3 "$here/sdpa_reference.py" --out "$out/sdpa_f32.json" >"$out/sdpa.log" 2>&1 &&
    sdpa=(--sdpa "$out/sdpa_f32.json")
fi

{
  echo "== card"
  cat "$out/nvidia-smi.csv"
  echo "== gpu tests"
  grep -E '^\[  (FAILED|SKIPPED) ' "$out/gpu_tests.log" | head -20
  grep -E '^\[  PASSED  \]|^\[==========\]' "$out/gpu_tests.log" | tail -2
  echo "== the fused kernel's launch shapes (AttentionKernelsTest.TimingInformational)"
  grep -F '[timing]' "$out/gpu_tests.log" | grep -F ' d=' || true
  python3 "$here/attention_table.py" "$out/attention_f32.jsonl" "${sdpa[@]}"
  python3 "$here/attention_table.py" "$out/attention_f64.jsonl"
  echo "exit codes: gpu tests $tests_rc, f32 $f32_rc, f64 $f64_rc"
} >"$out/summary.txt" 2>&1
cat "$out/summary.txt"
exit $((tests_rc | f32_rc | f64_rc))
