#!/usr/bin/env bash
# flopd under a real Prometheus, with the shipped scrape config and dashboard.
#
#   tests/integration/prometheus_test.sh FLOPD FLOPCTL OUTDIR
#
# Starts its own flopd (ephemeral gRPC and HTTP ports, temporary state dir),
# runs a small matvec+outer job with the real flopctl, then checks:
#   1. /metrics (before and after the job) passes `promtool check metrics`
#      with no complaint at all, and matches docs/HTTP.md "Metrics": every
#      family is documented with that type and those labels, every documented
#      one is there, and the point gauges hold exactly the results flopctl got;
#   2. deploy/prometheus/prometheus.yml passes `promtool check config`;
#   3. a real Prometheus, run from a copy of that config (scrape every 1 s,
#      the file_sd targets file rewritten to this flopd), scrapes it: up == 1,
#      with instance = host without port and the targets file's labels;
#   4. every panel target (and every template variable query) of
#      deploy/grafana/flopd.json, with the Grafana variables substituted twice
#      (the "All" value .* and the concrete values, escaped as Grafana does),
#      runs on that Prometheus without error and returns series.
# Writes to OUTDIR: prometheus_queries.json (every query and its result),
# metrics.txt, flopctl_results.jsonl, prometheus.yml (the config used) and,
# when headless Chromium renders it, prometheus_graph.png (Prometheus's own
# graph page; a failed screenshot is a warning, not a failure).
# Needs /usr/bin/prometheus and promtool (Debian package prometheus), curl and
# python3; installs nothing. Exit 0 when every check passed.
set -euo pipefail

if (($# != 3)); then
  echo "usage: $0 FLOPD FLOPCTL OUTDIR" >&2
  exit 2
fi
FLOPD=$(realpath "$1")
FLOPCTL=$(realpath "$2")
OUTDIR=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
prom_config=$root/deploy/prometheus/prometheus.yml
dashboard=$root/deploy/grafana/flopd.json
http_doc=$root/docs/HTTP.md
started=${EPOCHREALTIME/./}

say() { printf 'prometheus_test: [%5ss] %s\n' "$(elapsed)" "$*"; }
fail() {
  printf 'prometheus_test: FAIL: %s\n' "$*" >&2
  exit 1
}
elapsed() { # seconds since the start, one decimal
  local us=$((${EPOCHREALTIME/./} - started))
  printf '%d.%d' $((us / 1000000)) $((us / 100000 % 10))
}

for tool in prometheus promtool curl python3; do
  command -v "$tool" >/dev/null || fail "$tool not found (Debian packages: prometheus, curl, python3)"
done
for f in "$FLOPD" "$FLOPCTL"; do [[ -x $f ]] || fail "$f is not an executable"; done
for f in "$prom_config" "$dashboard" "$http_doc"; do [[ -f $f ]] || fail "$f is missing"; done
mkdir -p "$OUTDIR"
OUTDIR=$(realpath "$OUTDIR")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/flopd-prom-test.XXXXXX")
pids=()
stop_all() {
  local p i
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  pids=()
}
cleanup() {
  local rc=$?
  trap - EXIT
  stop_all
  if ((rc != 0)); then
    for log in flopd.out flopd.err prometheus.log flopctl.err; do
      [[ -s $tmp/$log ]] || continue
      echo "---- last lines of $log ----" >&2
      tail -n 20 "$tmp/$log" >&2
    done
    say "FAILED after $(elapsed) s"
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---------------------------------------------------------------- flopd ----
"$FLOPD" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --state-dir "$tmp/state" --no-cuda \
  --threads 1 --hostname prom-test >"$tmp/flopd.out" 2>"$tmp/flopd.err" &
flopd_pid=$!
pids+=("$flopd_pid")
grpc_addr='' http_url=''
for ((i = 0; i < 150; i++)); do
  grpc_addr=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9][0-9]*\).*/\1/p' "$tmp/flopd.out" | head -n 1)
  http_url=$(sed -n 's|.*flopd http serving on \(http://127\.0\.0\.1:[0-9][0-9]*/\).*|\1|p' "$tmp/flopd.out" | head -n 1)
  [[ -n $grpc_addr && -n $http_url ]] && break
  kill -0 "$flopd_pid" 2>/dev/null || fail "flopd exited before printing its addresses"
  sleep 0.1
done
[[ -n $grpc_addr ]] || fail "flopd printed no 'listening on 127.0.0.1:PORT' line within 15 s"
[[ -n $http_url ]] || fail "flopd printed no 'flopd http serving on http://127.0.0.1:PORT/' line within 15 s"
flopd_version=$(sed -n 's/^flopd \([^ ]*\) listening on .*/\1/p' "$tmp/flopd.out" | head -n 1)
http_addr=${http_url#http://}
http_addr=${http_addr%/}
say "flopd $flopd_version: gRPC $grpc_addr, HTTP $http_url"

# /metrics, checked by promtool (strict: any lint line fails) and against docs/HTTP.md.
scrape() { # FILE: body to FILE, headers to FILE.headers
  curl -fsS --max-time 5 -D "$1.headers" -o "$1" "${http_url}metrics" || fail "GET ${http_url}metrics failed"
}
promtool_metrics() { # FILE WHAT
  local out rc=0
  out=$(promtool check metrics <"$1" 2>&1) || rc=$?
  if ((rc != 0)) || [[ -n $out ]]; then
    printf '%s\n' "$out" >&2
    fail "promtool check metrics on $2 /metrics: exit $rc, output above"
  fi
  say "ok: promtool check metrics, $2 /metrics ($(grep -vc '^#' "$1") samples): exit 0, no complaint"
}
check_content_type() {
  local ct
  ct=$(tr -d '\r' <"$1.headers" | sed -n 's/^[Cc]ontent-[Tt]ype: *//p' | tail -n 1)
  [[ $ct == text/plain* && $ct == *version=0.0.4* ]] ||
    fail "/metrics Content-Type is '$ct', docs/HTTP.md says text/plain; version=0.0.4"
}

# The metrics contract: python3 contract.py MODE METRICS DOC [RESULTS.jsonl VERSION]
# MODE structure: names, types and labels only; final: also presence and values.
cat >"$tmp/contract.py" <<'PY'
import json, math, re, sys

mode, metrics_path, doc_path = sys.argv[1:4]
results_path = sys.argv[4] if len(sys.argv) > 4 else None
version = sys.argv[5] if len(sys.argv) > 5 else None

# docs/HTTP.md, section "## Metrics": the table and the "Point labels:" line.
doc = open(doc_path).read()
sec = doc.split("\n## Metrics", 1)[1].split("\n## ", 1)[0]
pl = re.search(r"^Point labels:(.*)$", sec, re.M).group(1)
point_labels = set(re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", pl)))
documented = {}
for line in sec.splitlines():
    m = re.match(r"\|\s*`(flopd_[a-z0-9_]+)`\s*\|([^|]*)\|([^|]*)\|", line)
    if not m:
        continue
    name, typ, labels = m.group(1), m.group(2).split()[0], m.group(3)
    documented[name] = (typ, point_labels if "point labels" in labels else set(re.findall(r"`([a-z_]+)`", labels)))
assert len(documented) >= 15 and point_labels, "could not read the metrics table of docs/HTTP.md"

# The exposition text.
types, samples, problems = {}, [], []
lab_re = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')
for ln in open(metrics_path).read().splitlines():
    if not ln.strip():
        continue
    if ln.startswith("# TYPE "):
        _, _, n, t = ln.split(None, 3)
        types[n] = t
        continue
    if ln.startswith("#"):
        continue
    m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$", ln)
    if not m:
        problems.append(f"unparsable sample line: {ln!r}")
        continue
    labels, body = {}, m.group(3) or ""
    pos = 0
    while pos < len(body):
        lm = lab_re.match(body, pos)
        if not lm:
            problems.append(f"unparsable labels: {ln!r}")
            break
        labels[lm.group(1)] = lm.group(2).encode().decode("unicode_escape")
        pos = lm.end()
    samples.append((m.group(1), labels, float(m.group(4))))

for n, t in sorted(types.items()):
    if n not in documented:
        problems.append(f"{n} ({t}) is exported but not in docs/HTTP.md")
    elif documented[n][0] != t:
        problems.append(f"{n} is exported as {t}, docs/HTTP.md says {documented[n][0]}")
for name, labels, v in samples:
    if name not in documented:
        if name not in types:
            problems.append(f"sample {name} has no # TYPE line and is not in docs/HTTP.md")
        continue
    want = documented[name][1]
    # Prometheus treats an empty label value as no label: params is empty when none.
    have = {k for k, x in labels.items() if x != ""}
    if not have <= want or not (want - {"params"}) <= have:
        problems.append(f"{name}{labels}: labels {sorted(labels)}, docs/HTTP.md says {sorted(want)}")
    if math.isnan(v):
        problems.append(f"{name}{labels} is NaN")

def fmt(d):
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(d.items())) + "}"

checked = [f"{len(types)} families: documented names, types and label sets"]
if mode == "final":
    present = {s[0] for s in samples}
    may_be_absent = {"flopd_verification_failures_total"}  # no failure yet: a labelled counter may not exist
    for n in sorted(set(documented) - present):
        if n not in may_be_absent:
            problems.append(f"{n} (docs/HTTP.md) is not exported after a job")
        else:
            print(f"  note: {n} is not exported (no verification failure yet)")
    results = [json.loads(l) for l in open(results_path) if l.strip()]
    def key(labels):
        return tuple(labels.get(k, "") for k in ("device", "op", "impl", "params", "dtype", "n", "timing"))
    want = {}
    for r in results:
        params = ",".join(f"{k}={v}" for k, v in sorted((r.get("params") or {}).items()))
        want[(r["device"], r["op"], r["impl"], params, r["dtype"], str(r["n"]), r["timing"])] = r
    def close(a, b, rel):
        return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)
    gauges = {
        "flopd_point_median_seconds": (lambda r: r["time"]["median"], 1e-9),
        "flopd_point_flops_per_second": (lambda r: r["gflops_per_s"] * 1e9, 1e-6),
        "flopd_point_bytes_per_second": (lambda r: r["gbytes_per_s"] * 1e9, 1e-6),
        "flopd_point_efficiency_ratio": (lambda r: r["roofline"]["efficiency"], 1e-6),
        "flopd_point_relative_noise_ratio": (lambda r: r["relative_noise"], 1e-6),
        "flopd_point_measured_timestamp_seconds": (lambda r: int(r["measured_unix_ms"]) / 1000.0, 1e-12),  # ~2 ms
    }
    for g, (expect, rel) in gauges.items():
        got = {key(l): v for n, l, v in samples if n == g}
        exp_keys = set(want)
        if g == "flopd_point_efficiency_ratio":
            exp_keys = {k for k, r in want.items() if (r.get("roofline") or {}).get("floor_seconds")}
        if set(got) != exp_keys:
            problems.append(f"{g}: points {sorted(set(got) ^ exp_keys)} differ from flopctl's {len(exp_keys)} results")
        for k in exp_keys & set(got):
            e = expect(want[k])
            if not close(got[k], e, rel):
                problems.append(f"{g}{k}: {got[k]!r}, the result says {e!r}")
    checked.append(f"6 point gauges x {len(want)} points = flopctl's results (median to 1e-9)")

    def val(name, **labels):
        vs = [v for n, l, v in samples if n == name and all(l.get(k) == x for k, x in labels.items())]
        return vs[0] if len(vs) == 1 else None
    devices = sorted({r["device"] for r in results})
    exact = [("flopd_build_info", dict(hostname="prom-test", version=version), 1),
             ("flopd_metrics_points", {}, len(want)),
             ("flopd_store_results", {}, len(results)),
             ("flopd_store_up", {}, 1),
             ("flopd_store_results_not_stored_total", {}, 0),
             ("flopd_metrics_points_evicted_total", {}, 0)]
    for d in devices:
        exact += [("flopd_results_total", dict(device=d), sum(r["device"] == d for r in results)),
                  ("flopd_jobs_total", dict(device=d, state="finished"), 1),
                  ("flopd_queue_length", dict(device=d), 0),
                  ("flopd_jobs_running", dict(device=d), 0),
                  ("flopd_device_healthy", dict(device=d), 1)]
    for name, labels, e in exact:
        v = val(name, **labels)
        if v != e:
            problems.append(f"{name}{fmt(labels)} is {v}, expected {e}")
    for name, labels in [("flopd_store_bytes", {})] + [(f, dict(device=d)) for d in devices for f in
                         ("flopd_device_memory_bandwidth_bytes_per_second",)] + \
                        [("flopd_device_peak_flops_per_second", dict(device=d, dtype=t))
                         for d in devices for t in sorted({r["dtype"] for r in results})]:
        v = val(name, **labels)
        if v is None or not v > 0:
            problems.append(f"{name}{fmt(labels)} is {v}, expected > 0")
    for n, l, v in samples:
        if n == "flopd_verification_failures_total" and v != 0:
            problems.append(f"{n}{fmt(l)} is {v}: every result verified")
    checked.append(f"{len(exact)} exact values (build_info, counters, store, queue, health) and the ceilings > 0")

for p in problems:
    print("  problem: " + p)
if problems:
    sys.exit(1)
for c in checked:
    print("  checked: " + c)
PY

# ---------------------------------------------------------- the config ----
promtool check config "$prom_config" >"$tmp/promtool_config.txt" 2>&1 ||
  { cat "$tmp/promtool_config.txt" >&2; fail "promtool check config deploy/prometheus/prometheus.yml"; }
say "ok: promtool check config deploy/prometheus/prometheus.yml"

# The test's Prometheus config: deploy/prometheus/prometheus.yml with every
# interval at 1 s; its relative targets/*.json glob then reads $tmp/prom/targets/.
mkdir -p "$tmp/prom/targets" "$tmp/tsdb"
python3 - "$prom_config" "$tmp/prom/prometheus.yml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
assert re.search(r"^\s*-\s*job_name:\s*flopd\s*$", text, re.M), "no job_name: flopd"
assert re.search(r"^\s*-\s*targets/\*\.json\s*$", text, re.M), "no file_sd glob targets/*.json"
text, n = re.subn(r"^(\s*(?:scrape_interval|evaluation_interval|scrape_timeout):\s*)\S+", r"\g<1>1s", text, flags=re.M)
assert n >= 1, "no scrape_interval to rewrite"
text = re.sub(r"^(\s*refresh_interval:\s*)\S+", r"\g<1>5s", text, flags=re.M)
open(sys.argv[2], "w").write(text)
PY
printf '[{"targets": ["%s"], "labels": {"cluster": "prom-test"}}]\n' "$http_addr" >"$tmp/prom/targets/flopd.json"
promtool check config "$tmp/prom/prometheus.yml" >"$tmp/promtool_config.txt" 2>&1 ||
  { cat "$tmp/promtool_config.txt" >&2; fail "promtool check config on the test's copy"; }
cp "$tmp/prom/prometheus.yml" "$OUTDIR/prometheus.yml"

# ----------------------------------------------------------- Prometheus ----
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
prom_url=''
for _ in 1 2 3 4 5; do
  port=$(free_port)
  rm -rf "$tmp/tsdb" && mkdir -p "$tmp/tsdb"
  # Run from / so that only the config's own directory can resolve targets/*.json.
  (cd / && exec prometheus --config.file="$tmp/prom/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
    --web.listen-address="127.0.0.1:$port" --log.level=info) >"$tmp/prometheus.log" 2>&1 &
  prom_pid=$!
  pids+=("$prom_pid")
  for ((i = 0; i < 150; i++)); do
    if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/-/ready" || true) == 200 ]]; then
      prom_url=http://127.0.0.1:$port
      prom_started=${EPOCHREALTIME/./}
      break 2
    fi
    kill -0 "$prom_pid" 2>/dev/null || break
    sleep 0.1
  done
  if grep -q 'address already in use' "$tmp/prometheus.log"; then
    say "port $port was taken before Prometheus bound it; retrying"
    kill "$prom_pid" 2>/dev/null || true
    wait "$prom_pid" 2>/dev/null || true
    continue
  fi
  fail "Prometheus did not become ready on 127.0.0.1:$port"
done
[[ -n $prom_url ]] || fail "no free port for Prometheus after 5 attempts"
say "Prometheus $(prometheus --version 2>&1 | sed -n '1s/prometheus, version \([^ ]*\).*/\1/p') ready on $prom_url"

# A fresh flopd's /metrics (no job yet), while Prometheus discovers its target.
scrape "$tmp/metrics0.txt"
check_content_type "$tmp/metrics0.txt"
promtool_metrics "$tmp/metrics0.txt" "a fresh flopd's"
python3 "$tmp/contract.py" structure "$tmp/metrics0.txt" "$http_doc" || fail "a fresh flopd's /metrics does not match docs/HTTP.md (problems above)"
say "ok: a fresh flopd's /metrics matches docs/HTTP.md"

# ---------------------------------------------------------------- a job ----
# Runs while Prometheus starts scraping (the first job also measures the
# device's ceilings, a few seconds), so the counters' rates see it.
say "running: flopctl run --host $grpc_addr --op matvec,outer --sizes 64,128 --dtype f32 --max-time 0.2"
"$FLOPCTL" run --host "$grpc_addr" --op matvec,outer --sizes 64,128 --dtype f32 --max-time 0.2 \
  --quiet --out "$tmp/results.jsonl" >"$tmp/flopctl.out" 2>"$tmp/flopctl.err" &
flopctl_pid=$!
pids+=("$flopctl_pid")

promq() { # EXPR: the instant query's result array as JSON
  curl -fsS --max-time 5 -G "$prom_url/api/v1/query" --data-urlencode "query=$1" |
    python3 -c 'import json, sys; d = json.load(sys.stdin); assert d["status"] == "success", d; print(json.dumps(d["data"]["result"]))'
}
wait_for() { # EXPR SECONDS WHAT: until the query returns at least one series
  local deadline=$(($(date +%s) + $2)) r
  while :; do
    r=$(promq "$1" || echo '[]')
    [[ $r != '[]' ]] && return 0
    (($(date +%s) < deadline)) || fail "$3: '$1' returned no series within $2 s"
    sleep 0.25
  done
}
wait_for 'up{job="flopd", instance="127.0.0.1", cluster="prom-test"} == 1' 15 "Prometheus scraping flopd"
say "ok: up{job=\"flopd\"} == 1, instance=\"127.0.0.1\" (port relabelled away), cluster=\"prom-test\" (from the targets file)"

rc=0
wait "$flopctl_pid" || rc=$?
pids=("$flopd_pid" "$prom_pid")
((rc == 0)) || { cat "$tmp/flopctl.out" >&2; fail "flopctl run exited $rc"; }
nresults=$(grep -c . "$tmp/results.jsonl" || true)
((nresults > 0)) || fail "flopctl wrote no results"
cp "$tmp/results.jsonl" "$OUTDIR/flopctl_results.jsonl"
say "ok: flopctl run: $nresults results"

# The job's end (jobs_total, jobs_running) may reach /metrics just after the
# stream ends: poll up to 5 s for the full contract.
for ((i = 0; ; i++)); do
  scrape "$tmp/metrics.txt"
  if python3 "$tmp/contract.py" final "$tmp/metrics.txt" "$http_doc" "$tmp/results.jsonl" "$flopd_version" \
    >"$tmp/contract.txt" 2>&1; then
    break
  fi
  ((i < 20)) || { cat "$tmp/contract.txt" >&2; fail "/metrics after the job does not match docs/HTTP.md and the results (problems above)"; }
  sleep 0.25
done
check_content_type "$tmp/metrics.txt"
cat "$tmp/contract.txt"
cp "$tmp/metrics.txt" "$OUTDIR/metrics.txt"
promtool_metrics "$tmp/metrics.txt" "after the job,"
say "ok: /metrics after the job matches docs/HTTP.md and flopctl's results"

# Prometheus has scraped the final state.
wait_for "count(flopd_point_median_seconds{job=\"flopd\"}) == $nresults and on() flopd_jobs_running{job=\"flopd\"} == 0" 15 \
  "Prometheus storing the job's points"
say "ok: Prometheus holds the $nresults points"

# ---------------------------------------------- screenshot (best effort) ----
# Prometheus's own graph of the points, by headless Chromium, in the
# background while the dashboard's queries run; a failure only warns.
chromium_bin=$(command -v chromium || command -v chromium-browser || true)
png=$OUTDIR/prometheus_graph.png
rm -f "$png"
shot_pid=''
if [[ -z $chromium_bin ]]; then
  say "WARNING: no chromium; no screenshot"
else
  # Debian's Prometheus serves only the classic UI (/classic/graph); upstream's React UI is /graph.
  graph=/graph
  [[ $(curl -s -o /dev/null -w '%{http_code}' "$prom_url/classic/graph" || true) == 200 ]] && graph=/classic/graph
  expr=$(python3 -c 'import urllib.parse; print(urllib.parse.quote("flopd_point_median_seconds{job=\"flopd\"}"))')
  range=$(((${EPOCHREALTIME/./} - prom_started) / 1000000 + 3))s # all the data Prometheus has
  timeout -k 5 30 "$chromium_bin" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --disable-dev-shm-usage \
    --user-data-dir="$tmp/chromium" --window-size=1400,1100 --hide-scrollbars --virtual-time-budget=10000 \
    --screenshot="$png" "$prom_url$graph?g0.expr=$expr&g0.tab=0&g0.range_input=$range" >"$tmp/chromium.log" 2>&1 &
  shot_pid=$!
  pids+=("$shot_pid")
fi


# -------------------------------------------------- the dashboard's PromQL ----
# Every panel target and variable query, run as Grafana runs it: instant
# queries (and format=table) at now, range queries over the last 60 s.
if ! python3 - "$dashboard" "$prom_url" "$OUTDIR/prometheus_queries.json" <<'PY'; then
import json, re, sys, time, urllib.parse, urllib.request

dash_path, prom, out_path = sys.argv[1:4]
dash = json.load(open(dash_path))

def panels(ps):
    for p in ps:
        yield p
        yield from panels(p.get("panels", []))

concrete = {"instance": "127.0.0.1", "device": "cpu:0", "dtype": "f32", "op": ["matvec", "outer"]}
builtin = {"__rate_interval": "5s", "__interval": "2s", "__range": "5m", "__range_s": "300",
           "__range_ms": "300000", "__interval_ms": "2000"}
variables = [v["name"] for v in dash["templating"]["list"]]
regex_vars = [v for v in variables if v != "datasource"]
assert set(regex_vars) <= set(concrete), f"the test has no value for variables {set(regex_vars) - set(concrete)}"

def grafana_regex_escape(s):  # what Grafana's Prometheus datasource does to multi/All variable values
    return re.sub(r"([\\^$*+?.()|{}\[\]])", r"\\\\\1", s)

def substitute(expr, mode):
    def one(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in builtin:
            return builtin[name]
        if name not in regex_vars:
            raise KeyError(f"unknown variable ${name} in {expr!r}")
        if mode == "all":
            return ".*"
        vals = concrete[name] if isinstance(concrete[name], list) else [concrete[name]]
        return "(" + "|".join(grafana_regex_escape(v) for v in vals) + ")"
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]", one, expr)

def get(path, params):
    url = prom + path + "?" + urllib.parse.urlencode(params, doseq=True)
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)

checks = []
for p in panels(dash["panels"]):
    for t in p.get("targets", []):
        if "expr" not in t:
            continue
        instant = t.get("instant", False) or t.get("format") == "table" or p["type"] in ("stat", "table")
        checks.append({"panel": p["title"], "refId": t.get("refId", "A"), "kind": "instant" if instant else "range",
                       "template": t["expr"]})
for v in dash["templating"]["list"]:
    if v["type"] != "query":
        continue
    q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
    m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\)\s*", q)
    assert m, f"variable {v['name']}: only label_values(selector, label) is handled, got {q!r}"
    checks.append({"panel": f"variable ${v['name']}", "refId": "-", "kind": "label_values",
                   "template": m.group(1), "label": m.group(2)})
panel_count = len({c["panel"] for c in checks if c["kind"] != "label_values"})
assert panel_count >= 8, f"only {panel_count} panels with targets"

def run(c, mode):
    expr = substitute(c["template"], mode)
    now = time.time()
    if c["kind"] == "instant":
        d = get("/api/v1/query", {"query": expr, "time": f"{now:.3f}"})
    elif c["kind"] == "range":
        d = get("/api/v1/query_range", {"query": expr, "start": f"{now - 60:.3f}", "end": f"{now:.3f}", "step": "1"})
    else:
        d = get(f"/api/v1/label/{c['label']}/values", {"match[]": expr, "start": f"{now - 300:.3f}", "end": f"{now:.3f}"})
    if d.get("status") != "success":
        ok = False
    elif c["kind"] == "label_values":
        ok = len(d.get("data") or []) > 0
        if ok and mode == "all":
            want = concrete[c["label"]] if isinstance(concrete[c["label"]], list) else [concrete[c["label"]]]
            ok = set(want) <= set(d["data"])
    else:
        ok = len((d.get("data") or {}).get("result") or []) > 0
    return expr, d, bool(ok)

results, deadline = {}, time.time() + 15
while True:
    pending = [(i, mode) for i in range(len(checks)) for mode in ("all", "concrete") if not results.get((i, mode), (0, 0, False))[2]]
    for i, mode in pending:
        results[(i, mode)] = run(checks[i], mode)
    failed = [(i, mode) for i, mode in pending if not results[(i, mode)][2]]
    if not failed or time.time() > deadline:
        break
    time.sleep(0.5)

report = []
for i, c in enumerate(checks):
    for mode in ("all", "concrete"):
        expr, d, ok = results[(i, mode)]
        n = len(d.get("data") or []) if c["kind"] == "label_values" else len((d.get("data") or {}).get("result") or [])
        report.append({"panel": c["panel"], "refId": c["refId"], "query": c["kind"], "variables": mode,
                       "template": c["template"], "expr": expr, "ok": ok, "series": n,
                       "status": d.get("status"), "error": d.get("error"), "data": d.get("data")})
        if mode == "all":
            print(f"  {'ok  ' if ok else 'FAIL'} {c['kind']:12} {n:3} series  {c['panel']} [{c['refId']}]: {expr}")
        elif not ok:
            print(f"  FAIL {c['kind']:12} {n:3} series  {c['panel']} [{c['refId']}] (concrete values): {expr}")
json.dump({"prometheus": prom, "dashboard": "deploy/grafana/flopd.json", "checks": report},
          open(out_path, "w"), indent=1)
bad = [r for r in report if not r["ok"]]
for r in bad:
    print(f"FAIL: panel '{r['panel']}' [{r['refId']}] ({r['variables']} values): "
          f"{r['error'] or 'no series'}: {r['expr']}", file=sys.stderr)
print(f"  {len(checks)} queries ({panel_count} panels, "
      f"{sum(c['kind'] == 'label_values' for c in checks)} variables) x 2 variable settings: "
      f"{len(report) - len(bad)} ok, {len(bad)} failed")
sys.exit(1 if bad else 0)
PY
  fail "dashboard queries failed (named above)"
fi
say "ok: every deploy/grafana/flopd.json query returns series (results in $OUTDIR/prometheus_queries.json)"

# Collect the screenshot started above.
if [[ -n $shot_pid ]]; then
  if wait "$shot_pid" && [[ -s $png ]]; then
    say "ok: screenshot of Prometheus's $graph page: $png ($(stat -c %s "$png") bytes)"
  else
    say "WARNING: headless Chromium did not render $graph (not a failure); last lines of its log:"
    tail -n 5 "$tmp/chromium.log" || true
    rm -f "$png"
  fi
fi

stop_all
say "PASS in $(elapsed) s"
