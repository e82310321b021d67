#!/usr/bin/env bash
# cmake/build_stamp.cmake, the script that writes Result.flopd_build's
# definition at every build (server/CMakeLists.txt), run on throwaway git
# repositories:
#   1. a clean checkout stamps "git <its 12-hex commit>, <rest>";
#   2. a second commit changes the stamp (a build folder configured at the
#      first one no longer keeps it);
#   3. an edit to a tracked file adds "-dirty";
#   4. an unchanged stamp leaves the file untouched (nothing relinks);
#   5. outside any git checkout: "git unknown, ...".
#
#   build_stamp_test.sh WORK_DIR
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$1
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$work" && mkdir -p "$work" || fail "cannot make $work"
repo=$work/repo out=$work/build_stamp.cc
rest="Release, GNU 12.2.0, no CUDA"

stamp() {  # SOURCE_DIR: runs the script as the build does
  cmake -DSOURCE_DIR="$1" -DOUTPUT="$out" "-DREST=$rest" -P "$root/cmake/build_stamp.cmake" ||
    fail "cmake -P build_stamp.cmake exited $?"
}
expect() {  # the string literal the stamp must define
  grep -qF "const char kFlopdBuild[] = \"$1\";" "$out" ||
    fail "expected kFlopdBuild = \"$1\"; the file has: $(grep kFlopdBuild "$out" | tail -1)"
}
git_repo() { git -C "$repo" -c user.name=t -c user.email=t@t "$@" >/dev/null || fail "git $*"; }

mkdir -p "$repo" && git_repo init -q && echo one >"$repo/file" && git_repo add file &&
  git_repo commit -q -m one
first=$(git -C "$repo" rev-parse --short=12 HEAD)
stamp "$repo" && expect "git $first, $rest"

echo two >"$repo/file" && git_repo commit -q -a -m two
second=$(git -C "$repo" rev-parse --short=12 HEAD)
[[ $second != "$first" ]] || fail "the two commits have one hash"
stamp "$repo" && expect "git $second, $rest"

echo edit >>"$repo/file"
stamp "$repo" && expect "git $second-dirty, $rest"

git -C "$repo" checkout -q -- file && stamp "$repo" && expect "git $second, $rest"
touch -d '2000-01-01 00:00:00' "$out" && before=$(stat -c %Y "$out")
stamp "$repo" && expect "git $second, $rest"
[[ $(stat -c %Y "$out") == "$before" ]] || fail "an unchanged stamp rewrote the file"

mkdir -p "$work/not_git" && GIT_CEILING_DIRECTORIES=$work stamp "$work/not_git" &&
  expect "git unknown, $rest"
echo "PASS: commit, new commit, -dirty, unchanged file left alone, no git"
