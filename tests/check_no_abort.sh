#!/usr/bin/env bash
# The library never ends the process: every failure is a status. Fails if abort(), exit(), _exit(),
# _Exit(), quick_exit() or a run-time assert() (which aborts) appears in the library's sources
# (src/ and cuda/); the command-line tools under src/tools may exit. static_assert is compile time.
# usage: check_no_abort.sh SOURCE_ROOT
set -euo pipefail
root=${1:-$(dirname "$0")/..}
found=$(grep -rnE '\b(abort|exit|_exit|_Exit|quick_exit|assert)[[:space:]]*\(' \
          --include='*.c' --include='*.h' --include='*.cu' --include='*.cuh' --include='*.cpp' \
          "$root/src" "$root/cuda" | grep -v "^$root/src/tools/" || true)
if [ -n "$found" ]; then
    echo "the library must return a status instead of ending the process:" >&2
    echo "$found" >&2
    exit 1
fi
echo "no abort/exit/assert in $root/src (tools excluded) and $root/cuda"
