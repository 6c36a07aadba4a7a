#!/usr/bin/env python3
"""Write the golden outputs of the peer, llama.cpp (through llama-cpp-python), for the SmolLM2 tests.

usage: scripts/make-goldens.py [--out tests/goldens/smollm2.json]
Needs `pip install llama-cpp-python` (built from source by pip) and the default model
(scripts/fetch-model.sh). The goldens are committed, so CI needs no peer build.

For greedy generation, a prompt is kept only when llama.cpp gives the same 32 tokens with its two
attention implementations (flash attention on and off): on the others the peer disagrees with
itself, and "equal to llama.cpp" would depend on which llama.cpp one asked.
"""
import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np
from llama_cpp import Llama

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    "def fibonacci(n):",
    "The three primary colors are",
    "Water boils at a temperature of",
    "The first president of the United States was",
    "To make a cup of tea, you need",
    "The largest planet in our solar system is",
    "In 1492, Christopher Columbus",
    "Photosynthesis is the process by which",
    "The quick brown fox",
    "import numpy as np\n\n",
    "Dear Sir or Madam,\n\nI am writing to",
    "The recipe calls for two cups of flour,",
    "Q: What is 2 + 2?\nA:",
    "The human heart has four chambers:",
    "Monday, Tuesday, Wednesday,",
    "1, 2, 3, 4, 5,",
    "<html>\n<head>\n",
    "The alphabet begins with A, B, C,",
    "for i in range(10):\n",
    "SELECT name, age FROM",
    "Roses are red, violets are blue,",
    "The chemical symbol for gold is",
    "January, February, March,",
    "Hello! How are you today?",
    "#include <stdio.h>\n\nint main(void) {",
    "The speed of light is approximately",
]
N_GEN = 32


def greedy(llm, ids, n):
    llm.reset()
    llm.eval(ids)
    out = []
    for _ in range(n):
        t = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(t)
        llm.eval([t])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "goldens", "smollm2.json"))
    args = ap.parse_args()
    gguf = subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch-model.sh")], capture_output=True, text=True,
                          check=True).stdout.strip()
    llms = {fa: Llama(model_path=gguf, n_ctx=1024, n_batch=512, n_threads=2, verbose=False, logits_all=True,
                      flash_attn=fa) for fa in (False, True)}
    ref = llms[False]
    greedy_cases, tokenize_cases = [], []
    for p in PROMPTS:
        ids = ref.tokenize(p.encode(), add_bos=True, special=False)
        tokenize_cases.append({"text": p, "ids": ids})
        a, b = greedy(llms[False], ids, N_GEN), greedy(llms[True], ids, N_GEN)
        kept = a == b
        print(f"{'kept   ' if kept else 'dropped'} {p!r}", file=sys.stderr)
        if kept:
            greedy_cases.append({"prompt": p, "prompt_ids": ids, "greedy": a})
    text = open(os.path.join(ROOT, "tests", "goldens", "text-512.txt")).read()
    ids = ref.tokenize(text.encode(), add_bos=True, special=False)[:512]
    ref.reset()
    ref.eval(ids)
    logits = np.array(ref.scores[: len(ids)], dtype=np.float64)
    top1 = [int(i) for i in logits.argmax(axis=1)]
    # The peer's margin between its first and second choice, to tell near-ties apart.
    part = np.sort(logits, axis=1)
    margin = [float(x) for x in part[:, -1] - part[:, -2]]
    logz = np.log(np.exp(logits - logits.max(axis=1, keepdims=True)).sum(axis=1)) + logits.max(axis=1)
    nll = [float(logz[i] - logits[i, ids[i + 1]]) for i in range(len(ids) - 1)]
    ppl = math.exp(sum(nll) / len(nll))
    out = {
        "peer": "llama-cpp-python " + __import__("llama_cpp").__version__,
        "model": os.path.basename(gguf),
        "n_gen": N_GEN,
        "greedy": greedy_cases,
        "tokenize": tokenize_cases,
        "text": {"ids": ids, "top1": top1, "margin": margin, "perplexity": ppl},
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"{len(greedy_cases)} greedy cases, {len(tokenize_cases)} tokenizations, perplexity {ppl:.4f} over "
          f"{len(ids)} tokens -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
