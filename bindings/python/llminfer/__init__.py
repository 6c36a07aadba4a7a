"""Python bindings for libllminfer through ctypes. `pip install ./bindings/python` builds the library
and puts a copy in the package; see _lib.load() for where else it is looked for.

>>> import llminfer
>>> with llminfer.Model.load("models/smollm2-135m") as m:
...     print(m.arch, m.n_layer)
"""
import ctypes
import os
from dataclasses import dataclass
from typing import Callable, Iterator, List, NamedTuple, Optional, Tuple

from . import _lib
from ._engine import _Handle

__all__ = ["__version__", "version", "abi_version", "library_path", "Model", "Tensor", "convert", "verify",
           "VerifyReport", "Check", "LLMInferError", "InvalidArgumentError", "NoMemoryError", "InputOutputError",
           "FormatError", "ChecksumError", "MismatchError", "UnsupportedError", "UnimplementedError", "KVFullError",
           "BackendError", "CancelledError", "BufferTooSmallError", "InternalError", "Error", "IOError_",
           "NotImplementedError_", "error_for", "status_str", "KVCache", "KVState", "Context", "Batch", "Sampler",
           "TextStream", "Generation", "ChatFormatError", "format_chat", "KV_STAT_KEYS", "CTX_STAT_KEYS",
           "bound_functions"]

from ._errors import (OK, E_INVALID_ARG, E_NOMEM, E_IO, E_FORMAT, E_CHECKSUM, E_MISMATCH, E_UNSUPPORTED,  # noqa: F401
                      E_NOT_IMPLEMENTED, E_KV_FULL, E_BACKEND, E_CANCELLED, E_BUFFER_TOO_SMALL, E_INTERNAL,
                      LLMInferError, InvalidArgumentError, NoMemoryError, InputOutputError, FormatError,
                      ChecksumError, MismatchError, UnsupportedError, UnimplementedError, KVFullError, BackendError,
                      CancelledError, BufferTooSmallError, InternalError, Error, IOError_, NotImplementedError_,
                      error_for, status_str, _L, _check, _call, _path)

try:  # written by the meson build of the package: meson.build's project version
    from ._version import version as __version__
except ImportError:  # the source tree: the library built beside it has the same version
    __version__ = _L.lli_version().decode()

_BACKENDS = {"auto": 0, "cpu": 1, "cuda": 2}
_COMPRESSION = {"none": 0, "zstd": 1}


def version() -> str:
    """The loaded library's version, "MAJOR.MINOR.PATCH"."""
    return _L.lli_version().decode()


def abi_version() -> int:
    """The loaded library's ABI version."""
    return _L.lli_abi_version()


def library_path() -> str:
    """The path (or name) of the libllminfer that was loaded."""
    return _L._path


class _Progress:
    """Wraps a Python progress callback for C: exceptions are kept and re-raised after the call,
    never thrown through C frames."""

    def __init__(self, fn: Optional[Callable[[int, int], Optional[bool]]]):
        self.fn = fn
        self.error: Optional[BaseException] = None
        self.c_fn = _lib.PROGRESS_FN(self._call) if fn else _lib.PROGRESS_FN()

    def _call(self, done, total, _user):
        try:
            return 0 if self.fn(done, total) is False else 1
        except BaseException as exc:  # noqa: BLE001 - re-raised after the C call returns
            self.error = exc
            return 0

    def finish(self, status: int) -> None:
        if self.error is not None:
            raise self.error
        _check(status)


class Tensor(NamedTuple):
    """One loaded tensor: name, type name ("q4_1"), shape (innermost first) and size in bytes."""
    name: str
    type: str
    shape: Tuple[int, ...]
    bytes: int


_INT_KEYS = {"n_layer": 1, "n_embd": 2, "n_ff": 3, "n_head": 4, "n_head_kv": 5, "head_dim": 6, "n_vocab": 7,
             "n_ctx_train": 8, "n_tensors": 9, "bytes": 10, "layer_first": 11, "layer_last": 12, "vocab_only": 13,
             "backend_id": 14, "n_fragments": 15, "sliding_window": 16, "bos": 17, "eos": 18}
_STR_KEYS = {"arch": 257, "family": 258, "name": 259, "model_id": 260, "tokenizer_kind": 261, "chat_template": 262,
             "cpu_isa": 263}


class Model(_Handle):
    """A loaded model. Use `Model.load()`; close it with `close()` or a `with` block. Closing it
    closes the caches and contexts made from it first; further use raises ValueError."""

    _kind = "model"
    _free = "lli_model_free"

    @classmethod
    def load(cls, path, *, backend: str = "auto", threads: int = 0, verify: bool = True,
             expected_arch: Optional[str] = None, layer_range: Optional[Tuple[int, int]] = None,
             vocab_only: bool = False, progress: Optional[Callable[[int, int], Optional[bool]]] = None,
             cache_dir: Optional[str] = None, in_place: bool = False) -> "Model":
        """Load a fragment model directory, or a GGUF file (converted once into a cache directory,
        `cache_dir` or $XDG_CACHE_HOME/llminfer, and loaded from there after: lli_model_load_gguf),
        verifying every fragment unless `verify` is False. `in_place` uses uncompressed fragments
        from the page cache instead of copying them (lli_model_params_set_in_place).

        `progress(done, total)` gets bytes processed; returning False cancels (CancelledError)."""
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {sorted(_BACKENDS)}, not {backend!r}")
        params = ctypes.c_void_p()
        _check(_L.lli_model_params_create(ctypes.byref(params)))
        prog = _Progress(progress)
        try:
            _check(_L.lli_model_params_set_backend(params, _BACKENDS[backend]))
            _check(_L.lli_model_params_set_threads(params, threads))
            _check(_L.lli_model_params_set_verify(params, int(bool(verify))))
            if expected_arch:
                _check(_L.lli_model_params_set_expected_arch(params, expected_arch.encode()))
            if layer_range is not None:
                _check(_L.lli_model_params_set_layer_range(params, int(layer_range[0]), int(layer_range[1])))
            _check(_L.lli_model_params_set_vocab_only(params, int(bool(vocab_only))))
            _check(_L.lli_model_params_set_in_place(params, int(bool(in_place))))
            _check(_L.lli_model_params_set_progress(params, prog.c_fn, None))
            handle = ctypes.c_void_p()
            if os.path.isfile(path):  # a GGUF file: the library converts and caches it
                status = _L.lli_model_load_gguf(_path(path), _path(cache_dir) if cache_dir is not None else None, None,
                                                params, ctypes.byref(handle), None)
            else:
                status = _L.lli_model_load(_path(path), params, ctypes.byref(handle))
        finally:
            _L.lli_model_params_free(params)
        prog.finish(status)
        return cls(handle.value)

    def _int(self, key: str) -> int:
        out = ctypes.c_int64()
        _check(_L.lli_model_info_int(self._handle(), _INT_KEYS[key], ctypes.byref(out)))
        return out.value

    def _str(self, key: str) -> str:
        out = ctypes.c_char_p()
        _check(_L.lli_model_info_str(self._handle(), _STR_KEYS[key], ctypes.byref(out)))
        return (out.value or b"").decode(errors="replace")

    def tensors(self) -> List[Tensor]:
        """Every loaded tensor, in manifest order."""
        result = []
        for i in range(self._int("n_tensors")):
            name, type_ = ctypes.c_char_p(), ctypes.c_char_p()
            n_dims, dims, size = ctypes.c_int(), (ctypes.c_int64 * 4)(), ctypes.c_uint64()
            _check(_L.lli_model_tensor_info(self._handle(), i, ctypes.byref(name), ctypes.byref(type_),
                                            ctypes.byref(n_dims), ctypes.byref(dims), ctypes.byref(size)))
            result.append(Tensor(name.value.decode(), type_.value.decode(), tuple(dims[:n_dims.value]), size.value))
        return result

    @property
    def layer_range(self) -> Tuple[int, int]:
        """The loaded layers [first, last)."""
        return self._int("layer_first"), self._int("layer_last")

    @property
    def backend(self) -> str:
        """"cpu" or "cuda"."""
        return {1: "cpu", 2: "cuda"}.get(self._int("backend_id"), "unknown")

    def info(self) -> dict:
        """All facts about the model as a dict."""
        d = {k: self._int(k) for k in _INT_KEYS if k != "backend_id"}
        d.update({k: self._str(k) for k in _STR_KEYS})
        d["vocab_only"] = bool(d["vocab_only"])
        d["backend"] = self.backend
        d["layer_range"] = self.layer_range
        return d

    def tokenize(self, text, add_special: bool = True, parse_special: bool = False) -> List[int]:
        """Token ids of `text` (str or bytes). add_special adds the model's BOS/EOS as its tokenizer
        says; parse_special turns special-token texts such as "<|im_start|>" into their tokens."""
        data = text.encode() if isinstance(text, str) else bytes(text)
        need = ctypes.c_size_t()
        st = _L.lli_tokenize(self._handle(), data, len(data), int(add_special), int(parse_special), None, 0,
                             ctypes.byref(need))
        if st not in (OK, E_BUFFER_TOO_SMALL):
            _check(st)
        buf = (ctypes.c_int32 * max(need.value, 1))()
        _check(_L.lli_tokenize(self._handle(), data, len(data), int(add_special), int(parse_special), buf, need.value,
                               ctypes.byref(need)))
        return list(buf[:need.value])

    def token_to_piece(self, token: int) -> bytes:
        """The bytes one token stands for (a piece may be part of a UTF-8 character)."""
        buf = ctypes.create_string_buffer(256)
        n = ctypes.c_size_t()
        st = _L.lli_token_to_piece(self._handle(), int(token), buf, 256, ctypes.byref(n))
        if st == E_BUFFER_TOO_SMALL and n.value > 256:
            buf = ctypes.create_string_buffer(n.value)
            st = _L.lli_token_to_piece(self._handle(), int(token), buf, n.value, ctypes.byref(n))
        _check(st, "lli_token_to_piece")
        return buf.raw[:n.value]

    def detokenize(self, tokens, remove_special: bool = False) -> str:
        """Text of a token sequence; invalid UTF-8 is replaced."""
        tokens = [int(t) for t in tokens]  # lists, tuples, numpy arrays
        ids = (ctypes.c_int32 * max(len(tokens), 1))(*tokens)
        need = ctypes.c_size_t()
        st = _L.lli_detokenize(self._handle(), ids, len(tokens), int(remove_special), None, 0, ctypes.byref(need))
        if st not in (OK, E_BUFFER_TOO_SMALL):
            _check(st)
        buf = ctypes.create_string_buffer(max(need.value, 1))
        _check(_L.lli_detokenize(self._handle(), ids, len(tokens), int(remove_special), buf, need.value,
                                 ctypes.byref(need)))
        return buf.raw[:need.value].decode(errors="replace")

    # -- inference -----------------------------------------------------------------------------------
    def kv_cache(self, capacity: int = 4096, block_size: int = 16, type: str = "f16",
                 prefix_cache: Optional[bool] = None) -> "KVCache":
        """A KV cache for this model (see KVCache)."""
        return KVCache(self, capacity, block_size, type, prefix_cache)

    def context(self, kv: Optional["KVCache"] = None, **options) -> "Context":
        """An inference context (see Context); with no cache it makes and owns one."""
        return Context(self, kv, **options)

    def apply_chat_template(self, messages, add_generation_prompt: bool = True) -> str:
        """The prompt text for a conversation ([{"role": "user", "content": "..."}, ...]) in this
        model's chat format; ChatFormatError if the format is not one the library knows."""
        return format_chat(self.chat_template, messages, add_generation_prompt)

    def chat_stop_tokens(self) -> set:
        """Tokens that end a turn: end of sequence and the chat format's end marker."""
        stops = {self.eos} - {-1}
        for marker in _chat.end_markers(self.chat_template):
            ids = self.tokenize(marker, add_special=False, parse_special=True)
            if len(ids) == 1:
                stops.add(ids[0])
        return stops

    def prompt_tokens(self, prompt, chat: bool = False) -> List[int]:
        """Token ids for generation: a str prompt (with chat, the user message of a conversation),
        a list of chat messages (dicts), or token ids as they are."""
        if isinstance(prompt, str) and not chat:
            return self.tokenize(prompt)
        if isinstance(prompt, str) or (prompt and isinstance(prompt[0], dict)):
            messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
            return self.tokenize(self.apply_chat_template(messages), add_special=True, parse_special=True)
        return [int(t) for t in prompt]

    def generate(self, prompt, max_tokens: int = 64, *, chat: bool = False, threads: Optional[int] = None,
                 max_batch: int = 64, stop=None, **sampling) -> "Generation":
        """Stream generated text for a prompt: returns a Generation, which yields pieces of text (whole
        UTF-8 characters) as the tokens come and then tells finish_reason ("stop" or "length"),
        usage (prompt and completion tokens) and timings. `prompt` is a str, token ids, or chat
        messages (a list of dicts, or a str with chat=True: formatted with the model's chat template
        and stopped at its end marker).

        Sampling: temperature (0, the default, is greedy), top_k, top_p, min_p, seed,
        repeat_penalty, frequency_penalty, presence_penalty; `stop` strings end the text before them.
        A KV cache and context just large enough are made and freed when the generation ends."""
        result = Generation()
        result._it = self._generate(prompt, max_tokens, chat, threads, max_batch, stop, sampling, result)
        return result

    def _generate(self, prompt, max_tokens, chat, threads, max_batch, stop, sampling, result) -> Iterator[str]:
        is_chat = chat or (not isinstance(prompt, str) and prompt and isinstance(prompt[0], dict))
        ids = self.prompt_tokens(prompt, chat)
        stop_tokens = self.chat_stop_tokens() if is_chat else None
        ctx = Context(self, threads=threads, max_batch=max(1, min(max_batch, len(ids))),
                      kv_capacity=len(ids) + max_tokens + 16)
        try:
            gen = ctx._generate_text(ids, max_tokens, stop, result, dict(sampling, stop_tokens=stop_tokens))
            try:
                yield from gen
            finally:
                gen.close()
        finally:
            ctx.close()

    def complete(self, prompt, max_tokens: int = 64, **options) -> str:
        """generate()'s text joined: the whole completion as one str."""
        return "".join(self.generate(prompt, max_tokens, **options))

    def chat(self, messages, max_tokens: int = 256, **options) -> "Generation":
        """Stream the assistant's reply to a conversation (a list of role/content dicts, or one user
        message as a str)."""
        return self.generate(messages, max_tokens, chat=True, **options)

    def __repr__(self) -> str:
        if self._h is None:
            return "<llminfer.Model (closed)>"
        return f"<llminfer.Model {self.arch} {self.n_layer} layers, {self.bytes} bytes>"


def _int_property(key):
    return property(lambda self: self._int(key), doc=f"Model fact {key!r}.")


def _str_property(key):
    return property(lambda self: self._str(key), doc=f"Model fact {key!r}.")


for _k in _INT_KEYS:
    if _k not in ("backend_id", "vocab_only", "layer_first", "layer_last"):
        setattr(Model, _k, _int_property(_k))
for _k in _STR_KEYS:
    setattr(Model, _k, _str_property(_k))
Model.vocab_only = property(lambda self: bool(self._int("vocab_only")), doc="True if no weights were loaded.")


def convert(gguf_path, out_dir, *, compression: str = "none", level: int = 0, threads: int = 0,
            progress: Optional[Callable[[int, int], Optional[bool]]] = None) -> None:
    """Convert a GGUF file into a fragment model directory (which must not exist yet)."""
    if compression not in _COMPRESSION:
        raise ValueError(f"compression must be 'none' or 'zstd', not {compression!r}")
    params = ctypes.c_void_p()
    _check(_L.lli_convert_params_create(ctypes.byref(params)))
    prog = _Progress(progress)
    try:
        _check(_L.lli_convert_params_set_compression(params, _COMPRESSION[compression], level))
        _check(_L.lli_convert_params_set_threads(params, threads))
        _check(_L.lli_convert_params_set_progress(params, prog.c_fn, None))
        status = _L.lli_convert_gguf(_path(gguf_path), _path(out_dir), params)
    finally:
        _L.lli_convert_params_free(params)
    prog.finish(status)


class Check(NamedTuple):
    """One check of `verify()`."""
    name: str
    ok: bool
    detail: str


@dataclass
class VerifyReport:
    """What `verify()` found: every check, in order."""
    checks: List[Check]
    status: int
    message: str

    @property
    def ok(self) -> bool:
        return self.status == OK and all(c.ok for c in self.checks)

    def __iter__(self):
        return iter(self.checks)

    def failed(self) -> List[Check]:
        return [c for c in self.checks if not c.ok]


def verify(path, threads: int = 0) -> VerifyReport:
    """Check a model directory (manifest, fragments, architecture, shapes, checksums). A failed check
    is reported, not raised; only bad arguments raise."""
    checks: List[Check] = []

    def record(check, ok, detail, _user):
        checks.append(Check(check.decode(errors="replace"), bool(ok), detail.decode(errors="replace")))

    fn = _lib.VERIFY_FN(record)
    status = _L.lli_model_verify(_path(path), threads, fn, None)
    if status == E_INVALID_ARG:
        _check(status)
    message = _L.lli_last_error().decode(errors="replace") if status else ""
    return VerifyReport(checks, status, message)


from ._engine import (KVCache, KVState, Context, Batch, Sampler, TextStream, Generation,  # noqa: E402
                      KV_STAT_KEYS, CTX_STAT_KEYS, KV_TYPES)
from . import chat as _chat  # noqa: E402
from .chat import ChatFormatError, format_chat  # noqa: E402


def bound_functions() -> frozenset:
    """The names of every C function the package binds (all of llminfer.h's)."""
    return _lib.BOUND
