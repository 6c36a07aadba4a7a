"""Handles at interpreter exit and in collected reference cycles: Python finalizes such objects in no
particular order (and empties weak references first), while the C library needs a model freed after
the caches and contexts made from it (issue 10, item 8). A script that loads a model, makes a cache
and a context and defines a module-level function died with SIGSEGV at exit every time."""
import gc
import os
import subprocess
import sys
import textwrap

import pytest

import llminfer
from conftest import ROOT

SCRIPTS = {
    "the issue's script": """
        m = llminfer.Model.load(sys.argv[1])
        kv = llminfer.KVCache(m, 256)
        ctx = llminfer.Context(m, kv)
        def f():
            pass
        """,
    "every kind of handle, a half-read generator and a scheduler": """
        from llminfer.scheduler import Scheduler
        m = llminfer.Model.load(sys.argv[1])
        kv = m.kv_cache(256)
        ctx = m.context(kv, max_batch=8)
        own = m.context(max_batch=8, kv_capacity=64)
        batch = llminfer.Batch(8)
        smp = llminfer.Sampler().greedy()
        gen = m.generate("The sky is", 8)
        first = next(gen)
        sched = Scheduler(m, kv_capacity=128, token_budget=8)
        view = ctx.logits_view(ctx.prefill(m.tokenize("Hi"), kv.create_seq()))
        class Holder:
            pass
        h = Holder()
        h.me, h.model, h.ctx = h, m, ctx  # a cycle holding them
        def f():
            return h
        """,
    "an engine still stepping on its thread": """
        import time
        from llminfer.scheduler import Engine, Request, Scheduler
        m = llminfer.Model.load(sys.argv[1])
        engine = Engine(Scheduler(m, kv_capacity=256, token_budget=16)).start()
        r = engine.submit(Request(m.tokenize("Once upon a time"), 200))
        while len(r.output) < 2:
            time.sleep(0.01)
        def f():
            pass
        """,
    "only a cache and a context, the model's name dropped": """
        kv = llminfer.KVCache(llminfer.Model.load(sys.argv[1]), 128)
        ctx = llminfer.Context(kv.model, kv)
        def f():
            pass
        """,
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_a_script_exits_cleanly(name, model_dir, tmp_path):
    script = tmp_path / "script.py"
    script.write_text("import sys\nimport llminfer\n" + textwrap.dedent(SCRIPTS[name]))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "bindings" / "python"), LLMINFER_THREADS="1")
    for _ in range(3):  # the crash did not depend on luck, but the order of finalization may
        proc = subprocess.run([sys.executable, str(script), str(model_dir)], env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
        assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]


def test_a_collected_cycle_frees_the_model_last(model_dir, monkeypatch):
    freed = []
    for fn in ("lli_model_free", "lli_kv_cache_free", "lli_context_free"):
        real = getattr(llminfer._L, fn)
        monkeypatch.setattr(llminfer._L, fn, lambda h, _real=real, _fn=fn: (freed.append(_fn), _real(h))[1])
    for _ in range(3):
        freed.clear()
        m = llminfer.Model.load(model_dir)
        kv = m.kv_cache(128)
        ctx = m.context(kv, max_batch=4)
        m.cycle, kv.cycle, ctx.cycle = (kv, ctx), m, m  # garbage only the cycle collector finds
        del m, kv, ctx
        gc.collect()
        assert sorted(freed) == ["lli_context_free", "lli_kv_cache_free", "lli_model_free"]
        assert freed[-1] == "lli_model_free" and freed.index("lli_context_free") < freed.index("lli_kv_cache_free")


def test_a_model_closed_under_live_children_closes_them(model_dir):
    # Closing explicitly still closes the dependents first (and frees everything once).
    m = llminfer.Model.load(model_dir)
    kv = m.kv_cache(128)
    ctx = m.context(kv, max_batch=4)
    kv.close()
    assert ctx.closed and kv.closed and not m.closed
    assert m.tokenize("Hello")  # the model is untouched
    m.close()
    assert m.closed
