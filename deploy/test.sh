#!/usr/bin/env bash
# Installs what is missing, builds everything (the CUDA backend too when nvcc
# is present) and runs every test. GPU tests skip, saying why, without a GPU.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash deploy/install_deps.sh
# The dashboard test's one npm package (playwright-core, driving Debian's
# Chromium; it downloads no browser).
(cd tests/dashboard && npm ci --no-audit --no-fund --loglevel=error)
bash deploy/build.sh -DFLOPD_BUILD_TESTS=ON
cd build
ctest --output-on-failure --timeout 600
