#!/usr/bin/env bash
# usage: run_examples.sh BUILD_DIR GGUF SOURCE_ROOT
# The example programs on the default model, each checked for what it promises: the prompt comes
# back with generated text, one line per batched prompt, continuous batching and speculative
# decoding reproducing plain greedy decoding (they exit 1 otherwise), the batched benchmark's
# table. Skipped (exit 77) when the downloaded model is absent.
set -euo pipefail
build=$1 gguf=$2 root=$3
if [ ! -s "$gguf" ]; then
    echo "SKIP: the default model $gguf is absent (bash scripts/fetch-model.sh downloads it)"
    exit 77
fi
ex=$build/examples tools=$build/src/tools
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
model=$tmp/smollm2
"$tools/lli-convert" "$gguf" "$model" >/dev/null
step() { echo "== $*"; }

step load_model
"$ex/load_model" "$model" | tee "$tmp/out.txt"
grep -q 'smollm2_135m, 30 layers' "$tmp/out.txt"

step simple: the prompt comes back followed by generated text
"$ex/simple" "$model" "The capital of France is" | tee "$tmp/simple.txt"
[ "$(head -c 24 "$tmp/simple.txt")" = "The capital of France is" ] && [ "$(wc -c < "$tmp/simple.txt")" -gt 60 ]

step batched: one line per prompt
"$ex/batched" "$model" "The sky is" "Water is made of" "def add(a, b):" | tee "$tmp/batched.txt"
[ "$(grep -c '^\[[0-2]\] ' "$tmp/batched.txt")" -eq 3 ]

# Requests arriving over time into a cache too small for all of them: both kinds of preemption
# must happen, and every request must still get exactly the tokens it gets alone (else exit 1).
for mode in recompute swap; do
    step "continuous_batching --preempt $mode"
    "$ex/continuous_batching" -m "$model" -n 6 --rate 1000 --seed 1 --kv-tokens 128 \
        --budget 32 --max-new 32 --preempt $mode --min-preemptions 1
done

# Speculative decoding must reproduce the target's greedy output (else exit 1): with the target as
# its own draft every guess is accepted; then with a draft cut to the target's first 10 layers.
step "speculative, the target as its own draft"
"$ex/speculative" -m "$model" -d "$model" -n 24 -k 4 | tee "$tmp/spec.txt"
grep -q '(100.0%)' "$tmp/spec.txt"
step "speculative, a 10-layer draft"
python3 "$root/scripts/make-draft.py" "$gguf" "$tmp/draft.gguf" --layers 10
"$tools/lli-convert" "$tmp/draft.gguf" "$tmp/draft" >/dev/null
"$ex/speculative" -m "$model" -d "$tmp/draft" -n 24 -k 4

step "batched_bench: one line per width, each with two positive speeds"
"$ex/batched_bench" -m "$model" -s 1,3 -p 8 -n 4 -r 1 | tee "$tmp/bb.txt"
[ "$(awk 'NR > 1 && $2 > 0 && $3 > 0' "$tmp/bb.txt" | wc -l)" -eq 2 ]
echo "examples: all passed"
