#!/usr/bin/env bash
# Configures and builds flopd into BUILD_DIR (default: build/ at the repo
# root). Extra arguments go to cmake's configure step, e.g.
#   deploy/build.sh -DFLOPD_CUDA=OFF
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
jobs=${JOBS:-$(nproc)}
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$build_dir" -j "$jobs" >&2  # progress to stderr: stdout carries results
