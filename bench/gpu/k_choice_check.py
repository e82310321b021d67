#!/usr/bin/python3
"""Is flopd's automatic iterations-per-sample (K) honest on a GPU?

Issue 11, item 1: flopd's default hot-mode medians must be within 3% of an
independent event-timed loop of >= 200 back-to-back launches, at every
N >= 2000, for every GPU impl. In one run on one GPU this measures, per point:
  auto   flopd's default (automatic K)
  k200   flopd with --iterations 200 (its own event-timed loop of 200)
  torch  PyTorch: 200 back-to-back calls between two CUDA events, median of
         7 such loops (torch.mm / torch.mv / torch.outer(u, v).sum(axis));
         absent for impls torch has no call for (matvec/custom, outer/fused).
         Python issues them one by one, so a call shorter than Python's
         ~10 us per call is timed at the host's pace, not the GPU's.
  graph  PyTorch again, the same 200 calls captured once in a CUDA graph and
         replayed between two CUDA events (median of 7): back to back at the
         GPU's pace whatever the host does. This is the reference.
and prints a markdown table with auto/k200 and auto/graph; the worst ratio
counts k200 and graph (torch's eager loop is shown, not counted).

usage: bench/gpu/k_choice_check.py --flopd BIN --flopctl BIN [--sizes 2000,4000,8000,16000]
                                   [--dtype f32] [--out DIR] [--k200-first]
"""
import argparse
import json
import os
import subprocess
import sys
import time


def run_flopctl(args, address, extra, out):
    cmd = [args.flopctl, "run", "--host", address, "--device", "cuda:0", "--op", "matvec,outer",
           "--sizes", args.sizes, "--dtype", args.dtype, "--quiet", "--out", out] + extra
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    rows = {}
    with open(out) as f:
        for line in f:
            r = json.loads(line)
            key = (r["op"], r["impl"], int(r.get("params", {}).get("axis", -1)), int(r["n"]))
            rows[key] = r
    return rows


def torch_times(sizes, dtype):
    try:
        import torch
    except ImportError:
        return {}, {}, "PyTorch not importable"
    dt = torch.float32 if dtype == "f32" else torch.float64
    out, graphed = {}, {}

    def median_of_7(run_200):
        loops = []
        for _ in range(7):
            start = torch.cuda.Event(enable_timing=True)
            stop = torch.cuda.Event(enable_timing=True)
            start.record()
            run_200()
            stop.record()
            stop.synchronize()
            loops.append(start.elapsed_time(stop) * 1e-3 / 200)
        loops.sort()
        return loops[len(loops) // 2]

    for n in sizes:
        g = torch.Generator(device="cuda").manual_seed(1)
        A = torch.rand((n, n), device="cuda", dtype=dt, generator=g) + 0.5
        x = torch.rand((n,), device="cuda", dtype=dt, generator=g) + 0.5
        u = torch.rand((n,), device="cuda", dtype=dt, generator=g) + 0.5
        calls = {
            ("matvec", "gemm", -1): lambda: torch.mm(A, x[:, None]),
            ("matvec", "gemv", -1): lambda: torch.mv(A, x),
            ("outer", "library", 0): lambda: torch.outer(u, x).sum(0),
            ("outer", "library", 1): lambda: torch.outer(u, x).sum(1),
        }
        for (op, impl, axis), call in calls.items():
            for _ in range(20):
                call()
            torch.cuda.synchronize()

            def eager_200():
                for _ in range(200):
                    call()
            out[(op, impl, axis, n)] = median_of_7(eager_200)
            # Capture on a side stream, as torch.cuda.graph requires.
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                for _ in range(200):
                    call()
            graph.replay()
            torch.cuda.synchronize()
            graphed[(op, impl, axis, n)] = median_of_7(graph.replay)
            del graph
        del A, x, u
        torch.cuda.empty_cache()
    return out, graphed, "torch %s" % torch.__version__


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--flopd", required=True)
    p.add_argument("--flopctl", required=True)
    p.add_argument("--sizes", default="2000,4000,8000,16000")
    p.add_argument("--dtype", default="f32")
    p.add_argument("--out", default="/tmp/k_choice")
    p.add_argument("--k200-first", action="store_true", help="measure with --iterations 200 before the default")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "flopd.log"), "w")
    proc = subprocess.Popen([args.flopd, "--listen", "127.0.0.1:0", "--no-http", "--no-store"],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    address = None
    for line in proc.stdout:
        if "listening on" in line:
            address = line.split("listening on ")[1].split()[0]
            break
    try:
        # Each order once can show an order effect (a GPU still warming up): --k200-first swaps it.
        if args.k200_first:
            k200 = run_flopctl(args, address, ["--iterations", "200"], os.path.join(args.out, "k200.jsonl"))
        auto = run_flopctl(args, address, [], os.path.join(args.out, "auto.jsonl"))
        if not args.k200_first:
            k200 = run_flopctl(args, address, ["--iterations", "200"], os.path.join(args.out, "k200.jsonl"))
    finally:
        proc.terminate()
        proc.wait()
    sizes = [int(s) for s in args.sizes.split(",")]
    torch, graphed, torch_version = torch_times(sizes, args.dtype)
    print("| op/impl | N | K auto | auto µs | K=200 µs | auto/K200 | torch eager µs | torch graph µs | auto/graph |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    worst = 0
    for key in sorted(auto):
        op, impl, axis, n = key
        a = auto[key]["time"]["median"]
        b = k200[key]["time"]["median"] if key in k200 else float("nan")
        t = torch.get(key)
        g = graphed.get(key)
        name = "%s/%s%s" % (op, impl, "" if axis < 0 else " axis=%d" % axis)
        ratio_g = a / g if g else None
        for r in (a / b, ratio_g):
            if r is not None and n >= 2000:
                worst = max(worst, abs(r - 1))
        print("| %s | %d | %s | %.2f | %.2f | %.3f | %s | %s | %s |" % (
            name, n, auto[key]["iterations_per_sample"], a * 1e6, b * 1e6, a / b,
            "%.2f" % (t * 1e6) if t else "-", "%.2f" % (g * 1e6) if g else "-",
            "%.3f" % ratio_g if ratio_g else "-"))
    print("\nworst |ratio - 1| at N >= 2000 (auto/K200 and auto/graph): %.1f%% (target <= 3%%); reference: %s"
          % (100 * worst, torch_version))
    hot = [r for r in auto.values() if "hot_launch_queue" in r.get("observations", {})]
    if hot:
        print("flopd's hot launch queue: %s" % sorted({r["observations"]["hot_launch_queue"] for r in hot}))


if __name__ == "__main__":
    main()
