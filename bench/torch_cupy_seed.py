#!/usr/bin/env python3
"""The seed's two experiments with PyTorch and CuPy, timed with CUDA events.

Written from the seed's description (../shared/seeds/000_*.txt), for the
same GPU and sizes flopd measures:
  matvec:  torch.mm(A, x) / cp.matmul(A, x)                    A: N x N, x: N x 1
  outer:   torch.mm(u, v).sum(dim=axis) / cp.matmul(u, v).sum(axis=axis)
           u: N x 1, v: 1 x N; axis 0 = column sums (Figure 2), 1 = row sums (Figure 3)
Each point is timed like flopd's hot mode: samples of K back-to-back calls
between two events (K so a sample lasts >= 200 us), until the 95% CI
half-width of the median is <= 0.5% or 1 s is spent; the median per call is
reported. Also measured: device-to-device copy bandwidth (bytes read +
written / time), torch.compile's fused outer at the largest N, and the seed's
own unmodified 1000-iteration loops over range(1000, 20000, 500) with their
wall times.

usage: torch_cupy_seed.py --out FILE.json [--sizes 1000:20000:500,20000] [--no-seed-loop]
"""
import argparse
import json
import math
import statistics
import sys
import time

import torch

try:
    import cupy as cp
except Exception as e:  # noqa: BLE001 - report and go on without CuPy
    cp = None
    print("cupy unavailable:", e, file=sys.stderr)


def parse_sizes(spec):
    sizes = []
    for item in spec.split(","):
        parts = [int(p) for p in item.split(":")]
        sizes.extend(range(*parts) if len(parts) == 3 else parts)
    return list(dict.fromkeys(sizes))


def relative_noise(samples):
    s = sorted(samples)
    n = len(s)
    if n < 3:
        return math.inf
    half = 0.98 * math.sqrt(n)
    lo = max(0, int(math.floor(n / 2.0 - half)))
    hi = min(n - 1, int(math.ceil(n / 2.0 - 1 + half)))
    return (s[hi] - s[lo]) / (2 * statistics.median(s))


def event_median(fn, make_event, sync, max_time=1.0, noise_target=0.005, min_samples=10):
    """Median seconds per call of fn(), timed with the framework's CUDA events."""
    for _ in range(3):
        fn()
    sync()
    start, stop = make_event(), make_event()
    start.record()
    fn()
    stop.record()
    stop.synchronize()
    one = max(elapsed_ms(start, stop) / 1e3, 1e-7)
    k = max(1, math.ceil(200e-6 / one))
    samples = []
    begin = time.perf_counter()
    while True:
        start.record()
        for _ in range(k):
            fn()
        stop.record()
        stop.synchronize()
        samples.append(elapsed_ms(start, stop) / 1e3 / k)
        elapsed = time.perf_counter() - begin
        if len(samples) >= min_samples and relative_noise(samples) <= noise_target:
            break
        if elapsed >= max_time:
            break
    return {"median": statistics.median(samples), "noise": relative_noise(samples),
            "samples": len(samples), "iterations": k}


def elapsed_ms(start, stop):
    if isinstance(start, torch.cuda.Event):
        return start.elapsed_time(stop)
    return cp.cuda.get_elapsed_time(start, stop)


def torch_event():
    return torch.cuda.Event(enable_timing=True)


def cupy_event():
    return cp.cuda.Event()


def copy_bandwidth():
    n = 1 << 29  # 2 GiB of float32 per buffer
    a = torch.rand(n, device="cuda")
    b = torch.empty_like(a)
    r = event_median(lambda: b.copy_(a), torch_event, torch.cuda.synchronize, max_time=2.0)
    bytes_moved = 2 * a.numel() * a.element_size()
    del a, b
    torch.cuda.empty_cache()
    return {"bytes": bytes_moved, "seconds": r["median"], "gbytes_per_s": bytes_moved / r["median"] / 1e9}


def measure_size(n, results, compiled):
    dev = "cuda"
    A = torch.rand(n, n, device=dev)
    x = torch.rand(n, 1, device=dev)
    u = torch.rand(n, 1, device=dev)
    v = torch.rand(1, n, device=dev)
    row = {"n": n}
    sync = torch.cuda.synchronize
    row["torch_mm"] = event_median(lambda: torch.mm(A, x), torch_event, sync)
    for axis in (0, 1):
        row["torch_outer_axis%d" % axis] = event_median(lambda: torch.mm(u, v).sum(dim=axis), torch_event, sync)
    if compiled is not None:
        for axis in (0, 1):
            fn = compiled[axis]
            row["torch_compile_outer_axis%d" % axis] = event_median(lambda: fn(u, v), torch_event, sync)
    del A, x, u, v
    torch.cuda.empty_cache()
    if cp is not None:
        A = cp.random.rand(n, n, dtype=cp.float32)
        x = cp.random.rand(n, 1, dtype=cp.float32)
        u = cp.random.rand(n, 1, dtype=cp.float32)
        v = cp.random.rand(1, n, dtype=cp.float32)
        csync = cp.cuda.Device().synchronize
        row["cupy_matmul"] = event_median(lambda: cp.matmul(A, x), cupy_event, csync)
        for axis in (0, 1):
            row["cupy_outer_axis%d" % axis] = event_median(lambda: cp.sum(cp.matmul(u, v), axis=axis),
                                                           cupy_event, csync)
        del A, x, u, v
        cp.get_default_memory_pool().free_all_blocks()
    results.append(row)
    print("N=%d torch mm %.1f us, outer0 %.1f us" % (n, row["torch_mm"]["median"] * 1e6,
                                                     row["torch_outer_axis0"]["median"] * 1e6), file=sys.stderr)


# ---------------------------------------------------------------- the seed's own code, unmodified in substance

def seed_cupy_loop():
    def cp_Matmul(x, y, iterations):
        for i in range(iterations):
            q = cp.matmul(x, y, out=None)
        return q

    def cp_Vecmul(x, y, iterations):
        for i in range(iterations):
            q = cp.matmul(x, y, out=None)
            q = cp.sum(q, axis=1)
        return q

    xmin, xmax, jump = 1000, 20000, 500
    lim = range(xmin, xmax, jump)
    Matrix_result, Vector_result = [], []
    iterations = 1000
    t0 = time.perf_counter()
    for k in lim:
        N = k
        vec_outer_1 = cp.random.rand(N, 1)
        vec_outer_2 = cp.random.rand(1, N)
        matrix = cp.random.rand(N, N)
        vec_matrix = cp.random.rand(N, 1)
        start_event = cp.cuda.stream.Event()
        stop_event = cp.cuda.stream.Event()
        start_event.record()
        q = cp_Vecmul(vec_outer_1, vec_outer_2, iterations)
        stop_event.record()
        stop_event.synchronize()
        Vector_result.append(cp.cuda.get_elapsed_time(start_event, stop_event) / 1000)
        start_event = cp.cuda.stream.Event()
        stop_event = cp.cuda.stream.Event()
        start_event.record()
        q = cp_Matmul(matrix, vec_matrix, iterations)
        stop_event.record()
        stop_event.synchronize()
        Matrix_result.append(cp.cuda.get_elapsed_time(start_event, stop_event) / 1000)
    wall = time.perf_counter() - t0
    return {"wall_seconds": wall, "sizes": list(lim), "vector_total_s": Vector_result,
            "matrix_total_s": Matrix_result, "dtype": "float64 (cp.random.rand default)"}


def seed_torch_loop():
    cuda0 = torch.device(device="cuda")

    def tr_Matmul(a, b, iterations):
        for i in range(iterations):
            q = torch.mm(a, b, out=None).to(device=cuda0)
        return q

    def tr_Vecmul(a, b, iterations):
        for i in range(iterations):
            q = torch.mm(a, b, out=None).to(device=cuda0)
            q = torch.sum(q, dim=0).to(device=cuda0)
        return q

    xmin, xmax, jump = 1000, 20000, 500
    lim = range(xmin, xmax, jump)
    Matrix_result, Vector_result = [], []
    iterations = 1000
    t0 = time.perf_counter()
    for k in lim:
        N = k
        vec_outer_1 = torch.rand(N, 1).to(device=cuda0)
        vec_outer_2 = torch.rand(1, N).to(device=cuda0)
        matrix = torch.rand(N, N).to(device=cuda0)
        vec_matrix = torch.rand(N, 1).to(device=cuda0)
        start_event = torch.cuda.Event(enable_timing=True)
        stop_event = torch.cuda.Event(enable_timing=True)
        start_event.record()
        q = tr_Vecmul(vec_outer_1, vec_outer_2, iterations)
        stop_event.record()
        torch.cuda.synchronize()
        Vector_result.append(start_event.elapsed_time(stop_event) / 1000)
        start_event = torch.cuda.Event(enable_timing=True)
        stop_event = torch.cuda.Event(enable_timing=True)
        start_event.record()
        q = tr_Matmul(matrix, vec_matrix, iterations)
        stop_event.record()
        torch.cuda.synchronize()
        Matrix_result.append(start_event.elapsed_time(stop_event) / 1000)
    wall = time.perf_counter() - t0
    return {"wall_seconds": wall, "sizes": list(lim), "vector_total_s": Vector_result,
            "matrix_total_s": Matrix_result, "dtype": "float32"}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--sizes", default="1000:20000:500,20000")
    p.add_argument("--no-seed-loop", action="store_true")
    p.add_argument("--no-compile", action="store_true")
    args = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
           "cupy": cp.__version__ if cp is not None else None, "tf32": False}
    out["copy"] = copy_bandwidth()
    print("copy bandwidth %.0f GB/s" % out["copy"]["gbytes_per_s"], file=sys.stderr)
    sizes = parse_sizes(args.sizes)
    compiled = None
    if not args.no_compile:
        try:
            compiled = {axis: torch.compile(lambda a, b, axis=axis: (a * b).sum(dim=axis)) for axis in (0, 1)}
        except Exception as e:  # noqa: BLE001
            out["compile_error"] = str(e)
    def save():  # after every stage, so a later failure keeps what was measured
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)

    rows = []
    out["points"] = rows
    for n in sizes:
        measure_size(n, rows, compiled if n == max(sizes) else None)
    save()
    if not args.no_seed_loop:
        out["seed_torch_loop"] = seed_torch_loop()
        print("seed torch loop %.1f s" % out["seed_torch_loop"]["wall_seconds"], file=sys.stderr)
        torch.cuda.empty_cache()
        save()
        if cp is not None:
            out["seed_cupy_loop"] = seed_cupy_loop()
            print("seed cupy loop %.1f s" % out["seed_cupy_loop"]["wall_seconds"], file=sys.stderr)
            cp.get_default_memory_pool().free_all_blocks()
            save()


if __name__ == "__main__":
    main()
