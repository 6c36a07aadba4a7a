#!/usr/bin/env python3
"""Tokenizer speed on long inputs, beside llama.cpp (llama-cpp-python, vocab only) in the same run.

Inputs: 64,000 '!'; 1 MB of one repeated character ('a', then ' '); 1 MB of ordinary text
(tests/goldens/text-512.txt repeated). Each side tokenizes each input once per round, the sides
taking turns; the best of the rounds is printed with the token count, and whether the ids match.
Times are CPU seconds of this process (tokenizing is single-threaded on both sides), so that a
busy shared machine does not count other programs' time.

usage: scripts/bench-tokenizer.py [--lib build/libllminfer.so] [--gguf models/...gguf]
                                  [--rounds 3] [--sizes 64000,1000000] [--no-peer]
"""
import argparse
import atexit
import ctypes
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_ours(lib_path, gguf):
    lib = ctypes.CDLL(lib_path)
    lib.lli_last_error.restype = ctypes.c_char_p
    out = tempfile.mkdtemp(prefix="bench-tok-")
    atexit.register(shutil.rmtree, out, True)
    st = lib.lli_convert_gguf(gguf.encode(), (out + "/m").encode(), None)
    if st:
        sys.exit(f"convert: {lib.lli_last_error().decode()}")
    params, model = ctypes.c_void_p(), ctypes.c_void_p()
    lib.lli_model_params_create(ctypes.byref(params))
    lib.lli_model_params_set_vocab_only(params, 1)
    if lib.lli_model_load((out + "/m").encode(), params, ctypes.byref(model)):
        sys.exit(f"load: {lib.lli_last_error().decode()}")

    def tokenize(data):
        cap = len(data) + 16
        toks = (ctypes.c_int32 * cap)()
        n = ctypes.c_size_t()
        st = lib.lli_tokenize(model, data, ctypes.c_size_t(len(data)), 0, 0, toks, ctypes.c_size_t(cap), ctypes.byref(n))
        if st:
            sys.exit(f"tokenize: {lib.lli_last_error().decode()}")
        return list(toks[:n.value])
    return tokenize


def load_peer(gguf):
    """llama.cpp's tokenizer through llama-cpp-python's low-level API (vocabulary only, no context)."""
    try:
        import llama_cpp as L
    except ImportError:
        return None
    load_peer.quiet = L.llama_log_callback(lambda level, text, user: None)  # kept alive on the function
    L.llama_log_set(load_peer.quiet, ctypes.c_void_p())
    L.llama_backend_init()
    p = L.llama_model_default_params()
    p.vocab_only = True
    model = L.llama_model_load_from_file(gguf.encode(), p)
    if not model:
        sys.exit(f"llama.cpp cannot load {gguf}")
    vocab = L.llama_model_get_vocab(model)

    def tokenize(data):
        cap = len(data) + 16
        buf = (L.llama_token * cap)()
        n = L.llama_tokenize(vocab, data, len(data), buf, cap, False, False)
        if n < 0:
            sys.exit(f"llama.cpp: {n}")
        return list(buf[:n])
    return tokenize


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default=os.path.join(ROOT, "build", "libllminfer.so"))
    ap.add_argument("--gguf", default=os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mb", type=int, default=1_000_000, help="size of the long inputs in bytes")
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()

    text = open(os.path.join(ROOT, "tests", "goldens", "text-512.txt"), "rb").read()
    inputs = [
        ("64,000 '!'", b"!" * 64000),
        (f"{args.mb:,} 'a'", b"a" * args.mb),
        (f"{args.mb:,} ' '", b" " * args.mb),
        (f"{args.mb:,} bytes of text", (text * (args.mb // len(text) + 1))[:args.mb]),
    ]
    sides = [("libllminfer", load_ours(args.lib, args.gguf))]
    peer = None if args.no_peer else load_peer(args.gguf)
    if peer:
        sides.append(("llama.cpp", peer))
    print(f"# {os.uname().nodename}, {args.gguf}, best of {args.rounds}")
    print("| input | " + " | ".join(f"{name} CPU s (tokens)" for name, _ in sides) + " | same ids |")
    print("|---|" + "---|" * len(sides) + "---|")
    for label, data in inputs:
        best = {name: float("inf") for name, _ in sides}
        ids = {}
        for _ in range(args.rounds):
            for name, fn in sides:
                t0 = time.process_time()
                ids[name] = fn(data)
                best[name] = min(best[name], time.process_time() - t0)
        same = "yes" if len({tuple(v) for v in ids.values()}) == 1 else "NO"
        cells = " | ".join(f"{best[name]:.3f} ({len(ids[name])})" for name, _ in sides)
        print(f"| {label} | {cells} | {same if peer else '-'} |", flush=True)


if __name__ == "__main__":
    main()
