#!/usr/bin/env bash
# usage: check_exports.sh LIBRARY HEADER VERSION_SCRIPT [ABI_BASELINE]
# Checks that the library exports exactly the functions the header declares with LLI_API, each
# under a version node of the version script, that the version script lists exactly those names,
# that the functions of LLMINFER_1 are exactly those of the committed ABI baseline (the first
# release's list is frozen; later releases add nodes such as LLMINFER_1.1), and that the SONAME is
# libllminfer.so.1.
set -euo pipefail
lib=$1 header=$2 map=$3 baseline=${4:-$(dirname "$map")/llminfer.abi}
fail=0 passed=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# Declared: every identifier directly followed by '(' on an LLI_API line (declarations may wrap).
tr '\n' ' ' < "$header" | grep -o 'LLI_API[^;]*;' | grep -o 'lli_[a-z0-9_]*[[:space:]]*(' | tr -d ' (' | sort -u > "$tmp/declared"
# Exported: defined dynamic symbols with their version.
# (Undefined imports and the version node's own *ABS* symbol are not exports.)
objdump -T "$lib" | grep -E ' D[FO] ' | grep -vE '\*UND\*|\*ABS\*' | awk '{print $NF, $(NF-1)}' | sort > "$tmp/exported_with_version"
awk '{print $1}' "$tmp/exported_with_version" | sort -u > "$tmp/exported"
grep -o 'lli_[a-z0-9_]*' "$map" | sort -u > "$tmp/listed"
# The version nodes the script declares ("NAME {" at the start of a line).
grep -oE '^[A-Z][A-Z0-9_.]* *\{' "$map" | tr -d ' {' | sort -u > "$tmp/nodes"
# LLMINFER_1 as frozen: the baseline's symbols of that version.
grep -o "<elf-symbol name='lli_[a-z0-9_]*'[^>]*version='LLMINFER_1'" "$baseline" | grep -o "name='[a-z0-9_]*'" | cut -d"'" -f2 | sort -u > "$tmp/frozen"
awk '$2 == "LLMINFER_1" {print $1}' "$tmp/exported_with_version" | sort -u > "$tmp/exported_1"

check() { if eval "$2"; then passed=$((passed+1)); else echo "FAIL: $1"; fail=$((fail+1)); fi; }
check "declared functions found in the header" '[ -s "$tmp/declared" ]'
check "every exported symbol is lli_-prefixed: $(grep -v '^lli_' "$tmp/exported" | tr '\n' ' ')" '! grep -qv "^lli_" "$tmp/exported"'
check "exported == declared: $(comm -3 "$tmp/exported" "$tmp/declared" | tr -s '\t\n' '  ')" 'cmp -s "$tmp/exported" "$tmp/declared"'
check "version script lists exactly the declared functions: $(comm -3 "$tmp/listed" "$tmp/declared" | tr -s '\t\n' '  ')" 'cmp -s "$tmp/listed" "$tmp/declared"'
check "every export is under a version node of the script: $(awk 'NR == FNR {n[$1]; next} !($2 in n)' "$tmp/nodes" "$tmp/exported_with_version" | tr '\n' ' ')" \
    '! awk "NR == FNR {n[\$1]; next} !(\$2 in n)" "$tmp/nodes" "$tmp/exported_with_version" | grep -q .'
check "the frozen LLMINFER_1 list is found in the baseline" '[ -s "$tmp/frozen" ]'
check "LLMINFER_1 exports == the frozen list: $(comm -3 "$tmp/exported_1" "$tmp/frozen" | tr -s '\t\n' '  ')" 'cmp -s "$tmp/exported_1" "$tmp/frozen"'
soname=$(objdump -p "$lib" | awk '$1 == "SONAME" {print $2}')
check "SONAME is libllminfer.so.1 (got $soname)" '[ "$soname" = libllminfer.so.1 ]'
echo "$(wc -l < "$tmp/declared") functions declared, $(wc -l < "$tmp/exported") exported"
echo "$passed passed, $fail failed"
[ "$fail" -eq 0 ]
