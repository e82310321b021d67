#!/usr/bin/env bash
# What fanning one job out to many hosts costs flopctl: DAEMONS flopd on
# 127.0.0.1 (each its own free port, state dir and hostname bench-NN), the
# same small job run
#   A: on one of them          flopctl run --host 127.0.0.1:PORT JOB
#   B: on all of them at once  flopctl run --host @hosts JOB
# alternating A B A B ... REPEATS times (drift hits both), each timed (wall
# from date +%s%N around it; client max RSS and CPU from /usr/bin/time).
# Prints a markdown summary, also written to OUTDIR/summary.md: median, min
# and max wall of A and B, the ratio of the medians B/A, client memory, and
# where B's time goes. Not a test; docs/results/fleet_fanout.md.
#
#   bench/fleet/fanout_bench.sh FLOPD FLOPCTL OUTDIR [DAEMONS=64] [REPEATS=5]
#
# Needs bash, coreutils, /usr/bin/time (apt-get install time) and python3.
#
# Environment (all optional):
#   JOB="..."          flopctl run's job flags (default: one point, matvec/gemv
#                      N=256, 5 samples of 1 iteration, 1 thread: a few ms of
#                      CPU a host, most of it flopd's 5 ms minimum warm-up)
#   SUBSETS="8 16 32"  also run B over the first K hosts (variants B8, B16, ...)
#                      in every round: how the wall grows with the host count
#   PARALLEL="1 8"     also run B with --parallel P (Bp1, Bp8, ...) every round
#   DRAINED=0          skip the drained phase (below; default 1: run it)
#   DAEMON_FLAGS="..." more flopd flags (always: --listen 127.0.0.1:0 --no-http
#                      --no-cuda --threads 1 --hostname bench-NN --state-dir)
#   WARM_PARALLEL=W    daemons measuring their ceilings at once in the warm-up
#                      (default min(nproc, GiB available): each measurement
#                      streams ~0.8 GiB of arrays for ~4 s)
#
# What else it shows, to tell the client's fan-out cost from the job's own:
# - CPU: the client's (user + system, /usr/bin/time) and all daemons' (from
#   /proc/PID/stat around each run; 1/CLK_TCK steps per daemon). Their sum
#   over nproc is a floor on the wall no client can beat: 64 jobs sharing
#   2 cores cannot end as soon as one job on an idle machine.
# - A timeline from the daemons' own job records (created, ended; ms, the
#   same clock as the client's on loopback), medians over the rounds:
#     launch->first job   client start until the first daemon created its job
#     launch->last job    ... until the last one did (the fan-out's spread)
#     jobs span           first job created until the last one ended
#     last end->exit      the last job's end until the client exited
# - Drained phase (A-drained, B-drained): every daemon drained (flopctl
#   drain), so each refuses the job at once (UNAVAILABLE, exit 1, expected)
#   and no daemon computes anything; the same ABAB rounds then time the
#   fan-out alone: threads, channels, connections, calls, teardown.
set -euo pipefail

usage() {
  echo "usage: $0 FLOPD FLOPCTL OUTDIR [DAEMONS=64] [REPEATS=5]" >&2
  exit 2
}
[[ $# -ge 3 && $# -le 5 ]] || usage
abs() { (cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")"); }
flopd=$(abs "$1")
flopctl=$(abs "$2")
daemons=${4:-64}
repeats=${5:-5}
[[ -x $flopd ]] || { echo "fanout_bench: $flopd is not executable" >&2; exit 2; }
[[ -x $flopctl ]] || { echo "fanout_bench: $flopctl is not executable" >&2; exit 2; }
[[ $daemons =~ ^[0-9]+$ && $daemons -ge 1 && $daemons -le 999 ]] ||
  { echo "fanout_bench: DAEMONS: 1..999" >&2; exit 2; }
[[ $repeats =~ ^[0-9]+$ && $repeats -ge 1 ]] || { echo "fanout_bench: REPEATS: 1 or more" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "fanout_bench: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "fanout_bench: needs python3" >&2; exit 2; }
mkdir -p "$3"
outdir=$(cd "$3" && pwd)
rm -rf "$outdir/daemons" "$outdir/runs" "$outdir/runs.tsv" "$outdir/summary.md"
mkdir -p "$outdir/daemons" "$outdir/runs"

# shellcheck disable=SC2206
job=(${JOB:---op matvec --impl gemv --sizes 256 --samples 5 --iterations 1 --threads 1})
# shellcheck disable=SC2206
daemon_flags=(${DAEMON_FLAGS:-})
cores=$(nproc)
meminfo_kib() {  # FIELD: its value in /proc/meminfo (KiB)
  local key value _
  while read -r key value _; do
    if [[ $key == "$1:" ]]; then echo "$value"; return; fi
  done </proc/meminfo
  echo 0
}
count_lines() {  # FILE PATTERN: lines of FILE matching the glob *PATTERN*
  local line n=0
  while IFS= read -r line; do
    # shellcheck disable=SC2053
    [[ $line == *$2* ]] && n=$((n + 1))
  done <"$1"
  echo "$n"
}
mem_gib=$(($(meminfo_kib MemAvailable) / 1048576))
warm_parallel=${WARM_PARALLEL:-$((cores < mem_gib ? cores : mem_gib))}
((warm_parallel >= 1)) || warm_parallel=1
clk_tck=$(getconf CLK_TCK)

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "fanout_bench: FAILED: $*" >&2
  exit 1
}

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "nproc: $cores"
  model=""
  while IFS=: read -r key value; do
    if [[ $key == "model name"* ]]; then model=${value# }; break; fi
  done </proc/cpuinfo
  echo "cpu: $model"
  echo "memory: $(python3 -c "print('%.1f GiB' % ($(meminfo_kib MemTotal) / 1048576))")"
  echo "kernel: $(uname -sr)"
  echo "flopd: $flopd"
  echo "flopctl: $flopctl"
  echo "daemons: $daemons"
  echo "repeats: $repeats"
  echo "job: ${job[*]}"
  echo "loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$outdir/machine.txt"

# --- start the daemons (port 0: each picks a free port and prints it) -------
echo "fanout_bench: starting $daemons flopd on 127.0.0.1 (nproc $cores)" >&2
names=()
for ((i = 0; i < daemons; i++)); do
  name=$(printf 'bench-%02d' "$i")
  names+=("$name")
  "$flopd" --listen 127.0.0.1:0 --no-http --no-cuda --threads 1 --hostname "$name" \
    --state-dir "$outdir/daemons/$name" "${daemon_flags[@]}" \
    >"$outdir/daemons/$name.out" 2>"$outdir/daemons/$name.err" </dev/null &
  pids+=($!)
done
addresses=()
for ((i = 0; i < daemons; i++)); do
  name=${names[$i]}
  address=""
  for _ in $(seq 600); do
    if [[ $(<"$outdir/daemons/$name.out") =~ listening\ on\ (127\.0\.0\.1:[0-9]+)\  ]]; then
      address=${BASH_REMATCH[1]}
      break
    fi
    kill -0 "${pids[$i]}" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n $address ]] ||
    fail "$name did not start; $outdir/daemons/$name.err: $(tail -n 3 "$outdir/daemons/$name.err")"
  addresses+=("$address")
done
: >"$outdir/hosts"
for ((i = 0; i < daemons; i++)); do
  info=$("$flopctl" info --host "${addresses[$i]}" 2>&1) ||
    fail "${names[$i]} (${addresses[$i]}) does not answer flopctl info: $info"
  [[ $info == *"host ${names[$i]}, "*"health SERVING"* ]] ||
    fail "${names[$i]}: unexpected flopctl info: $(head -n 1 <<<"$info")"
  printf '%s  %s\n' "${addresses[$i]}" "${names[$i]}" >>"$outdir/hosts"
done
echo "fanout_bench: $daemons daemons answer; hosts file $outdir/hosts" >&2

# --- the variants -----------------------------------------------------------
# v_host: the --host value; v_count: hosts; v_extra: more flags;
# v_drained: 1 = run while every daemon is drained (each refuses the job)
variants=()
declare -A v_host v_count v_extra v_drained
add_variant() {  # NAME HOST COUNT DRAINED [EXTRA]
  variants+=("$1")
  v_host[$1]=$2
  v_count[$1]=$3
  v_drained[$1]=$4
  v_extra[$1]=${5:-}
}
add_variant A "${addresses[0]}" 1 0
add_variant B "@$outdir/hosts" "$daemons" 0
for k in ${SUBSETS:-}; do
  [[ $k =~ ^[0-9]+$ && $k -ge 2 && $k -lt $daemons ]] || continue
  head -n "$k" "$outdir/hosts" >"$outdir/hosts.$k"
  add_variant "B$k" "@$outdir/hosts.$k" "$k" 0
done
for p in ${PARALLEL:-}; do
  [[ $p =~ ^[0-9]+$ && $p -ge 1 ]] || continue
  add_variant "Bp$p" "@$outdir/hosts" "$daemons" 0 "--parallel $p"
done
if [[ ${DRAINED:-1} != 0 ]]; then
  add_variant A-drained "${addresses[0]}" 1 1
  add_variant B-drained "@$outdir/hosts" "$daemons" 1
fi

daemon_ticks() {  # all daemons' CPU so far (user + system), in clock ticks
  local pid sum=0 stat
  for pid in "${pids[@]}"; do
    read -r -a stat <"/proc/$pid/stat" || return 1
    sum=$((sum + stat[13] + stat[14]))  # comm "(flopd)" has no spaces
  done
  echo "$sum"
}

# Runs variant $1 once as run id $2; appends a line to runs.tsv unless $3 = warm.
run_variant() {
  local v=$1 id=$2 mode=${3:-timed}
  local out="$outdir/runs/$id.jsonl" tf="$outdir/runs/$id.time" err="$outdir/runs/$id.err"
  # shellcheck disable=SC2206
  local extra=(${v_extra[$v]})
  local cmd=("$flopctl" run --host "${v_host[$v]}" "${job[@]}" "${extra[@]}" --run-id "$id"
    --format jsonl --quiet --out "$out")
  local t0 t1 c0 c1 rc=0
  c0=$(daemon_ticks) || fail "a flopd is gone"
  t0=$(date +%s%N)
  /usr/bin/time -f '%e %M %U %S' -o "$tf" "${cmd[@]}" >/dev/null 2>"$err" || rc=$?
  t1=$(date +%s%N)
  c1=$(daemon_ticks) || fail "a flopd is gone"
  local got
  if [[ ${v_drained[$v]} == 1 ]]; then
    # every host must refuse: exit 1, one UNAVAILABLE "no new job" line each
    [[ $rc -eq 1 ]] || fail "$id: flopctl run exited $rc with every daemon drained, expected 1: $(tail -n 3 "$err")"
    got=$(count_lines "$err" "UNAVAILABLE: *no new job")
  else
    [[ $rc -eq 0 ]] || fail "$id: flopctl run exited $rc: $(tail -n 5 "$err")"
    got=$(python3 -c '
import json, sys
print(len({json.loads(line)["hostname"] for line in open(sys.argv[1]) if line.strip()}))' "$out")
  fi
  [[ $got -eq ${v_count[$v]} ]] ||
    fail "$id: $got distinct hosts answered, expected ${v_count[$v]} ($out, $err)"
  if [[ $mode != warm ]]; then
    local e m u s
    read -r e m u s < <(tail -n 1 "$tf")  # a failed command's file starts with a note
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$v" "$id" "$e" "$m" "$u" "$s" \
      "$t0" "$t1" "$((c1 - c0))" "${v_count[$v]}" "${v_drained[$v]}" >>"$outdir/runs.tsv"
    echo "fanout_bench: $id: wall $(((t1 - t0) / 1000000)) ms, client max RSS $m KiB, $got host(s)" >&2
  fi
}

# --- warm-up: every daemon's ceilings, then an untimed run of each variant --
echo "fanout_bench: warm-up: measuring each daemon's ceilings, $warm_parallel at once" >&2
warming=()  # at most warm_parallel at once, oldest first
for ((i = 0; i < daemons; i++)); do
  if ((${#warming[@]} >= warm_parallel)); then
    wait "${warming[0]}" || true
    warming=("${warming[@]:1}")
  fi
  "$flopctl" info --host "${addresses[$i]}" --ceilings >"$outdir/daemons/${names[$i]}.ceilings" 2>&1 &
  warming+=($!)
done
for pid in "${warming[@]}"; do wait "$pid" || true; done
for name in "${names[@]}"; do
  [[ $(count_lines "$outdir/daemons/$name.ceilings" "ceilings (measured") -eq 1 ]] ||
    fail "warm-up: $name measured no ceilings: $(tail -n 3 "$outdir/daemons/$name.ceilings")"
done
for v in "${variants[@]}"; do
  if [[ ${v_drained[$v]} == 0 ]]; then run_variant "$v" "warm-$v" warm; fi
done

# The idle daemons' own CPU (timers, pollers), to read the runs' daemon CPU by.
i0=$(daemon_ticks)
s0=$(date +%s%N)
sleep 3
i1=$(daemon_ticks)
s1=$(date +%s%N)
idle_cpu_per_s=$(python3 -c "print(($i1 - $i0) / $clk_tck / (($s1 - $s0) / 1e9))")

# --- the rounds: A B [B8 ...] [Bp1 ...], REPEATS times, then drained ---------
printf 'variant\trun_id\twall_s\tmax_rss_kib\tuser_s\tsys_s\tt0_ns\tt1_ns\tdaemon_ticks\thosts\tdrained\n' \
  >"$outdir/runs.tsv"
for ((r = 1; r <= repeats; r++)); do
  for v in "${variants[@]}"; do
    if [[ ${v_drained[$v]} == 0 ]]; then run_variant "$v" "$v-$r"; fi
  done
done
if [[ ${DRAINED:-1} != 0 ]]; then
  "$flopctl" drain --host "@$outdir/hosts" >"$outdir/drain.txt" 2>&1 || fail "flopctl drain: $(tail -n 3 "$outdir/drain.txt")"
  for v in "${variants[@]}"; do
    if [[ ${v_drained[$v]} == 1 ]]; then run_variant "$v" "warm-$v" warm; fi
  done
  for ((r = 1; r <= repeats; r++)); do
    for v in "${variants[@]}"; do
      if [[ ${v_drained[$v]} == 1 ]]; then run_variant "$v" "$v-$r"; fi
    done
  done
  "$flopctl" drain --resume --host "@$outdir/hosts" >>"$outdir/drain.txt" 2>&1 || fail "flopctl drain --resume"
fi
echo "loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$outdir/machine.txt"

# The daemons' job records of every timed run (created/started/ended, ms).
"$flopctl" jobs --host "@$outdir/hosts" --limit 0 --format jsonl >"$outdir/jobs.jsonl" 2>"$outdir/jobs.err" ||
  fail "flopctl jobs: $(tail -n 3 "$outdir/jobs.err")"

# --- the summary ----------------------------------------------------------------
python3 - "$outdir" "$cores" "$clk_tck" "$idle_cpu_per_s" <<'EOF' | tee "$outdir/summary.md"
import collections, json, statistics, sys

outdir, cores, clk_tck, idle_cpu_per_s = sys.argv[1:5]
cores, clk_tck, idle_cpu_per_s = int(cores), int(clk_tck), float(idle_cpu_per_s)
machine = dict(line.rstrip("\n").split(": ", 1) for line in open(f"{outdir}/machine.txt"))
runs = collections.OrderedDict()
for line in open(f"{outdir}/runs.tsv").read().splitlines()[1:]:
    v, rid, _, rss, user, sys_, t0, t1, ticks, hosts, drained = line.split("\t")
    runs.setdefault(v, []).append(dict(
        id=rid, wall=(int(t1) - int(t0)) / 1e9, rss=int(rss), cpu=float(user) + float(sys_),
        t0=int(t0) / 1e6, t1=int(t1) / 1e6, dcpu=int(ticks) / clk_tck, hosts=int(hosts),
        drained=drained == "1"))
jobs = collections.defaultdict(list)
for line in open(f"{outdir}/jobs.jsonl"):
    if line.strip():
        j = json.loads(line)
        jobs[j.get("run_id", "")].append(j)

med = statistics.median
for v, rs in runs.items():
    for r in rs:
        if r["drained"]:
            continue
        js = jobs[r["id"]]
        if len(js) != r["hosts"]:
            sys.exit(f"fanout_bench: {r['id']}: {len(js)} job records, expected {r['hosts']}")
        created = [int(j["created_unix_ms"]) for j in js]
        ended = [int(j["ended_unix_ms"]) for j in js]
        r["first_job"] = min(created) - r["t0"]
        r["last_job"] = max(created) - r["t0"]
        r["span"] = max(ended) - min(created)
        r["tail"] = r["t1"] - max(ended)
        r["job_wall_max"] = max(e - c for c, e in zip(created, ended)) / 1e3
        r["job_wall_sum"] = sum(e - c for c, e in zip(created, ended)) / 1e3
        with open(f"{outdir}/runs/{r['id']}.jsonl") as f:
            r["point_wall_sum"] = sum(json.loads(l).get("point_wall_seconds", 0)
                                      for l in f if l.strip())

def wall(v):
    return med(x["wall"] for x in runs[v])

out = []
p = out.append
p(f"### flopctl run fan-out: {machine['daemons']} flopd on 127.0.0.1, "
  f"{machine['repeats']} rounds ABAB\n")
p(f"{machine['date']}; nproc {cores}; {machine['cpu']}; {machine['memory']}; "
  f"{machine['kernel']}; load average (1, 5, 15 min) before {machine['loadavg before']}, "
  f"after {machine['loadavg after']}.\n")
p(f"Job on each host: `{machine['job']}`\n")
p("| variant | hosts | wall median s | min | max | / A | client max RSS KiB (median, max) "
  "| client CPU s | daemons CPU s | (client + daemons CPU) / nproc s |")
p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for v, rs in runs.items():
    base = "A-drained" if rs[0]["drained"] else "A"
    w = [x["wall"] for x in rs]
    cpu, dcpu = med(x["cpu"] for x in rs), med(x["dcpu"] for x in rs)
    p(f"| {v} | {rs[0]['hosts']} | {med(w):.3f} | {min(w):.3f} | {max(w):.3f} | "
      f"{med(w) / wall(base):.2f} | {int(med(x['rss'] for x in rs))}, {max(x['rss'] for x in rs)} "
      f"| {cpu:.2f} | {dcpu:.2f} | {(cpu + dcpu) / cores:.3f} |")
p("")
p(f"Daemons CPU includes the idle daemons' own: {idle_cpu_per_s:.3f} CPU-s per second "
  f"for all {machine['daemons']} (measured over 3 s between warm-up and rounds). "
  f"Client CPU has 10 ms steps (/usr/bin/time), daemons CPU 1/{clk_tck} s per daemon.\n")
timed = [v for v, rs in runs.items() if not rs[0]["drained"]]
p("Timeline, medians over the rounds, ms from the client's launch (daemons' job records):\n")
p("| variant | launch->first job | launch->last job | jobs span | last end->exit "
  "| job wall max s | job wall sum s | point_wall sum s |")
p("|---|---:|---:|---:|---:|---:|---:|---:|")
for v in timed:
    rs = runs[v]
    p(f"| {v} | {med(x['first_job'] for x in rs):.0f} | {med(x['last_job'] for x in rs):.0f} "
      f"| {med(x['span'] for x in rs):.0f} | {med(x['tail'] for x in rs):.0f} "
      f"| {med(x['job_wall_max'] for x in rs):.3f} | {med(x['job_wall_sum'] for x in rs):.3f} "
      f"| {med(x['point_wall_sum'] for x in rs):.3f} |")
p("")
a, b = runs["A"], runs["B"]
ratio = wall("B") / wall("A")
b_floor = med(x["cpu"] + x["dcpu"] for x in b) / cores
jobs_floor = med(x["dcpu"] for x in b) / cores
paired = [y["wall"] / x["wall"] for x, y in zip(a, b)]
a_ms = " ".join("%.0f" % (1e3 * x["wall"]) for x in a)
b_ms = " ".join("%.0f" % (1e3 * x["wall"]) for x in b)
p(f"**B/A = {ratio:.2f}** (B {wall('B'):.3f} s, A {wall('A'):.3f} s; requirement <= 1.2: "
  f"{'met' if ratio <= 1.2 else 'NOT met'}). Each round's B over its A: median "
  f"{med(paired):.2f}, {min(paired):.2f}..{max(paired):.2f}. Walls in ms, round by round: "
  f"A {a_ms}; B {b_ms}.")
p(f"B's CPU floor on {cores} cores: {b_floor:.3f} s (client + daemons CPU / nproc), of which "
  f"the daemons' {jobs_floor:.3f} s; B / its floor = {wall('B') / b_floor:.2f}.")
if "B-drained" in runs:
    ad, bd = runs["A-drained"], runs["B-drained"]
    extra_hosts = bd[0]["hosts"] - ad[0]["hosts"]
    extra_cpu = med(x["cpu"] for x in bd) - med(x["cpu"] for x in ad)
    p(f"Fan-out alone (every daemon drained, refusing at once): B-drained/A-drained = "
      f"{wall('B-drained') / wall('A-drained'):.2f}, {1e3 * (wall('B-drained') - wall('A-drained')):.0f} ms "
      f"more wall and {1e3 * extra_cpu:.0f} ms more client CPU for {extra_hosts} more hosts "
      f"({1e3 * extra_cpu / max(extra_hosts, 1):.2f} ms CPU a host).")
p(f"Client max RSS: A {int(med(x['rss'] for x in a))} KiB, B {int(med(x['rss'] for x in b))} KiB "
  f"(medians; B's max {max(x['rss'] for x in b)} KiB): "
  f"{(med(x['rss'] for x in b) - med(x['rss'] for x in a)) / max(b[0]['hosts'] - 1, 1):.0f} KiB "
  f"more a host.")
print("\n".join(out))
EOF
