#!/usr/bin/env bash
# Run every libFuzzer harness of tests/fuzz for SECONDS each (niced), one after another, in a clang
# build with AddressSanitizer and UndefinedBehaviorSanitizer ($FUZZ_BUILD, default build-fuzz/, made
# if absent). Each
# harness's corpus grows in fuzz-corpus/NAME/ (ignored by git), seeded from tests/fuzz/corpus/NAME/;
# failing inputs are kept as fuzz-corpus/artifacts/NAME-crash-*. Prints one line per harness with its
# executions; exits 1 if any harness failed.
# Extra libFuzzer flags come from $FUZZ_ARGS (e.g. "-fork=1 -ignore_crashes=1" to go on past a
# known failure and collect every distinct one).
# usage: scripts/fuzz.sh SECONDS [HARNESS...]    (harnesses: gguf model_dir fragment_decode tokenizer
#                                                 kv_restore chat; default all)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] && [[ $1 =~ ^[0-9]+$ ]] || { echo "usage: $0 SECONDS [HARNESS...]" >&2; exit 2; }
seconds=$1; shift
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(gguf model_dir fragment_decode tokenizer kv_restore chat)
build=${FUZZ_BUILD:-build-fuzz}
if [ ! -f "$build/build.ninja" ]; then
    CC=clang meson setup "$build" --buildtype=debugoptimized --werror -Dcuda=disabled -Ddocs=disabled \
        -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all -Dfuzz=enabled >/dev/null
fi
nice ninja -C "$build" >/dev/null
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p fuzz-corpus/artifacts
failed=0 summary=()
for h in "${harnesses[@]}"; do
    mkdir -p "fuzz-corpus/$h"
    log="fuzz-corpus/$h.log"
    rc=0
    before=$(ls fuzz-corpus/artifacts | grep -c "^$h-" || true)
    nice "$build"/tests/fuzz/fuzz_"$h" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=4096 -timeout=60 -error_exitcode=1 \
        -print_final_stats=1 ${FUZZ_ARGS:-} -artifact_prefix="fuzz-corpus/artifacts/$h-" "fuzz-corpus/$h" "tests/fuzz/corpus/$h" \
        >"$log" 2>&1 || rc=$?
    # With -ignore_crashes libFuzzer exits 0 after failures: count the inputs it kept instead.
    found=$(( $(ls fuzz-corpus/artifacts | grep -c "^$h-" || true) - before ))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    [ -n "$runs" ] || runs=$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#')
    if [ $rc -eq 0 ] && [ $found -eq 0 ]; then
        summary+=("$h: ${runs:-?} executions in ${seconds} s, no failure")
    else
        failed=1
        summary+=("$h: FAILED: ${runs:-?} executions, exit status $rc, $found failing inputs; see $log and fuzz-corpus/artifacts/$h-*")
    fi
done
printf '%s\n' "${summary[@]}"
exit $failed
