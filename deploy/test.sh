#!/usr/bin/env bash
# .ci/run's body. Installs what is missing, then runs these stages one after
# the other and prints how long each took (docs/TESTING.md, "The stages of
# .ci/run"):
#
#   main   build everything in build/ (the CUDA backend too when nvcc is
#          present) and run every test with ctest; GPU tests skip, saying
#          why, without a GPU
#   asan   deploy/sanitize.sh asan: the unit and integration tests built with
#          AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)
#   tsan   deploy/sanitize.sh tsan: the server and client tests built with
#          ThreadSanitizer (build-tsan/)
#   fuzz   deploy/fuzz.sh: every libFuzzer target's seeds replayed, then each
#          target fuzzed for FUZZ_SECONDS (build-fuzz/)
#
# A failed stage fails the run (exit 1); the stages after it still run, so
# one run reports on all of them. Environment:
#   STAGES        the stages to run, in the order given (default "main asan tsan
#                 fuzz"), e.g. STAGES=tsan bash deploy/test.sh
#   FUZZ_SECONDS  seconds per fuzz target (default 60, issue 9's minimum)
#   JOBS, NICE    passed on to the build and stage scripts
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
read -r -a stages <<<"${STAGES:-main asan tsan fuzz}"
for stage in "${stages[@]}"; do
  case $stage in
    main | asan | tsan | fuzz) ;;
    *) echo "test.sh: unknown stage '$stage' (main, asan, tsan, fuzz)" >&2; exit 2 ;;
  esac
done

# Each step is one command or an && chain: step() runs it where errexit
# does not reach (a failed step must not end the script before the summary).
deps() { bash deploy/install_deps.sh; }
main_build() {
  # The dashboard test's one npm package (playwright-core, driving Debian's
  # Chromium; it downloads no browser).
  (cd tests/dashboard && npm ci --no-audit --no-fund --loglevel=error) &&
    # The Kubernetes manifests' schema validation (tests/deploy).
    (cd tests/deploy && npm ci --no-audit --no-fund --loglevel=error) &&
    bash deploy/build.sh -DFLOPD_BUILD_TESTS=ON
}
main_tests() { cd build && ctest --output-on-failure --timeout 600; }
asan() { bash deploy/sanitize.sh asan; }
tsan() { bash deploy/sanitize.sh tsan; }
fuzz() { bash deploy/fuzz.sh "${FUZZ_SECONDS:-60}"; }

summary=()
failed=()
t_start=$(date +%s)
minutes() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }

# Runs one step (a function above) in a subshell; records ok or FAILED and
# its wall time; returns its status.
step() {  # LABEL FUNCTION
  local label=$1 fn=$2 t0 status=0
  t0=$(date +%s)
  echo "=== test.sh: $label ($(date -u +%H:%M:%S) UTC)" >&2
  ("$fn") || status=$?
  local took=$(($(date +%s) - t0)) verdict=ok
  if ((status != 0)); then
    verdict="FAILED (exit $status)"
    failed+=("$label")
  fi
  summary+=("$(printf '%-12s %8s  %s' "$label" "$(minutes "$took")" "$verdict")")
  echo "=== test.sh: $label: $verdict after $(minutes "$took")" >&2
  return "$status"
}

print_summary() {
  local total=$(($(date +%s) - t_start))
  {
    echo
    echo "test.sh: stage timings (wall, m:ss), $(nproc) cores, load average now $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '  %s\n' "${summary[@]}"
    printf '  %-12s %8s  %s\n' total "$(minutes "$total")" \
      "$( ((${#failed[@]})) && echo "FAILED: ${failed[*]}" || echo ok)"
  } >&2
}

# Without the packages nothing below can build.
step deps deps || { print_summary; exit 1; }
for stage in "${stages[@]}"; do
  case $stage in
    main)
      if step "main build" main_build; then
        step "main tests" main_tests || true
      else
        summary+=("$(printf '%-12s %8s  %s' "main tests" - "not run (no build)")")
        failed+=("main tests")
      fi
      ;;
    *) step "$stage" "$stage" || true ;;
  esac
done
print_summary
((${#failed[@]} == 0))
