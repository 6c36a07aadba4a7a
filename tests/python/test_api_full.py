"""The whole public API through the Python bindings: every header function bound with the right
types, handles freed by context managers, typed exceptions, decoding, logits and hidden states,
samplers, KV cache operations and statistics, persistence, streaming text and threads."""
import array
import ctypes
import gc
import pickle
import re
import threading

import pytest

import llminfer
from llminfer import _lib
from conftest import ROOT, needs

PROMPT = "The capital of France is"


# -- every symbol of the header ---------------------------------------------------------------------
def header_prototypes():
    text = (ROOT / "include" / "llminfer.h").read_text()
    protos = re.findall(r"LLI_API\s+([^;]*?)\b(lli_\w+)\s*\(([^)]*)\)\s*;", text, re.S)
    assert len(protos) > 80
    return {name: (ret.strip(), [" ".join(a.split()) for a in args.split(",") if a.strip() != "void"])
            for ret, name, args in protos}


def param_type(param: str) -> str:
    """A parameter's type without its name: "const lli_model *model" -> "const lli_model *"."""
    m = re.fullmatch(r"(.*?)\s*\b\w+(\[4\])?", param)
    return (m.group(1).strip() + (" [4]" if m.group(2) else "")).replace(" *", "*").replace("*", " *").strip()


def expected_ctype(decl: str):
    """The ctypes type that a C type of llminfer.h is bound with."""
    c = ctypes
    scalars = {"int": c.c_int, "float": c.c_float, "size_t": c.c_size_t, "int32_t": c.c_int32, "int64_t": c.c_int64,
               "uint64_t": c.c_uint64, "lli_status": c.c_int, "lli_token": c.c_int32, "lli_seq_id": c.c_int32,
               "lli_progress_fn": _lib.PROGRESS_FN, "lli_verify_fn": _lib.VERIFY_FN, "void": None}
    if decl.endswith("[4]"):
        return c.POINTER(c.c_int64 * 4)
    base = decl.replace("const ", "")
    stars = base.count("*")
    base = base.replace("*", "").strip()
    if stars == 0:
        return scalars[base]
    if base == "char":
        return c.c_char_p if stars == 1 else c.POINTER(c.c_char_p)
    if base == "void" or base not in scalars:  # opaque handles and raw memory
        return c.c_void_p if stars == 1 else c.POINTER(c.c_void_p)
    inner = scalars[base]
    for _ in range(stars):
        inner = c.POINTER(inner)
    return inner


def test_every_header_function_is_bound_with_its_types():
    protos = header_prototypes()
    assert set(protos) == set(llminfer.bound_functions()), (
        "unbound: %s; bound but not in the header: %s" % (sorted(set(protos) - llminfer.bound_functions()),
                                                           sorted(llminfer.bound_functions() - set(protos))))
    assert not _lib.MISSING, f"the library lacks {sorted(_lib.MISSING)}"
    for name, (ret, args) in protos.items():
        restype, argtypes = _lib._SIGNATURES[name]
        assert restype is expected_ctype(ret), name
        assert list(argtypes) == [expected_ctype(param_type(a)) for a in args], name


# -- handles and errors -----------------------------------------------------------------------------
def test_context_managers_free_every_handle(model, monkeypatch):
    freed = []
    for fn in ("lli_kv_cache_free", "lli_context_free", "lli_batch_free", "lli_sampler_free"):
        real = getattr(llminfer._L, fn)
        monkeypatch.setattr(llminfer._L, fn, lambda h, _real=real, _fn=fn: (freed.append(_fn), _real(h))[1])
    with llminfer.KVCache(model, 256) as kv, llminfer.Context(model, kv, max_batch=8) as ctx, \
            llminfer.Batch(8) as batch, llminfer.Sampler().greedy() as smp:
        assert not any(o.closed for o in (kv, ctx, batch, smp))
    assert sorted(freed) == ["lli_batch_free", "lli_context_free", "lli_kv_cache_free", "lli_sampler_free"]
    assert all(o.closed for o in (kv, ctx, batch, smp))
    for call in (lambda: kv.create_seq(), lambda: ctx.decode(batch), lambda: batch.add(1, 0, 0), lambda: smp.greedy()):
        with pytest.raises(ValueError, match="closed"):
            call()
    kv.close(), ctx.close(), batch.close(), smp.close()  # again: harmless
    assert freed.count("lli_kv_cache_free") == 1

    # A context that made its own cache frees both; garbage collection frees what was dropped.
    freed.clear()
    ctx = model.context(max_batch=8, kv_capacity=64)
    ctx.close()
    assert sorted(freed) == ["lli_context_free", "lli_kv_cache_free"]
    freed.clear()
    ctx = model.context(max_batch=8, kv_capacity=64)
    del ctx
    gc.collect()
    assert sorted(freed) == ["lli_context_free", "lli_kv_cache_free"]


def test_closing_a_model_closes_what_was_made_from_it(model_dir):
    m = llminfer.Model.load(model_dir)
    kv = m.kv_cache(128)
    ctx = m.context(kv, max_batch=4)
    m.close()
    assert ctx.closed and kv.closed and m.closed
    with pytest.raises(ValueError, match="closed"):
        m.kv_cache(128)


def test_exceptions_carry_status_message_and_function(model):
    with model.context(max_batch=32, kv_capacity=16, kv_block_size=16) as ctx:
        seq = ctx.kv.create_seq()
        with llminfer.Batch(32) as b:
            b.add_tokens(list(range(100, 120)), seq, 0)
            with pytest.raises(llminfer.KVFullError) as e:
                ctx.decode(b)
        assert e.value.status == llminfer.E_KV_FULL and e.value.function == "lli_decode"
        assert "block" in e.value.message and e.value.status_name == llminfer.status_str(llminfer.E_KV_FULL)
        assert ctx.kv.length(seq) == 0  # nothing changed
        with pytest.raises(llminfer.InvalidArgumentError) as e:
            ctx.kv.length(12345)
        assert e.value.status == llminfer.E_INVALID_ARG and isinstance(e.value, ValueError)
        with pytest.raises(llminfer.InvalidArgumentError) as e:
            ctx.logits(0)  # no step yet
        assert e.value.function == "lli_get_logits"
    copy = pickle.loads(pickle.dumps(e.value))
    assert type(copy) is llminfer.InvalidArgumentError and copy.message == e.value.message
    assert isinstance(llminfer.error_for(llminfer.E_CHECKSUM, "x"), llminfer.FormatError)
    with pytest.raises(llminfer.InvalidArgumentError):
        llminfer.Sampler().top_p(1.5)
    with pytest.raises(ValueError):
        llminfer.KVCache(model, 64, type="f8")


# -- decoding, logits, hidden states, samplers --------------------------------------------------------
def greedy_by_hand(model, ids, n):
    """Generation written out with Batch, Context and Sampler (what generate() must equal)."""
    out = []
    with model.context(max_batch=64, kv_capacity=256) as ctx, llminfer.Batch(64) as b, \
            llminfer.Sampler().greedy() as smp:
        seq = ctx.kv.create_seq()
        entry = b.add_tokens(ids, seq, 0)
        ctx.decode(b)
        for i in range(n):
            tok = smp.sample(ctx, entry)
            out.append(tok)
            b.clear()
            entry = b.add(tok, seq, len(ids) + i, logits=True)
            ctx.decode(b)
    return out


def test_generate_streams_the_same_tokens_as_the_low_level_api(model):
    ids = model.tokenize(PROMPT)
    expected = greedy_by_hand(model, ids, 12)
    with model.context(max_batch=4, kv_capacity=128) as ctx:  # prompt in chunks of 4
        assert list(ctx.generate_tokens(ids, 12)) == expected
        assert ctx.kv.sequences == frozenset()  # the generator freed its sequence
        pieces = list(ctx.generate(PROMPT, 12))
    assert "".join(pieces) == model.detokenize(expected) and len(pieces) > 3
    assert model.complete(PROMPT, 12) == model.detokenize(expected)
    assert " Paris" in model.complete(PROMPT, 12)


def test_abandoned_generator_frees_its_sequence(model):
    with model.context(max_batch=16, kv_capacity=256) as ctx:
        gen = ctx.generate(PROMPT, 50)
        next(gen)
        assert len(ctx.kv.sequences) == 1
        gen.close()
        assert ctx.kv.sequences == frozenset() and ctx.kv.free_blocks == ctx.kv.total_blocks


def test_sampling_options_and_seeds(model):
    a = model.complete("Once upon a time", 16, temperature=0.9, top_k=40, top_p=0.95, seed=7)
    b = model.complete("Once upon a time", 16, temperature=0.9, top_k=40, top_p=0.95, seed=7)
    assert a == b
    others = {model.complete("Once upon a time", 16, temperature=1.2, seed=s) for s in range(4)}
    assert len(others) > 1
    rep = model.complete("1, 1, 1, 1, 1,", 12, repeat_penalty=1.5, min_p=0.05)
    assert rep != model.complete("1, 1, 1, 1, 1,", 12)
    assert model.complete("1, 2, 3,", 30, stop=[" 6"]) == " 4, 5,"


def test_chat_format_and_stop_tokens(model):
    text = model.apply_chat_template([{"role": "user", "content": "Hi"}])
    assert text == ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
                    "<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    own = model.apply_chat_template([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                                     {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}])
    assert own.startswith("<|im_start|>system\nBe brief.<|im_end|>") and own.count("<|im_start|>") == 5
    assert model.chat_stop_tokens() == {2}
    reply = "".join(model.chat("What is 2+2?", 40))
    assert "4" in reply and "<|im_end|>" not in reply
    assert len(model.tokenize(reply, add_special=False)) < 40  # ended at its end-of-turn token
    assert reply == "".join(model.generate([{"role": "user", "content": "What is 2+2?"}], 40))
    with pytest.raises(llminfer.ChatFormatError):
        model.apply_chat_template([{"role": "wizard", "content": "x"}])
    with pytest.raises(llminfer.ChatFormatError):
        llminfer.format_chat("{{ plain }}", [{"role": "user", "content": "x"}])
    assert llminfer.format_chat("[INST] {{x}}", [{"role": "user", "content": "Hi"}]) == "[INST] Hi[/INST]"
    assert llminfer.format_chat("<|start_header_id|>", [{"role": "user", "content": "Hi"}]) == (
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")


def test_logits_copies_views_and_numpy(model):
    ids = model.tokenize(PROMPT)
    with model.context(max_batch=16, kv_capacity=64) as ctx, llminfer.Batch(16) as b:
        seq = ctx.kv.create_seq()
        first = b.add(ids[0], seq, 0, logits=True)
        last = b.add_tokens(ids[1:], seq, 1)
        assert (first, last, len(b)) == (0, len(ids) - 1, len(ids))
        ctx.decode(b)
        logits = ctx.logits(last)
        assert isinstance(logits, array.array) and logits.typecode == "f" and len(logits) == model.n_vocab
        view = ctx.logits_view(last)
        assert view.format == "f" and len(view) == model.n_vocab and view[100] == logits[100]
        best = max(range(model.n_vocab), key=logits.__getitem__)
        assert model.token_to_piece(best) == b" Paris"
        hidden = ctx.hidden(last)
        assert len(hidden) == model.n_embd
        with pytest.raises(llminfer.InvalidArgumentError):
            ctx.logits(1)  # did not ask for output
        np = pytest.importorskip("numpy")
        out = np.zeros(model.n_vocab, dtype=np.float32)
        assert ctx.logits(last, out=out) is out and int(out.argmax()) == best
        assert np.array_equal(np.frombuffer(view, dtype=np.float32), out)
        with pytest.raises(ValueError):
            ctx.logits(last, out=np.zeros(10, dtype=np.float32))
        with pytest.raises(ValueError):
            ctx.logits(last, out=np.zeros(model.n_vocab, dtype=np.float64))
        # Token ids from numpy arrays work too.
        assert model.detokenize(np.array(ids, dtype=np.int64)) == PROMPT


def test_split_model_through_hidden_states(model_dir, model):
    """Layers [0, 12) give hidden states that layers [12, 30) take (as a numpy array or array('f')):
    the same logits as the whole model."""
    ids = model.tokenize(PROMPT)
    with model.context(max_batch=16, kv_capacity=64) as ctx, llminfer.Batch(16) as b:
        last = b.add_tokens(ids, ctx.kv.create_seq(), 0)
        ctx.decode(b)
        whole = ctx.logits(last)
    with llminfer.Model.load(model_dir, layer_range=(0, 12)) as first, \
            llminfer.Model.load(model_dir, layer_range=(12, 30)) as second:
        with first.context(max_batch=16, kv_capacity=64) as c1, llminfer.Batch(16) as b1:
            seq = c1.kv.create_seq()
            for i, t in enumerate(ids):
                b1.add(t, seq, i, logits=True)
            c1.decode(b1)
            hidden = array.array("f")
            for i in range(len(ids)):
                hidden.extend(c1.hidden(i))
        for as_numpy in (False, True):
            data = hidden
            if as_numpy:
                np = pytest.importorskip("numpy")
                data = np.frombuffer(hidden, dtype=np.float32).reshape(len(ids), -1)
            with second.context(max_batch=16, kv_capacity=64) as c2, llminfer.Batch(16) as b2:
                last = b2.add_tokens(ids, c2.kv.create_seq(), 0)
                b2.set_hidden(data)
                c2.decode(b2)
                split = c2.logits(last)
            assert max(abs(x - y) for x, y in zip(split, whole)) < 1e-3


# -- the KV cache -----------------------------------------------------------------------------------
def test_fork_truncate_fits_and_blocks(model):
    ids = model.tokenize("Once upon a time, in a land far away, there lived a king who")
    with model.context(max_batch=32, kv_capacity=128, kv_block_size=16) as ctx:
        kv = ctx.kv
        assert kv.total_blocks == 8 == kv.free_blocks
        seq = kv.create_seq()
        ctx.prefill(ids, seq)
        assert kv.length(seq) == len(ids) and kv.free_blocks == 8 - kv.blocks_for(len(ids))
        assert kv.fits(seq, 16) and not kv.fits(seq, 200)
        child = kv.fork(seq)
        assert kv.length(child) == len(ids) and kv.sequences == {seq, child}
        # The fork continues exactly like the original.
        kv.truncate(seq, len(ids) - 1)
        kv.truncate(child, len(ids) - 1)
        assert kv.length(seq) == len(ids) - 1
        out1 = list(ctx.generate_tokens([ids[-1]], 6, seq=seq))
        out2 = list(ctx.generate_tokens([ids[-1]], 6, seq=child))
        assert out1 == out2 == list(ctx.generate_tokens(ids, 6))
        assert needs(kv.seq_blocks, seq) == kv.blocks_for(kv.length(seq))
        kv.free(seq)
        kv.free(child)
        assert kv.sequences == frozenset() and kv.free_blocks == 8
        with pytest.raises(llminfer.InvalidArgumentError):
            kv.free(seq)


def test_stats_prefix_reuse_and_q8(model):
    ids = model.tokenize("Once upon a time, in a land far away, there lived a king who had three daughters.")
    with model.context(max_batch=64, kv_capacity=256, kv_block_size=16) as ctx:
        kv = ctx.kv
        stats = needs(kv.stats)
        assert stats["blocks_total"] == 16 and stats["block_size"] == 16 and stats["type"] == "f16"
        assert stats["sequences"] == 0 and stats["blocks_used"] == 0 and stats["bytes"] > 0
        expected = list(ctx.generate_tokens(ids, 8))
        seq, reused = needs(kv.create_with_prefix, ids)
        assert reused == 16 * ((len(ids) - 1) // 16) and reused > 0
        assert kv.stat("prefix_hits") >= 1 and kv.stat("sequences") == 1
        assert list(ctx.generate_tokens(ids[reused:], 8, seq=seq)) == expected
        fork = kv.fork(seq)
        assert kv.stat("blocks_shared") > 0
        kv.free(fork), kv.free(seq)
        assert kv.stat("blocks_used") == 0 and kv.stat("blocks_cached") > 0

        needs(ctx.reset_stats)
        list(ctx.generate_tokens(ids, 5))
        cs = ctx.stats()
        assert cs["prefill_tokens"] == len(ids) and cs["decode_tokens"] == 4 and cs["steps"] == 5
        assert cs["time_ns"] >= cs["prefill_ns"] > 0 and cs["decode_ns"] > 0
        ctx.reset_stats()
        assert ctx.stat("steps") == 0
    with model.context(max_batch=64, kv_capacity=256, kv_type="q8") as q8, \
            model.context(max_batch=64, kv_capacity=256) as f16:
        assert needs(q8.kv.stats)["type"] == "q8" and q8.kv.stat("bytes") < f16.kv.stat("bytes")
        assert list(q8.generate(PROMPT, 6)) and "Paris" in "".join(q8.generate(PROMPT, 6))
    with model.kv_cache(64, prefix_cache=False) as kv:
        assert kv.free_blocks == 4


def test_save_and_restore_files_bytes_and_background_states(model, tmp_path):
    ids = model.tokenize("The three primary colors are red, yellow and")
    with model.context(max_batch=32, kv_capacity=256) as ctx:
        kv = ctx.kv
        expected = list(ctx.generate_tokens(ids, 8))
        seq = kv.create_seq()
        ctx.prefill(ids[:-1], seq)
        data = needs(kv.save_bytes, seq)
        assert isinstance(data, bytes) and len(data) > 100
        needs(kv.save, seq, tmp_path / "seq.kv")
        assert (tmp_path / "seq.kv").read_bytes() == data
        kv.free(seq)

        again = needs(kv.restore_bytes, bytearray(data))
        assert kv.length(again) == len(ids) - 1
        assert list(ctx.generate_tokens(ids[-1:], 8, seq=again)) == expected
        kv.free(again)
        from_file = needs(kv.restore, tmp_path / "seq.kv")
        assert list(ctx.generate_tokens(ids[-1:], 8, seq=from_file)) == expected
        kv.free(from_file)

        with needs(llminfer.KVState.load, tmp_path / "seq.kv", background=True) as state:
            assert state.wait() is state and state.length == len(ids) - 1
            s1, s2 = kv.restore_state(state), kv.restore_state(state)  # a state can be restored again
            assert list(ctx.generate_tokens(ids[-1:], 8, seq=s1)) == expected
            kv.free(s1), kv.free(s2)

        damaged = bytearray(data)
        damaged[len(damaged) // 2] ^= 0xFF
        with pytest.raises(llminfer.FormatError):  # ChecksumError or FormatError: a damaged state
            kv.restore_bytes(damaged)
        with pytest.raises(llminfer.InputOutputError) as e:
            kv.restore(tmp_path / "absent.kv")
        assert "absent.kv" in e.value.message
        assert kv.sequences == frozenset()


# -- text streaming ---------------------------------------------------------------------------------
class _Bytes:
    """A stand-in model whose tokens are given byte strings."""

    def __init__(self, pieces):
        self.pieces = pieces

    def token_to_piece(self, t):
        return self.pieces[t]


def test_text_stream_joins_utf8_split_across_tokens_and_holds_stop_strings():
    text = "café 👋 done"
    raw = text.encode()
    pieces = [raw[i:i + 1] for i in range(len(raw))]  # one byte per token
    stream = llminfer.TextStream(_Bytes(pieces))
    out = [stream.push(i) for i in range(len(pieces))] + [stream.flush()]
    assert "".join(out) == text and all("\ufffd" not in p for p in out)
    assert "" in out  # partial characters were held back

    stream = llminfer.TextStream(_Bytes([b"Hello", b" wor", b"ld", b"<|", b"end", b"|> more"]), stop=["<|end|>"])
    got = [stream.push(i) for i in range(6)]
    assert "".join(got) == "Hello world" and stream.stopped and got[3] == "" and stream.flush() == ""
    stream = llminfer.TextStream(_Bytes([b"a <", b"b"]), stop=["<|end|>"])
    assert stream.push(0) == "a " and stream.push(1) == "<b" and stream.flush() == ""


def test_generate_yields_whole_characters(model):
    prompt = "Translate to French: 'The coffee shop is closed.' ->"
    pieces = list(model.generate(prompt, 24))
    assert all("\ufffd" not in p for p in pieces)
    with model.context(max_batch=32, kv_capacity=128) as ctx:
        assert "".join(pieces) == model.detokenize(list(ctx.generate_tokens(prompt, 24)))


# -- threads (issue 4, item 7) ------------------------------------------------------------------------
def test_one_model_many_contexts_on_many_threads(model):
    prompts = [PROMPT, "Water is made of", "def add(a, b):", "The sky is"]
    expected = [model.complete(p, 10) for p in prompts]
    results = [None] * len(prompts)
    errors = []

    def work(i):
        try:
            with model.context(threads=1, max_batch=16, kv_capacity=64) as ctx:
                for _ in range(2):
                    results[i] = "".join(ctx.generate(prompts[i], 10))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and results == expected


def test_closing_from_another_thread_waits_for_the_step(model):
    """A cache's lock serializes its contexts' calls with close(): no use after free."""
    ctx = model.context(max_batch=64, kv_capacity=256)
    gen = ctx.generate_tokens(model.tokenize(PROMPT * 4), 40)
    next(gen)
    t = threading.Thread(target=ctx.kv.close)
    with ctx.kv._lock:
        t.start()
        t.join(0.2)
        assert t.is_alive() and not ctx.closed  # waiting for the lock this thread holds
    t.join(10)
    assert ctx.closed and ctx.kv.closed
    with pytest.raises(ValueError, match="closed"):
        next(gen)
