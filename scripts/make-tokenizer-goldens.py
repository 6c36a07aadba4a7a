#!/usr/bin/env python3
"""Tokenizer goldens made by llama.cpp itself (llama-cpp-python, vocabulary only).

For each vocabulary (the vocab GGUFs in ../shared/vectors/tokenizer and SmolLM2's model):
  tests/goldens/tokenizer/NAME.random.tsv  random strings (fixed seed) and llama.cpp's ids for
                                           them, with special parsing off and on (no BOS/EOS);
  tests/goldens/tokenizer/NAME.out         for vocabularies that have no .out of llama.cpp's own
                                           (gpt-neox), llama.cpp's ids for the shared .inp texts,
                                           one line per text as in llama.cpp's .out files.
tests/test_tokenizer.c checks every line. llama-cpp-python is not needed to run the tests, only to
remake the goldens:

  scripts/make-tokenizer-goldens.py            # write the goldens
  scripts/make-tokenizer-goldens.py --live build/libllminfer.so [--count N --seed S]
                                               # compare our library with llama.cpp on fresh
                                               # strings, writing nothing
  scripts/make-tokenizer-goldens.py --live build/libllminfer.so --pre-variants
                                               # the same on gpt-2's vocabulary relabelled with
                                               # each pre-tokenizer we know (llama-bpe, qwen2,
                                               # tekken, falcon, ...; needs the gguf package),
                                               # for pre-tokenizers without a vocabulary at hand

Random strings mix: random code points from many scripts (letters, marks, numbers such as '½',
symbols, CJK, emoji), whitespace runs (ASCII and Unicode), digit runs, the vocabulary's own special
and added tokens and near misses of them, NUL bytes and invalid UTF-8 (lone continuation bytes,
bad leads, truncated sequences, overlong forms, surrogates). Sequences above U+10FFFF are left out
for byte-level BPE vocabularies only: llama.cpp throws on them there (and the process aborts);
tests/test_tokenizer.c checks our reading of them separately.
"""
import argparse
import atexit
import ctypes
import os
import random
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "vectors", "tokenizer")
GOLDENS = os.path.join(ROOT, "tests", "goldens", "tokenizer")
SEP = b"\n__ggml_vocab_test__\n"

VOCABS = [  # name, GGUF, texts for the .out when the shared directory has none
    ("gpt-2", os.path.join(SHARED, "ggml-vocab-gpt-2.gguf"), None),
    ("llama-spm", os.path.join(SHARED, "ggml-vocab-llama-spm.gguf"), None),
    ("deepseek-coder", os.path.join(SHARED, "ggml-vocab-deepseek-coder.gguf"), None),
    ("gpt-neox", os.path.join(SHARED, "ggml-vocab-gpt-neox.gguf"), os.path.join(SHARED, "ggml-vocab-gpt-2.gguf.inp")),
    ("smollm2", os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"), None),
]

RANGES = [  # (first, last) code point ranges drawn from
    (0x20, 0x7E), (0x20, 0x7E), (0xA0, 0xFF), (0x100, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF),
    (0x590, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x2070, 0x218F),
    (0x2190, 0x23FF), (0x2460, 0x24FF), (0x3000, 0x303F), (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3),
    (0xFF00, 0xFFEF), (0x1F300, 0x1FAFF), (0x10000, 0x1007F), (0x1D400, 0x1D7FF), (0x20000, 0x2A6DF),
    (0xE000, 0xE0FF), (0x0, 0x1F), (0x80, 0x9F), (0xFFF0, 0xFFFF), (0x31350, 0x323AF), (0x2EBF0, 0x2EE5F),
]
NUMBERS = "0123456789½¼¾²³¹⅓⅔٠١٢٣٤٥٦٧٨٩०१२३४५६७८९０１２３①②③Ⅷↂ𝟘𝟙"
SPACES = [" ", "\t", "\n", "\r", "\r\n", "\u00a0", "\u2000", "\u2009", "\u3000", "\u0085", "\u000b", "\u000c",
          "\u1680", "\u202f", "\u205f", "\u2028", "\u180e", "\u200b"]
EMOJI = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🇩🇪", "❤️", "🦙", "✨", "🧑‍💻", "⌚", "🫠"]
LOOKALIKES = ["<|endoftext|>", "<|endoftext", "|endoftext|>", "<|im_start|>", "<|im_end|>", "<s>", "</s>", "<unk>",
              "<s", "s>", "<|", "|>", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<|padding|>", "[PAD32000]",
              "<|im_start|>user\n", "<<s>>", "<</s>", "▁", "▁▁", "Ġ", "ĠĠ", "Ċ"]
INVALID = [b"\xff", b"\xfe", b"\x80", b"\xbf", b"\x80\x80", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\xaf",
           b"\xf0\x80\x80\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xf8\x88\x80\x80\x80",
           b"\x00", b"\x00\x00", b"\xc3\x28", b"\xe2\x28\xa1", b"\xf0\x28\x8c\xbc"]
ABOVE = [b"\xf4\x90\x80\x80", b"\xf4\x9b\xbc\x98", b"\xf7\xbf\xbf\xbf", b"\xf5\x80\x80\x80"]


def llama_cpts(data):
    """Code points as llama.cpp reads bytes (see src/runtime/tokenizer.c, decode_cp)."""
    out, i = [], 0
    while i < len(data):
        c = data[i]
        n = 1 if c < 0x80 else 0 if not c & 0x40 else 2 if not c & 0x20 else 3 if not c & 0x10 else 4 if not c & 0x08 else 0
        if n and i + n <= len(data) and all(b & 0xC0 == 0x80 for b in data[i + 1:i + n]):
            cp = c & (0x7F >> n) if n > 1 else c
            for b in data[i + 1:i + n]:
                cp = cp << 6 | (b & 0x3F)
            out.append(cp)
            i += n
        else:
            out.append(0xFFFD)
            i += 1
    return out


def random_string(rng, specials, allow_above):
    parts = []
    for _ in range(rng.randint(1, 5)):
        kind = rng.random()
        if kind < 0.30:
            lo, hi = rng.choice(RANGES)
            s = "".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 6)))
            parts.append(s.encode("utf-8", "surrogatepass"))
        elif kind < 0.42:
            parts.append("".join(rng.choice(SPACES) for _ in range(rng.choice([1, 2, 3, 5, 8, 17]))).encode())
        elif kind < 0.50:
            parts.append(("".join(rng.choice(NUMBERS[:10] if rng.random() < 0.6 else NUMBERS)
                                  for _ in range(rng.randint(1, 9)))).encode())
        elif kind < 0.56:
            parts.append(rng.choice(EMOJI).encode())
        elif kind < 0.68:
            pool = LOOKALIKES + specials
            s = rng.choice(pool) if pool else "<s>"
            if rng.random() < 0.3 and len(s) > 1:  # a near miss
                k = rng.randrange(len(s))
                s = s[:k] + s[k + 1:] if rng.random() < 0.5 else s[:k] + s[k].upper() + s[k + 1:]
            parts.append(s.encode())
        elif kind < 0.78:
            parts.append(rng.choice(INVALID + (ABOVE if allow_above else [])))
        else:
            words = ["the", " quick", " brown", "fox", "I'm", " don't", "we'll", "'S", "ÿ", "naïve", " café",
                     "Hello", " world", "!!!", "...", "—", "--", "==>", "(x)", "{\"a\": 1}", "def f():", "\tx = 1",
                     "Ġhello", "x²", "½ months", "ied 4 ½", "Ⅻ", "Ǆemo", "İstanbul", "ǅ"]
            parts.append("".join(rng.choice(words) for _ in range(rng.randint(1, 4))).encode())
    data = b"".join(parts)
    if not allow_above and any(cp > 0x10FFFF for cp in llama_cpts(data)):
        return None
    return data


class Peer:
    """llama.cpp through llama-cpp-python's low-level API (no context is made)."""

    def __init__(self, gguf):
        import llama_cpp as L
        self.L = L
        Peer._quiet = L.llama_log_callback(lambda level, text, user: None)  # kept alive with the class
        L.llama_log_set(Peer._quiet, ctypes.c_void_p())
        L.llama_backend_init()
        p = L.llama_model_default_params()
        p.vocab_only = True
        self.model = L.llama_model_load_from_file(gguf.encode(), p)
        if not self.model:
            sys.exit(f"llama.cpp cannot load {gguf}")
        self.vocab = L.llama_model_get_vocab(self.model)

    def tokenize(self, data, parse_special):
        cap = len(data) * 2 + 16
        buf = (self.L.llama_token * cap)()
        n = self.L.llama_tokenize(self.vocab, data, len(data), buf, cap, False, parse_special)
        if n < 0:
            sys.exit(f"llama.cpp: {n} tokenizing {data!r}")
        return list(buf[:n])

    def specials(self):
        out = []
        for i in range(self.L.llama_vocab_n_tokens(self.vocab)):
            attr = self.L.llama_vocab_get_attr(self.vocab, i)
            if attr & (self.L.LLAMA_TOKEN_ATTR_CONTROL | self.L.LLAMA_TOKEN_ATTR_USER_DEFINED):
                text = self.L.llama_vocab_get_text(self.vocab, i)
                try:
                    out.append(text.decode())
                except UnicodeDecodeError:
                    pass
        return out

    def is_bpe(self):
        return self.L.llama_vocab_type(self.vocab) == self.L.LLAMA_VOCAB_TYPE_BPE


class Ours:
    def __init__(self, lib_path, gguf):
        lib = self.lib = ctypes.CDLL(lib_path)
        lib.lli_last_error.restype = ctypes.c_char_p
        tmp = tempfile.mkdtemp(prefix="tok-goldens-")
        atexit.register(shutil.rmtree, tmp, True)
        d = tmp + "/m"
        if lib.lli_convert_gguf(gguf.encode(), d.encode(), None):
            sys.exit(f"convert {gguf}: {lib.lli_last_error().decode()}")
        params, self.model = ctypes.c_void_p(), ctypes.c_void_p()
        lib.lli_model_params_create(ctypes.byref(params))
        lib.lli_model_params_set_vocab_only(params, 1)
        if lib.lli_model_load(d.encode(), params, ctypes.byref(self.model)):
            sys.exit(f"load: {lib.lli_last_error().decode()}")

    def tokenize(self, data, parse_special):
        cap = len(data) * 2 + 16
        toks = (ctypes.c_int32 * cap)()
        n = ctypes.c_size_t()
        st = self.lib.lli_tokenize(self.model, data, ctypes.c_size_t(len(data)), 0, int(parse_special), toks,
                                   ctypes.c_size_t(cap), ctypes.byref(n))
        if st:
            return f"status {st}: {self.lib.lli_last_error().decode()}"
        return list(toks[:n.value])


def strings_for(peer, count, seed):
    rng = random.Random(seed)
    specials, bpe = peer.specials(), peer.is_bpe()
    out = []
    while len(out) < count:
        s = random_string(rng, specials, allow_above=not bpe)
        if s is not None:
            out.append(s)
    return out


PRE_VARIANTS = ["default", "llama-bpe", "dbrx", "glm4", "qwen2", "tekken", "deepseek-coder", "falcon", "starcoder",
                "poro-chat", "viking", "gpt-2"]


def pre_variant(gguf_path, pre, out_path):
    """A copy of a vocabulary GGUF with another tokenizer.ggml.pre (written with the gguf package)."""
    import gguf
    r = gguf.GGUFReader(gguf_path)
    w = gguf.GGUFWriter(out_path, str(bytes(r.fields["general.architecture"].parts[-1]), "utf-8"))
    for key, f in r.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        t = f.types[0]
        if t == gguf.GGUFValueType.ARRAY:
            if f.types[1] == gguf.GGUFValueType.STRING:
                v = [bytes(f.parts[i]).decode("utf-8", "surrogateescape") for i in f.data]
            else:
                v = [f.parts[i].tolist()[0] for i in f.data]
            w.add_array(key, v)
        elif t == gguf.GGUFValueType.STRING:
            w.add_string(key, pre if key == "tokenizer.ggml.pre" else bytes(f.parts[f.data[0]]).decode())
        else:
            w.add_key_value(key, f.parts[f.data[0]].tolist()[0], t)
    if "tokenizer.ggml.pre" not in r.fields:
        w.add_string("tokenizer.ggml.pre", pre)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=2000, help="random strings per vocabulary")
    ap.add_argument("--seed", type=int, default=20261130)
    ap.add_argument("--live", metavar="LIB", help="compare libllminfer LIB with llama.cpp, write nothing")
    ap.add_argument("--only", help="one vocabulary name")
    ap.add_argument("--pre-variants", action="store_true", help="with --live: gpt-2's vocabulary under each pre-tokenizer")
    args = ap.parse_args()
    import llama_cpp
    failures = 0
    vocabs = VOCABS
    if args.pre_variants:
        if not args.live:
            sys.exit("--pre-variants goes with --live")
        tmp = tempfile.mkdtemp(prefix="tok-pre-")
        atexit.register(shutil.rmtree, tmp, True)
        vocabs = []
        for pre in PRE_VARIANTS:
            path = os.path.join(tmp, f"vocab-{pre}.gguf")
            pre_variant(VOCABS[0][1], pre, path)
            vocabs.append((f"gpt-2 as {pre}", path, None))
    for name, gguf, inp in vocabs:
        if args.only and name != args.only:
            continue
        if not os.path.exists(gguf):
            print(f"{name}: {gguf} is missing, skipped", file=sys.stderr)
            continue
        peer = Peer(gguf)
        strings = strings_for(peer, args.count, args.seed + sum(name.encode()))
        if args.live:
            ours = Ours(args.live, gguf)
            bad = 0
            for s in strings:
                for special in (False, True):
                    want, got = peer.tokenize(s, special), ours.tokenize(s, special)
                    if want != got:
                        bad += 1
                        if bad <= 5:
                            print(f"{name} special={int(special)} {s!r}\n  llama.cpp: {want}\n  ours:      {got}")
            print(f"{name}: {len(strings) * 2 - bad}/{len(strings) * 2} match")
            failures += bad
            continue
        path = os.path.join(GOLDENS, f"{name}.random.tsv")
        with open(path, "w") as f:
            f.write(f"# llama.cpp's ids (llama-cpp-python {llama_cpp.__version__}, vocab only, no BOS/EOS) for "
                    f"{len(strings)} random strings, seed {args.seed}, vocabulary {os.path.basename(gguf)}.\n"
                    f"# Made by scripts/make-tokenizer-goldens.py. Columns: the text in hex, the ids with special\n"
                    f"# parsing off, the ids with it on.\n")
            for s in strings:
                ids = [" ".join(map(str, peer.tokenize(s, special))) for special in (False, True)]
                f.write(f"{s.hex()}\t{ids[0]}\t{ids[1]}\n")
        print(f"wrote {path}")
        if inp:
            texts = open(inp, "rb").read().split(SEP)[:-1]
            path = os.path.join(GOLDENS, f"{name}.out")
            with open(path, "w") as f:
                for t in texts:
                    f.write("".join(f" {i}" for i in peer.tokenize(t, False)) + "\n")
            print(f"wrote {path}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
