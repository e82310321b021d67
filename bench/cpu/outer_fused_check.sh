#!/usr/bin/env bash
# Issue 12's CPU check: outer/fused on this host's CPU against the measured
# peak of the instruction set flopd's own kernels use (the ceilings'
# kernel_isa: AVX-512F on an AVX-512 CPU, AVX2+FMA on an AVX2 one): the plain
# measured peak, or kernel_isa_peak_flops_per_s where the kernels' ISA is
# narrower than the CPU's widest (e.g. a flopd built without the AVX-512F
# variant on an AVX-512 CPU).
#
#   bench/cpu/outer_fused_check.sh FLOPD FLOPCTL [OUTDIR]
#
# Environment (all optional):
#   THREADS   thread counts, space-separated; one flopd per count, started
#             with --threads T, so its ceilings are measured on T threads and
#             the points run on T (default: "1 N" with N = nproc)
#   SIZES     flopctl --sizes (default 1000,2000,4000,8000)
#   DTYPES    flopctl --dtype (default f32,f64)
#   AXES      flopctl --axis (default 0,1)
#   EXTRA     more flopctl run flags (e.g. "--max-time 3")
# Prints one line per point: N, axis, dtype, threads, median and best time,
# GFLOP/s at the median and at the best, and both as % of the peak (the
# issue's target: >= 70% at N >= 4000 with every core, and axis 1 within 10%
# of axis 0), and per N/dtype/threads the axis-1 / axis-0 time ratio.
# OUTDIR (default: a temporary directory) keeps flopd's logs, flopctl's JSON
# Lines (points-T.jsonl), the host JSON with the ceilings (host-T.json) and
# flopctl info's text (info-T.txt).
# Needs python3 and curl. Exit status: 0 when every point verified, else 1.
set -uo pipefail
flopd=${1:?usage: outer_fused_check.sh FLOPD FLOPCTL [OUTDIR]}
flopctl=${2:?usage: outer_fused_check.sh FLOPD FLOPCTL [OUTDIR]}
out=${3:-$(mktemp -d)}
mkdir -p "$out"
threads_list=${THREADS:-"1 $(nproc)"}
sizes=${SIZES:-1000,2000,4000,8000}
dtypes=${DTYPES:-f32,f64}
axes=${AXES:-0,1}
extra=${EXTRA:-}

flopd_pid=
stop_flopd() {
  if [ -n "$flopd_pid" ]; then
    kill "$flopd_pid" 2>/dev/null
    wait "$flopd_pid" 2>/dev/null
    flopd_pid=
  fi
}
trap stop_flopd EXIT

rc=0
for t in $threads_list; do
  "$flopd" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --no-store --no-cuda --threads "$t" \
    >"$out/flopd-$t.out" 2>"$out/flopd-$t.log" &
  flopd_pid=$!
  for _ in $(seq 300); do
    grep -q "http serving on" "$out/flopd-$t.out" "$out/flopd-$t.log" 2>/dev/null && break
    sleep 0.1
  done
  address=$(cat "$out/flopd-$t.out" "$out/flopd-$t.log" | grep -o 'listening on [^ ]*' | head -n1 | cut -d' ' -f3)
  http=$(cat "$out/flopd-$t.out" "$out/flopd-$t.log" | grep -o 'http serving on [^ ]*' | head -n1 | cut -d' ' -f4)
  if [ -z "$address" ] || [ -z "$http" ]; then
    echo "flopd --threads $t did not start:" >&2
    cat "$out/flopd-$t.log" >&2
    exit 1
  fi
  echo "== threads $t: flopd on $address; measuring the ceilings" >&2
  "$flopctl" info --host "$address" --ceilings >"$out/info-$t.txt" 2>&1
  curl -s "${http%/}/api/v1/host" >"$out/host-$t.json"
  echo "== threads $t: outer/fused, sizes $sizes, dtypes $dtypes, axes $axes" >&2
  # shellcheck disable=SC2086  # EXTRA is a list of flags
  "$flopctl" run --host "$address" --device cpu:0 --op outer --impl fused --axis "$axes" \
    --dtype "$dtypes" --sizes "$sizes" --threads "$t" --quiet --format jsonl $extra \
    >"$out/points-$t.jsonl" 2>"$out/flopctl-$t.log" || rc=1
  stop_flopd
done

# shellcheck disable=SC2086  # one argument per thread count
python3 - "$out" $threads_list <<'EOF' || rc=1
import json, sys

out, threads_list = sys.argv[1], sys.argv[2:]

def ceilings_of(path):
    """The cpu device's ceilings from /api/v1/host (proto field names or lowerCamel)."""
    with open(path) as f:
        host = json.load(f)
    for device in host.get("devices", []):
        c = device.get("ceilings")
        if c:
            return c
    return {}

def get(d, *names):
    for name in names:
        if name in d:
            return d[name]
    return None

print(f"{'N':>6} {'axis':>4} {'dtype':>5} {'thr':>3} {'median us':>10} {'best us':>10} "
      f"{'GFLOP/s':>8} {'best':>8} {'peak':>8} {'% peak':>7} {'best %':>7} {'ok':>3}  roof")
failed = False
times = {}
for t in threads_list:
    c = ceilings_of(f"{out}/host-{t}.json")
    isa = get(c, "kernel_isa", "kernelIsa") or ""
    isa_peaks = get(c, "kernel_isa_peak_flops_per_s", "kernelIsaPeakFlopsPerS") or {}
    peaks = get(c, "peak_flops_per_s", "peakFlopsPerS") or {}
    doubts = get(c, "doubts") or []
    for d in doubts:
        print(f"# threads {t}: ceilings DOUBTFUL: {d}")
    with open(f"{out}/points-{t}.jsonl") as f:
        points = [json.loads(line) for line in f if line.strip()]
    for p in points:
        dtype, n = p["dtype"], int(p["n"])
        axis = int(p.get("params", {}).get("axis", 0))
        threads = int(p.get("threads", t))
        if dtype in isa_peaks:
            peak, roof = float(isa_peaks[dtype]), f"{isa} (kernel ISA)"
        else:
            peak = float(peaks.get(dtype, 0)) or float(p.get("roofline", {}).get("peak_flops_per_s", 0))
            roof = f"measured peak ({isa})" if isa else "measured peak"
        tm = p["time"]
        median, best = float(tm["median"]), float(tm["min"])
        flops = float(p["flops"])
        rate, best_rate = flops / median, flops / best
        ok = p.get("verification", {}).get("passed", False)
        failed |= not ok
        times[(n, dtype, threads, axis)] = median
        pct = 100 * rate / peak if peak else float("nan")
        best_pct = 100 * best_rate / peak if peak else float("nan")
        print(f"{n:>6} {axis:>4} {dtype:>5} {threads:>3} {median * 1e6:>10.1f} {best * 1e6:>10.1f} "
              f"{rate / 1e9:>8.2f} {best_rate / 1e9:>8.2f} {peak / 1e9:>8.2f} {pct:>6.1f}% "
              f"{best_pct:>6.1f}% {'yes' if ok else 'NO':>3}  {roof}")
print()
print("axis 1 / axis 0 median time (issue 12: <= 1.10)")
for (n, dtype, threads, axis), t1 in sorted(times.items()):
    if axis == 1 and (n, dtype, threads, 0) in times:
        print(f"  N={n} {dtype} threads={threads}: {t1 / times[(n, dtype, threads, 0)]:.3f}")
sys.exit(1 if failed else 0)
EOF
echo "(files in $out)" >&2
exit $rc
