"""Status codes and the exceptions that carry them."""
import os
from typing import Optional

from . import _lib

_L = _lib.load()

# Status codes, as in llminfer.h.
OK, E_INVALID_ARG, E_NOMEM, E_IO, E_FORMAT, E_CHECKSUM, E_MISMATCH, E_UNSUPPORTED = range(8)
E_NOT_IMPLEMENTED, E_KV_FULL, E_BACKEND, E_CANCELLED, E_BUFFER_TOO_SMALL, E_INTERNAL = range(8, 14)


def status_str(status: int) -> str:
    """The library's short description of a status code ("unknown status" for unknown values)."""
    return _L.lli_status_str(int(status)).decode()


class LLMInferError(Exception):
    """A libllminfer call failed (the base of every error the library reports).

    `status` is the code (compare with the E_ constants), `status_name` its short description,
    `message` the library's detailed message and `function` the C function that failed (or None)."""

    def __init__(self, status: int, message: str, function: Optional[str] = None):
        self.status = status
        self.status_name = status_str(status)
        self.message = message
        self.function = function
        super().__init__(f"{self.status_name}: {message}")

    def __reduce__(self):
        return (error_for, (self.status, self.message, self.function))


class InvalidArgumentError(LLMInferError, ValueError): pass
class NoMemoryError(LLMInferError, MemoryError): pass
class InputOutputError(LLMInferError, OSError): pass
class FormatError(LLMInferError): pass
class ChecksumError(FormatError): pass
class MismatchError(LLMInferError): pass
class UnsupportedError(LLMInferError): pass
class UnimplementedError(LLMInferError, NotImplementedError): pass
class KVFullError(LLMInferError): pass
class BackendError(LLMInferError): pass
class CancelledError(LLMInferError): pass
class InternalError(LLMInferError): pass

# The first names, kept so that code written against them works on: Error is the base, IOError_ and
# NotImplementedError_ (named with a trailing underscore to avoid the builtins) the same classes.
Error = LLMInferError
IOError_ = InputOutputError
NotImplementedError_ = UnimplementedError


class BufferTooSmallError(LLMInferError):
    """A caller's buffer was too small; `needed` is the size the library asked for, when known."""

    def __init__(self, status: int, message: str, function: Optional[str] = None, needed: Optional[int] = None):
        super().__init__(status, message, function)
        self.needed = needed


_ERRORS = {E_INVALID_ARG: InvalidArgumentError, E_NOMEM: NoMemoryError, E_IO: InputOutputError, E_FORMAT: FormatError,
           E_CHECKSUM: ChecksumError, E_MISMATCH: MismatchError, E_UNSUPPORTED: UnsupportedError,
           E_NOT_IMPLEMENTED: UnimplementedError, E_KV_FULL: KVFullError, E_BACKEND: BackendError,
           E_CANCELLED: CancelledError, E_BUFFER_TOO_SMALL: BufferTooSmallError, E_INTERNAL: InternalError}


def error_for(status: int, message: str, function: Optional[str] = None) -> LLMInferError:
    """The exception object for a status (the typed subclass when there is one)."""
    return _ERRORS.get(status, LLMInferError)(status, message, function)


def _check(status: int, function: Optional[str] = None) -> None:
    if status != OK:
        message = _L.lli_last_error().decode(errors="replace")
        raise error_for(status, message, function)


def _path(p) -> bytes:
    return os.fsencode(os.fspath(p))


def _call(name: str, *args) -> None:
    """Call the C function `name` and raise its typed error (naming the function) if it fails."""
    status = getattr(_L, name)(*args)
    if status != OK:
        _check(status, name)
