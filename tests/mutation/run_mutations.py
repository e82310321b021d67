#!/usr/bin/env python3
"""Proves the test suite bites: applies one-line mutations of the code that
matters, one at a time, to a scratch copy of the tree, rebuilds the tests
that guard each, runs them, and reports which mutations survive (none may).

The live tree is never touched: it is copied (build and dot folders left
out) to a scratch folder, by default /tmp/flopd-mutation/src, and built
in /tmp/flopd-mutation/build. Builds are incremental: a mutation is
reverted before the next is applied, so each step recompiles one file and
relinks the test binaries that need it. The first run builds everything
(about 10 minutes on 2 cores), later runs reuse the build.

Every mutation is an exact-string replacement in one file; the string must
occur exactly once there (else the mutation is reported STALE: the code
moved and the list needs updating). Before any mutation, the tests named by
all mutations must pass on the unmutated copy.

Usage:
  tests/mutation/run_mutations.py [--scratch DIR] [--only ID[,ID...]]
                                   [--jobs N] [--report FILE.md] [--check]

  --check   only check that every mutation's string occurs once in the live
            tree (no copy, no build)
  --report  also write the result table as Markdown (docs/TESTING.md keeps
            the last one)

Exit status: 0 when every mutation was killed; 1 when one survived, was
stale or did not build; 2 when the unmutated copy does not build or pass.
Slow (tens of minutes): kept out of .ci/run.
"""

import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import List

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Test binaries (CMake targets), by short name.
COMMON = "flopd_common_tests"
WIRE = "flopd_wire_tests"
SERVER = "flopd_server_tests"
CPU = "flopd_cpu_backend_test"
CLIENT = "flopctl_tests"
E2E = "flopd_fake_device_run_tests"
HTTP_API = "flopd_http_api_tests"
INTEGRATION = "flopd_integration_tests"


@dataclass
class Mutation:
    id: str
    file: str
    old: str
    new: str
    targets: List[str]
    tests: str  # ctest -R regex: the tests expected to fail
    what: str   # the bug, in words


MUTATIONS = [
    # --- verification end to end
    Mutation("wire-passed", "proto/wire/wire.cc",
             "v->set_passed(outcome.verification.passed);",
             "v->set_passed(true);",
             [WIRE, SERVER, E2E], r"^(WireTest|ServiceTest|FakeDeviceRun)\.",
             "a failed verification is sent as passed"),
    Mutation("exit-verification", "client/run_command.cc",
             "return outcome.failures.empty() && failed_verification == 0 && !out_failed ? 0 : 1;",
             "return outcome.failures.empty() && !out_failed ? 0 : 1;",
             [CLIENT, E2E], r"^(RenderRun|FakeDeviceRun)\.",
             "flopctl's exit status ignores failed verification"),
    Mutation("table-fail", "client/result_format.cc",
             'line.push_back(all_passed ? "ok" : "FAIL");',
             'line.push_back("ok");',
             [CLIENT, E2E], r"^(AggregateTable|RenderRun|FakeDeviceRun)\.",
             "the table never shows FAIL"),
    Mutation("scheduler-failed-count", "server/scheduler.cc",
             "if (!outcome->verification.passed) ++failed_verification;",
             "",
             [SERVER], r"^(Scheduler|ServiceTest)\.",
             "points_failed_verification stays 0"),
    Mutation("wire-failed-count", "proto/wire/wire.cc",
             "finished->set_points_failed_verification(event.points_failed_verification);",
             "finished->set_points_failed_verification(0);",
             [WIRE, SERVER], r"^(WireTest|ServiceTest)\.",
             "points_failed_verification is dropped on the wire"),
    # --- the measurement loop
    Mutation("per-execution", "server/measure_point.cc",
             "outcome.samples.push_back(*seconds / static_cast<double>(iterations));",
             "outcome.samples.push_back(*seconds);",
             [SERVER], r"^(MeasurePoint|ServiceTest|Scheduler)\.",
             "samples are batch times, not per-execution times (K x too large)"),
    Mutation("auto-iterations", "server/measure_point.cc",
             "      static_cast<int64_t>(std::ceil(min_sample_seconds / std::max(per_execution, 1e-12))), 1,\n"
             "      cap_for(per_execution));\n",
             "      int64_t{1}, 1, cap_for(per_execution));\n  min_sample_seconds = 0;\n",
             [SERVER], r"^MeasurePoint\.",
             "iterations per sample are never raised to fill the minimum sample time"),
    Mutation("cancel-in-sampling", "server/measure_point.cc",
             "    if (cancelled.load()) return absl::CancelledError(\"job cancelled\");\n"
             "    absl::StatusOr<double> seconds =\n",
             "    absl::StatusOr<double> seconds =\n",
             [SERVER], r"^Scheduler\.Cancel",
             "the sampling loop does not look at the cancel flag"),
    Mutation("cancel-in-slices", "server/measure_point.cc",
             "if (done > 0 && cancelled.load()) return absl::CancelledError(\"job cancelled\");",
             "",
             [SERVER], r"^MeasurePoint\.Cancel",
             "a long sample is not interruptible between its slices"),
    Mutation("slice-sum", "server/measure_point.cc",
             "    seconds += *part;",
             "    seconds = *part;",
             [SERVER], r"^MeasurePoint\.ALongSample",
             "a sliced sample's time is its last slice, not the sum"),
    Mutation("http-omit-samples", "server/history_api.cc",
             "    if (request.omit_samples()) result.clear_sample_seconds();",
             "",
             [INTEGRATION], r"^Http\.TheJsonApi",
             "ListResults ignores omit_samples"),
    Mutation("query-plural", "server/http/json_api.cc",
             "    field = type.FindFieldByName(name + \"s\");",
             "    field = nullptr;",
             [HTTP_API], r"^ParseQueryTest\.",
             "a singular query parameter (op=) no longer reaches its repeated field (ops)"),
    Mutation("metrics-evict-newest", "server/http/metrics.cc",
             "      points_.erase(recency_.front());\n      recency_.pop_front();",
             "      points_.erase(recency_.back());\n      recency_.pop_back();",
             [HTTP_API], r"^MetricsTest\.",
             "/metrics evicts the most recently measured point instead of the least"),
    Mutation("metrics-restore-counts", "server/http/metrics.cc",
             "void FlopdMetrics::Restore(const v1::Result& result, const ResultIndex& index) {\n  UpdatePoint(result, index);",
             "void FlopdMetrics::Restore(const v1::Result& result, const ResultIndex& index) {\n  Record(result, index);",
             [HTTP_API], r"^MetricsTest\.",
             "results restored from the store at start count as measured now"),
    Mutation("gflops-numerator", "server/measure_point.cc",
             "outcome.flops_per_s = static_cast<double>(outcome.flops) / outcome.summary.median;",
             "outcome.flops_per_s = static_cast<double>(outcome.min_bytes) / outcome.summary.median;",
             [SERVER, E2E], r"^(MeasurePoint|ServiceTest|FakeDeviceRun)\.",
             "FLOP/s computed from the bytes"),
    Mutation("min-bytes-model", "server/measure_point.cc",
             "outcome.min_bytes = MinBytes(point);",
             "outcome.min_bytes = BufferBytes(point);",
             [SERVER, E2E], r"^(MeasurePoint|ServiceTest|FakeDeviceRun)\.",
             "a result's bytes are its buffers, not the impl's minimum bytes"),
    Mutation("roofline-dtype", "server/measure_point.cc",
             "auto peak = ceilings.peak_flops.find(std::string(DTypeName(outcome->point.dtype)));",
             'auto peak = ceilings.peak_flops.find("f32");',
             [SERVER], r"^(MeasurePoint|ServiceTest)\.",
             "every result is placed under the f32 peak"),
    Mutation("wire-gflops-unit", "proto/wire/wire.cc",
             "if (outcome.flops_per_s > 0) r.set_gflops_per_s(outcome.flops_per_s / 1e9);",
             "if (outcome.flops_per_s > 0) r.set_gflops_per_s(outcome.flops_per_s / 1e6);",
             [WIRE, SERVER], r"^(WireTest|ServiceTest)\.",
             "GFLOP/s off by 1000 on the wire"),
    # --- scheduler
    Mutation("scheduler-lifo", "server/scheduler.cc",
             "job = slot->queue.front();\n      slot->queue.pop_front();",
             "job = slot->queue.back();\n      slot->queue.pop_back();",
             [SERVER], r"^Scheduler\.",
             "the queue is last in, first out"),
    Mutation("queue-position", "server/scheduler.cc",
             "submitted.queue_position = Waiting(slot) + (slot.running ? 1 : 0);",
             "submitted.queue_position = Waiting(slot);",
             [SERVER], r"^Scheduler\.",
             "queue positions forget the running job"),
    Mutation("queue-counts-cancelled", "server/scheduler.cc",
             "return !job->cancelled();",
             "return true;",
             [SERVER], r"^Scheduler\.",
             "a job cancelled while queued still counts in queue lengths and positions"),
    Mutation("ceilings-every-job", "server/scheduler.cc",
             "  if (!attempted) {\n",
             "  if (true) {\n",
             [SERVER], r"^Scheduler\.",
             "ceilings are re-measured before every job"),
    # --- stopping rule and statistics
    Mutation("stop-min-samples", "common/measure_settings.cc",
             "if (n >= settings.min_samples && elapsed_s >= settings.min_time_s) {",
             "if (elapsed_s >= settings.min_time_s) {",
             [COMMON, SERVER], r"^(CheckStopTest|MeasurePoint)\.",
             "the noise rule stops before min_samples"),
    Mutation("stop-fixed-samples", "common/measure_settings.cc",
             "return n >= settings.fixed_samples ? StopReason::kFixedSamples : StopReason::kContinue;",
             "return n > settings.fixed_samples ? StopReason::kFixedSamples : StopReason::kContinue;",
             [COMMON, SERVER], r"^(CheckStopTest|MeasurePoint)\.",
             "fixed mode takes one sample too many"),
    Mutation("median-upper", "common/statistics.cc",
             "s.median = Percentile(sorted, 0.5);",
             "s.median = sorted[sorted.size() / 2];",
             [COMMON], r"^SummarizeTest\.",
             "the median of an even count is the upper middle sample"),
    Mutation("noise-width", "common/statistics.cc",
             "const double half_width_ranks = 0.98 * std::sqrt(static_cast<double>(n));",
             "const double half_width_ranks = 1.96 * std::sqrt(static_cast<double>(n));",
             [COMMON], r"^(RelativeNoiseTest|SummarizeTest)\.",
             "the noise interval is twice as wide"),
    # --- catalog models
    Mutation("flops-model", "common/op_catalog.cc",
             'const CountModel kTwoNSquaredMinusN{{{2, 2, ""}, {-1, 1, ""}}};',
             'const CountModel kTwoNSquaredMinusN{{{2, 2, ""}}};',
             [COMMON, SERVER], r"^(OpCatalogTest|MeasurePoint|ServiceTest)\.",
             "FLOPs counted as 2N^2"),
    Mutation("fused-bytes-model", "common/op_catalog.cc",
             'const CountModel kOuterElements{{{3, 1, ""}}};',
             'const CountModel kOuterElements{{{2, 1, ""}}};',
             [COMMON, SERVER], r"^(OpCatalogTest|ServiceTest)\.",
             "outer/fused's minimum bytes forget the output"),
    Mutation("library-bytes-model", "common/op_catalog.cc",
             'const CountModel kOuterLibraryElements{{{2, 2, ""}, {3, 1, ""}}};',
             'const CountModel kOuterLibraryElements{{{1, 2, ""}, {3, 1, ""}}};',
             [COMMON, SERVER], r"^(OpCatalogTest|MeasurePoint|ServiceTest)\.",
             "outer/library's product is counted as written but never re-read"),
    # --- the table's "vs matvec"
    Mutation("vs-fastest-impl", "client/result_format.cc",
             "if (other.point.impl == baseline.impl) return {other.fleet_median, baseline.impl};",
             "if (false) return {other.fleet_median, baseline.impl};",
             [CLIENT, E2E], r"^(AggregateTable|FakeDeviceRun)\.",
             "the baseline is the fastest matvec impl, not gemm"),
    Mutation("vs-ignores-dtype", "client/result_format.cc",
             "if (std::get<0>(other_key) != std::get<0>(key) || std::get<1>(other_key) != std::get<1>(key) ||",
             "if (std::get<1>(other_key) != std::get<1>(key) ||",
             [CLIENT], r"^AggregateTable\.",
             "the baseline ignores the dtype"),
    Mutation("vs-ignores-n", "client/result_format.cc",
             "if (std::get<0>(other_key) != std::get<0>(key) || std::get<1>(other_key) != std::get<1>(key) ||",
             "if (std::get<0>(other_key) != std::get<0>(key) ||",
             [CLIENT], r"^AggregateTable\.",
             "the baseline ignores N"),
    Mutation("table-gflops-unit", "client/result_format.cc",
             'line.push_back(absl::StrFormat("%.4g", any->flops() / row.fleet_median / 1e9));',
             'line.push_back(absl::StrFormat("%.4g", any->flops() / row.fleet_median / 1e6));',
             [CLIENT, E2E], r"^(AggregateTable|FakeDeviceRun)\.",
             "the table's GFLOP/s off by 1000"),
    Mutation("fan-out-host", "client/run_fan_out.cc",
             "result.set_host_address(host);",
             "",
             [E2E], r"^FakeDeviceRun\.",
             "results do not say which host was dialled"),
    # --- compare
    Mutation("compare-p-gate", "common/compare_stats.cc",
             "different = c.p_value < options.alpha;",
             "different = true;",
             [COMMON, CLIENT], r"^(ComparePoints|CompareCommandTest)\.",
             "different whenever the ratio is off, whatever p"),
    Mutation("compare-method-switch", "common/compare_stats.cc",
             "static_cast<int>(a.samples.size()) >= options.min_samples &&",
             "static_cast<int>(a.samples.size()) > options.min_samples &&",
             [COMMON, CLIENT], r"^(ComparePoints|CompareCommandTest)\.",
             "the U test needs 6 samples, not 5"),
    Mutation("compare-min-effect", "common/compare_stats.cc",
             "if (different && std::fabs(c.ratio - 1) > options.min_effect) {",
             "if (different) {",
             [COMMON, CLIENT], r"^(ComparePoints|CompareCommandTest)\.",
             "significant but tiny differences are reported"),
    Mutation("compare-swapped", "client/analysis_commands.cc",
             "const PointComparison c = ComparePoints(pa, pb, options);",
             "const PointComparison c = ComparePoints(pb, pa, options);",
             [CLIENT], r"^CompareCommandTest\.",
             "compare reports A/B instead of B/A"),
    # --- same-FLOP honesty on the CPU
    Mutation("fused-shortcut-axis0", "server/backend/cpu/cpu_kernels.cc",
             "                [&](int64_t begin, int64_t end) { body(s, x, n, begin, end, out); });",
             "                [&](int64_t begin, int64_t end) { body(s, x, n, begin, end, out); });\n"
             "  if (axis == 0) { T ss = s[0]; for (int64_t k = 1; k < n; ++k) ss += s[k];"
             " for (int64_t k = 0; k < n; ++k) out[k] = x[k] * ss; }",
             [CPU], r"^CpuKernelsTest\.FusedOuterSumFormsEveryProduct",
             "the fused column sums are v_j * sum(u)"),
    Mutation("fused-shortcut-axis1", "server/backend/cpu/cpu_kernels.cc",
             "                [&](int64_t begin, int64_t end) { body(s, x, n, begin, end, out); });",
             "                [&](int64_t begin, int64_t end) { body(s, x, n, begin, end, out); });\n"
             "  if (axis == 1) { T ss = s[0]; for (int64_t k = 1; k < n; ++k) ss += s[k];"
             " for (int64_t k = 0; k < n; ++k) out[k] = x[k] * ss; }",
             [CPU], r"^(CpuKernelsTest\.FusedOuterSumFormsEveryProduct|CpuDeviceTest\.NoResultBeatsTheComputeRoof)",
             "the fused row sums are u_i * sum(v), computed once after the kernel (O(N) more work)"),
    # --- CPU ceilings
    Mutation("peak-lanes", "server/backend/cpu/ceilings.cc",
             "const int element_bytes = f64 ? 8 : 4;",
             "const int element_bytes = 8;",
             [CPU], r"^CpuCeilings\.",
             "the f32 peak counts f64 lanes"),
    Mutation("bandwidth-unit", "server/backend/cpu/ceilings.cc",
             "c.bandwidth_bytes_per_s = std::max(best_copy, best_triad);",
             "c.bandwidth_bytes_per_s = std::max(best_copy, best_triad) / 8;",
             [CPU], r"^CpuCeilings\.",
             "the bandwidth ceiling in elements, not bytes"),
]


def run(command, cwd=None, timeout=None, log=None):
    """Runs a shell command; returns (exit status, output)."""
    try:
        done = subprocess.run(command, cwd=cwd, shell=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
        out = done.stdout
        code = done.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        code = 124
    if log:
        with open(log, "a") as f:
            f.write(f"$ {command}\n{out}\n[exit {code}]\n")
    return code, out


def skipped(top_level_name):
    return top_level_name.startswith("build") or top_level_name.startswith(".")


def sync_tree(source, copy):
    """Makes `copy` a copy of `source` without build folders or dot folders.
    A file whose content differs is rewritten (a fresh mtime, so make
    rebuilds it); an identical one is left alone (so the build stays
    incremental); a file gone from `source` is removed."""
    wanted = set()
    for directory, subdirs, files in os.walk(source):
        relative = os.path.relpath(directory, source)
        if relative == ".":
            subdirs[:] = [d for d in subdirs if not skipped(d)]
        for name in files:
            rel = os.path.normpath(os.path.join(relative, name))
            wanted.add(rel)
            src_path = os.path.join(source, rel)
            dst_path = os.path.join(copy, rel)
            if os.path.islink(src_path) or not os.path.isfile(src_path):
                continue
            data = open(src_path, "rb").read()
            if os.path.isfile(dst_path) and open(dst_path, "rb").read() == data:
                continue
            os.makedirs(os.path.dirname(dst_path), exist_ok=True)
            with open(dst_path, "wb") as f:
                f.write(data)
            shutil.copymode(src_path, dst_path)
    for directory, subdirs, files in os.walk(copy):
        relative = os.path.relpath(directory, copy)
        for name in files:
            rel = os.path.normpath(os.path.join(relative, name))
            if rel not in wanted:
                os.remove(os.path.join(copy, rel))


def check_patterns(tree, mutations):
    stale = []
    for m in mutations:
        path = os.path.join(tree, m.file)
        try:
            text = open(path).read()
        except OSError:
            stale.append((m, "file missing"))
            continue
        count = text.count(m.old)
        if count != 1:
            stale.append((m, f"string found {count} times"))
    return stale


def failed_tests(output):
    ends = "Failed|Timeout|SEGFAULT|Subprocess aborted|Exception"
    names = re.findall(r"^\s*\d+ - (\S+) \((?:" + ends + r")\)", output, re.M)
    return names


def cell(text, limit=90):
    """Text for a Markdown table cell: one line, pipes escaped, shortened."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return text.replace("|", "\\|")


def markdown_table(results):
    lines = ["| # | mutation | file: the bug | replaced | by | verdict: tests that failed |",
             "| --- | --- | --- | --- | --- | --- |"]
    for i, (m, verdict, detail, _) in enumerate(results, 1):
        lines.append(f"| {i} | `{m.id}` | `{m.file}`: {cell(m.what)} | `{cell(m.old, 60)}` | "
                     f"`{cell(m.new, 60) or '(nothing)'}` | {verdict}: {cell(detail, 200)} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scratch", default="/tmp/flopd-mutation")
    parser.add_argument("--only", default="")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--report", default="")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()

    mutations = MUTATIONS
    if args.only:
        wanted = set(args.only.split(","))
        mutations = [m for m in MUTATIONS if m.id in wanted]
        missing = wanted - {m.id for m in mutations}
        if missing:
            print(f"unknown mutation id(s): {', '.join(sorted(missing))}", file=sys.stderr)
            return 2
    ids = [m.id for m in MUTATIONS]
    assert len(ids) == len(set(ids)), "duplicate mutation ids"

    stale = check_patterns(ROOT, mutations)
    for m, why in stale:
        print(f"STALE {m.id}: {m.file}: {why}")
    if args.check:
        print(f"{len(mutations)} mutations, {len(stale)} stale")
        return 1 if stale else 0

    src = os.path.join(args.scratch, "src")
    build = os.path.join(args.scratch, "build")
    log = os.path.join(args.scratch, "log.txt")
    os.makedirs(src, exist_ok=True)
    open(log, "w").close()
    started = time.time()

    sync_tree(ROOT, src)
    code, out = run(f"cmake -S '{src}' -B '{build}' -DCMAKE_BUILD_TYPE=Release "
                    f"-DFLOPD_BUILD_TESTS=ON -DFLOPD_CUDA=OFF", log=log)
    if code != 0:
        print(out[-3000:])
        return 2
    targets = sorted({t for m in mutations for t in m.targets})
    print(f"building the unmutated copy ({' '.join(targets)}) in {build} ...", flush=True)
    code, out = run(f"cmake --build '{build}' -j{args.jobs} --target {' '.join(targets)}", log=log)
    if code != 0:
        print(out[-3000:])
        print("the unmutated copy does not build: nothing to prove")
        return 2
    # CMake's regex engine takes a few groups only: one ctest per distinct regex.
    passed = 0
    for regex in dict.fromkeys(m.tests for m in mutations):
        code, out = run(f"ctest -R '{regex}' --no-tests=error --timeout 300 -j{args.jobs}",
                        cwd=build, log=log)
        if code != 0:
            print(out[-3000:])
            print(f"the unmutated copy fails {regex}: fix (or deflake) those tests first")
            return 2
        count = re.search(r"tests passed, 0 tests failed out of (\d+)", out)
        passed += int(count.group(1)) if count else 0
    print(f"unmutated: every guarding test passes ({passed} runs)", flush=True)

    results = []  # (mutation, verdict, detail, seconds)
    for m in mutations:
        if any(m is s for s, _ in stale):
            results.append((m, "STALE", "string not found once", 0))
            continue
        t0 = time.time()
        path = os.path.join(src, m.file)
        original = open(path).read()
        try:
            open(path, "w").write(original.replace(m.old, m.new, 1))
            code, out = run(f"cmake --build '{build}' -j{args.jobs} --target {' '.join(m.targets)}",
                            log=log)
            if code != 0:
                verdict, detail = "NO BUILD", out[-400:].strip().splitlines()[-1:]
                detail = detail[0] if detail else ""
            else:
                code, out = run(f"ctest -R '{m.tests}' --no-tests=error --timeout 120 "
                                f"-j{args.jobs} --output-on-failure", cwd=build, log=log)
                if code == 0:
                    verdict, detail = "SURVIVED", "every test passed"
                else:
                    names = failed_tests(out)
                    if names:
                        verdict = "killed"
                        more = f" (+{len(names) - 4})" if len(names) > 4 else ""
                        detail = ", ".join(names[:4]) + more
                    else:
                        verdict, detail = "ERROR", out[-300:].strip().replace("\n", " ")
        finally:
            open(path, "w").write(original)
        seconds = time.time() - t0
        results.append((m, verdict, detail, seconds))
        print(f"{verdict:8s} {m.id:24s} {seconds:6.0f} s  {detail}", flush=True)

    killed = sum(1 for r in results if r[1] == "killed")
    survived = [r for r in results if r[1] != "killed"]
    total = time.time() - started
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    summary = (f"{stamp}: {len(results)} mutations, {killed} killed, "
               f"{len(survived)} not killed ({total / 60:.0f} min)")
    print(summary)
    if args.report:
        with open(args.report, "w") as f:
            f.write(f"Run of `tests/mutation/run_mutations.py`, {summary}.\n\n")
            f.write(markdown_table(results))
    return 0 if not survived else 1


if __name__ == "__main__":
    sys.exit(main())
