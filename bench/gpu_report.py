#!/usr/bin/env python3
"""Turns one bench/gpu_seed.sh output folder into docs/results/<card>.md.

Reads flopd_sweep.jsonl, flopd_seed_pair.jsonl (+ *_wall.json),
torch_cupy.json, nvidia-smi.csv and gpu_tests.log from --dir; writes the
markdown report to --out and prints the targets table (the short summary).
The floor of a point is the impl's minimum bytes / the device-to-device copy
bandwidth measured in the same run (bytes read + written / time).
"""
import argparse
import datetime
import json
import os
import re


def load_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def load_json(path, default=None):
    if not os.path.exists(path):
        return default
    with open(path) as f:
        return json.load(f)


def key(r):
    axis = r.get("params", {}).get("axis")
    return (r["op"], r["impl"], None if axis is None else int(axis), int(r["n"]))


def us(seconds):
    return "-" if seconds is None else "%.1f" % (seconds * 1e6)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--command", default="bench/gpu_seed.sh BUNDLE OUTDIR")
    a = p.parse_args()
    d = a.dir
    sweep = {key(r): r for r in load_jsonl(os.path.join(d, "flopd_sweep.jsonl"))}
    pair = load_jsonl(os.path.join(d, "flopd_seed_pair.jsonl"))
    pair_wall = load_json(os.path.join(d, "flopd_seed_pair_wall.json"), {}).get("wall_seconds")
    sweep_wall = load_json(os.path.join(d, "flopd_sweep_wall.json"), {}).get("wall_seconds")
    tc = load_json(os.path.join(d, "torch_cupy.json"), {})
    smi = open(os.path.join(d, "nvidia-smi.csv")).read().strip() if os.path.exists(os.path.join(d, "nvidia-smi.csv")) else ""
    tests_log = open(os.path.join(d, "gpu_tests.log")).read() if os.path.exists(os.path.join(d, "gpu_tests.log")) else ""
    tests_summary = [l for l in tests_log.splitlines() if re.search(r"PASSED|FAILED|SKIPPED", l) and "[" in l][-3:]

    torch_copy_bw = (tc.get("copy") or {}).get("gbytes_per_s")
    # flopd's own measured device-to-device copy bandwidth (its ceilings), as
    # carried in every result's roofline; torch's copy_ is the cross-check.
    flopd_bw = next((r["roofline"]["peak_bandwidth_bytes_per_s"] / 1e9 for r in
                     load_jsonl(os.path.join(d, "flopd_sweep.jsonl")) if r.get("roofline")), None)
    copy_bw = flopd_bw or torch_copy_bw
    torch_points = {pt["n"]: pt for pt in tc.get("points", [])}
    sizes = sorted({k[3] for k in sweep})
    card = tc.get("device") or next((r.get("device_name") for r in sweep.values()), "unknown GPU")

    def med(op, impl, axis, n):
        r = sweep.get((op, impl, axis, n))
        return r["time"]["median"] if r else None

    def floor(op, impl, axis, n):
        r = sweep.get((op, impl, axis, n))
        return int(r["min_bytes"]) / (copy_bw * 1e9) if (r and copy_bw) else None

    def fw(n, name):
        pt = torch_points.get(n, {}).get(name)
        return pt["median"] if pt else None

    lines = []
    lines.append("# flopd on %s: the seed's experiment\n" % card)
    lines.append("Measured %s with `%s` (bundle from `deploy/bundle.sh`)." % (
        datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), a.command))
    lines.append("Card as found (nvidia-smi):\n\n```\n%s\n```\n" % smi)
    lines.append("- PyTorch %s, CuPy %s, TF32 off everywhere." % (tc.get("torch"), tc.get("cupy")))
    if copy_bw:
        lines.append("- Device-to-device copy bandwidth, bytes read + written / time: **%.0f GB/s** (%s) — the "
                     "denominator of every floor below%s." % (
                         copy_bw, "flopd's measured ceiling" if flopd_bw else "torch `copy_` of 2 GiB",
                         "; torch `copy_` of 2 GiB gave %.0f GB/s" % torch_copy_bw if (flopd_bw and torch_copy_bw) else ""))
    if tests_summary:
        lines.append("- GPU tests: " + " / ".join(s.strip() for s in tests_summary))
    lines.append("")

    # Targets at the largest N.
    n = 20000 if 20000 in sizes else (sizes[-1] if sizes else None)
    targets = []
    if n is not None:
        mv = {impl: med("matvec", impl, None, n) for impl in ("gemm", "gemv", "custom")}
        mv = {k: v for k, v in mv.items() if v}
        if mv and copy_bw:
            best_impl = min(mv, key=mv.get)
            ratio = mv[best_impl] / floor("matvec", best_impl, None, n)
            targets.append(("matvec best impl (%s) / floor (%.2f GB / copy BW)" % (best_impl, 4 * (n * n + 2 * n) / 1e9),
                            "%.3f" % ratio, "<= 1.03", ratio <= 1.03))
        for axis in (0, 1):
            lib = med("outer", "library", axis, n)
            if lib and copy_bw:
                ratio = lib / floor("outer", "library", axis, n)
                targets.append(("outer library axis %d / floor (%.2f GB / copy BW)" % (axis, 4 * (2 * n * n + 3 * n) / 1e9),
                                "%.3f" % ratio, "<= 1.10", ratio <= 1.10))
        for axis in (0, 1):
            fu = med("outer", "fused", axis, n)
            if fu:
                targets.append(("outer fused axis %d time" % axis, "%.1f us" % (fu * 1e6), "<= 20 us", fu <= 20e-6))
        gemm, tmm = med("matvec", "gemm", None, n), fw(n, "torch_mm")
        if gemm and tmm:
            ratio = gemm / tmm
            targets.append(("matvec gemm / torch.mm (event-timed medians)", "%.3f" % ratio, "0.97 .. 1.03",
                            0.97 <= ratio <= 1.03))
        for loop in ("seed_torch_loop", "seed_cupy_loop"):
            if loop in tc and pair_wall:
                seed_wall = tc[loop]["wall_seconds"]
                targets.append(("flopd seed pair sweep wall / %s wall (%.1f s vs %.1f s)" % (loop, pair_wall, seed_wall),
                                "%.3f" % (pair_wall / seed_wall), "< 1", pair_wall < seed_wall))
    lines.append("## Targets (f32, N = %s)\n" % n)
    lines.append("| target | measured | limit | met |")
    lines.append("|---|---:|---:|:---:|")
    for name, value, limit, ok in targets:
        lines.append("| %s | %s | %s | %s |" % (name, value, limit, "yes" if ok else "**NO**"))
    short = "\n".join(lines[-(len(targets) + 3):])
    lines.append("")
    if pair:
        noisy = [r for r in pair if r["relative_noise"] > 0.005]
        lines.append("The seed-pair sweep measured %d points; %d ended above 0.5%% noise (time budget spent)." % (
            len(pair), len(noisy)))
    if sweep_wall:
        lines.append("The full flopd sweep (%d points: every impl and axis, %d sizes) took %.1f s wall." % (
            len(sweep), len(sizes), sweep_wall))
    for loop in ("seed_torch_loop", "seed_cupy_loop"):
        if loop in tc:
            lines.append("The seed's own %s (1000 iterations x 38 sizes, %s) took %.1f s wall." % (
                loop.replace("seed_", "").replace("_loop", ""), tc[loop]["dtype"], tc[loop]["wall_seconds"]))
    lines.append("")

    lines.append("## matvec (median µs per call; floor = (N²+2N)·4 B / copy BW)\n")
    lines.append("| N | flopd gemm | flopd gemv | flopd custom | torch.mm | cupy matmul | floor | best / floor |")
    lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        vals = [med("matvec", i, None, n) for i in ("gemm", "gemv", "custom")]
        fl = floor("matvec", "gemm", None, n)
        best = min(v for v in vals if v) if any(vals) else None
        lines.append("| %d | %s | %s | %s | %s | %s | %s | %s |" % (
            n, *(us(v) for v in vals), us(fw(n, "torch_mm")), us(fw(n, "cupy_matmul")), us(fl),
            "%.2f" % (best / fl) if best and fl else "-"))
    for axis in (0, 1):
        lines.append("\n## outer, axis %d (%s sums; floor of library = (2N²+3N)·4 B / copy BW)\n" % (
            axis, "column" if axis == 0 else "row"))
        lines.append("| N | flopd library | flopd fused | torch mm+sum | cupy matmul+sum | library floor | library / floor | fused GFLOP/s |")
        lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in sizes:
            lib, fu = med("outer", "library", axis, n), med("outer", "fused", axis, n)
            fl = floor("outer", "library", axis, n)
            lines.append("| %d | %s | %s | %s | %s | %s | %s | %s |" % (
                n, us(lib), us(fu), us(fw(n, "torch_outer_axis%d" % axis)), us(fw(n, "cupy_outer_axis%d" % axis)),
                us(fl), "%.2f" % (lib / fl) if lib and fl else "-",
                "%.0f" % ((2 * n * n - n) / fu / 1e9) if fu else "-"))
        comp = fw(max(sizes) if sizes else 0, "torch_compile_outer_axis%d" % axis)
        if comp:
            lines.append("\ntorch.compile of `(u * v).sum(dim=%d)` at N=%d: %s µs." % (axis, max(sizes), us(comp)))
    warnings = sorted({w for r in sweep.values() for w in r.get("warnings", [])})
    if warnings:
        lines.append("\n## Warnings flopd attached to results\n")
        lines.extend("- " + w for w in warnings[:20])
    report = "\n".join(lines) + "\n"
    with open(a.out, "w") as f:
        f.write(report)
    print(short)


if __name__ == "__main__":
    main()
