#!/usr/bin/python3
"""Tables of flopctl's outer/fused sweeps (issue 12): per N, each job's median
time on both axes, hot and graph, and the share of the measured peak (2N^2 - N
FLOPs over the worse axis's time, against the peak in the result's roofline);
then the issue's checks: % of peak at N = 8000 and 20000, and every step of
the sweep from N = 4000 up where GFLOP/s falls by more than 5% (hot and
graph, each job and axis).

usage: bench/gpu/outer_fused_table.py HOT.jsonl GRAPH.jsonl
(each file: one or more jobs of `flopctl run --op outer --impl fused --axis 0,1`;
jobs are told apart by job_id, in the order they appear)
"""
import argparse
import collections
import json


def load(path):
    """{job index: {(n, axis): result}}, plus the dtype and the peak."""
    jobs, order = collections.defaultdict(dict), []
    dtype, peak, unverified = "?", 0.0, []
    for line in open(path):
        r = json.loads(line)
        if r["op"] != "outer" or r["impl"] != "fused":
            continue
        if r["job_id"] not in order:
            order.append(r["job_id"])
        dtype, peak = r["dtype"], r["roofline"]["peak_flops_per_s"]
        jobs[order.index(r["job_id"])][(r["n"], r["params"]["axis"])] = r
        if not r["verification"]["passed"]:
            unverified.append(f'N={r["n"]} axis={r["params"]["axis"]}')
    return [jobs[i] for i in range(len(order))], dtype, peak, unverified


def worst(job, n):
    """The slower axis's median seconds at N, or None."""
    times = [job[(n, a)]["time"]["median"] for a in (0, 1) if (n, a) in job]
    return max(times) if len(times) == 2 else None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("hot")
    p.add_argument("graph")
    args = p.parse_args()
    hot, dtype, peak, bad_hot = load(args.hot)
    graph, _, _, bad_graph = load(args.graph)
    sizes = sorted({n for job in hot + graph for (n, _) in job})
    flops = lambda n: 2.0 * n * n - n
    pct = lambda n, t: f"{100 * flops(n) / t / peak:.1f}" if t else "-"
    us = lambda job, n, a: f'{job[(n, a)]["time"]["median"] * 1e6:.2f}' if (n, a) in job else "-"
    runs = " / ".join(f"r{i + 1}" for i in range(max(len(hot), len(graph))))
    print(f"== outer/fused {dtype}: medians in µs ({runs}); % = of the measured peak "
          f"{peak / 1e12:.2f} TFLOP/s, worse axis")
    print("| N | hot axis 0 | hot axis 1 | hot % | graph axis 0 | graph axis 1 | graph % |")
    print("|---:|---|---|---|---|---|---|")
    for n in sizes:
        cells = [str(n)]
        cells.append(" / ".join(us(j, n, 0) for j in hot))
        cells.append(" / ".join(us(j, n, 1) for j in hot))
        cells.append(" / ".join(pct(n, worst(j, n)) for j in hot))
        cells.append(" / ".join(us(j, n, 0) for j in graph))
        cells.append(" / ".join(us(j, n, 1) for j in graph))
        cells.append(" / ".join(pct(n, worst(j, n)) for j in graph))
        print("| " + " | ".join(cells) + " |")
    for n in (8000, 20000):
        if n in sizes:
            print(f"N = {n}: hot {' / '.join(pct(n, worst(j, n)) for j in hot)}% of peak, "
                  f"graph {' / '.join(pct(n, worst(j, n)) for j in graph)}%")
    for name, jobs in (("hot", hot), ("graph", graph)):
        for i, job in enumerate(jobs):
            drops = []
            for axis in (0, 1):
                steps = [n for n in sizes if n >= 4000 and (n, axis) in job]
                for a, b in zip(steps, steps[1:]):
                    ra = flops(a) / job[(a, axis)]["time"]["median"]
                    rb = flops(b) / job[(b, axis)]["time"]["median"]
                    if rb < 0.95 * ra:
                        drops.append(f"axis {axis} {a}->{b} {100 * (rb / ra - 1):.1f}%")
            print(f"{name} r{i + 1}: GFLOP/s drops > 5% from N = 4000 up: {', '.join(drops) or 'none'}")
    bad = bad_hot + bad_graph
    print("every point verified" if not bad else "NOT verified: " + ", ".join(bad))


if __name__ == "__main__":
    main()
