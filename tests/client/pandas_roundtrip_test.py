#!/usr/bin/python3
"""Results files for pandas (issue 11): the real flopctl writes CSV, JSON Lines
and JSON from a results file, and pandas reads them with numeric columns.

The input is a JSON Lines file as an older flopctl wrote it (protobuf's JSON:
int64 fields as strings, "Infinity" for the one-sample result's noise), so it
also checks that flopctl reads the older spelling. Each format flopctl writes
is then read back by flopctl itself (`show`), and by pandas: read_csv,
read_json(lines=True) and read_json of the array.

usage: pandas_roundtrip_test.py FLOPCTL
Exit status: 0 passed, 1 failed, 77 pandas is not installed (skipped).
"""
import io
import json
import os
import subprocess
import sys
import tempfile

try:
    import pandas as pd
    import pandas.api.types as ptypes
except ImportError:
    print("SKIP: the python3 module pandas is not installed (Debian: python3-pandas)")
    sys.exit(77)

FLOPCTL = sys.argv[1]
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what)


def old_style_result(i, n, samples):
    """One result as protobuf's JSON printer wrote it (flopctl <= issue 10)."""
    median = 1e-9 * n * n
    return {
        "job_id": "j-1", "host_address": "127.0.0.1:50051", "hostname": "gpu01",
        "device": "cpu:0", "device_name": "test CPU", "backend": "cpu",
        "op": "matvec", "impl": "gemv", "params": {}, "dtype": "f32",
        "n": str(n), "flops": str(2 * n * n - n), "min_bytes": str(4 * (n * n + 2 * n)),
        "timing": "hot", "samples": samples, "iterations_per_sample": "10",
        "time": {"median": median, "mean": median, "min": median * 0.9, "max": median * 1.2,
                 "stddev": median * 0.01, "p05": median * 0.95, "p25": median,
                 "p75": median, "p95": median * 1.1},
        "relative_noise": "Infinity" if samples < 3 else 0.004,
        "noise_target": 0.005, "stop_reason": "fixed_samples" if samples < 3 else "noise_target_met",
        "gflops_per_s": (2 * n * n - n) / median / 1e9, "gbytes_per_s": 1.0,
        "verification": {"passed": True, "max_rel_error": 1e-7, "tolerance": 1e-4, "detail": ""},
        "warnings": [], "sample_seconds": [median] * samples, "library": "OpenBLAS",
        "threads": 2, "measured_unix_ms": str(1764532800000 + i), "point_wall_seconds": 0.1,
        "flopd_version": "0.11.0", "observations": {}, "run_id": "r-test", "host_label": "",
        "flopd_build": "git abc123, Release, GCC 12, no CUDA",
    }


def flopctl(*args):
    done = subprocess.run([FLOPCTL, *args], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"flopctl {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
        sys.exit(1)
    return done.stdout


def main():
    # Sizes whose string order differs from their numeric order ("1000" < "64").
    sizes = [(64, 10), (1000, 10), (256, 1), (4096, 5)]
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "old.jsonl")
        with open(source, "w") as f:
            for i, (n, samples) in enumerate(sizes):
                f.write(json.dumps(old_style_result(i, n, samples)) + "\n")
        files = {}
        for fmt in ("csv", "jsonl", "json"):
            files[fmt] = os.path.join(tmp, "results." + fmt)
            with open(files[fmt], "w") as f:
                f.write(flopctl("show", source, "--format", fmt))
            text = open(files[fmt]).read()
            check("Infinity" not in text and "NaN" not in text, f"{fmt}: no Infinity or NaN")
            # flopctl reads back what it wrote, in every format.
            again = flopctl("show", files[fmt], "--format", "jsonl").splitlines()
            check(len(again) == len(sizes), f"{fmt}: flopctl show reads {len(again)} results")

        # round_trip: the exact doubles flopctl wrote (the default parser may be off by an ulp).
        csv = pd.read_csv(files["csv"], float_precision="round_trip")
        check(len(csv) == len(sizes), f"csv: {len(csv)} rows")
        for column in ("n", "flops", "min_bytes", "samples"):
            check(ptypes.is_integer_dtype(csv[column]), f"csv: {column} is {csv[column].dtype}")
        for column in ("median_s", "gflops_per_s", "relative_noise"):
            check(ptypes.is_float_dtype(csv[column]), f"csv: {column} is {csv[column].dtype}")
        check(sorted(csv["n"]) == sorted(n for n, _ in sizes), "csv: n sorts as numbers")
        one_sample = csv[csv["n"] == 256].iloc[0]
        check(pd.isna(one_sample["relative_noise"]), "csv: no noise figure is NaN")
        check(one_sample["relative_noise_note"] == "no noise figure: fewer than 3 samples",
              f"csv: the note says why: {one_sample['relative_noise_note']!r}")
        for column in ("measured_at", "job_id", "run_id", "hostname", "host_label",
                       "flopd_version", "flopd_build"):
            check(column in csv.columns, f"csv: has {column}")
        measured = pd.to_datetime(csv["measured_at"])
        check(str(measured.iloc[0]).startswith("2025-11-30 20:00:00"),
              f"csv: measured_at {measured.iloc[0]}")

        lines = pd.read_json(files["jsonl"], lines=True)
        array = pd.read_json(files["json"])
        for name, frame in (("jsonl", lines), ("json", array)):
            check(len(frame) == len(sizes), f"{name}: {len(frame)} rows")
            for column in ("n", "flops", "min_bytes", "iterations_per_sample"):
                check(ptypes.is_integer_dtype(frame[column]),
                      f"{name}: {column} is {frame[column].dtype}")
            check(ptypes.is_float_dtype(frame["relative_noise"]),
                  f"{name}: relative_noise is {frame['relative_noise'].dtype}")
            check(frame["n"].max() == 4096, f"{name}: the largest n is {frame['n'].max()}")
        flat = pd.json_normalize([json.loads(l) for l in open(files["jsonl"])])
        check(ptypes.is_float_dtype(flat["time.median"]), f"jsonl: time.median is "
              f"{flat['time.median'].dtype}")
        check(flat["time.median"].tolist() == csv["median_s"].tolist(),
              "jsonl and csv medians agree")
        check(flat["relative_noise"].isna().sum() == 1, "jsonl: one result has no noise figure")

    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("pandas read every format flopctl writes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
