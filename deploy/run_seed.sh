#!/usr/bin/env bash
# The main job: installs what is missing, builds, starts a local flopd on
# loopback, and runs the seed experiment through flopctl: matvec (gemv, gemm)
# against outer (library, fused; axis 0 and 1) at the CPU device's default
# sizes. Prints the fleet table and writes results/seed.jsonl. flopd also
# keeps every job and result in its store, results/state/flopd.db, which
# outlives this script: `build/server/flopd --state-dir results/state` serves
# them again (flopctl history, jobs), and each run of this script adds to it.
#   Extra arguments go to `flopctl run`, e.g. --sizes 2000:8001:2000 --dtype f32,f64
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash deploy/install_deps.sh
bash deploy/build.sh -DFLOPD_BUILD_TESTS=OFF
mkdir -p results

log=results/flopd.log
build/server/flopd --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --state-dir results/state >results/flopd.out 2>"$log" &
flopd_pid=$!
trap 'kill $flopd_pid 2>/dev/null; wait $flopd_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q "http serving on" results/flopd.out 2>/dev/null && break
  kill -0 $flopd_pid 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
address=$(grep -o 'listening on [^ ]*' results/flopd.out | cut -d' ' -f3)
dashboard=$(grep -o 'http serving on [^ ]*' results/flopd.out | cut -d' ' -f4)
echo "flopd is serving on $address (log: $log); its dashboard, live while this runs: $dashboard" >&2

build/client/flopctl run --host "$address" --op matvec,outer --out results/seed.jsonl "$@"
