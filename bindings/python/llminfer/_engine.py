"""KV caches, saved KV states, contexts, batches, samplers and streaming generation.

Every class owns one C handle, freed by close(), by leaving a `with` block, or at garbage collection;
close() is idempotent and using a closed object raises ValueError. An object keeps the objects it
depends on alive (a context its model and cache), and closing a model or cache first closes the
contexts and caches made from it, so the C library's freeing order always holds.

Thread safety (libllminfer's rules, enforced here with locks): a Model may be used by any number of
threads, and contexts with their own caches decode in parallel (ctypes releases the GIL during each
C call). A KV cache and the contexts decoding into it share one lock, so concurrent calls on them from
several threads are serialized rather than racing; batches and samplers have their own locks.
"""
import array
import codecs
import ctypes
import os
import threading
import time
import weakref
from typing import Dict, Iterable, Iterator, Optional, Sequence, Tuple, Union

from ._errors import E_BUFFER_TOO_SMALL, OK, _call, _check, _L, _path

KV_TYPES = {"f16": 0, "q8": 1}
#: lli_kv_stat() keys by name.
KV_STAT_KEYS = {"blocks_total": 0, "blocks_used": 1, "blocks_shared": 2, "blocks_cached": 3, "blocks_empty": 4,
                "prefix_hits": 5, "prefix_misses": 6, "evictions": 7, "bytes": 8, "block_bytes": 9,
                "block_size": 10, "sequences": 11, "type": 12}
#: lli_context_stat() keys by name.
CTX_STAT_KEYS = {"steps": 0, "prefill_tokens": 1, "decode_tokens": 2, "time_ns": 3, "prefill_ns": 4,
                 "decode_ns": 5, "matmul_ns": 6, "attention_ns": 7}

_P = ctypes.c_void_p


def default_threads(threads: Optional[int]) -> int:
    """threads, or when None the LLMINFER_THREADS environment variable (0, one per physical core, if unset)."""
    if threads is not None:
        return int(threads)
    try:
        return int(os.environ.get("LLMINFER_THREADS", "0"))
    except ValueError:
        return 0


def _int32(value, name: str) -> int:
    """value as a C int32_t argument: ctypes would wrap a larger int silently (2**31 -> -2**31)."""
    v = int(value)
    if not -2**31 <= v < 2**31:
        raise ValueError(f"{name} {v} does not fit a 32-bit C int")
    return v


def _out_p(ctype):
    v = ctype()
    return v, ctypes.byref(v)


def _token_array(tokens) -> Tuple[ctypes.Array, int]:
    """A C int32 array of tokens: a list, a tuple, array('i'), or a numpy integer array."""
    try:
        mv = memoryview(tokens)
    except TypeError:
        mv = None
    if mv is not None and mv.ndim == 1 and mv.itemsize == 4 and mv.format.lstrip("@=<") in ("i", "l"):
        n = len(mv)
        return (ctypes.c_int32 * max(n, 1)).from_buffer_copy(mv.tobytes() or b"\0\0\0\0"), n
    ids = [int(t) for t in tokens]
    return (ctypes.c_int32 * max(len(ids), 1))(*ids), len(ids)


def _float_buffer(data) -> Tuple[ctypes.Array, int]:
    """A C float array copied from any float32 buffer (array('f'), numpy float32), or from any other
    iterable of numbers (numpy arrays of other types are converted)."""
    try:
        mv = memoryview(data)
    except TypeError:
        mv = None
    if mv is not None and mv.format == "f" and mv.c_contiguous:
        n = mv.nbytes // 4
        return (ctypes.c_float * max(n, 1)).from_buffer_copy(mv.cast("B")) if n else (ctypes.c_float * 1)(), n
    if hasattr(data, "astype") and hasattr(data, "ravel"):  # numpy, without importing it
        return _float_buffer(data.astype("float32").ravel())
    values = array.array("f", (float(x) for x in data))
    return _float_buffer(values)


def _copy_floats(ptr, n: int, out=None):
    """n floats at ptr, copied into `out` (any writable buffer of at least n float32s, e.g. a numpy
    array) or into a new array('f')."""
    nbytes = n * 4
    if out is None:
        result = array.array("f", bytes(nbytes))
        addr, _ = result.buffer_info()
        ctypes.memmove(addr, ptr, nbytes)
        return result
    mv = memoryview(out)
    if mv.readonly or not mv.c_contiguous or mv.format != "f":
        raise ValueError("out must be a writable, contiguous float32 buffer")
    if mv.nbytes < nbytes:
        raise ValueError(f"out holds {mv.nbytes // 4} floats, {n} are needed")
    ctypes.memmove((ctypes.c_char * mv.nbytes).from_buffer(mv.cast("B")), ptr, nbytes)
    return out


def _view_floats(ptr, n: int, owner) -> memoryview:
    arr = (ctypes.c_float * n).from_address(ctypes.addressof(ptr.contents))
    arr._owner = owner  # keep the context (whose memory this is) alive as long as the view
    return memoryview(arr).cast("B").cast("f")


class _Handle:
    """One owned C handle. Subclasses set _kind and _free.

    `parents` are the handles this one was made from (a cache's model; a context's model and cache).
    The C library needs a parent freed after everything made from it, and at interpreter exit (or when
    a reference cycle is collected) Python finalizes objects in no particular order and has already
    emptied the weak references by which a parent finds its dependents. So a child holds strong
    references to its parents and counts itself in them; a parent closed while children still live
    is closed for Python at once, but its C handle is freed only when the last child's is. The free
    function is taken when the handle is made, so that freeing at shutdown does not depend on module
    globals that the interpreter may have cleared by then."""

    _kind = "object"
    _free = ""

    def __init__(self, handle, lock=None, parents=()):
        self._free_fn = getattr(_L, self._free)
        self._h = ctypes.c_void_p(handle) if handle else None
        self._lock = lock if lock is not None else threading.RLock()
        self._dependents = weakref.WeakSet()
        self._closing = False
        self._parents = tuple(parents)
        self._children = 0  # children whose C handles are not freed yet
        self._unfreed: Optional[ctypes.c_void_p] = None  # closed, but freed after the last child
        for parent in self._parents:
            with parent._lock:
                parent._children += 1
                parent._dependents.add(self)

    def _handle(self) -> ctypes.c_void_p:
        h = self._h
        if h is None:
            raise ValueError(f"the {self._kind} is closed")
        return h

    @property
    def closed(self) -> bool:
        return self._h is None

    def close(self) -> None:
        """Free the handle (closing objects made from this one first). Calling it again does nothing."""
        with self._lock:
            if getattr(self, "_closing", True):
                return
            self._closing = True
            for dep in list(self._dependents):
                dep.close()
            h, self._h = self._h, None
            self._unfreed = h
            self._free_if_unused()
            self._after_close()

    def _free_if_unused(self) -> None:
        # Called with self._lock held, when this handle was closed or a child's C handle was freed.
        if self._unfreed is None or self._children > 0:
            return
        h, self._unfreed = self._unfreed, None
        self._free_fn(h)
        for parent in self._parents:
            with parent._lock:
                parent._children -= 1
                parent._free_if_unused()

    def _after_close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - nothing can be raised from a finalizer
            pass


class KVState(_Handle):
    """A saved sequence read, decompressed and verified in memory (lli_kv_state), ready to enter any
    cache of the same model with KVCache.restore_state(). `KVState.load(path, background=True)`
    starts the work on a C thread and returns at once; wait() or restore_state() wait for it."""

    _kind = "KV state"
    _free = "lli_kv_state_free"

    @classmethod
    def load(cls, path, background: bool = False) -> "KVState":
        out, ref = _out_p(ctypes.c_void_p)
        _call("lli_kv_state_load", _path(path), int(bool(background)), ref)
        return cls(out.value)

    def wait(self) -> "KVState":
        """Wait for a background load; raise its error if it failed. Returns self."""
        with self._lock:
            _call("lli_kv_state_wait", self._handle())
        return self

    @property
    def length(self) -> int:
        """Tokens the state holds (waits for the load)."""
        out, ref = _out_p(ctypes.c_int64)
        with self._lock:
            _call("lli_kv_state_length", self._handle(), ref)
        return out.value

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return "<llminfer.KVState (closed)>" if self.closed else "<llminfer.KVState>"


class KVCache(_Handle):
    """A paged KV cache for one model (lli_kv_cache). Sequences are plain ints chosen by the cache.

    capacity: tokens over all sequences; block_size: tokens per block; type: "f16" or "q8";
    prefix_cache: keep full blocks for reuse by create_with_prefix() (None: the library's default)."""

    _kind = "KV cache"
    _free = "lli_kv_cache_free"

    def __init__(self, model, capacity: int = 4096, block_size: int = 16, type: str = "f16",
                 prefix_cache: Optional[bool] = None):
        if type not in KV_TYPES:
            raise ValueError(f"type must be one of {sorted(KV_TYPES)}, not {type!r}")
        params = ctypes.c_void_p()
        _call("lli_kv_cache_params_create", ctypes.byref(params))
        try:
            _call("lli_kv_cache_params_set_capacity", params, int(capacity))
            _call("lli_kv_cache_params_set_block_size", params, int(block_size))
            if type != "f16":  # the default needs no call (and works with libraries without the setter)
                _call("lli_kv_cache_params_set_type", params, KV_TYPES[type])
            if prefix_cache is not None:
                _call("lli_kv_cache_params_set_prefix_cache", params, int(bool(prefix_cache)))
            out = ctypes.c_void_p()
            _call("lli_kv_cache_create", model._handle(), params, ctypes.byref(out))
        finally:
            _L.lli_kv_cache_params_free(params)
        super().__init__(out.value, parents=(model,))
        self.model = model
        self.capacity = int(capacity)
        self.block_size = int(block_size)
        self.type = type
        self._seqs = set()
        self.total_blocks = self.free_blocks  # an empty cache: every block is free

    # -- sequences ---------------------------------------------------------------------------------
    def create_seq(self) -> int:
        """A new, empty sequence."""
        out, ref = _out_p(ctypes.c_int32)
        with self._lock:
            _call("lli_kv_seq_create", self._handle(), ref)
            self._seqs.add(out.value)
        return out.value

    def create_with_prefix(self, tokens) -> Tuple[int, int]:
        """A new sequence for a prompt, reusing cached blocks its first tokens fill. Returns
        (seq, n_reused): decode tokens[n_reused:] at positions n_reused onward."""
        ids, n = _token_array(tokens)
        seq, sref = _out_p(ctypes.c_int32)
        reused, rref = _out_p(ctypes.c_int64)
        with self._lock:
            _call("lli_kv_seq_create_with_prefix", self._handle(), ids, n, sref, rref)
            self._seqs.add(seq.value)
        return seq.value, reused.value

    def free(self, seq: int) -> None:
        """Free a sequence and release its blocks."""
        with self._lock:
            _call("lli_kv_seq_free", self._handle(), int(seq))
            self._seqs.discard(int(seq))

    def fork(self, seq: int) -> int:
        """A copy of a sequence sharing its blocks (copy on write). Returns the new sequence."""
        out, ref = _out_p(ctypes.c_int32)
        with self._lock:
            _call("lli_kv_seq_fork", self._handle(), int(seq), ref)
            self._seqs.add(out.value)
        return out.value

    def truncate(self, seq: int, n_tokens: int) -> None:
        """Keep only the first n_tokens tokens of a sequence."""
        with self._lock:
            _call("lli_kv_seq_truncate", self._handle(), int(seq), int(n_tokens))

    def length(self, seq: int) -> int:
        """Tokens a sequence holds."""
        out, ref = _out_p(ctypes.c_int64)
        with self._lock:
            _call("lli_kv_seq_length", self._handle(), int(seq), ref)
        return out.value

    def fits(self, seq: int, n_tokens: int) -> bool:
        """Whether n_tokens more tokens of the sequence fit now."""
        out, ref = _out_p(ctypes.c_int)
        with self._lock:
            _call("lli_kv_seq_fits", self._handle(), int(seq), int(n_tokens), ref)
        return bool(out.value)

    def seq_blocks(self, seq: int) -> int:
        """Blocks a sequence holds, shared ones included."""
        out, ref = _out_p(ctypes.c_int64)
        with self._lock:
            _call("lli_kv_seq_blocks", self._handle(), int(seq), ref)
        return out.value

    @property
    def free_blocks(self) -> int:
        """Blocks available for new tokens (empty ones and cached ones that would be evicted)."""
        out, ref = _out_p(ctypes.c_int64)
        with self._lock:
            _call("lli_kv_free_blocks", self._handle(), ref)
        return out.value

    @property
    def sequences(self) -> frozenset:
        """The live sequences made or restored through this object (tracked in Python)."""
        with self._lock:
            return frozenset(self._seqs)

    def blocks_for(self, n_tokens: int) -> int:
        """Blocks that n_tokens tokens of one fresh sequence occupy."""
        return -(-int(n_tokens) // self.block_size)

    # -- statistics --------------------------------------------------------------------------------
    def stat(self, key: Union[str, int]) -> int:
        """One lli_kv_stat() value, by name ("blocks_used", see KV_STAT_KEYS) or number."""
        k = KV_STAT_KEYS[key] if isinstance(key, str) else int(key)
        out, ref = _out_p(ctypes.c_int64)
        with self._lock:
            _call("lli_kv_stat", self._handle(), k, ref)
        return out.value

    def stats(self) -> Dict[str, object]:
        """Every lli_kv_stat() value as a dict; "type" is "f16" or "q8"."""
        d: Dict[str, object] = {name: self.stat(k) for name, k in KV_STAT_KEYS.items()}
        d["type"] = {v: k for k, v in KV_TYPES.items()}.get(d["type"], d["type"])
        return d

    # -- persistence -------------------------------------------------------------------------------
    def save(self, seq: int, path) -> None:
        """Save a sequence's KV state to a file (compressed, checksummed, naming the model)."""
        with self._lock:
            _call("lli_kv_seq_save", self._handle(), int(seq), _path(path))

    def restore(self, path) -> int:
        """Restore a saved file as a new sequence (all or nothing). Returns the sequence."""
        out, ref = _out_p(ctypes.c_int32)
        with self._lock:
            _call("lli_kv_seq_restore", self._handle(), _path(path), ref)
            self._seqs.add(out.value)
        return out.value

    def save_bytes(self, seq: int) -> bytes:
        """A sequence's KV state in memory, in the file form of save()."""
        size = ctypes.c_size_t()
        with self._lock:
            h = self._handle()
            st = _L.lli_kv_seq_save_buffer(h, int(seq), None, 0, ctypes.byref(size))
            if st not in (OK, E_BUFFER_TOO_SMALL):
                _check(st, "lli_kv_seq_save_buffer")
            while True:
                buf = bytearray(size.value)
                cbuf = (ctypes.c_char * max(len(buf), 1)).from_buffer(buf) if buf else None
                st = _L.lli_kv_seq_save_buffer(h, int(seq), cbuf, len(buf), ctypes.byref(size))
                if st == E_BUFFER_TOO_SMALL and size.value > len(buf):
                    continue
                _check(st, "lli_kv_seq_save_buffer")
                del cbuf
                return bytes(buf[:size.value])

    def restore_bytes(self, data) -> int:
        """Restore a sequence from save_bytes()'s output (bytes, bytearray, memoryview, numpy uint8)."""
        mv = memoryview(data).cast("B")
        buf = (ctypes.c_char * max(len(mv), 1)).from_buffer_copy(mv.tobytes() if len(mv) else b"\0")
        out, ref = _out_p(ctypes.c_int32)
        with self._lock:
            _call("lli_kv_seq_restore_buffer", self._handle(), buf, len(mv), ref)
            self._seqs.add(out.value)
        return out.value

    def restore_state(self, state: KVState) -> int:
        """Enter a loaded KVState as a new sequence (waits for a background load)."""
        out, ref = _out_p(ctypes.c_int32)
        with self._lock, state._lock:
            _call("lli_kv_seq_restore_state", self._handle(), state._handle(), ref)
            self._seqs.add(out.value)
        return out.value

    def __repr__(self) -> str:
        if self.closed:
            return "<llminfer.KVCache (closed)>"
        return f"<llminfer.KVCache {self.capacity} tokens, blocks of {self.block_size}, {len(self._seqs)} sequences>"


class Batch(_Handle):
    """One step's entries (lli_batch): (token, sequence, position, wants output)."""

    _kind = "batch"
    _free = "lli_batch_free"

    def __init__(self, capacity: int = 512):
        out = ctypes.c_void_p()
        _call("lli_batch_create", int(capacity), ctypes.byref(out))
        super().__init__(out.value)
        self.capacity = int(capacity)
        self._n = 0

    def add(self, token: int, seq: int, pos: int, logits: bool = False) -> int:
        """Append one entry; returns its index (the `entry` of Context.logits() and Sampler.sample())."""
        with self._lock:
            _call("lli_batch_add", self._handle(), int(token), int(seq), int(pos), int(bool(logits)))
            self._n += 1
            return self._n - 1

    def add_tokens(self, tokens, seq: int, pos: int, logits_last: bool = True) -> int:
        """Append consecutive tokens of one sequence from position pos; only the last asks for output
        (if logits_last). Returns the last entry's index."""
        ids = [int(t) for t in tokens]
        if not ids:
            raise ValueError("no tokens to add")
        with self._lock:
            h = self._handle()
            last = len(ids) - 1
            for i, t in enumerate(ids):
                _call("lli_batch_add", h, t, int(seq), int(pos) + i, int(logits_last and i == last))
            self._n += len(ids)
            return self._n - 1

    def clear(self) -> None:
        with self._lock:
            _call("lli_batch_clear", self._handle())
            self._n = 0

    def set_hidden(self, hidden) -> None:
        """Give the entries hidden states instead of tokens (a model loaded from a later layer): entry-
        major floats, entries x n_embd; array('f'), a numpy array, memoryview or list."""
        buf, n = _float_buffer(hidden)
        with self._lock:
            _call("lli_batch_set_hidden", self._handle(), buf, n)

    def size(self) -> int:
        """Entries in the batch, as the library counts them."""
        out, ref = _out_p(ctypes.c_int32)
        with self._lock:
            _call("lli_batch_size", self._handle(), ref)
        return out.value

    def __len__(self) -> int:
        return self.size()

    def __repr__(self) -> str:
        return "<llminfer.Batch (closed)>" if self.closed else f"<llminfer.Batch {self._n}/{self.capacity}>"


class Sampler(_Handle):
    """A sampler chain (lli_sampler). Stages are added in call order; each method returns self:

        Sampler().top_k(40).top_p(0.9).temperature(0.8).dist(seed=1)
    """

    _kind = "sampler"
    _free = "lli_sampler_free"

    def __init__(self):
        out = ctypes.c_void_p()
        _call("lli_sampler_create", ctypes.byref(out))
        super().__init__(out.value)

    @classmethod
    def from_options(cls, temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0,
                     seed: Optional[int] = None, repeat_penalty: float = 1.0, frequency_penalty: float = 0.0,
                     presence_penalty: float = 0.0, penalty_last_n: int = 64) -> "Sampler":
        """The usual chain: penalties (if any), then greedy when temperature is 0, else top-k, top-p,
        min-p, temperature and a seeded draw (a random seed when seed is None)."""
        s = cls()
        try:
            if repeat_penalty != 1.0 or frequency_penalty or presence_penalty:
                s.penalties(penalty_last_n, repeat_penalty, frequency_penalty, presence_penalty)
            if not temperature or temperature <= 0:
                s.greedy()
            else:
                if top_k and top_k > 0:
                    s.top_k(top_k)
                if top_p is not None and top_p < 1.0:
                    s.top_p(top_p)
                if min_p and min_p > 0:
                    s.min_p(min_p)
                s.temperature(temperature)
                s.dist(int.from_bytes(os.urandom(8), "little") if seed is None else seed)
        except BaseException:
            s.close()
            raise
        return s

    def _add(self, fn: str, *args) -> "Sampler":
        with self._lock:
            _call(fn, self._handle(), *args)
        return self

    def greedy(self) -> "Sampler":
        return self._add("lli_sampler_add_greedy")

    def temperature(self, temp: float) -> "Sampler":
        return self._add("lli_sampler_add_temperature", float(temp))

    def top_k(self, k: int) -> "Sampler":
        return self._add("lli_sampler_add_top_k", _int32(k, "top_k"))

    def top_p(self, p: float) -> "Sampler":
        return self._add("lli_sampler_add_top_p", float(p))

    def min_p(self, p: float) -> "Sampler":
        return self._add("lli_sampler_add_min_p", float(p))

    def penalties(self, last_n: int = 64, repeat: float = 1.0, frequency: float = 0.0,
                  presence: float = 0.0) -> "Sampler":
        return self._add("lli_sampler_add_penalties", _int32(last_n, "penalty_last_n"), float(repeat), float(frequency),
                         float(presence))

    def dist(self, seed: int) -> "Sampler":
        return self._add("lli_sampler_add_dist", int(seed) & 0xFFFFFFFFFFFFFFFF)

    def sample(self, ctx: "Context", entry: int) -> int:
        """Pick a token from one entry's logits of the context's last step."""
        out, ref = _out_p(ctypes.c_int32)
        with self._lock, ctx._lock:
            _call("lli_sampler_sample", self._handle(), ctx._handle(), int(entry), ref)
        return out.value

    def accept(self, token: int) -> None:
        """Record an accepted token (for the penalties' history)."""
        with self._lock:
            _call("lli_sampler_accept", self._handle(), int(token))

    def __repr__(self) -> str:
        return "<llminfer.Sampler (closed)>" if self.closed else "<llminfer.Sampler>"


class TextStream:
    """Turns tokens into text pieces as they come: UTF-8 characters split across tokens are held
    until complete, and text that may begin a stop string is held until it is known not to.

    push(token) returns the text that became final (maybe ""); `stopped` turns True when a stop
    string appeared (the text before it is returned, the rest dropped); flush() returns what is held."""

    def __init__(self, model, stop: Optional[Iterable[str]] = None):
        self._model = model
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stop = [s for s in (stop or ()) if s]
        self._held = ""
        self.stopped = False

    def push(self, token: int) -> str:
        return self.push_bytes(self._model.token_to_piece(token))

    def push_bytes(self, data: bytes) -> str:
        if self.stopped:
            return ""
        text = self._held + self._decoder.decode(data)
        if not self._stop:
            self._held = ""
            return text
        cut = min((i for i in (text.find(s) for s in self._stop) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self._held = ""
            return text[:cut]
        hold = 0  # the longest end of text that begins some stop string
        for s in self._stop:
            for k in range(min(len(s) - 1, len(text)), hold, -1):
                if text.endswith(s[:k]):
                    hold = k
                    break
        self._held = text[len(text) - hold:] if hold else ""
        return text[:len(text) - hold]

    def flush(self) -> str:
        if self.stopped:
            return ""
        text = self._held + self._decoder.decode(b"", final=True)
        self._held = ""
        return text


class Generation:
    """What generate() returns: an iterator over the generated text as it comes (pieces of whole UTF-8
    characters), which also tells, once it has ended:

    - finish_reason: "stop" (end of sequence, a stop token or a stop string) or "length" (max_tokens
      reached); None while it runs, or when it was closed before the end;
    - usage: {"prompt_tokens", "completion_tokens", "total_tokens"} (as far as it got);
    - timings: {"prompt_ms", "generation_ms", "prompt_tokens_per_s", "generation_tokens_per_s"}: the
      prompt's prefill, then sampling and decoding the completion (time spent by the caller between
      pieces is not counted);
    - text: everything yielded so far. read() consumes the rest and returns the whole text."""

    def __init__(self):
        self.finish_reason: Optional[str] = None
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.prompt_ns = 0
        self.generation_ns = 0
        self._pieces = []
        self._it: Optional[Iterator[str]] = None

    def __iter__(self) -> "Generation":
        return self

    def __next__(self) -> str:
        piece = next(self._it)
        self._pieces.append(piece)
        return piece

    def close(self) -> None:
        """Stop early, freeing what the generation holds (its KV sequence)."""
        self._it.close()

    def read(self) -> str:
        for _ in self:
            pass
        return self.text

    @property
    def text(self) -> str:
        return "".join(self._pieces)

    @property
    def usage(self) -> Dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}

    @property
    def timings(self) -> Dict[str, float]:
        def rate(n, ns):
            return n * 1e9 / ns if ns else 0.0
        return {"prompt_ms": self.prompt_ns / 1e6, "generation_ms": self.generation_ns / 1e6,
                "prompt_tokens_per_s": rate(self.prompt_tokens, self.prompt_ns),
                "generation_tokens_per_s": rate(self.completion_tokens, self.generation_ns)}

    def __repr__(self) -> str:
        return f"<llminfer.Generation finish_reason={self.finish_reason!r} usage={self.usage}>"


class Context(_Handle):
    """An inference context (lli_context) decoding into a KV cache.

    threads: compute threads; None takes LLMINFER_THREADS from the environment, else one per physical core.

    With kv None the context makes its own cache (kv_capacity tokens, kv_block_size, kv_type), owned
    and closed with it."""

    _kind = "context"
    _free = "lli_context_free"

    def __init__(self, model, kv: Optional[KVCache] = None, *, threads: Optional[int] = None, max_batch: int = 512,
                 kv_capacity: int = 4096, kv_block_size: int = 16, kv_type: str = "f16"):
        own = kv is None
        if own:
            kv = KVCache(model, kv_capacity, kv_block_size, kv_type)
        try:
            params = ctypes.c_void_p()
            _call("lli_context_params_create", ctypes.byref(params))
            try:
                _call("lli_context_params_set_threads", params, default_threads(threads))
                _call("lli_context_params_set_max_batch", params, int(max_batch))
                out = ctypes.c_void_p()
                _call("lli_context_create", model._handle(), kv._handle(), params, ctypes.byref(out))
            finally:
                _L.lli_context_params_free(params)
        except BaseException:
            if own:
                kv.close()
            raise
        super().__init__(out.value, lock=kv._lock, parents=(model, kv))  # decoding writes the cache: one lock
        self.model = model
        self.kv = kv
        self.max_batch = int(max_batch)
        self._own_kv = own
        self._n_vocab = model.n_vocab if not model.vocab_only else 0
        self._n_embd = model.n_embd
        self._batch: Optional[Batch] = None

    def _after_close(self) -> None:
        if self._batch is not None:
            self._batch.close()
        if self._own_kv:
            self.kv.close()

    def decode(self, batch: Batch) -> None:
        """Run one step over every entry of the batch. KVFullError if the cache lacks room (nothing
        changed)."""
        with self._lock, batch._lock:
            _call("lli_decode", self._handle(), batch._handle())

    def _ptr(self, fn: str, entry: int):
        p = ctypes.POINTER(ctypes.c_float)()
        _call(fn, self._handle(), int(entry), ctypes.byref(p))
        return p

    def logits(self, entry: int, out=None):
        """A copy of one entry's logits from the last step: array('f') of n_vocab floats, or written
        into `out` (a writable float32 buffer such as a numpy array) and `out` returned."""
        with self._lock:
            return _copy_floats(self._ptr("lli_get_logits", entry), self._n_vocab, out)

    def logits_view(self, entry: int) -> memoryview:
        """One entry's logits without a copy (memoryview of float32; numpy.frombuffer takes it). The
        memory is the context's: valid only until the next decode()."""
        with self._lock:
            return _view_floats(self._ptr("lli_get_logits", entry), self._n_vocab, self)

    def hidden(self, entry: int, out=None):
        """A copy of one entry's hidden state after the last loaded layer (n_embd floats), as logits()."""
        with self._lock:
            return _copy_floats(self._ptr("lli_get_hidden", entry), self._n_embd, out)

    def hidden_view(self, entry: int) -> memoryview:
        """One entry's hidden state without a copy, valid until the next decode()."""
        with self._lock:
            return _view_floats(self._ptr("lli_get_hidden", entry), self._n_embd, self)

    def stat(self, key: Union[str, int]) -> int:
        """One lli_context_stat() counter, by name (see CTX_STAT_KEYS) or number."""
        k = CTX_STAT_KEYS[key] if isinstance(key, str) else int(key)
        out, ref = _out_p(ctypes.c_int64)
        with self._lock:
            _call("lli_context_stat", self._handle(), k, ref)
        return out.value

    def stats(self) -> Dict[str, int]:
        """Every counter as a dict (steps, prefill/decode tokens, nanoseconds per phase)."""
        return {name: self.stat(k) for name, k in CTX_STAT_KEYS.items()}

    def reset_stats(self) -> None:
        with self._lock:
            _call("lli_context_stats_reset", self._handle())

    # -- generation --------------------------------------------------------------------------------
    def _step_batch(self) -> Batch:
        if self._batch is None or self._batch.closed:
            self._batch = Batch(self.max_batch)
        return self._batch

    def prefill(self, tokens: Sequence[int], seq: int, pos: int = 0) -> int:
        """Decode tokens of one sequence from position pos in steps of at most max_batch entries,
        keeping the last token's output. Returns its entry index in the last step."""
        tokens = [int(t) for t in tokens]
        if not tokens:
            raise ValueError("no tokens to decode")
        batch = self._step_batch()
        entry = 0
        for i in range(0, len(tokens), self.max_batch):
            chunk = tokens[i:i + self.max_batch]
            batch.clear()
            entry = batch.add_tokens(chunk, seq, pos + i, logits_last=(i + len(chunk) == len(tokens)))
            self.decode(batch)
        return entry

    def generate_tokens(self, prompt, max_tokens: int = 64, *, sampler: Optional[Sampler] = None,
                        stop_tokens: Optional[Iterable[int]] = None, seq: Optional[int] = None,
                        result: Optional[Generation] = None, **sampling) -> Iterator[int]:
        """Yield up to max_tokens generated token ids for a prompt (a str, tokenized with the model's
        special tokens, or token ids). Stops at the end-of-sequence token (or any of stop_tokens).

        A new sequence is made and freed when the generator ends or is closed, unless `seq` (an
        existing, empty or continued sequence) is given. Sampling options are those of
        Sampler.from_options(); a given sampler is used as it is. `result` (a Generation) gets the
        finish reason, token counts and times."""
        ids = self.model.tokenize(prompt) if isinstance(prompt, str) else [int(t) for t in prompt]
        if not ids:
            raise ValueError("the prompt gives no tokens")
        rec = result if result is not None else Generation()
        stops = set(stop_tokens) if stop_tokens is not None else ({self.model.eos} - {-1})
        own_sampler = sampler is None
        smp = Sampler.from_options(**sampling) if own_sampler else sampler
        own_seq = seq is None
        s = self.kv.create_seq() if own_seq else int(seq)
        try:
            pos = self.kv.length(s)
            t0 = time.perf_counter_ns()
            entry = self.prefill(ids, s, pos)
            rec.prompt_ns += time.perf_counter_ns() - t0
            rec.prompt_tokens += len(ids)
            pos += len(ids)
            batch = self._step_batch()
            if max_tokens <= 0:
                rec.finish_reason = "length"
                return
            for n in range(max_tokens):
                t0 = time.perf_counter_ns()
                tok = smp.sample(self, entry)
                if tok in stops:
                    rec.generation_ns += time.perf_counter_ns() - t0
                    rec.finish_reason = "stop"
                    return
                smp.accept(tok)
                rec.generation_ns += time.perf_counter_ns() - t0
                rec.completion_tokens += 1
                if n + 1 == max_tokens:
                    rec.finish_reason = "length"
                yield tok
                if n + 1 == max_tokens:
                    return
                t0 = time.perf_counter_ns()
                batch.clear()
                entry = batch.add(tok, s, pos, True)
                pos += 1
                self.decode(batch)
                rec.generation_ns += time.perf_counter_ns() - t0
        finally:
            if own_seq and not self.closed:
                self.kv.free(s)
            if own_sampler:
                smp.close()

    def generate(self, prompt, max_tokens: int = 64, *, stop: Optional[Iterable[str]] = None,
                 **options) -> Generation:
        """Generated text as it comes (pieces of whole UTF-8 characters), stopping at the end of
        sequence, after max_tokens tokens, or before any of the `stop` strings: a Generation, which
        iterates over the pieces and then tells finish_reason, usage and timings. Options: those of
        generate_tokens() (sampler, stop_tokens, seq) and Sampler.from_options() (temperature, top_k,
        top_p, min_p, seed, repeat_penalty, frequency_penalty, presence_penalty, penalty_last_n)."""
        result = Generation()
        result._it = self._generate_text(prompt, max_tokens, stop, result, options)
        return result

    def _generate_text(self, prompt, max_tokens, stop, result: Generation, options) -> Iterator[str]:
        if isinstance(stop, str):
            stop = [stop]
        stream = TextStream(self.model, stop)
        gen = self.generate_tokens(prompt, max_tokens, result=result, **options)
        try:
            for tok in gen:
                text = stream.push(tok)
                if text:
                    yield text
                if stream.stopped:
                    result.finish_reason = "stop"
                    return
            tail = stream.flush()
            if tail:
                yield tail
        finally:
            gen.close()

    def __repr__(self) -> str:
        return "<llminfer.Context (closed)>" if self.closed else f"<llminfer.Context max_batch={self.max_batch}>"
