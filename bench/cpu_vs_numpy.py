#!/usr/bin/python3
"""flopd's CPU backend against NumPy on the same machine, in one run.

For each N, flopd (through flopctl, against a flopd on loopback) and NumPy
time the seed's ops back to back, so both see the same machine state:
  matvec:  flopd gemv / gemm      vs  NumPy  A @ x          (NumPy calls OpenBLAS sgemv)
  outer:   flopd library / fused  vs  NumPy  np.outer(u, v).sum(axis)
Both use Debian's OpenBLAS with the same thread count. NumPy is timed like
flopd: warm-up, samples of K back-to-back calls (K so a sample lasts >= 1 ms),
until the 95% CI half-width of the median is <= 0.5% or 2 s are spent.

Prints a markdown report (machine, versions, the table, ratios); with
--write FILE also saves it. Target (issue 2): flopd matvec within 10% of
NumPy's A @ x at N = 2000..8000, f32.

usage: bench/cpu_vs_numpy.py [--build build] [--sizes 2000,3000,...] [--threads 2] [--write docs/results/cpu.md]
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build", help="build directory with server/flopd and client/flopctl")
    p.add_argument("--sizes", default="2000,3000,4000,5000,6000,7000,8000")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--settle", type=float, default=1.0,
                   help="seconds to pause between flopd and NumPy so the other's OpenBLAS threads stop spinning")
    p.add_argument("--dtype", default="f32", choices=["f32", "f64"])
    p.add_argument("--max-time", type=float, default=2.0, help="per point time budget, seconds")
    p.add_argument("--rounds", type=int, default=3,
                   help="matvec: alternate flopd and NumPy this many times per N and take the median of rounds")
    p.add_argument("--write", help="also write the markdown report to this file")
    return p.parse_args()


ARGS = parse_args()
# NumPy must load OpenBLAS with the same thread count flopd uses.
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.threads)
import numpy as np  # noqa: E402


def relative_noise(samples):
    """Same definition as flopd's common/statistics.cc."""
    s = sorted(samples)
    n = len(s)
    if n < 3:
        return math.inf
    median = float(np.median(s))
    half = 0.98 * math.sqrt(n)
    lo = max(0, int(math.floor(n / 2.0 - half)))
    hi = min(n - 1, int(math.ceil(n / 2.0 - 1 + half)))
    return (s[hi] - s[lo]) / (2 * median)


def time_numpy(fn, max_time, noise_target=0.005, min_samples=10):
    fn()  # warm-up (and first touch)
    start = time.perf_counter()
    runs = 0
    while runs < 2 or time.perf_counter() - start < 0.005:
        fn()
        runs += 1
    per_call = (time.perf_counter() - start) / runs
    k = max(1, math.ceil(1e-3 / per_call))
    samples = []
    begin = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
        samples.append((time.perf_counter() - t0) / k)
        elapsed = time.perf_counter() - begin
        if len(samples) >= min_samples and elapsed >= 0.05 and relative_noise(samples) <= noise_target:
            break
        if elapsed >= max_time:
            break
    return float(np.median(samples)), relative_noise(samples)


def numpy_blas():
    """The BLAS NumPy calls, as threadpoolctl-free NumPy reports it."""
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return "%s %s" % (blas.get("name", "?"), blas.get("version", "?"))
    except Exception:  # older NumPy: no mode="dicts"
        return "unknown"


def settle():
    """Both flopd's and NumPy's OpenBLAS threads spin for a while after a call; switching from one to the other
    without a pause let the spinning threads of one steal the CPUs of the other (seen on a 16-core host: NumPy
    10x slower in some rounds). Wait until they sleep."""
    time.sleep(ARGS.settle)


def start_flopd(build):
    log = tempfile.NamedTemporaryFile(prefix="flopd-bench-", suffix=".log", delete=False)
    proc = subprocess.Popen([os.path.join(build, "server/flopd"), "--listen", "127.0.0.1:0", "--no-http", "--no-cuda",
                             "--threads", str(ARGS.threads)], stdout=subprocess.PIPE, stderr=log, text=True)
    for line in proc.stdout:
        m = re.search(r"listening on (\S+)", line)
        if m:
            return proc, m.group(1)
    raise SystemExit("flopd did not start; see " + log.name)


def flopctl_point(build, address, n, out, ops="matvec,outer"):
    cmd = [os.path.join(build, "client/flopctl"), "run", "--host", address, "--op", ops,
           "--sizes", str(n), "--dtype", ARGS.dtype, "--max-time", str(ARGS.max_time), "--format", "jsonl",
           "--quiet"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit("flopctl failed: " + res.stderr)
    out.write(res.stdout)
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def key(r):
    axis = r.get("params", {}).get("axis")
    return r["op"] + "/" + r["impl"] + ("" if axis is None else " axis=%s" % axis)


def fmt_us(seconds):
    return "%.1f" % (seconds * 1e6)


def machine_lines():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return [
        "- machine: %s, %d hardware threads, %s" % (model, os.cpu_count(), platform.platform()),
        "- threads: flopd `--threads %d`, NumPy `OPENBLAS_NUM_THREADS=%d`" % (ARGS.threads, ARGS.threads),
        "- NumPy %s from %s, BLAS: %s (Python %s)" % (np.__version__, os.path.dirname(np.__file__), numpy_blas(),
                                                   platform.python_version()),
        "- load average when the report was written: %.2f / %.2f / %.2f (1 / 5 / 15 min; > 0 means other work "
        "shared the CPU)" % os.getloadavg(),
    ]


def main():
    sizes = [int(s) for s in ARGS.sizes.split(",")]
    dt = np.float32 if ARGS.dtype == "f32" else np.float64
    rng = np.random.default_rng(20000)
    proc, address = start_flopd(ARGS.build)
    jsonl = tempfile.NamedTemporaryFile("w", prefix="flopd-bench-", suffix=".jsonl", delete=False)
    rows = []
    library = ""
    wall0 = time.perf_counter()
    try:
        for n in sizes:
            a = (0.5 + rng.random((n, n))).astype(dt)
            x = (0.5 + rng.random(n)).astype(dt)
            u = (0.5 + rng.random(n)).astype(dt)
            v = (0.5 + rng.random(n)).astype(dt)
            # matvec: alternate flopd and NumPy so both see the same machine state.
            rounds = {"matvec/gemv": [], "matvec/gemm": [], "numpy": []}
            for _ in range(ARGS.rounds):
                settle()
                for r in flopctl_point(ARGS.build, address, n, jsonl, ops="matvec"):
                    rounds[key(r)].append(r["time"]["median"])
                    library = r.get("library", "")
                settle()
                rounds["numpy"].append(time_numpy(lambda: a @ x, ARGS.max_time)[0])
            settle()
            flopd = {key(r): r for r in flopctl_point(ARGS.build, address, n, jsonl, ops="outer")}
            settle()
            np_outer0, _ = time_numpy(lambda: np.outer(u, v).sum(axis=0), ARGS.max_time)
            np_outer1, _ = time_numpy(lambda: np.outer(u, v).sum(axis=1), ARGS.max_time)
            med = {k: r["time"]["median"] for k, r in flopd.items()}
            med["matvec/gemv"] = float(np.median(rounds["matvec/gemv"]))
            med["matvec/gemm"] = float(np.median(rounds["matvec/gemm"]))
            rows.append((n, med, float(np.median(rounds["numpy"])), rounds, np_outer0, np_outer1, None))
            print("N=%d done" % n, file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait()
    wall = time.perf_counter() - wall0

    out = []
    out.append("# flopd CPU backend vs NumPy (same machine, same run)\n")
    out.append("Measured %s with `bench/cpu_vs_numpy.py %s`.\n" % (
        datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        " ".join(sys.argv[1:])))
    out.extend(machine_lines())
    out.append("- flopd: %s" % library)
    out.append("- dtype %s; times are medians per execution in µs; ratio = flopd ÷ NumPy (< 1 = flopd faster)" % ARGS.dtype)
    out.append("- whole run: %.0f s wall\n" % wall)
    out.append("## matvec: flopd vs NumPy `A @ x` (target: flopd within 10%, ratio ≤ 1.10)\n")
    out.append("Times are medians over %d alternating rounds (flopd, then NumPy, back to back). The verdict uses "
               "the paired ratio: the median over rounds of (flopd gemv ÷ NumPy) measured seconds apart, which "
               "cancels the slow drifts of a shared machine better than a ratio of medians.\n" % ARGS.rounds)
    out.append("| N | flopd gemv | flopd gemm | NumPy A @ x | gemm ÷ NumPy | gemv ÷ NumPy per round | paired gemv ÷ NumPy | within 10% |")
    out.append("|---:|---:|---:|---:|---:|---|---:|:---:|")
    worst = 0.0
    for n, med, npm, rounds, _, _, _ in rows:
        g, m = med["matvec/gemv"], med["matvec/gemm"]
        ratios = [fg / fn for fg, fn in zip(rounds["matvec/gemv"], rounds["numpy"])]
        paired = float(np.median(ratios))
        worst = max(worst, paired)
        out.append("| %d | %s | %s | %s | %.3f | %s | %.3f | %s |" % (
            n, fmt_us(g), fmt_us(m), fmt_us(npm), m / npm, ", ".join("%.2f" % r for r in ratios), paired,
            "yes" if paired <= 1.10 else "NO"))
    out.append("\nWorst paired ratio over these sizes: %.3f (flopd's gemv is the same cblas_sgemv call NumPy "
               "makes, with the same threads).\n" % worst)
    out.append("## outer: flopd vs NumPy `np.outer(u, v).sum(axis)`\n")
    out.append("| N | axis | flopd library | flopd fused | NumPy | library ÷ NumPy | fused ÷ NumPy |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|")
    for n, med, _, _, np0, np1, _ in rows:
        for axis, ref in ((0, np0), (1, np1)):
            lib = med["outer/library axis=%d" % axis]
            fus = med["outer/fused axis=%d" % axis]
            out.append("| %d | %d | %s | %s | %s | %.3f | %.3f |" % (
                n, axis, fmt_us(lib), fmt_us(fus), fmt_us(ref), lib / ref, fus / ref))
    out.append("\nflopd results (JSON Lines) of this run: `%s` (not kept in the repo).\n" % jsonl.name)
    report = "\n".join(out)
    print(report)
    if ARGS.write:
        with open(ARGS.write, "w") as f:
            f.write(report)


if __name__ == "__main__":
    main()
