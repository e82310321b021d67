#!/usr/bin/env bash
# A/B of the CUDA dispatch refactor: GPU tests of the new build, then the
# probe of HEAD (base) and the new build interleaved at N = 20000.
set -uo pipefail
out=${OUT:?}
ab=/tmp/ab
mkdir -p $ab $out/logs
tar -C $ab -xJf build-cuda3/flopd_gpu_ab.tar.xz
run_side() {  # side log args...
  local side=$1 log=$2; shift 2
  LD_LIBRARY_PATH=$ab/$side/lib:/usr/local/cuda/lib64 "$@" >"$log" 2>&1
  echo "$side rc=$? $(basename "$log")" >>$out/steps.txt
}
nvidia-smi --query-gpu=name,uuid,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw \
  --format=csv >$out/smi.csv 2>&1
start=$EPOCHREALTIME
LD_LIBRARY_PATH=$ab/new/lib:/usr/local/cuda/lib64 timeout 200 $ab/new/bin/flopd_gpu_tests \
  >$out/gpu_tests.log 2>&1
echo "tests rc=$? $(awk -v s=$start -v e=$EPOCHREALTIME 'BEGIN{print e-s}') s" >>$out/steps.txt
probe_args="--n=20000 --dtype=all --samples=50 --modes=hot,graph"
for r in 1 2 3; do
  if [[ $r == 2 ]]; then order="new base"; else order="base new"; fi
  for side in $order; do
    run_side $side $out/logs/probe_${side}_$r.log timeout 100 $ab/$side/bin/flopd_gpu_probe $probe_args
  done
done
for side in base new; do
  run_side $side $out/logs/sweep_$side.log timeout 60 $ab/$side/bin/flopd_gpu_probe --sweep=seed
done
nvidia-smi --query-gpu=clocks.sm,temperature.gpu,power.draw --format=csv >>$out/smi.csv 2>&1
tar -C $out -czf $out/logs.tar.gz logs && rm -rf $out/logs
cat $out/steps.txt
grep -E '^\[==========\]|^\[  (PASSED|FAILED|SKIPPED) ' $out/gpu_tests.log | head -8
