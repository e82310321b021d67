#!/usr/bin/env bash
# Same-run A/B of batched_mv/custom between flopd binaries of one bundle (for
# example the committed kernel and a variant built from a patched tree, copied
# into BUNDLE/bin under another name): each binary in turn, two rounds, f32
# B = 4..64 at N = 2000..16000 and f64 B = 8..64 at N = 4000, 16000, hot mode.
#
#   bench/gpu/batched_mv_ab.sh BUNDLE OUTDIR BINARY...
#
# Prints time / roofline floor per point, both rounds, per binary ('*' marks a
# point whose verification failed). Leaves the card's settings alone.
set -u
bundle=$(cd "${1:?bundle dir}" && pwd); out=${2:?output dir}; shift 2
[ $# -ge 1 ] || { echo "usage: $0 BUNDLE OUTDIR BINARY..." >&2; exit 2; }
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
gpu_env "$bundle"
mkdir -p "$out"
FLOPD_PID=
trap '[ -n "$FLOPD_PID" ] && stop_flopd' EXIT
for round in 1 2; do
  for bin in "$@"; do
    log="$out/$bin.$round"
    start_flopd "$bundle/bin/$bin" "$log" || { echo "$bin did not start: $log.log" >&2; continue; }
    addr=$FLOPD_ADDRESS
    "$bundle/bin/flopctl" run --host "$addr" --device cuda:0 --timing hot --quiet --op batched_mv --impl custom \
      --B 4,8,16,32,64 --sizes 2000,4000,8000,16000 --dtype f32 --out "$out/${bin}_f32_$round.jsonl" >/dev/null 2>&1
    "$bundle/bin/flopctl" run --host "$addr" --device cuda:0 --timing hot --quiet --op batched_mv --impl custom \
      --B 8,16,32,64 --sizes 4000,16000 --dtype f64 --out "$out/${bin}_f64_$round.jsonl" >/dev/null 2>&1
    stop_flopd
  done
done
python3 - "$out" "$@" <<'PY'
import json, sys, glob, collections
out, bins = sys.argv[1], sys.argv[2:]
t = collections.defaultdict(list)
for b in bins:
    for f in glob.glob(f"{out}/{b}_f*.jsonl"):
        for line in open(f):
            r = json.loads(line)
            ok = r["verification"]["passed"]
            t[(r["dtype"], r["params"]["B"], r["n"], b)].append((r["time"]["median"] / r["roofline"]["floor_seconds"], ok))
keys = sorted({k[:3] for k in t})
print("dtype B N | " + " | ".join(bins) + "   (time / floor, both rounds; * = verification failed)")
for k in keys:
    cells = []
    for b in bins:
        v = t.get(k + (b,), [])
        cells.append(" ".join(f"{x:.3f}{'' if ok else '*'}" for x, ok in v))
    print(f"{k[0]} {k[1]} {k[2]} | " + " | ".join(cells))
PY
