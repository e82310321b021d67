# Shared steps of the bench/gpu scripts (sourced, not run): the bundle's
# library path, the card as found, and a local flopd to drive with flopctl.
# Each function states what it sets; none changes the card's settings.

# gpu_env BUNDLE: exports LD_LIBRARY_PATH for the bundle's binaries.
gpu_env() {
  export LD_LIBRARY_PATH="$1/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

# record_card OUTFILE: nvidia-smi's view of the card (clocks, temperature,
# power) as found, as CSV.
record_card() {
  nvidia-smi --query-gpu=name,uuid,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw,power.limit \
    --format=csv >"$1" 2>&1 || true
}

# start_flopd BINARY LOGPREFIX: starts BINARY (a flopd) on a free loopback
# port with no store and no HTTP, logs in LOGPREFIX.out / .log, and waits up
# to 30 s for it to listen. Sets FLOPD_PID and FLOPD_ADDRESS; returns 1
# (FLOPD_ADDRESS empty, the daemon stopped) when it did not start.
start_flopd() {
  "$1" --listen 127.0.0.1:0 --no-store --no-http >"$2.out" 2>"$2.log" &
  FLOPD_PID=$!
  for _ in $(seq 300); do
    grep -q "listening on" "$2.out" 2>/dev/null && break
    kill -0 "$FLOPD_PID" 2>/dev/null || break  # it exited
    sleep 0.1
  done
  FLOPD_ADDRESS=$(grep -o 'listening on [^ ]*' "$2.out" | cut -d' ' -f3)
  if [ -z "$FLOPD_ADDRESS" ]; then
    kill "$FLOPD_PID" 2>/dev/null
    return 1
  fi
}

# stop_flopd: stops the daemon start_flopd started, and waits for it.
stop_flopd() {
  kill "$FLOPD_PID" 2>/dev/null
  wait "$FLOPD_PID" 2>/dev/null
}

# begin_check BUNDLE OUTDIR [DEVICE]: the first steps of a *_check.sh. Sets
# BUNDLE, OUT and DEVICE (default cuda:0) and the library path, writes
# OUT/nvidia-smi.csv, runs the bundle's flopd_gpu_tests into
# OUT/gpu_tests.log (exit status in TESTS_RC), then starts a local flopd
# (stopped when the script exits). Exits the script when flopd does not start.
begin_check() {
  BUNDLE=$(cd "${1:?bundle dir}" && pwd) || exit 2
  OUT=${2:?output dir}
  DEVICE=${3:-cuda:0}
  mkdir -p "$OUT"
  gpu_env "$BUNDLE"
  record_card "$OUT/nvidia-smi.csv"
  "$BUNDLE/bin/flopd_gpu_tests" >"$OUT/gpu_tests.log" 2>&1
  TESTS_RC=$?
  start_flopd "$BUNDLE/bin/flopd" "$OUT/flopd" ||
    { echo "flopd did not start" >&2; cat "$OUT/flopd.log" >&2; exit 1; }
  trap stop_flopd EXIT
}

# flopctl_into NAME ARGS...: one `flopctl run` on begin_check's flopd and
# DEVICE, in timing mode $FLOPCTL_TIMING (default hot), into OUT/NAME.jsonl (stdout
# OUT/NAME.txt, stderr OUT/NAME.err); returns flopctl's exit status.
flopctl_into() {
  local name=$1
  shift
  "$BUNDLE/bin/flopctl" run --host "$FLOPD_ADDRESS" --device "$DEVICE" --timing "${FLOPCTL_TIMING:-hot}" --quiet \
    --out "$OUT/$name.jsonl" "$@" >"$OUT/$name.txt" 2>"$OUT/$name.err"
}

# tests_summary: the GPU tests' failed and skipped tests and totals, from
# OUT/gpu_tests.log.
tests_summary() {
  echo "== gpu tests"
  grep -E '^\[  (FAILED|SKIPPED) ' "$OUT/gpu_tests.log" | head -20
  grep -E '^\[  PASSED  \]|^\[==========\]' "$OUT/gpu_tests.log" | tail -2
}
