#!/usr/bin/env bash
# usage: check_installed.sh BUILD_DIR SOURCE_ROOT MODEL_GGUF
# The library as a user gets it: installed into a staging prefix, its exports checked, and an
# example program built against it through pkg-config, then run on a model.
set -euo pipefail
build=$1 root=$2 gguf=$3
stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
DESTDIR="$stage" meson install -C "$build" --no-rebuild --quiet
pc=$(dirname "$(find "$stage" -name llminfer.pc | head -n 1)")
lib=$(find "$stage" -name 'libllminfer.so.1' | head -n 1)
libdir=$(dirname "$lib")
"$root/tests/check_exports.sh" "$lib" "$root/include/llminfer.h" "$root/lib/llminfer.map"
export PKG_CONFIG_PATH="$pc" PKG_CONFIG_SYSROOT_DIR="$stage"
cc "$root/examples/load_model.c" $(pkg-config --cflags --libs llminfer) -o "$stage/load_model"
convert=$(find "$stage" -name lli-convert -type f | head -n 1)
LD_LIBRARY_PATH=$libdir "$convert" "$gguf" "$stage/model" >/dev/null
LD_LIBRARY_PATH=$libdir "$stage/load_model" "$stage/model" | tee "$stage/out.txt"
grep -q "libllminfer $("$root/lib/version.sh"): llama, 3 layers" "$stage/out.txt"
echo "installed library: all passed"
