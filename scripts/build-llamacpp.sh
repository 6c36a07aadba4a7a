#!/bin/sh
# Builds llama.cpp's own llama-bench and llama-quantize, our speed yardstick and the quantizer that
# makes the benchmark's GGUFs, from the llama.cpp sources that llama-cpp-python's source
# distribution carries (vendor/llama.cpp). Native flags, Release, only those two targets, niced.
#
# usage: scripts/build-llamacpp.sh [DIR]     (DIR defaults to third_party-build/, ignored by git)
# Prints the directory holding the two binaries on its last line. Set LLAMACPP_JOBS to change -j2.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/third_party-build}
jobs=${LLAMACPP_JOBS:-2}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

src=$(ls -d "$dir"/llama_cpp_python-*/vendor/llama.cpp 2>/dev/null | tail -n 1 || true)
if [ -z "$src" ]; then
    sdist=$(ls "$dir"/sdist/llama_cpp_python-*.tar.gz 2>/dev/null | tail -n 1 || true)
    if [ -z "$sdist" ]; then
        echo "build-llamacpp: downloading llama-cpp-python's source distribution" >&2
        pip download --no-deps --no-binary :all: llama-cpp-python -d "$dir/sdist" >&2
        sdist=$(ls "$dir"/sdist/llama_cpp_python-*.tar.gz | tail -n 1)
    fi
    tar xzf "$sdist" -C "$dir"
    src=$(ls -d "$dir"/llama_cpp_python-*/vendor/llama.cpp | tail -n 1)
fi

out="$dir/build"
if [ ! -f "$out/CMakeCache.txt" ]; then
    # Tests, examples, the server and libcurl are not needed for the two tools.
    nice cmake -S "$src" -B "$out" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
        -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
        -DLLAMA_BUILD_TOOLS=ON -DBUILD_SHARED_LIBS=OFF >&2
fi
nice cmake --build "$out" --target llama-bench llama-quantize -j "$jobs" >&2
test -x "$out/bin/llama-bench" && test -x "$out/bin/llama-quantize"
echo "$out/bin"
