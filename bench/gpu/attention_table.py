#!/usr/bin/python3
"""Tables of flopctl's attention results: per d and N, both impls' median time,
fused / materialized, fused's share of the measured peak, and (with --sdpa, a
bench/gpu/sdpa_reference.py output) PyTorch's time and fused / torch.

usage: bench/gpu/attention_table.py RESULTS.jsonl [--sdpa SDPA.json]
"""
import argparse
import collections
import json


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results")
    p.add_argument("--sdpa", default="")
    args = p.parse_args()
    rows = collections.defaultdict(dict)
    dtype = "?"
    unverified = []
    for line in open(args.results):
        r = json.loads(line)
        dtype = r["dtype"]
        key = (r["params"]["d"], r["n"])
        rows[key][r["impl"]] = r
        if not r["verification"]["passed"]:
            unverified.append(f'{r["impl"]} d={key[0]} N={key[1]}')
    torch = {}
    if args.sdpa:
        for s in json.load(open(args.sdpa))["rows"]:
            torch[(s["d"], s["n"])] = s["seconds"]
    print(f"== attention, {dtype} (hot; times are medians in microseconds)")
    head = "| d | N | materialized | fused | fused / materialized | fused % of peak |"
    if torch:
        head += " torch SDPA | fused / torch |"
    print(head)
    print("|" + "---:|" * (head.count("|") - 1))
    for (d, n) in sorted(rows):
        m, f = rows[(d, n)].get("materialized"), rows[(d, n)].get("fused")
        if not m or not f:
            continue
        tm, tf = m["time"]["median"], f["time"]["median"]
        peak = f["gflops_per_s"] * 1e9 / f["roofline"]["peak_flops_per_s"]
        cells = [str(d), str(n), f"{tm * 1e6:.1f}", f"{tf * 1e6:.1f}", f"{tf / tm:.3f}", f"{peak:.0%}"]
        if torch:
            t = torch.get((d, n))
            cells += [f"{t * 1e6:.1f}", f"{tf / t:.2f}"] if t else ["", ""]
        print("| " + " | ".join(cells) + " |")
    print("every point verified" if not unverified else "NOT verified: " + ", ".join(unverified))


if __name__ == "__main__":
    main()
