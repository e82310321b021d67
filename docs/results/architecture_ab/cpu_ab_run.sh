#!/usr/bin/env bash
# On the GPU host: the GPU tests of the reshaped build, then a CPU A/B of flopd
# before the reshape (046570a, CPU-only build) and after it, on the host's CPU,
# one daemon at a time, rounds interleaved, driven by the same (new) flopctl.
# Bundle: deploy/bundle.sh of the new build plus before/{flopd,flopctl}, as
# bundle/gpu.tar.xz.
set -u
out=${OUT:?}; w=$out/w; mkdir -p "$w"
b=/tmp/b; mkdir -p $b; tar -C $b -xJf bundle/gpu.tar.xz
export LD_LIBRARY_PATH=$b/after/lib:/usr/local/cuda/lib64
a=$b/after
nvidia-smi --query-gpu=name,uuid,driver_version,clocks.sm,temperature.gpu --format=csv >"$w/smi.csv" 2>&1
lscpu >"$w/lscpu.txt" 2>&1
timeout 300 $a/bin/flopd_gpu_tests >"$w/gpu_tests.log" 2>&1
echo "gpu tests rc=$?" >>"$w/steps.txt"
for round in 1 2; do
  order="before after"; [[ $round == 2 ]] && order="after before"
  for side in $order; do
    bin=$a/bin/flopd; [[ $side == before ]] && bin=$a/before/flopd
    $bin --listen 127.0.0.1:0 --no-cuda >"$w/daemon_$side$round.out" 2>"$w/daemon_$side$round.err" &
    pid=$!
    for _ in $(seq 100); do grep -q listening "$w/daemon_$side$round.out" && break; sleep 0.1; done
    addr=$(head -1 "$w/daemon_$side$round.out" | grep -o '127.0.0.1:[0-9]*')
    start=$EPOCHREALTIME
    timeout 200 $a/bin/flopctl run --host "$addr" --op matvec,outer --quiet \
      --out "$w/cpu_${side}_$round.jsonl" >"$w/cpu_${side}_$round.txt" 2>&1
    echo "cpu $side round $round rc=$? $(awk -v s=$start -v e=$EPOCHREALTIME 'BEGIN{print e-s}') s" >>"$w/steps.txt"
    kill $pid; wait $pid 2>/dev/null
  done
done
for round in 1 2; do
  $a/bin/flopctl compare "$w/cpu_before_$round.jsonl" "$w/cpu_after_$round.jsonl" >"$w/compare_$round.txt" 2>&1
done
$a/bin/flopctl compare "$w/cpu_before_1.jsonl" "$w/cpu_before_2.jsonl" >"$w/compare_before_vs_before.txt" 2>&1
cat "$w/steps.txt"
grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$w/gpu_tests.log" | head -8
tail -3 "$w"/compare_*.txt
tar -C "$out" -czf "$out/cpu_ab.tar.gz" w && rm -rf "$w"
