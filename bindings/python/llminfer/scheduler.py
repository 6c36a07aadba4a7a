"""A continuous-batching scheduler on top of libllminfer (the Python port of the reference scheduler).

The library does not schedule; this host does, the way vLLM does:

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
import itertools
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Deque, Dict, Iterable, List, Optional, Sequence

from ._engine import Batch, Context, KVCache, Sampler
from ._errors import E_NOT_IMPLEMENTED, Error, KVFullError

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
        self._seq: Optional[int] = None
        self._cached = 0  # tokens of prompt + output in the KV cache
        self._sampler: Optional[Sampler] = None
        self._swap: Optional[bytes] = None
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


class Scheduler:
    """Continuous batching over one KV cache and one context of a model (see the module's doc).

    kv_capacity, block_size: the cache; token_budget: entries per step (the context's max batch);
    max_running: requests decoding at once; preemption: "swap" or "recompute"; prefix_cache: start
    sequences with lli_kv_seq_create_with_prefix() to reuse cached prompt blocks."""

    def __init__(self, model, *, kv_capacity: int = 4096, block_size: int = 16, token_budget: int = 64,
                 max_running: int = 16, threads: Optional[int] = None, preemption: str = "swap",
                 prefix_cache: bool = False,
                 kv_type: str = "f16"):
        if preemption not in ("swap", "recompute"):
            raise ValueError("preemption must be 'swap' or 'recompute'")
        if token_budget < 1 or max_running < 1:
            raise ValueError("token_budget and max_running must be >= 1")
        self.model = model
        self.token_budget = int(token_budget)
        self.max_running = int(max_running)
        self.preemption = preemption
        self.prefix_cache = prefix_cache
        self.kv = KVCache(model, kv_capacity, block_size, kv_type, True if prefix_cache else None)
        try:
            self.ctx = Context(model, self.kv, threads=threads, max_batch=self.token_budget)
            self.batch = Batch(self.token_budget)
        except BaseException:
            self.kv.close()
            raise
        self.block_size = self.kv.block_size
        self.total_blocks = self.kv.total_blocks
        self.eos = model.eos
        self.waiting: Deque[Request] = collections.deque()
        self.swapped: Deque[Request] = collections.deque()
        self.running: List[Request] = []  # in admission order
        self._incoming: List[Request] = []
        self._lock = threading.Lock()
        self.counters = collections.Counter()
        self._swap_ok = preemption == "swap"

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
        return incoming or bool(self.waiting or self.running or self.swapped)

    def close(self) -> None:
        """Finish every request as cancelled and free the cache, context and batch."""
        self._take_incoming()
        for r in list(self.running) + list(self.waiting) + list(self.swapped):
            self._finish(r, "cancelled")
        self.batch.close()
        self.ctx.close()
        self.kv.close()

    def __enter__(self) -> "Scheduler":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def stats(self) -> Dict[str, object]:
        """Queue lengths, live sequences (as this scheduler tracks them), free blocks and counters."""
        d: Dict[str, object] = {"running": len(self.running), "waiting": len(self.waiting),
                                "swapped": len(self.swapped), "sequences": len(self.kv.sequences),
                                "free_blocks": self.kv.free_blocks, "total_blocks": self.total_blocks}
        d.update(self.counters)
        return d

    # -- bookkeeping ---------------------------------------------------------------------------------
    def _blocks(self, n_tokens: int) -> int:
        return -(-n_tokens // self.block_size)

    def _need(self, r: Request, n: int) -> int:
        """Blocks r needs to add n tokens to what it has cached."""
        return self._blocks(r._cached + n) - self._blocks(r._cached)

    def _take_incoming(self) -> None:
        with self._lock:
            incoming, self._incoming = self._incoming, []
        self.waiting.extend(incoming)
        for r in incoming:
            if r.max_tokens == 0:
                self._finish(r, "length")
        for queue in (self.running, self.waiting, self.swapped):
            for r in [r for r in queue if r._cancel]:
                self._finish(r, "cancelled")

    def _release(self, r: Request) -> None:
        if r._seq is not None:
            self.kv.free(r._seq)
            r._seq = None

    def _finish(self, r: Request, reason: str, error: Optional[str] = None) -> None:
        for queue in (self.running, self.waiting, self.swapped):
            if r in queue:
                queue.remove(r)
        self._release(r)
        r._swap = None
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

    def _preempt(self, r: Request) -> None:
        """Take a running request's blocks back: swap its state out, or drop it for recomputation."""
        self.running.remove(r)
        r.preemptions += 1
        self.counters["preemptions"] += 1
        if self._swap_ok and r._cached > 0:
            try:
                r._swap = self.kv.save_bytes(r._seq)
            except Error as exc:
                if exc.status != E_NOT_IMPLEMENTED:
                    raise
                self._swap_ok = False  # this library cannot swap: recompute from now on
        self._release(r)
        if r._swap is not None:
            r.status = SWAPPED
            self.swapped.append(r)
            self.counters["swapped_out"] += 1
        else:
            r._cached = 0
            r.status = WAITING
            self.waiting.appendleft(r)  # first in line again
            self.counters["recomputed"] += 1

    def _start_seq(self, r: Request) -> None:
        if self.prefix_cache:
            try:
                r._seq, reused = self.kv.create_with_prefix(r.tokens)
                r._cached = reused
                r.reused_tokens += reused
                self.counters["prefix_reused_tokens"] += reused
                return
            except Error as exc:
                if exc.status != E_NOT_IMPLEMENTED:
                    raise
                self.prefix_cache = False
        r._seq = self.kv.create_seq()
        r._cached = 0

    # -- one step ------------------------------------------------------------------------------------
    def step(self) -> int:
        """Plan and run one lli_decode(); deliver the sampled tokens. Returns the step's entries (0
        when there was nothing to do)."""
        self._take_incoming()
        budget = self.token_budget
        plan: List[tuple] = []  # (request, tokens this step), in batch order
        reserved = 0  # blocks the plan will take

        def free_now() -> int:
            return self.kv.free_blocks - reserved

        def plan_chunk(r: Request) -> None:
            # As many of r's pending tokens as the budget and the free blocks allow, if any.
            nonlocal budget, reserved
            n = min(r.pending, budget)
            while n > 0 and self._need(r, n) > free_now():
                n -= 1
            if n > 0:
                reserved += self._need(r, n)
                budget -= n
                plan.append((r, n))

        # 1. One decode token for every running request past its prompt, oldest first. When the cache
        #    cannot hold one, preempt the newest running request (perhaps this one) and retry.
        preempted = False
        for r in [r for r in self.running if r.pending == 1]:
            if r not in self.running or budget <= 0:
                continue
            need = self._need(r, 1)
            while need > free_now() and self.running[-1] is not r:
                self._preempt(self.running[-1])  # newer than r, so not in the plan yet
                preempted = True
            if need > free_now():
                if len(self.running) == 1:
                    self._finish(r, "length")  # alone, and the whole cache is not enough
                else:
                    self._preempt(r)
                    preempted = True
                continue
            reserved += need
            budget -= 1
            plan.append((r, 1))

        # 2. Then prompt chunks of running requests still prefilling, oldest first.
        for r in self.running:
            if budget <= 0:
                break
            if r.pending > 1:
                plan_chunk(r)

        # Blocks that admitted requests will still need for the rest of their prompts.
        planned = {id(r): n for r, n in plan}
        for r in self.running:
            if r.pending > 1:
                n = planned.get(id(r), 0)
                reserved += self._blocks(r._cached + r.pending) - self._blocks(r._cached + n)

        # 3. Swapped-out requests come back (in order) when their state and a decode block fit; new
        #    requests are admitted only when none waits to come back and nothing was preempted now.
        while not preempted and self.swapped and len(self.running) < self.max_running:
            r = self.swapped[0]
            if self._blocks(r._cached + 1) > free_now():
                break
            self.swapped.popleft()
            try:
                r._seq = self.kv.restore_bytes(r._swap)
            except Exception as exc:  # noqa: BLE001 - this request's failure, not the others'
                self.fail(r, exc)
                continue
            r._swap = None
            r.status = RUNNING
            self.running.append(r)
            self.counters["swapped_in"] += 1
            plan_chunk(r)  # 1 token in its decode phase; more if it left mid-prompt
        while (not preempted and not self.swapped and self.waiting and budget > 0
               and len(self.running) < self.max_running):
            r = self.waiting[0]
            total = self._blocks(len(r.tokens) + 1)
            if total > self.total_blocks:
                self._finish(r, "error", f"the request needs {len(r.tokens) + 1} tokens of KV cache; the cache "
                                         f"holds {self.total_blocks * self.block_size}")
                continue
            if total > free_now():
                break
            self.waiting.popleft()
            try:
                self._start_seq(r)
                if r._sampler is None:
                    r._sampler = Sampler.from_options(**r.sampling)
            except Exception as exc:  # noqa: BLE001 - this request's failure, not the others'
                self.fail(r, exc)
                continue
            r.status = RUNNING
            self.running.append(r)
            self.counters["admitted"] += 1
            n = min(r.pending, budget)
            reserved += self._blocks(len(r.tokens) + 1) - self._blocks(r._cached)  # its whole prompt
            budget -= n
            plan.append((r, n))

        if not plan:
            return 0
        return self._run(plan)

    def _run(self, plan) -> int:
        batch = self.batch
        batch.clear()
        outputs = []
        for r, n in plan:
            toks = r.tokens[r._cached:r._cached + n]
            last = r._cached + n == len(r.tokens)
            entry = batch.add_tokens(toks, r._seq, r._cached, logits_last=last)
            if last:
                outputs.append((r, entry))
        try:
            self.ctx.decode(batch)
        except KVFullError:
            # The plan's block count was short (blocks shared with other sequences): nothing changed;
            # give the newest request's blocks back and try again next step.
            self.counters["kv_full_retries"] += 1
            if len(self.running) > 1:
                self._preempt(self.running[-1])
            else:
                for r in list(self.running):
                    self._finish(r, "error", "the KV cache is full")
            return 0
        self.counters["steps"] += 1
        self.counters["entries"] += sum(n for _, n in plan)
        for r, n in plan:
            r._cached += n
        now = time.monotonic()
        for r, entry in outputs:
            if r._cancel:
                continue
            try:
                self._deliver(r, entry, now)
            except Exception as exc:  # noqa: BLE001 - a failure while sampling or delivering r fails r alone
                if not r.finished:
                    self.fail(r, exc)
        return sum(n for _, n in plan)

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
