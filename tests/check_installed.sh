#!/usr/bin/env bash
# usage: check_installed.sh BUILD_DIR SOURCE_ROOT MODEL_GGUF
# The library as a user gets it: installed into a staging prefix, its exports checked, an example
# program built against it through pkg-config and a CMake consumer through find_package(llminfer),
# both run on a model (the consumer on the GGUF file, through the cache), man pages and manual.
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

# Laid out like a Debian -dev package: the library's file named after its full version under the
# SONAME, the CUDA module (when built) in a private directory, a man page for every tool that
# opens (when help2man was there), the HTML manual (when Doxygen was), and a CMake package that a
# consumer builds against and runs with.
version=$("$root/lib/version.sh")
prefix=$(dirname "$(find "$stage" -path '*/include/llminfer.h' | head -n 1)")/..
[ -f "$libdir/libllminfer.so.$version" ] && [ "$(readlink "$lib")" = "libllminfer.so.$version" ] \
  || { echo "FAIL: $libdir/libllminfer.so.$version is not what libllminfer.so.1 names"; exit 1; }
! ls "$libdir" | grep -q cuda || { echo "FAIL: a CUDA module in the public libdir"; exit 1; }
for module in "$build"/cuda/llminfer-cuda-*.so; do
  [ -f "$module" ] || continue
  [ -f "$libdir/llminfer/$(basename "$module")" ] || { echo "FAIL: $(basename "$module") not in $libdir/llminfer"; exit 1; }
done
if [ -f "$build/src/tools/lli-generate.1" ]; then
  for tool in $(ls "$prefix/bin"); do
    LC_ALL=C MANWIDTH=80 man -l "$prefix/share/man/man1/$tool.1" 2>/dev/null | grep -q -- "--help" \
      || { echo "FAIL: no man page for $tool"; exit 1; }
  done
fi
if [ -f "$build/docs/html/index.html" ]; then
  [ -f "$prefix/share/doc/llminfer/html/index.html" ] || { echo "FAIL: the HTML manual is not installed"; exit 1; }
fi
cmake -S "$root/tests/cmake-consumer" -B "$stage/cmake-consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$stage/cmake-consumer" >/dev/null
LD_LIBRARY_PATH=$libdir "$stage/cmake-consumer/consumer" "$gguf" "$stage/gguf-cache" | tee "$stage/consumer.txt"
grep -q "^llama, 3 layers" "$stage/consumer.txt"
echo "installed library: all passed"
