#!/usr/bin/env bash
# The GPU benchmark, one command on a GPU host. Builds nothing: runs a bundle
# made by deploy/bundle.sh.
#   bench/gpu_seed.sh BUNDLE OUTDIR [DEVICE]
# 1. the GPU tests (bundle/bin/flopd_gpu_tests)
# 2. flopd on loopback; flopctl sweeps the seed's sizes plus N=20000 (f32, hot,
#    both ops, every impl and axis) on DEVICE (default cuda:0)
# 3. the seed's two experiments only (matvec gemm, outer library axis 0, the
#    38 sizes) at the default 0.5% noise target, wall-timed
# 4. a --device all run (every GPU and the CPU at once)
# 5. PyTorch and CuPy on the same GPU (bench/torch_cupy_seed.py), including the
#    seed's own 1000-iteration loops
# 6. bench/gpu_report.py -> OUTDIR/report.md, whose short table is printed last
# Logs of every step go to OUTDIR. Leaves the card's clocks and settings alone.
set -uo pipefail
bundle=$(cd "${1:?bundle dir}" && pwd)
out=${2:?output dir}
device=${3:-cuda:0}
mkdir -p "$out"
here=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH="$bundle/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,uuid,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw \
  --format=csv >"$out/nvidia-smi.csv" 2>&1 || true
echo "== GPU tests" >&2
"$bundle/bin/flopd_gpu_tests" >"$out/gpu_tests.log" 2>&1
tests_rc=$?
tail -n 3 "$out/gpu_tests.log" >&2

"$bundle/bin/flopd" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 >"$out/flopd.out" 2>"$out/flopd.log" &
flopd_pid=$!
trap 'kill $flopd_pid 2>/dev/null; wait $flopd_pid 2>/dev/null' EXIT
for _ in $(seq 300); do grep -q "listening on" "$out/flopd.out" 2>/dev/null && break; sleep 0.1; done
address=$(grep -o 'listening on [^ ]*' "$out/flopd.out" | cut -d' ' -f3)
[ -n "$address" ] || { echo "flopd did not start" >&2; cat "$out/flopd.log" >&2; exit 1; }
"$bundle/bin/flopctl" info --host "$address" --ceilings >"$out/info.txt" 2>&1

echo "== flopd sweep on $device" >&2
sweep_start=$EPOCHREALTIME
"$bundle/bin/flopctl" run --host "$address" --device "$device" --op matvec,outer \
  --sizes 1000:20000:500,20000 --dtype f32 --timing hot --quiet --out "$out/flopd_sweep.jsonl" \
  >"$out/flopd_sweep.txt" 2>"$out/flopd_sweep.err"
sweep_rc=$?
awk -v s="$sweep_start" -v e="$EPOCHREALTIME" 'BEGIN { printf "{\"wall_seconds\": %.3f}\n", e - s }' >"$out/flopd_sweep_wall.json"

echo "== flopd: the seed's two experiments, wall-timed" >&2
start=$EPOCHREALTIME
"$bundle/bin/flopctl" run --host "$address" --device "$device" --op matvec,outer --impl gemm,library \
  --axis 0 --sizes 1000:20000:500 --dtype f32 --quiet --out "$out/flopd_seed_pair.jsonl" \
  >"$out/flopd_seed_pair.txt" 2>"$out/flopd_seed_pair.err"
pair_rc=$?
end=$EPOCHREALTIME
awk -v s="$start" -v e="$end" 'BEGIN { printf "{\"wall_seconds\": %.3f}\n", e - s }' >"$out/flopd_seed_pair_wall.json"

echo "== every device of the host at once (--device all)" >&2
"$bundle/bin/flopctl" run --host "$address" --device all --op outer --impl fused --axis 1 --sizes 4000 \
  --out "$out/device_all.jsonl" >"$out/device_all.txt" 2>&1
all_rc=$?

echo "== PyTorch and CuPy" >&2
python3 "$here/torch_cupy_seed.py" --out "$out/torch_cupy.json" 2>"$out/torch_cupy.log"
py_rc=$?

python3 "$here/gpu_report.py" --dir "$out" --out "$out/report.md" \
  --command "bench/gpu_seed.sh BUNDLE OUTDIR $device" >"$out/report_short.txt" 2>&1
cat "$out/report_short.txt"
echo "exit codes: gpu tests $tests_rc, sweep $sweep_rc, seed pair $pair_rc, device all $all_rc, torch/cupy $py_rc"
exit $((tests_rc | sweep_rc | pair_rc | all_rc | py_rc))
