#!/usr/bin/env bash
# The Slurm batch script (deploy/slurm/flopd.sbatch) on a real one-node Slurm
# that this test starts and stops: munged, slurmctld and slurmd (Debian's
# munge and slurm-wlm) with a slurm.conf, key, sockets, state and logs of its
# own in WORK_DIR, on ports no default Slurm uses. `sbatch --wait` runs the
# script, which starts flopd on the node with srun (TLS and a token of the
# job's own), waits for health, runs flopctl over the allocation and stops
# the daemon with SIGTERM; the test then checks the results file, the table,
# the daemon's drain in its log, and that no flopd is left.
#
#   slurm_test.sh BUILD_DIR WORK_DIR
#
# Exits 77 (ctest: skipped) when not root (slurmd runs jobs as their user and
# must be root) or when munge/Slurm are missing, or the machine's host name
# does not resolve to a loopback address (this test sends nothing off loopback).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$1 work=$2
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
((EUID == 0)) || skip "needs root: slurmd must run as root to start jobs"
for tool in munged munge slurmctld slurmd sbatch srun scontrol squeue scancel; do
  command -v "$tool" >/dev/null || skip "$tool is missing (Debian: munge, slurm-wlm; deploy/install_deps.sh installs them)"
done
node=$(hostname -s)
addr=$(getent ahostsv4 "$node" | awk 'NR == 1 {print $1}')
[[ $addr == 127.* ]] || skip "host name $node resolves to '${addr:-nothing}', not loopback: flopctl would dial it"
rm -rf "$work" && mkdir -p "$work" && chmod 755 "$work" || fail "cannot create $work"
T=$work
pids=()
sock=$(mktemp -d /tmp/flopd-munge.XXXXXX)  # a Unix socket's path is short
chmod 755 "$sock"
cleanup() {
  local p
  # Jobs first (this cluster is the test's own), so no slurmstepd outlives it.
  [[ -n ${SLURM_CONF:-} ]] && scancel --full --user=root 2>/dev/null && sleep 2
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  rm -rf "$sock"
  true
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

echo "--- programs (cmake --install)"
cmake --install "$build" --prefix "$T/prefix" >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "cmake --install"; }

echo "--- munged"
dd if=/dev/urandom of="$T/munge.key" bs=1024 count=1 2>/dev/null && chmod 400 "$T/munge.key"
munged -F --force --key-file="$T/munge.key" --socket="$sock/munge.sock" --pid-file="$T/munged.pid" \
  --log-file="$T/munged.log" --seed-file="$T/munged.seed" >"$T/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [[ -S $sock/munge.sock ]] && break; sleep 0.1; done
munge -S "$sock/munge.sock" -n | unmunge -S "$sock/munge.sock" >/dev/null ||
  { cat "$T/munged.out"; fail "munged does not answer"; }

echo "--- slurmctld and slurmd (node $node)"
mkdir -p "$T/state" "$T/spool"
cat >"$T/slurm.conf" <<CONF
ClusterName=flopdtest
SlurmctldHost=$node($addr)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
AuthInfo=socket=$sock/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MailProg=/bin/true
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
$(slurmd -C | head -1) NodeAddr=$addr State=UNKNOWN
PartitionName=flopd Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$T/slurm.conf
slurmctld -D -i -f "$T/slurm.conf" >"$T/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$T/slurm.conf" -N "$node" >"$T/slurmd.out" 2>&1 &
pids+=($!)
up=
for _ in $(seq 100); do
  [[ $(sinfo --noheader --nodes="$node" --format=%t 2>/dev/null) == idle ]] && { up=1; break; }
  sleep 0.2
done
[[ $up ]] || { tail -n 20 "$T/slurmctld.out" "$T/slurmd.out"; fail "the node never became idle"; }
sinfo

echo "--- sbatch --wait deploy/slurm/flopd.sbatch"
t0=$(date +%s)
PATH=$T/prefix/bin:$PATH FLOPD_RESULTS=$T/results timeout 240 \
  sbatch --wait --nodes=1 --time=10 --output="$T/job.out" --chdir="$T" "$root/deploy/slurm/flopd.sbatch" \
  --op matvec --impl gemv --sizes 256,512 --dtype f32 --max-time 1 >"$T/sbatch.out" 2>&1
rc=$?
echo "sbatch exit $rc after $(($(date +%s) - t0)) s"
cat "$T/job.out" 2>/dev/null
((rc == 0)) || { cat "$T/sbatch.out"; squeue; scontrol show job 2>/dev/null | grep -E 'JobState|Reason'; tail -n 20 "$T/slurmctld.log" "$T/slurmd.log" 2>/dev/null; fail "the batch job failed"; }

echo "--- results"
r=$T/results
[[ -s $r/results.jsonl ]] || fail "no $r/results.jsonl"
rows=$(grep -c '"matvec"' "$r/results.jsonl")
echo "results.jsonl: $rows result(s)"
((rows == 2)) || fail "expected 2 results (N = 256, 512), got $rows"
grep -q "\"$node\"" "$r/results.jsonl" || fail "results do not name the host $node"
grep -q "health SERVING" "$r/info.txt" || fail "info.txt does not say SERVING"
grep -q "received SIGTERM" "$r/logs/$node.log" && grep -q "flopd: stopped" "$r/logs/$node.log" ||
  { cat "$r/logs/$node.log"; fail "the daemon was not stopped by SIGTERM (drain)"; }
grep -q "tokens from" "$r/logs/$node.log" || fail "the daemon ran without the job's tokens"
pgrep -f -- "--state-dir $r/state" >/dev/null && fail "a flopd of the job is still running"
echo "PASS"
