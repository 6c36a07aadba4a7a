#!/usr/bin/env bash
# Every test: the C tests, the Python tests, the docs, the installed library through pkg-config,
# and the C tests again under AddressSanitizer and UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/install-deps.sh
gguf=$(bash scripts/fetch-model.sh)

echo "== build (warnings are errors)"
[ -f build/build.ninja ] || meson setup build --buildtype=release --werror >/dev/null
ninja -C build

echo "== C tests"
meson test -C build --print-errorlogs

echo "== docs (Doxygen, warnings are errors)"
ninja -C build docs

echo "== installed library, found through pkg-config"
stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
DESTDIR="$stage" meson install -C build --quiet
pc=$(dirname "$(find "$stage" -name llminfer.pc | head -n 1)")
lib=$(find "$stage" -name 'libllminfer.so.1' | head -n 1)
tests/check_exports.sh "$lib" include/llminfer.h lib/llminfer.map
# Laid out like a Debian -dev package: the library's file named after its full version under the
# SONAME, the CUDA module (when built) in a private directory, a man page for every tool, the HTML
# manual, and a CMake package that a consumer builds against.
libdir=$(dirname "$lib"); prefix=$(dirname "$(find "$stage" -path '*/include/llminfer.h')")/..
version=$(awk '/define LLI_VERSION_(MAJOR|MINOR|PATCH)/ {v = v (v == "" ? "" : ".") $3} END {print v}' include/llminfer.h)
[ -f "$libdir/libllminfer.so.$version" ] && [ "$(readlink "$lib")" = "libllminfer.so.$version" ]
! ls "$libdir" | grep -q cuda
if find "$stage" -name 'libllminfer-cuda.so' | grep -q .; then [ -f "$libdir/llminfer/libllminfer-cuda.so" ]; fi
for tool in $(ls "$prefix/bin"); do
  LC_ALL=C man -l "$prefix/share/man/man1/$tool.1" | grep -q -- "--help" || { echo "no man page for $tool"; exit 1; }
done
[ -f "$prefix/share/doc/llminfer/html/index.html" ]
cmake -S tests/cmake-consumer -B "$stage/cmake-consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$stage/cmake-consumer" >/dev/null
LD_LIBRARY_PATH=$libdir "$stage/cmake-consumer/consumer" "$gguf" "$stage/gguf-cache" | tee "$stage/consumer.txt"
grep -q "smollm2_135m, 30 layers" "$stage/consumer.txt"
export PKG_CONFIG_PATH="$pc" PKG_CONFIG_SYSROOT_DIR="$stage"
cc examples/load_model.c $(pkg-config --cflags --libs llminfer) -o "$stage/load_model"
model="$stage/smollm2"
LD_LIBRARY_PATH=$(dirname "$lib") "$(dirname "$lib")/../bin/lli-convert" "$gguf" "$model" 2>/dev/null \
  || LD_LIBRARY_PATH=$(dirname "$lib") "$(find "$stage" -name lli-convert | head -n 1)" "$gguf" "$model"
LD_LIBRARY_PATH=$(dirname "$lib") "$stage/load_model" "$model" | tee "$stage/out.txt"
grep -q 'smollm2_135m, 30 layers' "$stage/out.txt"
for ex in simple batched; do cc examples/$ex.c $(pkg-config --cflags --libs llminfer) -o "$stage/$ex"; done
LD_LIBRARY_PATH=$(dirname "$lib") "$stage/simple" "$model" "The capital of France is" | tee "$stage/simple.txt"
# The prompt comes back followed by generated text.
[ "$(head -c 24 "$stage/simple.txt")" = "The capital of France is" ] && [ "$(wc -c < "$stage/simple.txt")" -gt 60 ]
LD_LIBRARY_PATH=$(dirname "$lib") "$stage/batched" "$model" "The sky is" "Water is made of" "def add(a, b):" | tee "$stage/batched.txt"
[ "$(grep -c '^\[[0-2]\] ' "$stage/batched.txt")" -eq 3 ]
for ex in continuous_batching speculative; do cc examples/$ex.c $(pkg-config --cflags --libs llminfer) -lm -o "$stage/$ex"; done
# Requests arriving over time into a cache too small for all of them: both kinds of preemption
# must happen, and every request must still get exactly the tokens it gets alone (else exit 1).
for mode in recompute swap; do
  LD_LIBRARY_PATH=$(dirname "$lib") "$stage/continuous_batching" -m "$model" -n 6 --rate 1000 --seed 1 --kv-tokens 128 \
    --budget 32 --max-new 32 --preempt $mode --min-preemptions 1
done
# Speculative decoding must reproduce the target's greedy output (else exit 1): with the target as
# its own draft every guess is accepted; then with a draft cut to the target's first 10 layers.
LD_LIBRARY_PATH=$(dirname "$lib") "$stage/speculative" -m "$model" -d "$model" -n 24 -k 4 | tee "$stage/spec.txt"
grep -q '(100.0%)' "$stage/spec.txt"
python3 scripts/make-draft.py "$gguf" "$stage/draft.gguf" --layers 10
LD_LIBRARY_PATH=$(dirname "$lib") "$(find "$stage" -name lli-convert | head -n 1)" "$stage/draft.gguf" "$stage/draft" >/dev/null
LD_LIBRARY_PATH=$(dirname "$lib") "$stage/speculative" -m "$model" -d "$stage/draft" -n 24 -k 4
# The batched-throughput benchmark's program: one line per width, each with two positive speeds.
cc examples/batched_bench.c $(pkg-config --cflags --libs llminfer) -o "$stage/batched_bench"
LD_LIBRARY_PATH=$(dirname "$lib") "$stage/batched_bench" -m "$model" -s 1,3 -p 8 -n 4 -r 1 | tee "$stage/bb.txt"
[ "$(awk 'NR > 1 && $2 > 0 && $3 > 0' "$stage/bb.txt" | wc -l)" -eq 2 ]
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

echo "== Python tests"
LLMINFER_LIBRARY="$root/build/libllminfer.so" python3 -m pytest -q tests/python

echo "== C tests under AddressSanitizer and UndefinedBehaviorSanitizer"
[ -f build-sanitize/build.ninja ] || meson setup build-sanitize --buildtype=debugoptimized --werror -Dcuda=disabled -Ddocs=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all >/dev/null
ninja -C build-sanitize
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    meson test -C build-sanitize --print-errorlogs
# Reached only if every stage above passed (set -e stops at the first failure).
echo "== all tests passed"
echo "suites: 5 passed, 0 failed"
