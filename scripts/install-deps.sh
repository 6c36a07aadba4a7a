#!/usr/bin/env bash
# Install what building and testing need, from Debian's packages and PyPI. Quick when all is there.
set -euo pipefail
debs=(build-essential meson ninja-build pkg-config libzstd-dev libssl-dev libjansson-dev libpcre2-dev
      doxygen help2man man-db cmake binutils python3 python3-pip python3-venv zstd abigail-tools
      clang libclang-rt-14-dev)  # clang: the second compiler, sanitizers and libFuzzer (tests/fuzz)
missing=()
for d in "${debs[@]}"; do dpkg -s "$d" >/dev/null 2>&1 || missing+=("$d"); done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# pytest for the Python tests; numpy and gguf (llama.cpp's GGUF reader, with numpy dequantizers)
# for the independent float64 reference forward pass.
python3 -c 'import pytest, numpy, gguf' 2>/dev/null || python3 -m pip install --quiet pytest numpy gguf
