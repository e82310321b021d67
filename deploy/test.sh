#!/usr/bin/env bash
# Installs what is missing, builds everything (the CUDA backend too when nvcc
# is present) and runs every test. GPU tests skip, saying why, without a GPU.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash deploy/install_deps.sh
bash deploy/build.sh -DFLOPD_BUILD_TESTS=ON
cd build
ctest --output-on-failure --timeout 600
