#!/usr/bin/env bash
# Run one harness for a fixed number of executions with a fixed seed, starting from its committed
# corpus, which is read but never written (new inputs go to a scratch directory). An input that
# fails is kept as ARTIFACT_DIR/NAME-crash-... (and printed in base64 by libFuzzer when small).
# usage: run-fuzzer.sh HARNESS CORPUS_DIR RUNS ARTIFACT_DIR
set -euo pipefail
harness=$1 corpus=$2 runs=$3 artifacts=$4
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
mkdir -p "$artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
"$harness" -runs="$runs" -seed=1 -max_len=65536 -rss_limit_mb=4096 -timeout=60 -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$(basename "$harness")-" "$scratch" "$corpus"
