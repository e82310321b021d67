#!/usr/bin/env bash
# Builds the flopd container image from a build directory, with no base image
# and no network (deploy/container/Containerfile says why):
#
#   bash deploy/container/build.sh [BUILD_DIR [IMAGE]]      (default: build localhost/flopd:VERSION)
#
# BUILD_DIR must hold built flopd and flopctl (deploy/build.sh). The image gets
# them from `cmake --install BUILD_DIR --prefix /usr`, the shared libraries
# they link as this machine has them (so build on the distribution the image
# should be: Debian 12 here), /etc/passwd and /etc/group with the user flopd
# (65532), and /etc/nsswitch.conf. PODMAN (default: podman) may carry options,
# e.g. PODMAN="podman --root DIR --runroot DIR" as tests/deploy does; buildah
# works too (PODMAN=buildah, whose "bud" is the same build).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
image=${2:-localhost/flopd:${version:-latest}}
podman=${PODMAN:-podman}

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs" "$ctx/state"
DESTDIR="$ctx/rootfs" cmake --install "$build" --prefix /usr >/dev/null
rm -rf "$ctx/rootfs/usr/lib/systemd"  # no systemd in the image

# The shared libraries and the dynamic loader. ldd reads the build tree's
# binaries, whose RUNPATH finds libraries outside the loader's default
# directories (OpenBLAS's openblas-pthread/, CUDA's cudart and cuBLAS under
# /usr/local/cuda). The installed copies have no RUNPATH and the image no
# ld.so.cache, so every library goes, under the name the binaries ask for,
# to /usr/lib/x86_64-linux-gnu (a default directory); the loader keeps its
# absolute path.
libs=$(ldd "$build/server/flopd" "$build/client/flopctl")
if grep -q "not found" <<<"$libs"; then
  echo "build.sh: a library of flopd or flopctl is not found:" >&2
  grep "not found" <<<"$libs" >&2
  exit 1
fi
while read -r name path; do
  install -D -m 755 "$(readlink -f "$path")" "$ctx/rootfs/usr/lib/x86_64-linux-gnu/$name"
done < <(awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' <<<"$libs" | sort -u)
for loader in $(awk '$1 ~ /^\// && $1 !~ /:$/ {print $1}' <<<"$libs" | sort -u); do
  install -D -m 755 "$(readlink -f "$loader")" "$ctx/rootfs$loader"
done
mkdir -p "$ctx/rootfs/etc" "$ctx/rootfs/tmp"
chmod 1777 "$ctx/rootfs/tmp"  # SQLite's temporary files
printf 'root:x:0:0:root:/:/sbin/nologin\nflopd:x:65532:65532:flopd:/var/lib/flopd:/sbin/nologin\n' \
  >"$ctx/rootfs/etc/passwd"
printf 'root:x:0:\nflopd:x:65532:\n' >"$ctx/rootfs/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$ctx/rootfs/etc/nsswitch.conf"

$podman build --format docker -t "$image" -f "$root/deploy/container/Containerfile" "$ctx" >&2
echo "$image"
