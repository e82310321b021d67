#!/usr/bin/env bash
# Installs the Debian 12 packages flopd builds and tests with, skipping what
# is already there. Run as root. CUDA is not installed here: the CUDA backend
# is built when /usr/local/cuda/bin/nvcc (or nvcc on PATH) exists.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libopenblas-dev libgtest-dev libsqlite3-dev
  libcpp-httplib-dev prometheus-cpp-dev
  # TLS and token hashes (OpenSSL); the tests make their certificates with openssl.
  libssl-dev openssl
  python3 python3-numpy python3-pandas
  # Tests: a real Prometheus (and promtool) scrapes flopd; the dashboard is
  # loaded in headless Chromium, driven from Node (tests/dashboard).
  prometheus chromium curl
  # Fuzzing (tests/fuzz): clang with libFuzzer and its sanitizer runtimes.
  clang-16 libfuzzer-16-dev libclang-rt-16-dev
  # Deployments (tests/deploy): systemd-analyze, podman (runc: crun refuses a
  # hybrid cgroup hierarchy), a one-node Slurm with munge.
  systemd podman runc slurm-wlm munge
  # A fleet on a real network (tests/fleet): network namespaces (ip netns) and
  # dnsmasq answering for them. dnsmasq-base is the program alone: the dnsmasq
  # package would also enable a system-wide DNS service on port 53.
  iproute2 dnsmasq-base
)
# kubectl (its kustomize renders deploy/kubernetes): the machine's own when
# present (a newer one may come from Kubernetes' or Google's packages), else
# Debian's kubernetes-client, whose kustomize v2 is too old (the test skips).
if ! command -v kubectl >/dev/null; then
  packages+=(kubernetes-client)
fi
# Node.js and npm: the machine's own when present (any >= 18), else Debian's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "flopd: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
