#!/usr/bin/env bash
# usage: check_exports.sh LIBRARY HEADER VERSION_SCRIPT
# Checks that the library exports exactly the functions the header declares with LLI_API, each
# under its version node (LLMINFER_1 frozen, later ones LLMINFER_1.N), that the version script lists exactly those names, and that
# the SONAME is libllminfer.so.1.
set -euo pipefail
lib=$1 header=$2 map=$3
fail=0 passed=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# Declared: every identifier directly followed by '(' on an LLI_API line (declarations may wrap).
tr '\n' ' ' < "$header" | grep -o 'LLI_API[^;]*;' | grep -o 'lli_[a-z0-9_]*[[:space:]]*(' | tr -d ' (' | sort -u > "$tmp/declared"
# Exported: defined dynamic symbols with their version.
# (Undefined imports and the version node's own *ABS* symbol are not exports.)
objdump -T "$lib" | grep -E ' D[FO] ' | grep -vE '\*UND\*|\*ABS\*' | awk '{print $NF, $(NF-1)}' | sort > "$tmp/exported_with_version"
awk '{print $1}' "$tmp/exported_with_version" | sort -u > "$tmp/exported"
grep -o 'lli_[a-z0-9_]*' "$map" | sort -u > "$tmp/listed"

check() { if eval "$2"; then passed=$((passed+1)); else echo "FAIL: $1"; fail=$((fail+1)); fi; }
check "declared functions found in the header" '[ -s "$tmp/declared" ]'
check "every exported symbol is lli_-prefixed: $(grep -v '^lli_' "$tmp/exported" | tr '\n' ' ')" '! grep -qv "^lli_" "$tmp/exported"'
check "exported == declared: $(comm -3 "$tmp/exported" "$tmp/declared" | tr -s '\t\n' '  ')" 'cmp -s "$tmp/exported" "$tmp/declared"'
check "version script lists exactly the declared functions: $(comm -3 "$tmp/listed" "$tmp/declared" | tr -s '\t\n' '  ')" 'cmp -s "$tmp/listed" "$tmp/declared"'
# LLMINFER_1 is frozen: exactly the functions of the first release (tests/abi/LLMINFER_1.symbols),
# and every later function sits in a later node (LLMINFER_1.1, ...).
frozen=$(dirname "$0")/abi/LLMINFER_1.symbols
awk '$2 == "LLMINFER_1" {print $1}' "$tmp/exported_with_version" | sort -u > "$tmp/v1"
check "LLMINFER_1 is unchanged: $(comm -3 "$tmp/v1" "$frozen" | tr -s '\t\n' '  ')" 'cmp -s "$tmp/v1" "$frozen"'
check "every other export is under a LLMINFER_1.N node: $(awk '$2 != "LLMINFER_1" && $2 !~ /^LLMINFER_1\.[0-9]+$/' "$tmp/exported_with_version" | tr '\n' ' ')" \
  '! awk "\$2 != \"LLMINFER_1\" && \$2 !~ /^LLMINFER_1\\.[0-9]+\$/" "$tmp/exported_with_version" | grep -q .'
soname=$(objdump -p "$lib" | awk '$1 == "SONAME" {print $2}')
check "SONAME is libllminfer.so.1 (got $soname)" '[ "$soname" = libllminfer.so.1 ]'
echo "$(wc -l < "$tmp/declared") functions declared, $(wc -l < "$tmp/exported") exported"
echo "$passed passed, $fail failed"
[ "$fail" -eq 0 ]
