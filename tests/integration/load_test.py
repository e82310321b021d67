#!/usr/bin/env python3
"""64 concurrent clients against one flopd: nothing lost, every job accepted or
refused by a stated limit, threads and memory bounded and back afterwards.

    tests/integration/load_test.py FLOPD FLOPCTL OUTDIR

One real flopd (--no-cuda, a fresh state directory, gRPC on a loopback port
and on a Unix socket, HTTP on a loopback port) and the real flopctl binary
(and curl) as its clients. No verdict compares a time: each counts things.

 1. Warm-up: two small jobs (default threads and --threads 1) make flopd
    measure its ceilings (~12 s) and create its thread pools, which every
    later job reuses. The baseline (threads and VmRSS, /proc/PID/status) is
    taken after them; T0 = the time after them.
 2. A blocker job holds the one device (cpu:0) so that whatever is accepted
    next waits in its queue: nothing drains until it is cancelled.
 3. 64 clients, started together (a barrier):
      40 run clients: 20 over TCP (caller peer:ipv4:127.0.0.1) and 20 over
         the Unix socket (caller peer:unix:); each runs a small job under a
         run id of its own (four shapes, 2 or 4 points: fixed samples or the
         noise rule; --format jsonl on stdout or --out FILE), then one more;
       6 `flopctl watch --since T0 --format jsonl` (one with --op outer) and
         2 curl on /api/v1/watch?since_unix_ms=T0 (server-sent events);
      16 readers calling, once a second until every run has ended,
         `flopctl info`, `flopctl history`, `flopctl jobs` (TCP or the Unix
         socket), curl /api/v1/results or /metrics.
 4. The burst, against the held device, with --max-queued-jobs 20 and
    --max-queued-jobs-per-caller 12: the TCP clients' first jobs go first:
    exactly 12 are queued and 8 refused by the per-caller limit; once that
    is decided (each run exited or its job queued, from flopd's job list),
    the Unix socket clients' first jobs: exactly 8 queued (the device's 20)
    and 12 refused by the device limit. A refused flopctl exits 1 with
    RESOURCE_EXHAUSTED and the limit's flag. Then the blocker is cancelled
    (`flopctl cancel`), the queue drains, and each run client sends its
    second job while the others run: each is accepted or refused by one of
    the two limits, nothing else.
 5. When every run has ended, each watcher must hold exactly the stored
    results measured since T0 (the filtered one: the stored outer results),
    no more, no fewer, no repeats; then it is stopped (flopctl: SIGINT, exit 0).
 6. Nothing lost: each accepted run exited 0 and its output holds exactly
    the results the store has under its run id (job id, point, measured
    time, median and raw samples), as many as its job planned, and its job
    ended `finished`; a refused run printed nothing and left no job and no
    result; the store holds nothing else (warm-up and blocker aside). flopd
    logged exactly as many refusals as the clients saw, and no crash.
 7. Threads and RSS, sampled every 20 ms from the blocker to the end:
    peak threads <= baseline + 2 x 65 (gRPC's synchronous server takes a
    thread per call in progress; each of the 64 clients and the blocker has
    at most one at a time, and gRPC's pollers and the HTTP pool come on
    top); peak RSS <= baseline + 256 MiB. Once the last client ended, threads
    must be back at the baseline +-4 and RSS within baseline + 64 MiB
    (3 MiB per malloc arena glibc may make, 8 per CPU, on more than 2 CPUs):
    glibc keeps the heap each thread's arena grew to (a /api/v1/results page
    of 100 results grows one by ~2.5 MB; measured +25..45 MB here, and
    malloc_trim(0) in flopd gives it all back), so "back" has that slack;
    a leak of the size this load could show still would not fit. The first
    sample within the bounds is taken, polling for up to 20 s; how long it
    took is reported, not judged.
 8. flopd still answers `flopctl info`; SIGTERM: it exits 0.

Writes OUTDIR/load_test.json (every count and measurement); on failure keeps
the clients' outputs and flopd's log in OUTDIR/load_test_files. Needs curl
and python3. Exit 0 when every check passed.
"""

import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

MAX_QUEUED = 20          # --max-queued-jobs
MAX_PER_CALLER = 12      # --max-queued-jobs-per-caller
TCP_RUNS = 20
UNIX_RUNS = 20
RUNS = TCP_RUNS + UNIX_RUNS
MORE_RUNS_PER_CLIENT = 1  # after the burst, free-running
FLOPCTL_WATCHERS = 6
CURL_WATCHERS = 2
READERS = 16
CLIENTS = RUNS + FLOPCTL_WATCHERS + CURL_WATCHERS + READERS  # 64
# Bounds (see the docstring): a thread per open stream and per call in
# progress, per client and the blocker, plus headroom; memory.
THREADS_PEAK_SLACK = 2 * (CLIENTS + 1)
THREADS_AFTER_SLACK = 4
RSS_PEAK_SLACK_KIB = 256 * 1024
# glibc keeps each malloc arena at the heap it grew to (~2.5 MB for a thread
# that served a 100-result page; arenas: at most 8 per CPU, one per thread at
# most): 64 MiB on this 2-CPU machine, 3 MiB per possible arena on larger ones.
RSS_AFTER_SLACK_KIB = max(64, 3 * 8 * (os.cpu_count() or 2)) * 1024
READER_PAUSE_S = 1.0      # between one reader's calls
SETTLE_S = 20            # how long "after" may take to come back (a liveness bound)
CALL_TIMEOUT_S = 90      # one client invocation; beyond it, a hang
PER_CALLER_MSG = f"--max-queued-jobs-per-caller {MAX_PER_CALLER}"
DEVICE_MSG = "(--max-queued-jobs)"

# Job shapes: flags and the number of points each plans.
SHAPES = [
    (["--op", "matvec", "--impl", "gemv,gemm", "--sizes", "64,128",
      "--samples", "1", "--iterations", "1", "--threads", "1"], 4),
    (["--op", "outer", "--impl", "fused", "--sizes", "64", "--samples", "1",
      "--iterations", "1", "--threads", "1"], 2),
    (["--op", "outer", "--impl", "library", "--axis", "0", "--sizes", "48,80",
      "--max-time", "0.05", "--min-time", "0", "--min-samples", "3", "--threads", "1"], 2),
    (["--op", "matvec", "--impl", "gemv", "--dtype", "f32,f64", "--sizes", "96",
      "--max-time", "0.05", "--min-time", "0", "--min-samples", "3"], 2),
]

started = time.monotonic()
failures = []


def say(msg):
    print(f"load_test: [{time.monotonic() - started:6.1f}s] {msg}", flush=True)


def check(ok, msg):
    if not ok:
        failures.append(msg)
        print(f"load_test: FAIL: {msg}", file=sys.stderr, flush=True)
    return ok


class Abort(Exception):
    pass


def now_ms():
    return int(time.time() * 1000)


def proc_status(pid):
    """(threads, rss_kib) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return None
    threads = int(re.search(r"^Threads:\s+(\d+)", text, re.M).group(1))
    rss = int(re.search(r"^VmRSS:\s+(\d+) kB", text, re.M).group(1))
    return threads, rss


def die_with_parent():
    # PR_SET_PDEATHSIG = 1: flopd dies with this script (a ctest timeout
    # kills the script). Only used before any thread of ours exists.
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)


class Env:
    def __init__(self, flopd, flopctl, tmp):
        self.flopd, self.flopctl, self.tmp = flopd, flopctl, tmp
        self.sock = os.path.join(tmp, "flopd.sock")
        self.proc = None
        self.tcp = self.http = None
        self.seq = 0
        self.seq_mu = threading.Lock()

    def path(self, name):
        return os.path.join(self.tmp, name)

    def start(self):
        args = [self.flopd, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                "--no-cuda", "--hostname", "load", "--state-dir", self.path("state"),
                "--unix-socket", self.sock,
                "--max-queued-jobs", str(MAX_QUEUED),
                "--max-queued-jobs-per-caller", str(MAX_PER_CALLER)]
        say("starting " + " ".join(args[1:]))
        self.out = open(self.path("flopd.out"), "w")
        self.err = open(self.path("flopd.err"), "w")
        self.proc = subprocess.Popen(args, stdout=self.out, stderr=self.err,
                                     stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = open(self.path("flopd.out")).read()
            grpc = re.search(r"listening on 127\.0\.0\.1:(\d+)", text)
            http = re.search(r"http serving on http://127\.0\.0\.1:(\d+)/", text)
            if grpc and http and "listening on unix:" in text:
                self.tcp = f"127.0.0.1:{grpc.group(1)}"
                self.http = f"http://127.0.0.1:{http.group(1)}"
                return
            if self.proc.poll() is not None:
                raise Abort(f"flopd exited with {self.proc.returncode} before listening")
            time.sleep(0.05)
        raise Abort("flopd printed no ports within 30 s")

    def host(self, over_unix):
        return f"unix:{self.sock}" if over_unix else self.tcp

    def next_name(self, stem):
        with self.seq_mu:
            self.seq += 1
            return f"{stem}-{self.seq:04d}"

    def flopctl_run(self, args, name):
        """Runs flopctl to completion, stdout and stderr to files."""
        out, err = self.path(name + ".out"), self.path(name + ".err")
        with open(out, "w") as o, open(err, "w") as e:
            p = subprocess.Popen([self.flopctl] + args, stdout=o, stderr=e,
                                 stdin=subprocess.DEVNULL)
            try:
                rc = p.wait(timeout=CALL_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                rc = None
        return rc, open(out).read(), open(err).read()

    def get(self, path):
        with urllib.request.urlopen(self.http + path, timeout=30) as r:
            return json.loads(r.read())

    def all_pages(self, path, key):
        items, token = [], ""
        while True:
            sep = "&" if "?" in path else "?"
            page = self.get(f"{path}{sep}page_size=1000" +
                            (f"&page_token={urllib.parse.quote(token)}" if token else ""))
            items += page.get(key, [])
            token = page.get("next_page_token", "")
            if not token:
                return items


def result_key(r):
    """What identifies a result and what it measured."""
    params = ",".join(f"{k}={v}" for k, v in sorted(r.get("params", {}).items()))
    return (r["job_id"], r["run_id"], r["op"], r["impl"], params, r["dtype"], str(r["n"]),
            str(r["measured_unix_ms"]), r["time"]["median"], r["samples"],
            tuple(r.get("sample_seconds", [])))


def parse_jsonl(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.stop = threading.Event()
        self.peak_threads = self.peak_rss = 0
        self.samples = 0

    def run(self):
        while not self.stop.is_set():
            s = proc_status(self.pid)
            if s:
                self.peak_threads = max(self.peak_threads, s[0])
                self.peak_rss = max(self.peak_rss, s[1])
                self.samples += 1
            time.sleep(0.02)


class RunClient(threading.Thread):
    """One `flopctl run` client: a burst job, then MORE_RUNS_PER_CLIENT more."""

    def __init__(self, env, index, barrier, go, unblocked):
        super().__init__(daemon=True)
        self.env, self.index, self.barrier, self.unblocked = env, index, barrier, unblocked
        self.go = go  # set when this client's burst job may be sent
        self.over_unix = index >= TCP_RUNS
        self.attempts = []   # dicts: run_id, rc, out, err, points, output_results, burst
        self.burst_done = threading.Event()
        self.error = None

    def one(self, burst):
        env = self.env
        name = env.next_name(f"{'unix' if self.over_unix else 'tcp'}{self.index:02d}")
        run_id = f"r-load-{name}"
        shape, points = SHAPES[(self.index + len(self.attempts)) % len(SHAPES)]
        to_file = (self.index + len(self.attempts)) % 2 == 1
        args = ["run", "--host", env.host(self.over_unix), "--run-id", run_id, "--quiet"] + shape
        if to_file:
            outfile = env.path(name + ".jsonl")
            args += ["--format", "table", "--out", outfile]
        else:
            args += ["--format", "jsonl"]
        rc, out, err = env.flopctl_run(args, name)
        if to_file:
            text = open(outfile).read() if os.path.exists(outfile) else ""
        else:
            text = out
        try:
            results = parse_jsonl(text)
        except ValueError as e:
            results = None
            check(False, f"{run_id}: output is not JSON Lines ({e})")
        self.attempts.append(dict(run_id=run_id, rc=rc, err=err, points=points, burst=burst,
                                  results=results, unix=self.over_unix, args=args))

    def run(self):
        try:
            self.barrier.wait()
            self.go.wait()
            self.one(burst=True)
            self.burst_done.set()
            self.unblocked.wait()
            for _ in range(MORE_RUNS_PER_CLIENT):
                self.one(burst=False)
        except Exception as e:  # noqa: BLE001 - reported as a failure
            self.error = repr(e)
            self.burst_done.set()


class Reader(threading.Thread):
    """Loops one read-only command until `stop` (at least twice)."""

    def __init__(self, env, index, barrier, stop):
        super().__init__(daemon=True)
        self.env, self.index, self.barrier, self.stop = env, index, barrier, stop
        self.calls = 0
        self.errors = []
        self.kind = ["info", "history", "jobs", "results", "metrics",
                     "info", "history", "jobs"][index % 8]

    def once(self):
        env = self.env
        over_unix = self.index % 2 == 1
        name = env.next_name(f"read-{self.kind}")
        if self.kind == "info":
            rc, out, err = env.flopctl_run(["info", "--host", env.host(over_unix)], name)
            ok = rc == 0 and "health SERVING" in out
        elif self.kind == "history":
            rc, out, err = env.flopctl_run(["history", "--host", env.host(over_unix), "--format",
                                            "jsonl", "--limit", "50"], name)
            ok = rc == 0 and all(json.loads(l)["hostname"] == "load" for l in out.splitlines())
        elif self.kind == "jobs":
            rc, out, err = env.flopctl_run(["jobs", "--host", env.host(over_unix), "--limit",
                                            "30"], name)
            ok = rc == 0
        else:
            path = ("/api/v1/results?omit_samples=true&page_size=100&newest_first=true"
                    if self.kind == "results" else "/metrics")
            out_path = env.path(name + ".out")
            p = subprocess.run(["curl", "-sS", "--max-time", str(CALL_TIMEOUT_S), "-o", out_path,
                                "-w", "%{http_code}", env.http + path],
                               capture_output=True, text=True)
            rc, err = p.returncode, p.stderr
            body = open(out_path).read() if os.path.exists(out_path) else ""
            if self.kind == "results":
                ok = rc == 0 and p.stdout == "200" and "results" in json.loads(body or "{}")
            else:
                ok = rc == 0 and p.stdout == "200" and "flopd_" in body
        self.calls += 1
        if not ok:
            self.errors.append(f"{name}: exit {rc}: {err.strip()[-300:]}")

    def run(self):
        try:
            self.barrier.wait()
            while self.calls < 2 or not self.stop.is_set():
                self.once()
                self.stop.wait(READER_PAUSE_S)
        except Exception as e:  # noqa: BLE001
            self.errors.append(repr(e))


def main():
    if len(sys.argv) != 4:
        print(f"usage: {sys.argv[0]} FLOPD FLOPCTL OUTDIR", file=sys.stderr)
        return 2
    flopd, flopctl = (os.path.realpath(a) for a in sys.argv[1:3])
    outdir = os.path.realpath(sys.argv[3])
    os.makedirs(outdir, exist_ok=True)
    if shutil.which("curl") is None:
        print("load_test: FAIL: curl not found", file=sys.stderr)
        return 1
    # Directories left by a killed run (its pid is in the name) go first.
    for old in os.listdir("/tmp"):
        m = re.fullmatch(r"flopd-load\.(\d+)\..*", old)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            shutil.rmtree(os.path.join("/tmp", old), ignore_errors=True)
    # A short path: a Unix socket's path has at most 107 bytes.
    tmp = tempfile.mkdtemp(prefix=f"flopd-load.{os.getpid()}.", dir="/tmp")
    env = Env(flopd, flopctl, tmp)
    report = {}
    watchers = []
    try:
        run_test(env, report, watchers)
    except Abort as e:
        check(False, str(e))
    finally:
        for w in watchers:
            if w["proc"].poll() is None:
                w["proc"].kill()
                w["proc"].wait()
        if env.proc and env.proc.poll() is None:
            env.proc.kill()
            env.proc.wait()
        report["failures"] = failures
        report["seconds"] = round(time.monotonic() - started, 1)
        with open(os.path.join(outdir, "load_test.json"), "w") as f:
            json.dump(report, f, indent=2)
        kept = os.path.join(outdir, "load_test_files")
        shutil.rmtree(kept, ignore_errors=True)
        if failures:
            shutil.copytree(tmp, kept, ignore=shutil.ignore_patterns("*.sock", "state"))
            for log in ("flopd.err",):
                p = os.path.join(tmp, log)
                if os.path.exists(p):
                    print(f"---- last lines of {log} ----", file=sys.stderr)
                    print("".join(open(p).readlines()[-30:]), file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        say(f"FAILED: {len(failures)} check(s); outputs kept in {kept}")
        return 1
    say("passed")
    return 0


def run_test(env, report, watchers):
    env.start()
    pid = env.proc.pid
    pristine = proc_status(pid)
    say(f"flopd pid {pid} on {env.tcp}, unix:{env.sock}, {env.http}; "
        f"threads {pristine[0]}, RSS {pristine[1] // 1024} MiB")
    report["pristine"] = {"threads": pristine[0], "rss_kib": pristine[1]}

    # 1. Warm-up: ceilings measured, pools created (over both listeners).
    warm = []
    for i, over_unix in enumerate((False, True)):
        rc, out, err = env.flopctl_run(
            ["run", "--host", env.host(over_unix), "--run-id", f"r-warmup-{i}", "--quiet",
             "--op", "matvec,outer", "--sizes", "64", "--samples", "1", "--iterations", "1",
             "--format", "jsonl"] + (["--threads", "1"] if i else []), f"warmup{i}")
        if rc != 0:
            raise Abort(f"warm-up run exited {rc}: {err.strip()[-500:]}")
        warm += parse_jsonl(out)
    time.sleep(0.5)
    baseline = proc_status(pid)
    report["baseline"] = {"threads": baseline[0], "rss_kib": baseline[1]}
    say(f"after warm-up ({len(warm)} results): threads {baseline[0]}, "
        f"RSS {baseline[1] / 1024:.1f} MiB (the baseline)")
    t0 = now_ms() + 1
    time.sleep(0.01)

    sampler = Sampler(pid)
    sampler.start()

    # 2. The blocker: long, one thread, cancelled within a sample (~0.1 s).
    blocker = subprocess.Popen(
        [env.flopctl, "run", "--host", env.tcp, "--run-id", "r-blocker", "--quiet", "--op",
         "matvec", "--impl", "gemv", "--sizes", "1000", "--threads", "1", "--iterations",
         "1000", "--samples", "100000", "--format", "jsonl"],
        stdout=open(env.path("blocker.out"), "w"), stderr=open(env.path("blocker.err"), "w"),
        stdin=subprocess.DEVNULL)
    blocker_job = None
    deadline = time.monotonic() + 30
    while blocker_job is None and time.monotonic() < deadline:
        jobs = env.get("/api/v1/jobs?run_id=r-blocker&state=running")["jobs"]
        if jobs:
            blocker_job = jobs[0]["job_id"]
        else:
            time.sleep(0.05)
    if blocker_job is None:
        raise Abort("the blocker job was not running within 30 s")
    say(f"blocker {blocker_job} holds cpu:0")

    # 3. 64 clients at once.
    for i in range(FLOPCTL_WATCHERS):
        over_unix = i % 2 == 1
        args = [env.flopctl, "watch", "--host", env.host(over_unix), "--since", str(t0),
                "--format", "jsonl"]
        if i == FLOPCTL_WATCHERS - 1:
            args += ["--op", "outer"]
        out = env.path(f"watch{i}.out")
        watchers.append(dict(name=f"watch{i}", kind="flopctl", only_outer="--op" in args, out=out,
                             err=env.path(f"watch{i}.err"),
                             proc=subprocess.Popen(args, stdout=open(out, "w"),
                                                   stderr=open(env.path(f"watch{i}.err"), "w"),
                                                   stdin=subprocess.DEVNULL)))
    for i in range(CURL_WATCHERS):
        out = env.path(f"sse{i}.out")
        watchers.append(dict(
            name=f"sse{i}", kind="sse", only_outer=False, out=out, err=env.path(f"sse{i}.err"),
            proc=subprocess.Popen(["curl", "-sSN", f"{env.http}/api/v1/watch?since_unix_ms={t0}"],
                                  stdout=open(out, "w"), stderr=open(env.path(f"sse{i}.err"), "w"),
                                  stdin=subprocess.DEVNULL)))
    barrier = threading.Barrier(RUNS + READERS + 1)
    unblocked, stop_readers = threading.Event(), threading.Event()
    tcp_go, unix_go = threading.Event(), threading.Event()
    tcp_go.set()
    runs = [RunClient(env, i, barrier, unix_go if i >= TCP_RUNS else tcp_go, unblocked)
            for i in range(RUNS)]
    readers = [Reader(env, i, barrier, stop_readers) for i in range(READERS)]
    for t in runs + readers:
        t.start()
    barrier.wait()
    say(f"{CLIENTS} clients started: {RUNS} run ({TCP_RUNS} TCP, {UNIX_RUNS} Unix socket), "
        f"{FLOPCTL_WATCHERS} flopctl watch, {CURL_WATCHERS} SSE watch, {READERS} readers")

    # 4. The burst, decided in two steps (each: every run of the step has
    # exited or has its job queued): first the TCP caller's 20 runs, then the
    # Unix socket caller's 20, all against the held device.
    def decide(step, clients, prefix):
        deadline = time.monotonic() + 60
        while True:
            exited = sum(1 for r in clients if r.burst_done.is_set())
            queued = [j for j in env.all_pages("/api/v1/jobs?state=queued", "jobs")
                      if j["run_id"].startswith(prefix)]
            if exited + len(queued) >= len(clients):
                return len(queued)
            if time.monotonic() > deadline:
                raise Abort(f"{step} burst undecided after 60 s: {exited} exited, "
                            f"{len(queued)} queued")
            time.sleep(0.05)

    queued_tcp = decide("TCP", runs[:TCP_RUNS], "r-load-tcp")
    say(f"TCP burst decided: {queued_tcp} of {TCP_RUNS} queued; now the Unix socket burst")
    unix_go.set()
    queued_unix = decide("Unix socket", runs[TCP_RUNS:], "r-load-unix")
    mid = proc_status(pid)
    say(f"Unix socket burst decided: {queued_unix} of {UNIX_RUNS} queued; flopd threads {mid[0]}, "
        f"RSS {mid[1] / 1024:.1f} MiB; cancelling the blocker")
    rc, out, err = env.flopctl_run(["cancel", blocker_job, "--host", env.tcp], "cancel")
    check(rc == 0, f"flopctl cancel {blocker_job} exited {rc}: {err.strip()}")
    unblocked.set()
    try:
        blocker_rc = blocker.wait(timeout=CALL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        blocker.kill()
        blocker_rc = None
    blocker_err = open(env.path("blocker.err")).read()
    check(blocker_rc == 1 and "CANCELLED" in blocker_err,
          f"the cancelled blocker's flopctl: exit {blocker_rc}, {blocker_err.strip()[-300:]}")

    for r in runs:
        r.join(timeout=3 * CALL_TIMEOUT_S)
        check(not r.is_alive(), f"run client {r.index} still running")
        check(r.error is None, f"run client {r.index}: {r.error}")
    last_run_ended = time.monotonic()
    say("every run client ended")

    # 5. Watchers: exactly the stored results since T0, then SIGINT.
    stored = env.all_pages("/api/v1/results", "results")
    since_t0 = [r for r in stored if int(r["measured_unix_ms"]) >= t0]
    expected_all = sorted(result_key(r) for r in since_t0)
    expected_outer = sorted(result_key(r) for r in since_t0 if r["op"] == "outer")

    def watcher_results(w):
        text = open(w["out"]).read()
        if w["kind"] == "flopctl":
            return parse_jsonl(text)
        return [json.loads(line[len("data: "):]) for block in text.split("\n\n")
                if block.startswith("event: result")
                for line in block.splitlines() if line.startswith("data: ")]

    deadline = time.monotonic() + 30
    for w in watchers:
        want = len(expected_outer if w["only_outer"] else expected_all)
        while time.monotonic() < deadline:
            try:
                if len(watcher_results(w)) >= want:
                    break
            except ValueError:
                pass  # a line still being written
            if w["proc"].poll() is not None:
                break
            time.sleep(0.05)
    stop_readers.set()
    for w in watchers:
        still_running = w["proc"].poll() is None
        w["proc"].send_signal(signal.SIGINT if w["kind"] == "flopctl" else signal.SIGTERM)
        try:
            w["rc"] = w["proc"].wait(timeout=10)
        except subprocess.TimeoutExpired:
            w["proc"].kill()
            w["rc"] = None
        if w["kind"] == "flopctl":
            check(still_running and w["rc"] == 0,
                  f"{w['name']}: ended by itself or exit {w['rc']} on SIGINT: "
                  f"{open(w['err']).read().strip()[-300:]}")
        else:
            check(still_running, f"{w['name']}: curl ended by itself: "
                  f"{open(w['err']).read().strip()[-300:]}")
        got = sorted(result_key(r) for r in watcher_results(w))
        want = expected_outer if w["only_outer"] else expected_all
        w["results"] = len(got)
        check(got == want, f"{w['name']}: received {len(got)} results, the store has "
              f"{len(want)} since T0 ({len(set(want) - set(got))} missing, "
              f"{len(got) - len(set(got))} repeated, {len(set(got) - set(want))} not stored)")
    for t in readers:
        t.join(timeout=2 * CALL_TIMEOUT_S)
        check(not t.is_alive(), f"reader {t.index} still running")
    all_clients_ended = time.monotonic()
    say("every watcher and reader ended")

    # 7 (first, to see the settling right after the clients): threads, RSS.
    settle = None
    after = proc_status(pid)
    while time.monotonic() - all_clients_ended < SETTLE_S:
        after = proc_status(pid)
        if (after[0] <= baseline[0] + THREADS_AFTER_SLACK and
                after[1] <= baseline[1] + RSS_AFTER_SLACK_KIB):
            settle = time.monotonic() - all_clients_ended
            break
        time.sleep(0.1)
    sampler.stop.set()
    sampler.join()
    time.sleep(1)
    later = proc_status(pid)

    # 6. Nothing lost.
    stored = env.all_pages("/api/v1/results", "results")
    jobs = env.all_pages("/api/v1/jobs", "jobs")
    by_run = {}
    for r in stored:
        by_run.setdefault(r["run_id"], []).append(r)
    jobs_by_run = {}
    for j in jobs:
        jobs_by_run.setdefault(j["run_id"], []).append(j)

    attempts = [a for r in runs for a in r.attempts]
    accepted = [a for a in attempts if a["rc"] == 0]
    refused = [a for a in attempts if a["rc"] != 0]
    burst = [a for a in attempts if a["burst"]]
    check(len(attempts) == RUNS * (1 + MORE_RUNS_PER_CLIENT),
          f"{len(attempts)} run attempts, expected {RUNS * (1 + MORE_RUNS_PER_CLIENT)}")
    refusal_kinds = {"caller": 0, "device": 0}
    for a in refused:
        err = a["err"]
        kind = ("caller" if PER_CALLER_MSG in err else "device" if DEVICE_MSG in err else None)
        ok = a["rc"] == 1 and "RESOURCE_EXHAUSTED" in err and kind is not None
        if check(ok, f"{a['run_id']}: neither accepted nor refused by a stated limit: exit "
                 f"{a['rc']}: {err.strip()[-400:]}"):
            refusal_kinds[kind] += 1
            a["kind"] = kind
        check(not a["results"], f"{a['run_id']}: refused, yet printed {len(a['results'] or [])} results")
        check(a["run_id"] not in by_run and a["run_id"] not in jobs_by_run,
              f"{a['run_id']}: refused, yet the store has its job or results")
    results_counted = 0
    for a in accepted:
        mine = by_run.get(a["run_id"], [])
        got = sorted(result_key(r) for r in (a["results"] or []))
        have = sorted(result_key(r) for r in mine)
        job = jobs_by_run.get(a["run_id"], [])
        results_counted += len(got)
        check(len(got) == a["points"] and got == have,
              f"{a['run_id']}: its client got {len(got)} results, the store has {len(have)}, "
              f"its job plans {a['points']} ({len(set(got) - set(have))} not stored, "
              f"{len(set(have) - set(got))} not received)")
        check(len(job) == 1 and job[0]["state"] == "finished" and
              job[0]["points_total"] == a["points"] and job[0]["points_measured"] == a["points"],
              f"{a['run_id']}: its job is {[(j['state'], j['points_measured']) for j in job]}")
    load_runs = {a["run_id"] for a in accepted}
    others = {run for run in by_run if run not in load_runs}
    check(others <= {"r-warmup-0", "r-warmup-1"},
          f"results of runs nobody ran: {sorted(others - {'r-warmup-0', 'r-warmup-1'})}")
    check(sum(len(by_run.get(r, [])) for r in ("r-warmup-0", "r-warmup-1")) == len(warm),
          "the warm-up's results are not all stored")
    check(len(stored) == len(warm) + results_counted,
          f"the store has {len(stored)} results, the clients got {len(warm) + results_counted}")
    blocker_jobs = jobs_by_run.get("r-blocker", [])
    check(len(blocker_jobs) == 1 and blocker_jobs[0]["state"] == "cancelled",
          f"the blocker's job: {[j['state'] for j in blocker_jobs]}")
    check(len(jobs) == 2 + 1 + len(accepted),
          f"the store has {len(jobs)} jobs; 2 warm-up + 1 blocker + {len(accepted)} accepted")

    # The burst against the held device: exactly the limits. The TCP caller
    # first: --max-queued-jobs-per-caller of its runs accepted, the others
    # refused by that limit; then the Unix socket caller: what is left of
    # --max-queued-jobs accepted, the others refused by the device's limit.
    b_tcp = [a for a in burst if not a["unix"]]
    b_unix = [a for a in burst if a["unix"]]
    acc_tcp = sum(1 for a in b_tcp if a["rc"] == 0)
    acc_unix = sum(1 for a in b_unix if a["rc"] == 0)
    b_acc = acc_tcp + acc_unix
    b_kinds = {"tcp": sorted({a.get("kind", "?") for a in b_tcp if a["rc"] != 0}),
               "unix": sorted({a.get("kind", "?") for a in b_unix if a["rc"] != 0})}
    check(acc_tcp == queued_tcp == MAX_PER_CALLER and
          b_kinds["tcp"] == ["caller"],
          f"TCP burst: {acc_tcp} accepted ({queued_tcp} seen queued), refused by {b_kinds['tcp']}; "
          f"expected {MAX_PER_CALLER} and the rest refused by --max-queued-jobs-per-caller")
    check(acc_unix == queued_unix == MAX_QUEUED - MAX_PER_CALLER and
          b_kinds["unix"] == ["device"],
          f"Unix socket burst: {acc_unix} accepted ({queued_unix} seen queued), refused by "
          f"{b_kinds['unix']}; expected {MAX_QUEUED - MAX_PER_CALLER} and the rest refused by "
          f"--max-queued-jobs")

    # flopd's log: one line per refusal, no crash.
    log = open(env.path("flopd.err")).read()
    refused_in_log = len(re.findall(r"^.*refused Run from .*$|^.*rejected a job from .*$", log, re.M))
    check(refused_in_log == len(refused),
          f"flopd's log has {refused_in_log} refusals, the clients saw {len(refused)}")
    for bad in ("terminate called", "Assertion", "Segmentation", "AddressSanitizer", "Aborted",
                "fell behind"):
        check(bad not in log, f"flopd's log says '{bad}'")

    readers_calls = sum(t.calls for t in readers)
    reader_errors = [e for t in readers for e in t.errors]
    check(not reader_errors, f"{len(reader_errors)} reader calls failed: {reader_errors[:3]}")

    # 7. Bounds.
    peak_threads, peak_rss = sampler.peak_threads, sampler.peak_rss
    check(peak_threads <= baseline[0] + THREADS_PEAK_SLACK,
          f"peak threads {peak_threads} > baseline {baseline[0]} + {THREADS_PEAK_SLACK}")
    check(peak_rss <= baseline[1] + RSS_PEAK_SLACK_KIB,
          f"peak RSS {peak_rss} KiB > baseline {baseline[1]} + {RSS_PEAK_SLACK_KIB} KiB")
    check(settle is not None and after[0] >= baseline[0] - THREADS_AFTER_SLACK,
          f"{SETTLE_S} s after the last client: threads {after[0]} (baseline {baseline[0]}, "
          f"allowed +{THREADS_AFTER_SLACK}), RSS {after[1]} KiB (baseline {baseline[1]}, "
          f"allowed +{RSS_AFTER_SLACK_KIB})")

    # 8. Still answering; then a clean stop.
    rc, out, err = env.flopctl_run(["info", "--host", env.tcp], "final-info")
    check(rc == 0 and "health SERVING" in out, f"flopctl info at the end: exit {rc}: {err.strip()}")
    env.proc.send_signal(signal.SIGTERM)
    try:
        stop_rc = env.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        stop_rc = None
    check(stop_rc == 0, f"flopd exited {stop_rc} on SIGTERM")

    report.update({
        "clients": CLIENTS,
        "limits": {"max_queued_jobs": MAX_QUEUED, "max_queued_jobs_per_caller": MAX_PER_CALLER},
        "burst": {"accepted_tcp": acc_tcp, "refused_tcp": TCP_RUNS - acc_tcp,
                  "accepted_unix": acc_unix, "refused_unix": UNIX_RUNS - acc_unix},
        "runs": {"attempts": len(attempts), "accepted": len(accepted), "refused": len(refused),
                 "refused_per_caller": refusal_kinds["caller"],
                 "refused_device": refusal_kinds["device"]},
        "results": {"received_by_run_clients": results_counted, "stored": len(stored),
                    "warm_up": len(warm), "since_t0": len(expected_all),
                    "per_watcher": {w["name"]: w.get("results") for w in watchers}},
        "reader_calls": readers_calls,
        "jobs_stored": len(jobs),
        "peak": {"threads": peak_threads, "rss_kib": peak_rss, "samples": sampler.samples},
        "burst_decided": {"threads": mid[0], "rss_kib": mid[1]},
        "after": {"threads": after[0], "rss_kib": after[1],
                  "seconds_after_last_client": None if settle is None else round(settle, 2)},
        "one_second_later": {"threads": later[0], "rss_kib": later[1]},
        "bounds": {"threads_peak": baseline[0] + THREADS_PEAK_SLACK,
                   "threads_after": baseline[0] + THREADS_AFTER_SLACK,
                   "rss_peak_kib": baseline[1] + RSS_PEAK_SLACK_KIB,
                   "rss_after_kib": baseline[1] + RSS_AFTER_SLACK_KIB},
        "flopd_exit_on_sigterm": stop_rc,
        "load_seconds": round(last_run_ended - started, 1),
    })
    say(f"runs: {len(attempts)} attempts, {len(accepted)} accepted, {len(refused)} refused "
        f"({refusal_kinds['caller']} per caller, {refusal_kinds['device']} device); burst: "
        f"TCP {acc_tcp} accepted, {TCP_RUNS - acc_tcp} refused per caller; Unix socket "
        f"{acc_unix} accepted, {UNIX_RUNS - acc_unix} refused by the device limit")
    say(f"results: {results_counted} received by run clients = stored {len(stored)} - warm-up "
        f"{len(warm)}; every watcher got all {len(expected_all)} since T0; {readers_calls} reader calls")
    say(f"threads: baseline {baseline[0]}, peak {peak_threads} (bound "
        f"{baseline[0] + THREADS_PEAK_SLACK}), after {after[0]}, 1 s later {later[0]}")
    say(f"RSS MiB: baseline {baseline[1] / 1024:.1f}, peak {peak_rss / 1024:.1f} (bound "
        f"{(baseline[1] + RSS_PEAK_SLACK_KIB) / 1024:.0f}), after {after[1] / 1024:.1f}, "
        f"1 s later {later[1] / 1024:.1f}; back within "
        f"{'-' if settle is None else f'{settle:.1f}'} s of the last client")


if __name__ == "__main__":
    sys.exit(main())
