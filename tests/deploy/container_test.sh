#!/usr/bin/env bash
# The container image (deploy/container): built with podman from this build
# directory, with no base image and no network; run with no network at all;
# flopd inside runs as the unprivileged user flopd, answers `flopctl info` on
# loopback and on its Unix socket, runs a small job, passes its HEALTHCHECK
# and stops cleanly on SIGTERM (`podman stop`).
#
#   container_test.sh BUILD_DIR WORK_DIR
#
# Exits 77 (ctest: skipped) when podman is missing or cannot run containers
# here, saying why. Everything podman stores lives in WORK_DIR (its own
# --root), removed at the end: the machine's images are not touched.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$1 work=$2
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
command -v podman >/dev/null || skip "podman is not installed (deploy/install_deps.sh installs it)"
((EUID == 0)) || skip "needs root: rootless podman needs subuid ranges this test does not set up"
rm -rf "$work" && mkdir -p "$work" || fail "cannot create $work"

# This machine's quirks, each one harmless elsewhere: a hybrid cgroup
# hierarchy that crun refuses (runc takes it), no systemd for healthcheck
# timers or events, hard rlimits that root may not raise (podman would ask
# for the maximum). Storage: below.
runtime=()
command -v runc >/dev/null && runtime=(--runtime runc)
runroot=$(mktemp -d /tmp/flopd-podman.XXXXXX)  # podman: at most 50 characters
# overlay shares layers (the image holds cuBLAS when flopd is built with
# CUDA: ~700 MB); vfs, which copies each layer, where overlay cannot mount.
driver=${FLOPD_PODMAN_STORAGE:-overlay}
podman --root "$work/probe" --runroot "$runroot/p" --storage-driver "$driver" info >/dev/null 2>&1 || driver=vfs
rm -rf "$work/probe" "$runroot/p"
podman=(podman --root "$work/storage" --runroot "$runroot" --storage-driver "$driver"
        --cgroup-manager cgroupfs --events-backend file "${runtime[@]}")
limits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=4096:4096")
name=flopd-container-test-$$
cleanup() {
  "${podman[@]}" rm -f -t 0 "$name" >/dev/null 2>&1
  "${podman[@]}" rmi -f localhost/flopd:test >/dev/null 2>&1
  rm -rf "$work/storage" "$runroot" 2>/dev/null || true
}
trap cleanup EXIT
log() { echo "--- $*"; }

# Can this machine run a container at all? Probe with the image itself once built.
log "build (podman build, FROM scratch)"
t0=$(date +%s)
PODMAN="${podman[*]}" bash "$root/deploy/container/build.sh" "$build" localhost/flopd:test \
  >"$work/build.log" 2>&1 || { tail -20 "$work/build.log"; fail "the image did not build"; }
echo "built in $(($(date +%s) - t0)) s: $("${podman[@]}" image inspect localhost/flopd:test --format '{{.Size}}') bytes"

log "run (--network none)"
if ! "${podman[@]}" run -d --name "$name" --network none --health-interval disable "${limits[@]}" \
    localhost/flopd:test >"$work/run.log" 2>&1; then
  cat "$work/run.log"
  grep -qiE "cgroup|OCI runtime|permission denied|setrlimit|namespace" "$work/run.log" &&
    skip "podman cannot start a container on this machine: $(grep -iE 'Error' "$work/run.log" | head -1)"
  fail "podman run failed"
fi
ok=
for _ in $(seq 100); do
  "${podman[@]}" exec "$name" /usr/bin/flopctl info --host 127.0.0.1:50051 >"$work/info.txt" 2>&1 && { ok=1; break; }
  sleep 0.2
done
"${podman[@]}" logs "$name" >"$work/flopd.log" 2>&1
[[ $ok ]] || { cat "$work/info.txt" "$work/flopd.log"; fail "flopctl info never answered inside the container"; }
head -1 "$work/info.txt"
grep -q "health SERVING" "$work/info.txt" || fail "info does not say SERVING"

user=$("${podman[@]}" top "$name" user 2>/dev/null | sed -n 2p | tr -d ' ')
[[ -n $user ]] || user=$("${podman[@]}" inspect "$name" --format '{{.Config.User}}')
echo "flopd runs as: $user"
[[ $user == flopd || $user == 65532* ]] || fail "flopd runs as '$user', not the user flopd (65532)"

log "info and a job over the Unix socket"
"${podman[@]}" exec "$name" /usr/bin/flopctl info --host unix:/run/flopd/flopd.sock >/dev/null ||
  fail "no answer on unix:/run/flopd/flopd.sock"
"${podman[@]}" exec "$name" /usr/bin/flopctl run --host unix:/run/flopd/flopd.sock --op matvec \
  --impl gemv --sizes 256 --dtype f32 --format csv >"$work/run.csv" 2>&1 || { cat "$work/run.csv"; fail "the job failed"; }
grep -q "matvec" "$work/run.csv" || { cat "$work/run.csv"; fail "no matvec row in the job's output"; }
grep -c matvec "$work/run.csv" | sed 's/^/result rows: /'

log "HEALTHCHECK (the image's own command)"
"${podman[@]}" healthcheck run "$name" 2>/dev/null || fail "podman healthcheck run: unhealthy"
health=$("${podman[@]}" inspect "$name" --format '{{.State.Health.Status}}' 2>/dev/null)
echo "health: $health"
[[ $health == healthy ]] || fail "health is '$health'"

log "stop (SIGTERM drains)"
"${podman[@]}" stop -t 30 "$name" >/dev/null 2>&1
code=$("${podman[@]}" inspect "$name" --format '{{.State.ExitCode}}')
echo "exit code after podman stop: $code"
[[ $code == 0 ]] || { "${podman[@]}" logs "$name" | tail; fail "flopd exited $code on SIGTERM"; }
echo "PASS"
