#!/usr/bin/python3
"""Is flopd's automatic iterations-per-sample (K) honest on a GPU?

Issue 11, item 1: flopd's default hot-mode medians must be within 3% of an
independent event-timed loop of >= 200 back-to-back launches, at every
N >= 2000, for every GPU impl. In one run on one GPU this measures, per point:
  auto   flopd's default (automatic K)
  k200   flopd with --iterations 200 (its own event-timed loop of 200)
  torch  PyTorch: 200 back-to-back calls between two CUDA events, median of
         7 such loops (torch.mm / torch.mv / torch.outer(u, v).sum(axis));
         absent for impls torch has no call for (matvec/custom, outer/fused)
and prints a markdown table with auto/k200 and auto/torch.

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
        return {}, "PyTorch not importable"
    dt = torch.float32 if dtype == "f32" else torch.float64
    out = {}
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
            loops = []
            for _ in range(7):
                start = torch.cuda.Event(enable_timing=True)
                stop = torch.cuda.Event(enable_timing=True)
                start.record()
                for _ in range(200):
                    call()
                stop.record()
                stop.synchronize()
                loops.append(start.elapsed_time(stop) * 1e-3 / 200)
            loops.sort()
            out[(op, impl, axis, n)] = loops[len(loops) // 2]
        del A, x, u
        torch.cuda.empty_cache()
    return out, "torch %s" % torch.__version__


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
    torch, torch_version = torch_times(sizes, args.dtype)
    print("| op/impl | N | K auto | auto µs | K=200 µs | auto/K200 | torch µs | auto/torch |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    worst = 0
    for key in sorted(auto):
        op, impl, axis, n = key
        a = auto[key]["time"]["median"]
        b = k200[key]["time"]["median"] if key in k200 else float("nan")
        t = torch.get(key)
        name = "%s/%s%s" % (op, impl, "" if axis < 0 else " axis=%d" % axis)
        ratio_t = a / t if t else None
        for r in (a / b, ratio_t):
            if r is not None and n >= 2000:
                worst = max(worst, abs(r - 1))
        print("| %s | %d | %s | %.2f | %.2f | %.3f | %s | %s |" % (
            name, n, auto[key]["iterations_per_sample"], a * 1e6, b * 1e6, a / b,
            "%.2f" % (t * 1e6) if t else "-", "%.3f" % ratio_t if ratio_t else "-"))
    print("\nworst |ratio - 1| at N >= 2000: %.1f%% (target <= 3%%); reference: %s" % (100 * worst, torch_version))


if __name__ == "__main__":
    main()
