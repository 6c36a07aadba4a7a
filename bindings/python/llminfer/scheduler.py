"""Continuous batching on top of libllminfer, with the library's reference scheduler (lli_sched_*).

The host drives: it submits requests, steps, samples and stops requests; the policy of each step is
the library's (src/runtime/scheduler.c), the same one C hosts use, the way vLLM schedules:

- Requests arrive over time (`submit()`, safe from any thread) and wait in arrival order.
- Every `step()` is one lli_decode() of at most `token_budget` entries: first one decode token for
  every running request that has finished its prompt, then prompt chunks (chunked prefill) of running
  requests and of newly admitted ones, mixed in the same step.
- A waiting request is admitted when the free KV blocks hold its whole pending prompt plus one block
  for decoding, and fewer than `max_running` requests run.
- When a decode token finds no free block, the most recently admitted running request is preempted:
  with "swap" its KV state is saved to host memory (lli_kv_seq_save_buffer) and restored later
  (lli_kv_seq_restore_buffer); with "recompute" (or when swapping is not available) its sequence is
  freed and its prompt and generated tokens are decoded again when it is readmitted.
- Sampling is per request (greedy by default); greedy outputs are exactly those of running each
  request alone, whatever the arrival order, the step mix and the preemptions, because every step's
  entries are computed independently of the others in the step.

`Engine` runs a scheduler on a thread of its own for servers: request threads submit and cancel, and
receive tokens through callbacks (usually into a queue).
"""
import collections
import ctypes
import itertools
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence

from ._engine import Context, KVCache, Sampler, _token_array
from ._errors import LLMInferError, _call, _L

__all__ = ["Request", "Scheduler", "Engine", "poisson_arrivals", "generate_alone"]

_ids = itertools.count(1)

WAITING, RUNNING, SWAPPED, FINISHED = "waiting", "running", "swapped", "finished"


@dataclass(eq=False)
class Request:
    """One generation request. `prompt` is token ids; `sampling` holds Sampler.from_options()
    arguments (empty: greedy). `on_token(request, token)` and `on_finish(request)` are called on the
    scheduler's thread. `arrival` is when it may start: a step number for Scheduler.run(), ignored by
    submit()."""

    prompt: Sequence[int]
    max_tokens: int = 64
    sampling: Dict[str, object] = field(default_factory=dict)
    stop_tokens: Optional[Iterable[int]] = None  # None: the model's end-of-sequence token
    id: str = ""
    arrival: float = 0
    on_token: Optional[Callable[["Request", int], None]] = None
    on_finish: Optional[Callable[["Request"], None]] = None

    # Results and engine state.
    output: List[int] = field(default_factory=list)
    status: str = WAITING
    finish_reason: Optional[str] = None  # "stop", "length", "cancelled", "error"
    error: Optional[str] = None
    preemptions: int = 0
    reused_tokens: int = 0
    t_submit: float = 0.0
    t_first_token: Optional[float] = None
    t_finish: Optional[float] = None
    token_times: List[float] = field(default_factory=list)

    def __post_init__(self):
        self.prompt = [int(t) for t in self.prompt]
        if not self.id:
            self.id = f"req-{next(_ids)}"
        self._id: Optional[int] = None  # the library scheduler's request id while it is live there
        self._seq: Optional[int] = None
        self._cached = 0  # tokens of prompt + output in the KV cache
        self._sampler: Optional[Sampler] = None
        self._cancel = False
        self._done = threading.Event()

    @property
    def tokens(self) -> List[int]:
        return self.prompt + self.output

    @property
    def pending(self) -> int:
        """Tokens known but not yet in the cache (1 for a request in its decode phase)."""
        return len(self.prompt) + len(self.output) - self._cached

    @property
    def finished(self) -> bool:
        return self.status == FINISHED

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait until the request finishes (any reason); False on timeout."""
        return self._done.wait(timeout)


#: lli_sched_stat() keys (the header's LLI_SCHED_STAT_*), by the names stats() gives them.
SCHED_STAT_KEYS = {"requests": 0, "running": 1, "swapped": 2, "preemptions": 3, "swapped_out": 4,
                   "recomputed_tokens": 5, "prefix_reused_tokens": 6, "steps": 7, "entries": 8}
#: lli_sched_request_stat() keys (LLI_SCHED_REQ_*).
SCHED_REQ_KEYS = {"state": 0, "tokens": 1, "cached": 2, "preemptions": 3, "reused": 4, "seq": 5}
#: lli_sched_params_set_preempt() modes (LLI_SCHED_PREEMPT_*) and request states (LLI_SCHED_*).
SCHED_PREEMPT = {"swap": 0, "recompute": 1}
SCHED_STATES = {0: WAITING, 1: RUNNING, 2: SWAPPED}


class Scheduler:
    """Continuous batching over one KV cache and one context of a model (see the module's doc), with
    the library's reference scheduler (lli_sched_*, src/runtime/scheduler.c) deciding each step: the
    policy lives there once, for C hosts and this one alike. This class keeps what is the host's:
    the queue of submitted requests, sampling, stop tokens, cancellation and the callbacks.

    kv_capacity, block_size: the cache; token_budget: entries per step (the context's max batch);
    max_running: requests decoding at once; preemption: "swap" or "recompute"; prefix_cache: admitted
    requests start from blocks of their tokens found in the cache."""

    def __init__(self, model, *, kv_capacity: int = 4096, block_size: int = 16, token_budget: int = 64,
                 max_running: int = 16, threads: Optional[int] = None, preemption: str = "swap",
                 prefix_cache: bool = False,
                 kv_type: str = "f16"):
        if preemption not in SCHED_PREEMPT:
            raise ValueError("preemption must be 'swap' or 'recompute'")
        if token_budget < 1 or max_running < 1:
            raise ValueError("token_budget and max_running must be >= 1")
        self.model = model
        self.token_budget = int(token_budget)
        self.max_running = int(max_running)
        self.preemption = preemption
        self.prefix_cache = prefix_cache
        self._sched = None
        self.kv = KVCache(model, kv_capacity, block_size, kv_type, True if prefix_cache else None)
        try:
            self.ctx = Context(model, self.kv, threads=threads, max_batch=self.token_budget)
            params = ctypes.c_void_p()
            _call("lli_sched_params_create", ctypes.byref(params))
            try:
                _call("lli_sched_params_set_budget", params, self.token_budget)
                _call("lli_sched_params_set_max_running", params, self.max_running)
                _call("lli_sched_params_set_preempt", params, SCHED_PREEMPT[preemption])
                _call("lli_sched_params_set_prefix_cache", params, int(bool(prefix_cache)))
                sched = ctypes.c_void_p()
                with self.kv._lock:
                    _call("lli_sched_create", self.kv._handle(), params, ctypes.byref(sched))
                self._sched = sched
            finally:
                _L.lli_sched_params_free(params)
        except BaseException:
            if getattr(self, "ctx", None) is not None:
                self.ctx.close()
            self.kv.close()
            raise
        self.block_size = self.kv.block_size
        self.total_blocks = self.kv.total_blocks
        self.eos = model.eos
        self._live: Dict[int, Request] = {}  # the library's request id -> request, in submission order
        self._incoming: List[Request] = []
        self._lock = threading.Lock()
        self.counters = collections.Counter()
        #: The last step as planned: (request, tokens it had in the step, tokens it had pending).
        self.last_plan: List[tuple] = []

    # -- the host's side -----------------------------------------------------------------------------
    def submit(self, request: Request) -> Request:
        """Queue a request (from any thread); it is admitted at a coming step."""
        if not request.prompt:
            raise ValueError("the prompt is empty")
        if request.max_tokens < 0:
            raise ValueError("max_tokens must be >= 0")
        if request._sampler is None:
            # Made here, on the caller's thread, so that sampling options the library refuses raise to
            # the caller instead of on the thread that steps every request.
            request._sampler = Sampler.from_options(**request.sampling)
        request.t_submit = time.monotonic()
        with self._lock:
            self._incoming.append(request)
        return request

    def cancel(self, request: Request) -> None:
        """Ask for a request to stop (from any thread); its sequence is freed at the next step."""
        request._cancel = True

    def has_work(self) -> bool:
        with self._lock:
            incoming = bool(self._incoming)
        return incoming or bool(self._live)

    def _in_state(self, state: str) -> List[Request]:
        return [r for r in self._live.values() if r.status == state]

    @property
    def running(self) -> List[Request]:
        return self._in_state(RUNNING)

    @property
    def waiting(self) -> List[Request]:
        return self._in_state(WAITING)

    @property
    def swapped(self) -> List[Request]:
        return self._in_state(SWAPPED)

    def close(self) -> None:
        """Finish every request as cancelled and free the scheduler, context and cache."""
        if self._sched is None:
            return
        self._take_incoming()
        for r in list(self._live.values()):
            self._finish(r, "cancelled")
        with self.kv._lock:
            _L.lli_sched_free(self._sched)
        self._sched = None
        self.ctx.close()
        self.kv.close()

    def __enter__(self) -> "Scheduler":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _stat(self, key: str) -> int:
        out = ctypes.c_int64()
        _call("lli_sched_stat", self._sched, SCHED_STAT_KEYS[key], ctypes.byref(out))
        return out.value

    def _request_stat(self, r: Request, key: str) -> int:
        out = ctypes.c_int64()
        _call("lli_sched_request_stat", self._sched, r._id, SCHED_REQ_KEYS[key], ctypes.byref(out))
        return out.value

    def stats(self) -> Dict[str, object]:
        """Queue lengths, live sequences, free blocks, the library scheduler's counters and this
        host's (admitted, swapped_in, generated, finished_REASON ...)."""
        d: Dict[str, object] = {"running": len(self.running), "waiting": len(self.waiting),
                                "swapped": len(self.swapped), "sequences": self.kv.stat("sequences"),
                                "free_blocks": self.kv.free_blocks, "total_blocks": self.total_blocks}
        if self._sched is not None:
            for key in ("preemptions", "swapped_out", "recomputed_tokens", "prefix_reused_tokens", "steps", "entries"):
                d[key] = self._stat(key)
        d.update(self.counters)
        return d

    # -- bookkeeping ---------------------------------------------------------------------------------
    def _take_incoming(self) -> None:
        with self._lock:
            incoming, self._incoming = self._incoming, []
        for r in incoming:
            if r.max_tokens == 0:
                self._finish(r, "length")
                continue
            prompt, n = _token_array(r.prompt)
            rid = ctypes.c_int64()
            try:
                _call("lli_sched_add", self._sched, prompt, n, int(r.max_tokens), ctypes.byref(rid))
            except LLMInferError as exc:  # too long for the whole cache: this request's failure alone
                self._finish(r, "error", exc.message)
                continue
            r._id = rid.value
            r.status = WAITING
            self._live[r._id] = r
        for r in [r for r in self._live.values() if r._cancel]:
            self._finish(r, "cancelled")

    def _finish(self, r: Request, reason: str, error: Optional[str] = None) -> None:
        rid = getattr(r, "_id", None)
        if rid is not None and self._live.pop(rid, None) is not None:
            with self.kv._lock:
                _call("lli_sched_finish", self._sched, rid)  # frees its sequence or swapped state
        r._seq = None
        if r._sampler is not None:
            r._sampler.close()
            r._sampler = None
        r.status, r.finish_reason, r.error = FINISHED, reason, error
        r.t_finish = time.monotonic()
        self.counters["finished_" + reason] += 1
        try:
            if r.on_finish:
                r.on_finish(r)
        finally:
            r._done.set()

    def fail(self, r: Request, exc: BaseException) -> None:
        """Finish one request with an error (what was raised for it), freeing what it holds."""
        self._finish(r, "error", f"{type(exc).__name__}: {exc}")

    def _refresh(self) -> None:
        """Each live request's state, cached tokens and counts, as the library scheduler has them."""
        for r in self._live.values():
            state = SCHED_STATES[self._request_stat(r, "state")]
            if r.status == SWAPPED and state == RUNNING:
                self.counters["swapped_in"] += 1
            if r.status == WAITING and state == RUNNING and not r.preemptions:
                self.counters["admitted"] += 1
            r.status = state
            r._cached = self._request_stat(r, "cached")
            r.preemptions = self._request_stat(r, "preemptions")
            r.reused_tokens = self._request_stat(r, "reused")
            seq = self._request_stat(r, "seq")
            r._seq = seq if seq >= 0 else None

    # -- one step ------------------------------------------------------------------------------------
    def step(self) -> int:
        """Run one step of the library's scheduler (plan + lli_decode) and deliver the sampled tokens.
        Returns the step's entries (0 when there was nothing to do)."""
        self._take_incoming()
        if not self._live:
            return 0
        before = {rid: (r.status, r._cached, r.pending) for rid, r in self._live.items()}
        entries_before = self._stat("entries")
        n_ready = ctypes.c_int32()
        try:
            with self.kv._lock:
                _call("lli_sched_step", self._sched, self.ctx._handle(), ctypes.byref(n_ready))
        finally:
            self._refresh()
        entries = self._stat("entries") - entries_before
        # What each request had in the step: for tests and monitoring (the library plans it).
        self.last_plan = []
        for rid, r in self._live.items():
            status, cached, pending = before[rid]
            if r.status == RUNNING and r._cached > cached and (status == RUNNING or cached == 0):
                self.last_plan.append((r, r._cached - cached, pending))
        now = time.monotonic()
        ready = []
        for i in range(n_ready.value):
            rid, entry = ctypes.c_int64(), ctypes.c_int32()
            _call("lli_sched_ready", self._sched, i, ctypes.byref(rid), ctypes.byref(entry))
            ready.append((self._live[rid.value], entry.value))
        for r, entry in ready:
            if r._cancel:
                self._finish(r, "cancelled")
                continue
            try:
                self._deliver(r, entry, now)
            except Exception as exc:  # noqa: BLE001 - a failure while sampling or delivering r fails r alone
                if not r.finished:
                    self.fail(r, exc)
        return entries

    def _deliver(self, r: Request, entry: int, now: float) -> None:
        """Sample r's next token from the step's output and hand it over (or finish r)."""
        tok = r._sampler.sample(self.ctx, entry)
        stops = set(r.stop_tokens) if r.stop_tokens is not None else {self.eos}
        if tok in stops:
            self._finish(r, "stop")
            return
        r._sampler.accept(tok)
        r.output.append(tok)
        self.counters["generated"] += 1
        if r.t_first_token is None:
            r.t_first_token = now
        r.token_times.append(now)
        if r.on_token:
            r.on_token(r, tok)
        if len(r.output) >= r.max_tokens:
            self._finish(r, "length")
        else:
            with self.kv._lock:
                _call("lli_sched_append", self._sched, r._id, tok)

    # -- driving it --------------------------------------------------------------------------------
    def run(self, requests: Iterable[Request], max_steps: int = 1_000_000) -> List[Request]:
        """Serve requests whose `arrival` is a step number (submitted when the step count reaches
        it), until all have finished. Returns them in the order given."""
        reqs = list(requests)
        pending = sorted(reqs, key=lambda r: r.arrival)
        step = 0
        while (pending or self.has_work()) and step < max_steps:
            while pending and pending[0].arrival <= step:
                self.submit(pending.pop(0))
            self.step()
            step += 1
        return reqs


def generate_alone(model, prompt: Sequence[int], max_tokens: int, stop_tokens: Optional[Iterable[int]] = None,
                   threads: Optional[int] = None, **sampling) -> List[int]:
    """The tokens one request gets run by itself (its own cache and context): the reference the
    scheduler's outputs are compared with."""
    with Context(model, threads=threads, max_batch=64, kv_capacity=len(prompt) + max_tokens + 16) as ctx:
        return list(ctx.generate_tokens(list(prompt), max_tokens, stop_tokens=stop_tokens, **sampling))


def poisson_arrivals(n: int, rate: float, seed: int = 0) -> List[float]:
    """n arrival times of a seeded Poisson process of `rate` arrivals per unit (steps or seconds)."""
    rng = random.Random(seed)
    t, out = 0.0, []
    for _ in range(n):
        t += rng.expovariate(rate)
        out.append(t)
    return out


class Engine:
    """A Scheduler stepping on its own thread. submit() and cancel() may be called from any thread;
    tokens reach the requests' callbacks on the engine's thread. `on_step(scheduler)` (optional)
    runs after every step."""

    def __init__(self, scheduler: Scheduler, on_step: Optional[Callable[[Scheduler], None]] = None):
        self.scheduler = scheduler
        self.on_step = on_step
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="llminfer-engine", daemon=True)
        self._jobs: List[Callable[[Scheduler], None]] = []
        #: What stopped the engine's thread for good (None while it runs); a failed step fails the
        #: requests running in it and is counted in step_failures instead.
        self.error: Optional[BaseException] = None
        self.step_failures = 0

    def start(self) -> "Engine":
        self._thread.start()
        return self

    def submit(self, request: Request) -> Request:
        if self.error is not None:
            raise RuntimeError(f"the engine stopped: {self.error!r}")
        self.scheduler.submit(request)
        with self._cond:
            self._cond.notify()
        return request

    def cancel(self, request: Request) -> None:
        self.scheduler.cancel(request)
        with self._cond:
            self._cond.notify()

    def call(self, fn: Callable[[Scheduler], object], timeout: float = 10.0):
        """Run fn(scheduler) between steps on the engine's thread and return its result."""
        box: Dict[str, object] = {}
        done = threading.Event()

        def job(s):
            try:
                box["value"] = fn(s)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                box["error"] = exc
            done.set()

        with self._cond:
            self._jobs.append(job)
            self._cond.notify()
        if not done.wait(timeout):
            raise TimeoutError("the engine did not answer")
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        return box.get("value")

    def _loop(self) -> None:
        s = self.scheduler
        try:
            while True:
                with self._cond:
                    while not self._stop and not s.has_work() and not self._jobs:
                        self._cond.wait(0.5)
                    if self._stop:
                        break
                    jobs, self._jobs = self._jobs, []
                for job in jobs:
                    job(s)
                if s.has_work():
                    try:
                        s.step()
                    except Exception as exc:  # noqa: BLE001 - the step's requests fail; the engine goes on
                        self.step_failures += 1
                        for r in list(s.running):
                            try:
                                s.fail(r, exc)
                            except Exception:  # noqa: BLE001 - a callback of its own failing
                                pass
                    if self.on_step:
                        self.on_step(s)
        except BaseException as exc:  # noqa: BLE001 - recorded; the requests learn of it
            self.error = exc
            for r in list(s.running) + list(s.waiting) + list(s.swapped):
                try:
                    s._finish(r, "error", repr(exc))
                except Exception:  # noqa: BLE001
                    pass
        finally:
            try:
                s.close()
            except Exception:  # noqa: BLE001
                pass

    def stop(self, timeout: float = 10.0) -> None:
        """Stop stepping, cancel what is left and free the scheduler's resources."""
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
