#!/usr/bin/env bash
# The CUDA backend's checks and timings in one command on a GPU host. Builds
# nothing: runs a bundle holding bin/flopd_gpu_tests, bin/flopd_gpu_probe and
# bin/flopd_gpu_kernel_bench and, in lib/, the shared libraries they need
# (as deploy/bundle.sh collects them).
#
#   bench/gpu/gpu_checks.sh BUNDLE OUTDIR [--ncu]
#
#   OUTDIR/nvidia-smi.csv    the card as found (clocks, temperature, power)
#   OUTDIR/gpu_tests.log     flopd_gpu_tests (every impl, dtype, size, mode)
#   OUTDIR/probe.log         flopd_gpu_probe --dtype=all: the device's measured
#                            ceilings, N = 20000 table with Prepare / Verify /
#                            release times per point
#   OUTDIR/kernel_bench.log  fused-kernel variants, FFMA ceiling, cuBLAS k=1
#                            GEMM options (flopd_gpu_kernel_bench)
#   OUTDIR/sweep.log         the seed's two experiments through MeasurePoint,
#                            with the sweep's wall time
#   OUTDIR/ncu_fused.txt     with --ncu: Nsight Compute on one fused launch
#                            (--clock-control none: the clocks stay as found)
#   OUTDIR/kernel_bench.sass.gz  the kernels' machine code (cuobjdump)
#   OUTDIR/steps.txt         each step's exit status and wall time
# Prints a short summary last. Each step has its own time limit, so that the
# whole stays under ~7 minutes. Leaves the card's clocks and settings alone.
set -uo pipefail
bundle=$(cd "${1:?bundle dir}" && pwd)
out=${2:?output dir}
ncu_wanted=${3:-}
mkdir -p "$out"
export LD_LIBRARY_PATH="$bundle/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
bin=$bundle/bin

nvidia-smi --query-gpu=name,uuid,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw,power.limit \
  --format=csv >"$out/nvidia-smi.csv" 2>&1 || true

step() {  # step NAME LIMIT_S LOG COMMAND...
  local name=$1 limit=$2 log=$3
  shift 3
  local start=$EPOCHREALTIME
  timeout "$limit" "$@" >"$log" 2>&1
  local rc=$?
  printf '%-14s rc=%-3s %6.1f s\n' "$name" "$rc" "$(awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN{print e-s}')" \
    >>"$out/steps.txt"
  return $rc
}
: >"$out/steps.txt"
step gpu_tests 130 "$out/gpu_tests.log" "$bin/flopd_gpu_tests"
step probe 70 "$out/probe.log" "$bin/flopd_gpu_probe" --dtype=all
step kernel_bench 75 "$out/kernel_bench.log" "$bin/flopd_gpu_kernel_bench"
step sweep 90 "$out/sweep.log" "$bin/flopd_gpu_probe" --sweep=seed
if [[ "$ncu_wanted" == --ncu ]] && command -v ncu >/dev/null; then
  step ncu 50 "$out/ncu_fused.txt" ncu --clock-control none --kernel-name regex:OuterFusedKernel \
    --launch-count 1 --set full "$bin/flopd_gpu_kernel_bench" --quick --fused-only
fi
if command -v cuobjdump >/dev/null; then
  cuobjdump -sass "$bin/flopd_gpu_kernel_bench" 2>/dev/null | gzip >"$out/kernel_bench.sass.gz"
fi

echo "== steps"
cat "$out/steps.txt"
echo "== card"
cat "$out/nvidia-smi.csv"
echo "== gpu tests"
grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$out/gpu_tests.log" | head -20
grep -E '^\[==========\]' "$out/gpu_tests.log" | tail -1
echo "== ceilings (Device::MeasureCeilings, from probe.log)"
grep -E '^ceilings' "$out/probe.log" | cut -c1-400
echo "== probe (N = 20000, f32; f64 in probe.log)"
awk '/D2D copy/ {table = 1} table && !/ f64 /' "$out/probe.log" | cut -c1-175
echo "== kernel bench"
grep -vE '^GemmEx algo [0-9-]+: ' "$out/kernel_bench.log" | cut -c1-150
echo "== sweep"
grep -E 'N=(1000|10000|19500) |^sweep' "$out/sweep.log"
