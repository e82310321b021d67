#!/usr/bin/env bash
# flopd --openblas-coretype CORE restarts itself with OPENBLAS_CORETYPE=CORE
# and reports the choice (flopctl info); a core this CPU cannot run, or a
# name that is not a choice, is refused with exit 2 naming the flag.
# Usage: openblas_core_restart_test.sh FLOPD FLOPCTL
set -euo pipefail
flopd=$1 flopctl=$2
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
pid=
if ! grep -qw avx2 /proc/cpuinfo || ! grep -qw fma /proc/cpuinfo; then
  echo "SKIP: this CPU lacks AVX2/FMA, which the Haswell core needs"; exit 77
fi
env -u OPENBLAS_CORETYPE "$flopd" --listen 127.0.0.1:0 --no-http --no-store --no-cuda \
  --openblas-coretype haswell >"$dir/out" 2>"$dir/err" &
pid=$!
for _ in $(seq 100); do grep -q listening "$dir/out" && break; sleep 0.1; done
addr=$(grep -o '127.0.0.1:[0-9]*' "$dir/out" | head -1)
info=$("$flopctl" info --host "$addr")
echo "$info" | grep -E "openblas|library"
echo "$info" | grep -q "openblas_corename: Haswell" || { echo "FAIL: not running Haswell"; exit 1; }
echo "$info" | grep -q "openblas_core_choice: Haswell, set by --openblas-coretype" \
  || { echo "FAIL: the choice is not reported"; exit 1; }
echo "$info" | grep -q "core=Haswell (chosen by flopd)" || { echo "FAIL: library string"; exit 1; }
set +e
"$flopd" --no-cuda --openblas-coretype Pentium4 >"$dir/bad" 2>&1; rc=$?
set -e
[[ $rc == 2 ]] || { echo "FAIL: a bad core exited $rc, not 2"; exit 1; }
grep -q -- "--openblas-coretype: 'Pentium4' is not a choice; allowed: auto, library, Sandybridge" "$dir/bad" \
  || { echo "FAIL: message"; cat "$dir/bad"; exit 1; }
echo PASS
