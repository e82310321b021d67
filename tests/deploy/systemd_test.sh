#!/usr/bin/env bash
# The systemd unit and the install rules (deploy/systemd, deploy/CMakeLists.txt):
#   1. `cmake --install BUILD --prefix /usr/local` into a DESTDIR puts the
#      programs, the unit, its examples and the docs where they belong;
#   2. `systemd-analyze verify` accepts the installed unit, alone and with the
#      network drop-in, and prints nothing (an unknown directive, a missing
#      binary or a bad path would be printed);
#   3. `systemd-analyze security --offline=true` gives the exposure level
#      that deploy/systemd/README.md records, and it is at most 2.0.
#
#   systemd_test.sh BUILD_DIR WORK_DIR
#
# Exits 77 (ctest: skipped) without systemd-analyze. Needs no running systemd.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$1 work=$2
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
command -v systemd-analyze >/dev/null ||
  skip "systemd-analyze is missing (Debian: systemd; deploy/install_deps.sh installs it)"
rm -rf "$work" && mkdir -p "$work" || fail "cannot create $work"

echo "--- cmake --install --prefix /usr/local (DESTDIR)"
DESTDIR="$work/destdir" cmake --install "$build" --prefix /usr/local >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; fail "cmake --install failed"; }
d=$work/destdir/usr/local
for f in bin/flopd bin/flopctl lib/systemd/system/flopd.service \
         share/doc/flopd/README.md share/doc/flopd/SECURITY.md share/doc/flopd/DEPLOYING.md \
         share/doc/flopd/systemd.md share/doc/flopd/examples/flopd-network.conf \
         share/doc/flopd/examples/flopd.default; do
  [[ -e $d/$f ]] || fail "not installed: /usr/local/$f"
done
[[ -x $d/bin/flopd && -x $d/bin/flopctl ]] || fail "the programs are not executable"
grep -qx 'ExecStart=/usr/local/bin/flopd $FLOPD_OPTS' "$d/lib/systemd/system/flopd.service" ||
  fail "the installed unit does not start /usr/local/bin/flopd"
grep -qE '@[A-Z_]+@' "$d/lib/systemd/system/flopd.service" "$d/share/doc/flopd/examples/flopd-network.conf" &&
  fail "an @VARIABLE@ was left in the installed unit or drop-in"
echo "installed: $(cd "$work/destdir" && find . -type f | sort | tr '\n' ' ')"

# verify needs the ExecStart binary at its path: a second install, whose
# prefix is a real directory.
echo "--- systemd-analyze verify"
p=$work/prefix
cmake --install "$build" --prefix "$p" >"$work/install2.log" 2>&1 ||
  { cat "$work/install2.log"; fail "cmake --install --prefix $p failed"; }
unit=$p/lib/systemd/system/flopd.service
grep -qx "ExecStart=$p/bin/flopd \$FLOPD_OPTS" "$unit" || fail "--prefix $p: the unit does not start $p/bin/flopd"
out=$(systemd-analyze verify "$unit" 2>&1); rc=$?
echo "verify flopd.service: exit $rc${out:+, said: $out}"
((rc == 0)) && [[ -z $out ]] || fail "systemd-analyze verify flopd.service"
mkdir -p "$unit.d"
cp "$p/share/doc/flopd/examples/flopd-network.conf" "$unit.d/network.conf"
out=$(systemd-analyze verify "$unit" 2>&1); rc=$?
echo "verify flopd.service + network.conf drop-in: exit $rc${out:+, said: $out}"
((rc == 0)) && [[ -z $out ]] || fail "systemd-analyze verify with the network drop-in"
# The test bites: a misspelt directive is reported.
sed 's/^ProtectSystem=strict/ProtectSystm=strict/' "$unit" >"$work/flopd.service"
out=$(systemd-analyze verify "$work/flopd.service" 2>&1)
[[ $out == *ProtectSystm* ]] || fail "verify did not report a misspelt directive (said: $out)"
rm -rf "$unit.d"

echo "--- systemd-analyze security --offline=true"
systemd-analyze security --offline=true "$unit" >"$work/security.txt" 2>&1
score=$(sed -n 's/.*Overall exposure level for flopd.service: \([0-9.]*\).*/\1/p' "$work/security.txt")
[[ -n $score ]] || { cat "$work/security.txt"; fail "no exposure level in systemd-analyze security's output"; }
echo "exposure level: $score ($(systemd-analyze --version | head -1))"
grep '✗' "$work/security.txt" | sed 's/  \+/  /g' | head -30
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "exposure level $score is above 2.0"
recorded=$(sed -n 's/.*Overall exposure level for flopd.service: \([0-9.]*\).*/\1/p' "$root/deploy/systemd/README.md" | head -1)
[[ $recorded == "$score" ]] ||
  fail "deploy/systemd/README.md records exposure level '$recorded', systemd-analyze says $score: update the README"
echo "PASS"
