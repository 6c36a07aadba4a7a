#!/usr/bin/env bash
# The allocation-failure sweep: runs the scenario (load with verify, KV cache, context, sampler,
# decode, sample, save, restore) once failing no allocation to count them (T), then once for every
# N in 1..T with the Nth allocation failing (in parallel, one run per processor), then with N
# beyond the end until a run hits no failure. Every run must succeed or fail cleanly (scenario exit
# 0 or 1): a crash, an abort, a dirty failure (exit 2) or, in a sanitized build, an AddressSanitizer
# report including a leak (exit 99) fails the sweep.
#
# Every N is tried by default. LLI_ALLOC_STRIDE=K tries every Kth N only (1, 1+K, ...), for slow
# machines; CI runs the whole sweep.
# usage: sweep.sh SHIM.so SCENARIO TINY.gguf
set -uo pipefail
shim=$1 scenario=$2 gguf=$3
stride=${LLI_ALLOC_STRIDE:-1}
work=$(mktemp -d "${TMPDIR:-/tmp}/lli-allocfail-XXXXXX")
trap 'rm -rf "$work"' EXIT
"$scenario" --convert "$gguf" "$work/model" || exit 1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0:detect_leaks=1:exitcode=99:abort_on_error=0"

# run N: prints "N RC CALLS HIT"; the run's output stays in $work/N.log when it failed.
run() {
    local n=$1 dir="$work/run-$1"
    mkdir -p "$dir"
    LLI_ALLOC_FAIL_AT=$n LLI_ALLOC_REPORT="$dir/report" LD_PRELOAD="$shim" \
        "$scenario" "$work/model" "$dir" >"$dir/log" 2>&1
    local rc=$?
    local report="- -"
    [ -f "$dir/report" ] && report=$(cat "$dir/report")
    echo "$n $rc $report"
    case $rc in 0 | 1) rm -rf "$dir" ;; *) mv "$dir/log" "$work/$n.log"; rm -rf "$dir" ;; esac
}
export -f run
export work shim scenario

read -r _ rc total hit < <(run 0)
if [ "$rc" != 0 ] || [ "$hit" != 0 ]; then
    echo "the scenario fails with no allocation failing (exit $rc):"; cat "$work/0.log" 2>/dev/null; exit 1
fi
echo "the scenario makes $total allocations; failing each of 1..$total (stride $stride)"
results="$work/results"
seq 1 "$stride" "$total" | xargs -P "$(nproc)" -I{} bash -c 'run {}' >"$results"
# The count varies a little between runs (threads): go on past T until a run hits nothing.
n=$((total + 1))
while :; do
    line=$(run "$n"); echo "$line" >>"$results"
    read -r _ _ _ h <<<"$line"
    [ "$h" = 1 ] || break
    n=$((n + 1))
done
bad=$(awk '$2 != 0 && $2 != 1' "$results")
clean=$(awk '$2 == 1' "$results" | wc -l)
absorbed=$(awk '$2 == 0 && $4 == 1' "$results" | wc -l)
runs=$(wc -l <"$results")
echo "$runs runs: $clean failed cleanly with a status, $absorbed absorbed the failure and succeeded"
if [ -n "$bad" ]; then
    echo "runs that crashed or failed dirtily (N exit calls hit):"
    echo "$bad" | sort -n | head -20
    for n in $(echo "$bad" | sort -n | awk '{print $1}' | head -3); do
        echo "---- N=$n"; tail -40 "$work/$n.log"
    done
    exit 1
fi
# A clean failure must really have been caused by the failed allocation.
unhit=$(awk '$2 == 1 && $4 != 1' "$results")
if [ -n "$unhit" ]; then echo "runs that failed without their allocation failing:"; echo "$unhit" | head; exit 1; fi
echo "every run ended with a status"
