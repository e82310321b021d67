#!/usr/bin/env bash
# Makes a relocatable bundle of flopd for a GPU host that has the NVIDIA
# driver, the CUDA runtime and cuBLAS but none of flopd's other libraries
# (gRPC, protobuf, Abseil, OpenBLAS, ...):
#
#   deploy/bundle.sh DEST [BUILD_DIR] [--allow-missing]
#
#   DEST/bin  flopd, flopctl, flopd_gpu_tests (and flopd_gpu_probe and
#             flopd_gpu_kernel_bench when built)
#   DEST/lib  every shared library they load (per ldd) except the C/C++
#             runtime every Linux host has (libc, libm, libstdc++, libgcc_s,
#             libpthread, libdl, librt, ld-linux) and the CUDA and driver
#             libraries the GPU host provides (libcuda, libcudart, libcublas,
#             libcublasLt, libnvidia-*)
#
# On the GPU host (Ubuntu 24.04: glibc and libstdc++ newer than this Debian 12
# build's, so the excluded ones are compatible):
#   LD_LIBRARY_PATH=DEST/lib:/usr/local/cuda/lib64 DEST/bin/flopd
#
# BUILD_DIR defaults to ./build. A binary that is not built is reported by
# name and the bundle is made without it; the exit status is then 1 unless
# --allow-missing is given (flopd_gpu_probe is optional either way).
set -euo pipefail

usage() {
  echo "usage: $0 DEST [BUILD_DIR] [--allow-missing]" >&2
  exit 2
}

allow_missing=0
positional=()
for arg in "$@"; do
  case "$arg" in
    --allow-missing) allow_missing=1 ;;
    -h|--help) usage ;;
    -*) echo "$0: unknown option $arg" >&2; usage ;;
    *) positional+=("$arg") ;;
  esac
done
[[ ${#positional[@]} -ge 1 && ${#positional[@]} -le 2 ]] || usage
dest=${positional[0]}
build=${positional[1]:-./build}

if [[ ! -d "$build" ]]; then
  echo "$0: error: build directory '$build' does not exist (configure and build first:" \
       "cmake -S . -B $build && cmake --build $build)" >&2
  exit 1
fi
command -v ldd >/dev/null || { echo "$0: error: ldd not found" >&2; exit 1; }

# name:expected path under the build dir:required
targets=(
  "flopd:server/flopd:1"
  "flopctl:client/flopctl:1"
  "flopd_gpu_tests:tests/server/backend/cuda/flopd_gpu_tests:1"
  "flopd_gpu_probe:bench/gpu/flopd_gpu_probe:0"
  "flopd_gpu_kernel_bench:bench/gpu/flopd_gpu_kernel_bench:0"
)

# The binary `name` in the build tree: its usual place, else wherever it is
# (outside CMakeFiles/).
find_binary() {
  local name=$1 expected=$2
  if [[ -f "$build/$expected" && -x "$build/$expected" ]]; then
    echo "$build/$expected"
    return
  fi
  find "$build" -path '*/CMakeFiles' -prune -o -type f -name "$name" -perm -u+x -print 2>/dev/null |
    head -n 1
}

# Libraries that stay behind: the host's own C/C++ runtime and the CUDA and
# driver libraries.
is_excluded() {
  case "$1" in
    linux-vdso.so*|ld-linux*.so*|libc.so*|libm.so*|libstdc++.so*|libgcc_s.so*) return 0 ;;
    libpthread.so*|libdl.so*|librt.so*|libresolv.so*|libutil.so*) return 0 ;;
    libcuda.so*|libcudart.so*|libcublas.so*|libcublasLt.so*|libnvidia-*) return 0 ;;
  esac
  return 1
}

mkdir -p "$dest/bin" "$dest/lib"
missing=()
binaries=()
for entry in "${targets[@]}"; do
  IFS=: read -r name expected required <<<"$entry"
  path=$(find_binary "$name" "$expected")
  if [[ -z "$path" ]]; then
    if [[ "$required" == 1 ]]; then
      echo "$0: error: $name is not built (looked for $build/$expected); build the" \
           "'$name' target first" >&2
      missing+=("$name")
    else
      echo "$0: note: optional $name not built; bundling without it" >&2
    fi
    continue
  fi
  cp -f "$path" "$dest/bin/$name"
  binaries+=("$dest/bin/$name")
done

if [[ ${#binaries[@]} -eq 0 ]]; then
  echo "$0: error: nothing to bundle in '$build'" >&2
  exit 1
fi

# ldd lists every library a binary loads, transitively, as resolved here.
declare -A copied=()
unresolved=()
for binary in "${binaries[@]}"; do
  while read -r line; do
    # "libfoo.so.1 => /path/libfoo.so.1 (0x...)" | "libfoo.so.1 => not found" | "/lib64/ld-linux..."
    soname=$(awk '{print $1}' <<<"$line")
    [[ -n "$soname" ]] || continue
    soname=$(basename "$soname")
    is_excluded "$soname" && continue
    if [[ "$line" == *"=> not found"* ]]; then
      unresolved+=("$soname (needed by $(basename "$binary"))")
      continue
    fi
    target=$(awk '/=>/ {print $3}' <<<"$line")
    [[ -n "$target" && -f "$target" ]] || continue
    if [[ -z "${copied[$soname]:-}" ]]; then
      cp -fL "$target" "$dest/lib/$soname"
      chmod u+w "$dest/lib/$soname"
      copied[$soname]=$target
    fi
  done < <(ldd "$binary")
done

if [[ ${#unresolved[@]} -gt 0 ]]; then
  echo "$0: error: ldd could not resolve: ${unresolved[*]}" >&2
  exit 1
fi

echo "bundle: $dest"
echo "  bin: $(cd "$dest/bin" && ls | tr '\n' ' ')"
echo "  lib: ${#copied[@]} libraries"
echo "  size: $(du -sh "$dest" | awk '{print $1}') ($(du -sb "$dest" | awk '{print $1}') bytes)"
echo "  run: LD_LIBRARY_PATH=$dest/lib:/usr/local/cuda/lib64 $dest/bin/flopd"
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "$0: error: bundle is missing: ${missing[*]}" >&2
  [[ $allow_missing == 1 ]] || exit 1
fi
