#!/usr/bin/env bash
# Build, here, everything tests/gpu/run.sh runs on the GPU machine, into a folder that travels with
# the working tree (the device tool's `carry`), since that machine has no -dev packages, no network
# and only pip's meson: the build tree with the CUDA module, cut down to the files run.sh executes
# (same relative paths, so the binaries' $ORIGIN run paths still find libllminfer and the module),
# plus the small runtime libraries the binaries need beyond glibc and CUDA (libjansson, libzstd,
# libpcre2, libcrypto, libstdc++...), collected with ldd into lib/ (run.sh puts them last on the
# loader's path: the machine's own copies win where it has them).
# Usage: bash tests/gpu/prepare.sh [BUILD_DIR] [OUT_DIR]   (defaults: build-gpu, build-gpu-run)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
B=${1:-build-gpu}
O=${2:-build-gpu-run}
if [ ! -f "$B/build.ninja" ]; then
    meson setup "$B" --buildtype=release --werror -Ddocs=disabled -Dcuda=enabled >/dev/null
fi
nice ninja -C "$B" >/dev/null
rm -rf "$O"
mkdir -p "$O/lib"
files=(libllminfer.so.1 src/tools/lli-mkgguf src/tools/lli-convert src/tools/lli-bench
       tests/gpu/test_launch tests/gpu/test_gpu_ops tests/gpu/test_gpu_logits tests/gpu/bench_floor tests/gpu/bench_decode)
module=$(cd "$B" && ls cuda/llminfer-cuda-*.so)
for f in "${files[@]}" "$module"; do
    mkdir -p "$O/$(dirname "$f")"
    cp -L "$B/$f" "$O/$f"
done
# Runtime libraries: everything ldd resolves except glibc's own, the dynamic loader, the driver and
# the CUDA runtime / cuBLAS (found on the GPU machine by run.sh: they are large, and must match the
# driver there).
skip='^(libllminfer|libc|libm|libdl|libpthread|librt|ld-linux-x86-64|linux-vdso|libcuda|libcudart|libcublas|libcublasLt)\.so'
for f in "${files[@]}" "$module"; do
    ldd "$O/$f" | awk '/=> \// { print $1, $3 }'
done | sort -u | while read -r name path; do
    if ! [[ $name =~ $skip ]]; then cp -L "$path" "$O/lib/$name"; fi
done
echo "$O: $(du -sh "$O" | cut -f1); libraries: $(ls "$O/lib" | tr '\n' ' ')"
