#!/usr/bin/env python3
"""Prompt processing (pp512) and generation (tg128) speed of libllminfer and llama.cpp, in one run.

usage: scripts/bench-vs-llamacpp.py [--types q4_1,q8_0] [--threads 2] [--reps 5] [--rounds 3]
Needs llama-cpp-python (pip builds llama.cpp from source; build it with native CPU flags:
CMAKE_ARGS="-DGGML_NATIVE=ON" pip install llama-cpp-python) and the default model. For types other
than the file's own, llama.cpp's quantizer (llama_cpp.llama_model_quantize) makes the GGUF first, and
both sides run that same file (ours after lli-convert). The peer is timed through its Python
binding around llama_decode: eval of 512 tokens in one batch, then 128 single-token evals; the
binding's overhead per call is microseconds next to milliseconds of compute. The two sides take
turns, --rounds times, each doing --reps repetitions per turn, so that a burst of load from other
tenants of a shared machine falls on both; the table gives the medians of all repetitions.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from benchlib import cpu_model, default_gguf, models_for  # noqa: E402
TOOLS = os.path.join(ROOT, "build", "src", "tools")


def peer(gguf, threads, reps, n_prompt, n_gen):
    from llama_cpp import Llama
    llm = Llama(model_path=gguf, n_ctx=n_prompt + n_gen + 8, n_batch=n_prompt, n_threads=threads,
                n_threads_batch=threads, verbose=False)
    vocab = llm.n_vocab()
    rng = random.Random(1)
    pp, tg = [], []
    llm.reset(); llm.eval([rng.randrange(vocab) for _ in range(8)])  # warm-up
    for _ in range(reps):
        toks = [rng.randrange(vocab) for _ in range(n_prompt)]
        llm.reset()
        t0 = time.perf_counter(); llm.eval(toks); pp.append(n_prompt / (time.perf_counter() - t0))
        llm.reset()
        t0 = time.perf_counter()
        for _ in range(n_gen):
            llm.eval([rng.randrange(vocab)])
        tg.append(n_gen / (time.perf_counter() - t0))
    return pp, tg


def ours(model_dir, threads, reps, n_prompt, n_gen):
    out = subprocess.run([os.path.join(TOOLS, "lli-bench"), "-m", model_dir, "-p", str(n_prompt), "-n", str(n_gen),
                          "-t", str(threads), "-r", str(reps), "-o", "json"], capture_output=True, text=True, check=True)
    rows = json.loads(out.stdout)
    pp = next(r for r in rows if r["n_prompt"])["samples_ts"]
    tg = next(r for r in rows if r["n_gen"])["samples_ts"]
    return pp, tg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--types", default="q4_1,q8_0")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    args = ap.parse_args()
    import llama_cpp
    base = default_gguf(ROOT)
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; {args.threads} threads; "
          f"peer: llama-cpp-python {llama_cpp.__version__}; medians of {args.rounds} x {args.reps} runs per side, "
          f"taking turns\n")
    print("| model | test | libllminfer t/s | llama.cpp t/s | ratio |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for t in args.types.split(","):
            gguf, d = models_for(base, t, tmp, os.path.join(TOOLS, "lli-convert"))
            o_pp, o_tg, p_pp, p_tg = [], [], [], []
            for _ in range(args.rounds):
                a_pp, a_tg = ours(d, args.threads, args.reps, args.p, args.n)
                b_pp, b_tg = peer(gguf, args.threads, args.reps, args.p, args.n)
                o_pp += a_pp; o_tg += a_tg; p_pp += b_pp; p_tg += b_tg
            for name, a, b in ((f"pp{args.p}", o_pp, p_pp), (f"tg{args.n}", o_tg, p_tg)):
                ma, mb = statistics.median(a), statistics.median(b)
                print(f"| SmolLM2-135M {t.upper()} | {name} | {ma:.1f} | {mb:.1f} | {ma / mb:.2f}x |", flush=True)
    print(f"\nload after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
