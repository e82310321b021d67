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
  for _ in $(seq 300); do grep -q "listening on" "$2.out" 2>/dev/null && break; sleep 0.1; done
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
