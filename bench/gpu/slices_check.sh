#!/usr/bin/env bash
# On a GPU host, from a bundle (deploy/bundle.sh): checks that timing a long
# sample in slices (server/measure_point.h, kMaxSliceSeconds) neither biases
# a point nor stops a cancel from being prompt, and records what HTTP serves
# there. Writes everything under OUTDIR.
#
#   bench/gpu/slices_check.sh BUNDLE OUTDIR
#
# 1. The same point timed with samples inside one slice (400 executions of
#    matvec/gemv f32 at N = 20000, ~0.2 s) and with samples ten times longer
#    (4000 executions: ten slices each), hot and graph: the medians' ratio.
# 2. A sample of 1,000,000 executions of outer/library at N = 20000 (about
#    twenty minutes of work): the time from `flopctl cancel` to the job's end,
#    then the same with SIGTERM to flopd's exit.
# 3. /api/v1/host (the GPU's measured ceilings as JSON) and /metrics.
set -euo pipefail
bundle=$(realpath "$1")
out=$2
mkdir -p "$out"
export LD_LIBRARY_PATH=$bundle/lib:/usr/local/cuda/lib64
flopctl=$bundle/bin/flopctl

start_flopd() {
  "$bundle/bin/flopd" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --state-dir "$out/state" \
    >"$out/flopd.$1.out" 2>"$out/flopd.$1.log" &
  flopd_pid=$!
  for _ in $(seq 300); do
    grep -q "http serving on" "$out/flopd.$1.out" 2>/dev/null && break
    sleep 0.1
  done
  grpc=$(grep -o 'listening on [^ ]*' "$out/flopd.$1.out" | cut -d' ' -f3)
  http=$(grep -o 'http serving on [^ ]*' "$out/flopd.$1.out" | cut -d' ' -f4)
  http=${http%/}
}

running_job() {
  for _ in $(seq 600); do
    job=$("$flopctl" jobs --host "$grpc" --state running --format jsonl |
      grep -o '"job_id":"[^"]*"' | head -1 | cut -d'"' -f4 || true)
    [[ -n "$job" ]] && { echo "$job"; return; }
    sleep 0.1
  done
}

now() { date +%s.%N; }

start_flopd 1
echo "== 1. one slice vs ten slices per sample" | tee "$out/summary.txt"
for timing in hot graph; do
  "$flopctl" run --host "$grpc" --device cuda:0 --op matvec --impl gemv --sizes 20000 --timing $timing \
    --iterations 400 --samples 20 --format jsonl --quiet >"$out/one_slice_$timing.jsonl"
  "$flopctl" run --host "$grpc" --device cuda:0 --op matvec --impl gemv --sizes 20000 --timing $timing \
    --iterations 4000 --samples 5 --format jsonl --quiet >"$out/ten_slices_$timing.jsonl"
  python3 - "$out/one_slice_$timing.jsonl" "$out/ten_slices_$timing.jsonl" "$timing" <<'PY' | tee -a "$out/summary.txt"
import json, sys
a = json.loads(open(sys.argv[1]).readline()); b = json.loads(open(sys.argv[2]).readline())
ma, mb = a["time"]["median"], b["time"]["median"]
print(f"{sys.argv[3]}: 400/sample median {ma*1e6:.2f} us (noise {a['relative_noise']*100:.2f}%), "
      f"4000/sample median {mb*1e6:.2f} us (noise {b['relative_noise']*100:.2f}%), ratio {mb/ma:.4f}")
PY
done

echo "== 2. cancel and SIGTERM during a 1,000,000-execution sample" | tee -a "$out/summary.txt"
"$flopctl" run --host "$grpc" --device cuda:0 --op outer --impl library --axis 0 --sizes 20000 \
  --iterations 1000000 --samples 1 --quiet >"$out/huge1.out" 2>&1 &
run_pid=$!
job=$(running_job)
sleep 3
t0=$(now)
"$flopctl" cancel "$job" --host "$grpc" | tee -a "$out/summary.txt"
t1=$(now)
echo "cancel -> ended: $(python3 -c "print(f'{$t1-$t0:.2f}')") s" | tee -a "$out/summary.txt"
wait "$run_pid" || true

echo "== 3. HTTP" | tee -a "$out/summary.txt"
curl -s "$http/api/v1/host" >"$out/host.json"
curl -s "$http/metrics" >"$out/metrics.txt"
curl -s -o /dev/null -w "GET /metrics: %{time_total} s, %{size_download} bytes\n" "$http/metrics" |
  tee -a "$out/summary.txt"

"$flopctl" run --host "$grpc" --device cuda:0 --op outer --impl library --axis 0 --sizes 20000 \
  --iterations 1000000 --samples 1 --quiet >"$out/huge2.out" 2>&1 &
run_pid=$!
running_job >/dev/null
sleep 3
t0=$(now)
kill -TERM "$flopd_pid"
wait "$flopd_pid" || true
t1=$(now)
echo "SIGTERM -> flopd exited: $(python3 -c "print(f'{$t1-$t0:.2f}')") s" | tee -a "$out/summary.txt"
wait "$run_pid" || true
tail -4 "$out/flopd.1.log" >>"$out/summary.txt"
