#!/usr/bin/env python3
"""Tables of batched_mv results (flopctl run --out files) against issue 13's
targets: each impl's median time over its roofline floor (the floor flopd
recorded with the point, from the device's measured ceilings), and the loop
against B x matvec/gemv when a matvec file is given.

  batched_mv_table.py BATCHED.jsonl [MATVEC.jsonl]
"""
import json
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    rows = [r for r in load(sys.argv[1]) if r.get("op") == "batched_mv"]
    if not rows:
        sys.exit(f"{sys.argv[1]}: no batched_mv results")
    gemv = {}
    if len(sys.argv) == 3:
        for r in load(sys.argv[2]):
            if r.get("op") == "matvec" and r.get("impl") == "gemv":
                gemv[r["n"]] = r["time"]["median"]
    dtype = rows[0]["dtype"]
    impls = sorted({r["impl"] for r in rows}, key=["loop", "gemm", "custom"].index)
    by_key = {(r["impl"], r["params"]["B"], r["n"]): r for r in rows}
    failed = [r for r in rows if not r["verification"]["passed"]]
    print(f"== batched_mv {dtype} ({rows[0].get('device_name', '?')}): median us, "
          "(time / roofline floor)")
    header = ["B", "N"] + [f"{i} us (x floor)" for i in impls]
    if "custom" in impls and "gemm" in impls:
        header.append("custom / gemm")
    if gemv:
        header.append("loop / (B x gemv)")
    print(" | ".join(header))
    worst = {i: 0.0 for i in impls}
    for b in sorted({k[1] for k in by_key}):
        for n in sorted({k[2] for k in by_key}):
            cells = [str(b), str(n)]
            for impl in impls:
                r = by_key.get((impl, b, n))
                if r is None:
                    cells.append("-")
                    continue
                ratio = r["time"]["median"] / r["roofline"]["floor_seconds"]
                worst[impl] = max(worst[impl], ratio)
                cells.append(f"{r['time']['median'] * 1e6:.1f} ({ratio:.2f})")
            if "custom / gemm" in header:
                c, g = by_key.get(("custom", b, n)), by_key.get(("gemm", b, n))
                cells.append(f"{c['time']['median'] / g['time']['median']:.3f}" if c and g else "-")
            if gemv:
                r = by_key.get(("loop", b, n))
                cells.append(f"{r['time']['median'] / (b * gemv[n]):.3f}"
                             if r and n in gemv else "-")
            print(" | ".join(cells))
    print("worst time / floor: " + ", ".join(f"{i} {w:.2f}" for i, w in worst.items()))
    print(f"points {len(rows)}, verification failed {len(failed)}")


if __name__ == "__main__":
    main()
