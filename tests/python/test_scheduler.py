"""Continuous batching from Python through the library's scheduler (lli_sched_*): outputs equal to each request run alone (greedy and
seeded sampling), whatever the arrivals, the step mix and the preemptions; the token budget; chunked
prefill mixed with decode; admission by free blocks; cancellation; the engine thread."""
import threading

import pytest

from llminfer.scheduler import Engine, Request, Scheduler, generate_alone, poisson_arrivals

TEXTS = ["The capital of France is", "Water is made of", "def add(a, b):",
         "Once upon a time, in a land far away, there lived a king who had three daughters. The youngest",
         "1, 2, 3,", "The quick brown fox jumps over the lazy dog. The quick brown fox",
         "In 1492, Columbus", "Photosynthesis is the process by which plants"]
N = 12


@pytest.fixture(scope="module")
def prompts(model):
    return [model.tokenize(t) for t in TEXTS]


@pytest.fixture(scope="module")
def alone(model, prompts):
    return [generate_alone(model, p, N) for p in prompts]


def record_steps(s: Scheduler):
    """Record every step's plan as the scheduler reports it: [(request, tokens, pending), ...]."""
    plans = []
    step = s.step

    def spy():
        n = step()
        if n:
            plans.append(list(s.last_plan))
            assert sum(k for _, k, _ in s.last_plan) <= n  # every request's tokens were in the step
        return n

    s.step = spy
    return plans


def test_outputs_equal_each_request_alone_with_a_roomy_cache(model, prompts, alone):
    arrivals = poisson_arrivals(len(prompts), rate=0.7, seed=3)
    reqs = [Request(p, N, arrival=a) for p, a in zip(prompts, arrivals)]
    with Scheduler(model, kv_capacity=2048, token_budget=24, max_running=8) as s:
        plans = record_steps(s)
        s.run(reqs)
        stats = s.stats()
    assert [r.output for r in reqs] == alone
    assert all(r.finish_reason in ("length", "stop") for r in reqs)
    assert stats["sequences"] == 0 and stats["running"] == stats["waiting"] == 0
    assert max(sum(n for _, n, _ in plan) for plan in plans) <= 24  # the token budget
    # Chunked prefill: a long prompt was split over steps, and some step mixed decode tokens with a
    # prompt chunk in one lli_decode.
    assert any(n < pending and pending > 1 for plan in plans for _, n, pending in plan)
    assert any(any(n == 1 and pending == 1 for _, n, pending in plan) and any(pending > 1 for _, _, pending in plan)
               for plan in plans)
    assert stats.get("preemptions", 0) == 0


@pytest.mark.parametrize("preemption", ["recompute", "swap"])
def test_preemption_when_the_cache_fills_loses_nothing(model, prompts, alone, preemption):
    # 8 blocks of 16 tokens for 8 requests of up to 36 tokens: admission waits for blocks, decode
    # growth forces preemptions.
    reqs = [Request(p, N, arrival=i // 3) for i, p in enumerate(prompts)]
    with Scheduler(model, kv_capacity=128, block_size=16, token_budget=32, max_running=6,
                   preemption=preemption) as s:
        plans = record_steps(s)
        s.run(reqs)
        stats = s.stats()
        assert s.kv.free_blocks == s.total_blocks == 8
    assert [r.output for r in reqs] == alone
    assert stats["preemptions"] > 0 and stats["sequences"] == 0
    assert stats.get("kv_full_retries", 0) == 0  # the plans never asked for more blocks than were free
    if preemption == "swap":
        assert stats["swapped_in"] == stats["swapped_out"] == stats["preemptions"]
    else:
        assert stats["swapped_out"] == 0 and stats["recomputed_tokens"] > 0
    # Running requests never held more blocks than the cache has.
    assert max(len(plan) for plan in plans) <= 6


def test_swap_preemption_uses_saved_states(model, prompts):
    # Short prompts that all get admitted, then grow past the cache: 4 x 45 tokens in 6 blocks of 16.
    short = [prompts[i] for i in (0, 1, 2, 4)]
    expected = [generate_alone(model, p, 40) for p in short]
    reqs = [Request(p, 40) for p in short]
    with Scheduler(model, kv_capacity=96, block_size=16, token_budget=32, max_running=4, preemption="swap") as s:
        s.run(reqs)
        stats = s.stats()
    assert [r.output for r in reqs] == expected
    assert stats["preemptions"] > 0 and stats["sequences"] == 0
    assert stats["swapped_in"] == stats["swapped_out"] == stats["preemptions"]
    assert any(r.preemptions for r in reqs)


def test_seeded_sampling_equals_alone(model, prompts):
    opts = {"temperature": 0.8, "top_k": 40, "seed": 11}
    expected = [generate_alone(model, p, 8, **opts) for p in prompts[:3]]
    reqs = [Request(p, 8, sampling=dict(opts)) for p in prompts[:3]]
    with Scheduler(model, kv_capacity=1024, token_budget=16) as s:
        s.run(reqs)
    assert [r.output for r in reqs] == expected


def test_prefix_cache_reuses_prompt_blocks(model):
    shared = "Once upon a time, in a land far away, there lived a king who had three daughters and a son. "
    texts = [shared + "The eldest", shared + "The youngest", shared + "The son"]
    ps = [model.tokenize(t) for t in texts]
    expected = [generate_alone(model, p, 6) for p in ps]
    reqs = [Request(p, 6, arrival=3 * i) for i, p in enumerate(ps)]
    with Scheduler(model, kv_capacity=512, token_budget=64, prefix_cache=True) as s:
        s.run(reqs)
        stats = s.stats()
    assert [r.output for r in reqs] == expected
    if not s.prefix_cache:
        pytest.skip("lli_kv_seq_create_with_prefix is not implemented in this build of libllminfer")
    assert stats["prefix_reused_tokens"] >= 2 * 16 and reqs[0].reused_tokens == 0 and reqs[2].reused_tokens >= 16


def test_cancel_stop_tokens_and_oversized_requests(model, prompts):
    with Scheduler(model, kv_capacity=128, block_size=16, token_budget=16) as s:
        a = s.submit(Request(prompts[3], 50))
        b = s.submit(Request(list(range(100, 300)), 5))  # 200 tokens: more than the whole cache
        c = s.submit(Request(prompts[0], 0))
        for _ in range(4):
            s.step()
        assert a.status == "running" and s.kv.stat("sequences") == 1
        assert (b.finish_reason, c.finish_reason) == ("error", "length") and "cache" in b.error
        s.cancel(a)
        s.step()
        assert a.finish_reason == "cancelled" and a.finished and s.kv.stat("sequences") == 0
        assert not s.has_work() and s.step() == 0
        first = generate_alone(model, prompts[0], 3)
        d = s.submit(Request(prompts[0], 10, stop_tokens=[first[2]]))
        s.run([])
        assert d.output == first[:2] and d.finish_reason == "stop"
    with pytest.raises(ValueError):
        Scheduler(model, preemption="never")


def test_engine_thread_serves_submissions_from_many_threads(model, prompts, alone):
    s = Scheduler(model, kv_capacity=512, token_budget=32, max_running=4)
    engine = Engine(s).start()
    results = {}
    streamed = {}

    def client(i):
        got = []
        req = Request(prompts[i], N, on_token=lambda r, t: got.append(t))
        engine.submit(req)
        assert req.wait(120)
        results[i], streamed[i] = req.output, got

    threads = [threading.Thread(target=client, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert [results[i] for i in range(5)] == alone[:5] and [streamed[i] for i in range(5)] == alone[:5]
    assert engine.call(lambda sch: sch.stats())["sequences"] == 0
    engine.stop()
    assert s.kv.closed and engine.error is None
