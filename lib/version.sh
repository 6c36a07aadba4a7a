#!/bin/sh
# Prints the release version, MAJOR.MINOR.PATCH (or with "abi", LLI_ABI_VERSION: the SONAME's
# number), from the one place they are written: the public header's macros. meson.build (and through it the library's file name, llminfer.pc,
# the CMake package and the Python package) reads it from here.
dir=$(dirname "$0")
header="$dir/../include/llminfer.h"
if [ "${1:-}" = abi ]; then
    awk '$1 == "#define" && $2 == "LLI_ABI_VERSION" { print $3; found = 1 } END { exit !found }' "$header"
    exit
fi
awk '$1 == "#define" && $2 ~ /^LLI_VERSION_(MAJOR|MINOR|PATCH)$/ { v[$2] = $3 }
     END { if (length(v) != 3) exit 1; print v["LLI_VERSION_MAJOR"] "." v["LLI_VERSION_MINOR"] "." v["LLI_VERSION_PATCH"] }' \
    "$header"
