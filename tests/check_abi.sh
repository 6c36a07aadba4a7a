#!/usr/bin/env bash
# usage: check_abi.sh LIBRARY SOURCE_ROOT [--update]
# The ABI gate. Compares the library's ABI (functions, their types, every type the header defines)
# with the committed baseline lib/llminfer.abi through libabigail, and the public header's #define
# values with lib/llminfer.defines (abidiff cannot see a renumbered LLI_E_*). Additions pass (a new
# release adds functions in a new version node); any change or removal fails. Functions of the
# experimental tier (version node LLMINFER_EXPERIMENTAL, see lib/abi.suppr) may change.
# --update rewrites both baselines from LIBRARY: only for a release that deliberately adds to the ABI.
set -euo pipefail
lib=$1 root=$2
abi_base=$root/lib/llminfer.abi defines_base=$root/lib/llminfer.defines
for tool in abidw abidiff; do
    command -v $tool >/dev/null || { echo "SKIP: $tool not found (Debian's abigail-tools; scripts/install-deps.sh installs it)"; exit 77; }
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# Without DWARF, abidw sees only symbol names and abidiff passes whatever the types did: refuse.
if ! readelf --section-headers "$lib" | grep -q '\.debug_info'; then
    echo "FAIL: $lib has no debug information, so its types cannot be compared; build with -Ddebug=true (the default)"
    exit 1
fi
abidw --load-all-types --drop-private-types --headers-dir "$root/include" --no-corpus-path --out-file "$tmp/current.abi" "$lib"
# Every public macro with its value, but the release's own number, which is meant to change.
cc -E -dM -x c "$root/include/llminfer.h" | awk '$2 ~ /^LLI_/ && $2 !~ /^LLI_VERSION_/ && $2 != "LLI_API"' | sort > "$tmp/current.defines"

if [ "${3:-}" = --update ]; then
    cp "$tmp/current.abi" "$abi_base"
    cp "$tmp/current.defines" "$defines_base"
    echo "baselines updated: $abi_base $defines_base"
    exit 0
fi

fail=0 passed=0
# abidiff exits non-zero for additions too (new types, such as an added interface's opaque
# structs, count as an "ABI change"): pass when its summaries show additions only.
abidiff --no-added-syms --non-reachable-types --suppressions "$root/lib/abi.suppr" "$abi_base" "$tmp/current.abi" \
    > "$tmp/abidiff.txt" 2>&1 && rc=0 || rc=$?
# "N Removed, N Changed" (functions, variables), "N removed ..., N changed ..." (unreachable types).
changes=$(grep -oiE '[0-9]+ (removed|changed)' "$tmp/abidiff.txt" | awk '$1 > 0' || true)
if [ "$rc" -eq 0 ] || { [ "$rc" -eq 4 ] && [ -z "$changes" ]; }; then
    passed=$((passed + 1))
else
    echo "FAIL: the ABI differs from lib/llminfer.abi (abidiff exit $rc):"
    cat "$tmp/abidiff.txt"
    fail=$((fail + 1))
fi
# Lines of the baseline missing from the header: a macro removed or given another value.
changed=$(comm -23 "$defines_base" "$tmp/current.defines")
if [ -z "$changed" ]; then
    passed=$((passed + 1))
else
    echo "FAIL: public #define values removed or changed (baseline lines not in the header now):"
    echo "$changed"
    fail=$((fail + 1))
fi
echo "$passed passed, $fail failed"
[ "$fail" -eq 0 ]
