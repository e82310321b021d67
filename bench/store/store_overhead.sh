#!/usr/bin/env bash
# What the result store adds to a CPU sweep, end to end: the same
# `flopctl run` against two local flopd — one with --no-store, one keeping
# every result in a store — alternating, REPS times each (order swapped every
# repetition), on one CPU device. Prints each run's wall time and the ratio
# of the medians (store / no store). Not a test; docs/results/store.md.
#
#   bench/store/store_overhead.sh [BUILD_DIR] [REPS] [flopctl run args...]
#
# Default sweep: matvec and outer, every impl and axis, N = 500..4000 step
# 500, f32, 20 samples a point (a fixed amount of work per point: with the
# noise-driven stopping rule a run's length follows the machine's noise, which
# on a shared machine is far larger than what is measured here).
# Prints, per repetition, the two runs measured back to back and their ratio;
# the verdict is the median of those paired ratios.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
reps=${2:-5}
shift $(( $# > 2 ? 2 : $# ))
sweep=("$@")
[[ ${#sweep[@]} -gt 0 ]] || sweep=(--op matvec,outer --sizes 500:4001:500 --samples 20)

work=$(mktemp -d /tmp/flopd-store-overhead-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Starts a flopd (in this shell, so that cleanup knows its pid) and sets
# `address` to where it listens.
start_flopd() {  # NAME ARGS...
  local name=$1
  shift
  "$build/server/flopd" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --no-cuda --hostname "$name" "$@" \
    >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  for _ in $(seq 100); do
    grep -q "listening on" "$work/$name.out" 2>/dev/null && break
    sleep 0.1
  done
  address=$(grep -o 'listening on [^ ]*' "$work/$name.out" | cut -d' ' -f3)
  [[ -n $address ]] || { cat "$work/$name.err" >&2; exit 1; }
}

start_flopd no-store --no-store
plain=$address
start_flopd store --state-dir "$work/state"
stored=$address
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "sweep: flopctl run ${sweep[*]}"
# Warm both (ceilings are measured before each device's first job).
for host in "$plain" "$stored"; do
  "$build/client/flopctl" run --host "$host" --op outer --impl fused --sizes 64 --quiet \
    --format csv >/dev/null
done

run_once() {  # HOST -> prints seconds
  local t0 t1
  t0=$(date +%s.%N)
  "$build/client/flopctl" run --host "$1" "${sweep[@]}" --quiet --format csv >"$work/last.csv"
  t1=$(date +%s.%N)
  awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.3f\n", a - b }'
}

plain_times=()
stored_times=()
ratios=()
for rep in $(seq "$reps"); do
  if (( rep % 2 )); then order=("$plain" "$stored"); else order=("$stored" "$plain"); fi
  for host in "${order[@]}"; do
    t=$(run_once "$host")
    points=$(($(wc -l <"$work/last.csv") - 1))
    if [[ $host == "$plain" ]]; then tp=$t; else ts=$t; fi
  done
  plain_times+=("$tp")
  stored_times+=("$ts")
  ratio=$(awk -v a="$ts" -v b="$tp" 'BEGIN { printf "%.4f", a / b }')
  ratios+=("$ratio")
  printf 'rep %d  --no-store %7.2f s  store %7.2f s  (%d points each)  store / no store %s\n' \
    "$rep" "$tp" "$ts" "$points" "$ratio"
done

median() {
  printf '%s\n' "$@" | sort -g |
    awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}
printf 'median wall: --no-store %.2f s, store %.2f s\n' "$(median "${plain_times[@]}")" \
  "$(median "${stored_times[@]}")"
printf 'median of the paired ratios (store / no store): %s  (range %s .. %s)\n' \
  "$(median "${ratios[@]}")" "$(printf '%s\n' "${ratios[@]}" | sort -g | head -1)" \
  "$(printf '%s\n' "${ratios[@]}" | sort -g | tail -1)"
"$build/client/flopctl" info --host "$stored" | grep -A2 "store:"
