#!/usr/bin/env python3
"""Aggregate generation throughput with 1, 4, 16 and 64 concurrent sequences: libllminfer beside
llama.cpp's batched decoding, in one run.

usage: scripts/bench-batched.py [--types q4_1,q8_0] [--widths 1,4,16,64] [--threads 2] [-p 64] [-n 32]
                                [--reps 3] [--rounds 3] [--build build]
Both sides do the same work, as llama-batched-bench does it: each of N sequences gets its own prompt
of P random tokens (prefilled several sequences per step), then N tokens per step for G steps, with
logits for every sequence; generation speed is N * G over the time of those steps, the median of
the repetitions after one uncounted warm-up. At each width the two sides take turns, --rounds
times, and the table gives the median of each side's turns. Ours is examples/batched_bench (built in BUILD); the peer runs through
llama-cpp-python's low-level API (llama_batch with many sequences, llama_decode), with its default
context settings (flash attention auto, a KV cache split per sequence). For types other than the
file's own, llama.cpp's quantizer makes the GGUF, and both sides run that same file.
"""
import argparse
import ctypes
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


def ours(build, model_dir, widths, threads, n_prompt, n_gen, reps):
    exe = os.path.join(ROOT, build, "examples", "batched_bench")
    out = subprocess.run([exe, "-m", model_dir, "-s", ",".join(map(str, widths)), "-t", str(threads),
                          "-p", str(n_prompt), "-n", str(n_gen), "-r", str(reps)],
                         capture_output=True, text=True, check=True).stdout
    return {int(w): float(tg) for w, _, tg in (l.split() for l in out.splitlines()[1:])}


def _quiet(level, text, user):
    pass


def peer(gguf, widths, threads, n_prompt, n_gen, reps):
    import llama_cpp
    global _quiet_cb  # kept alive as long as llama.cpp may call it
    _quiet_cb = llama_cpp.llama_log_callback(_quiet)
    llama_cpp.llama_log_set(_quiet_cb, ctypes.c_void_p(0))
    llama_cpp.llama_backend_init()
    model = llama_cpp.llama_model_load_from_file(gguf.encode(), llama_cpp.llama_model_default_params())
    vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model))
    rng = random.Random(1)
    result = {}
    for n in widths:
        cp = llama_cpp.llama_context_default_params()
        cp.n_ctx = n * (n_prompt + n_gen + 16)
        cp.n_batch = cp.n_ubatch = max(512, n)
        cp.n_seq_max = n
        cp.n_threads = cp.n_threads_batch = threads
        ctx = llama_cpp.llama_init_from_model(model, cp)
        batch = llama_cpp.llama_batch_init(max(512, n), 0, 1)

        def add(i, tok, seq, pos, logits):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = tok, pos, 1
            batch.seq_id[i][0], batch.logits[i] = seq, logits

        def decode(count):
            batch.n_tokens = count
            if llama_cpp.llama_decode(ctx, batch) != 0:
                sys.exit("llama_decode failed")

        tg = []
        for rep in range(-1, reps):  # rep -1 warms up and is not counted, as on our side
            llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
            k = 0
            for s in range(n):
                for i in range(n_prompt):
                    add(k, rng.randrange(vocab), s, i, i == n_prompt - 1)
                    k += 1
                    if k == cp.n_batch:
                        decode(k)
                        k = 0
            if k:
                decode(k)
            t0 = time.perf_counter()
            for g in range(n_gen):
                for s in range(n):
                    add(s, rng.randrange(vocab), s, n_prompt + g, True)
                decode(n)
            if rep >= 0:
                tg.append(n * n_gen / (time.perf_counter() - t0))
        result[n] = statistics.median(tg)
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(ctx)
    llama_cpp.llama_model_free(model)
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--types", default="q4_1,q8_0")
    ap.add_argument("--widths", default="1,4,16,64")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-p", type=int, default=64, help="prompt tokens per sequence")
    ap.add_argument("-n", type=int, default=32, help="generated tokens per sequence")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3, help="turns each side takes at each width")
    ap.add_argument("--build", default="build", help="build directory, relative to the repository")
    args = ap.parse_args()
    import llama_cpp
    widths = [int(w) for w in args.widths.split(",")]
    base = default_gguf(ROOT)
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; {args.threads} threads; "
          f"peer: llama-cpp-python {llama_cpp.__version__}; {args.p} prompt + {args.n} generated tokens per sequence; "
          f"{args.rounds} turns per side at each width, {args.reps} runs per turn; medians of the turns' medians\n")
    print("| model | sequences | libllminfer t/s | llama.cpp t/s | ratio |")
    print("| --- | --- | --- | --- | --- |", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for t in args.types.split(","):
            gguf, d = models_for(base, t, tmp, os.path.join(ROOT, args.build, "src", "tools", "lli-convert"))
            for w in widths:  # the sides take turns at each width, so that a burst of load falls on both
                a, b = [], []
                for _ in range(args.rounds):
                    a.append(ours(args.build, d, [w], args.threads, args.p, args.n, args.reps)[w])
                    b.append(peer(gguf, [w], args.threads, args.p, args.n, args.reps)[w])
                a, b = statistics.median(a), statistics.median(b)
                print(f"| SmolLM2-135M {t.upper()} | {w} | {a:.1f} | {b:.1f} | {a / b:.2f}x |", flush=True)
    print(f"\nload after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
