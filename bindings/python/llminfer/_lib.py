"""Finding libllminfer and declaring its functions for ctypes."""
import ctypes
import ctypes.util
import os
from pathlib import Path

c_status = ctypes.c_int
PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p)
VERIFY_FN = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)

_P = ctypes.c_void_p
_PP = ctypes.POINTER(ctypes.c_void_p)
_I64P = ctypes.POINTER(ctypes.c_int64)
_STRP = ctypes.POINTER(ctypes.c_char_p)

# name: (restype, argtypes)
_SIGNATURES = {
    "lli_status_str": (ctypes.c_char_p, [c_status]),
    "lli_last_error": (ctypes.c_char_p, []),
    "lli_version": (ctypes.c_char_p, []),
    "lli_abi_version": (ctypes.c_int, []),
    "lli_model_params_create": (c_status, [_PP]),
    "lli_model_params_free": (None, [_P]),
    "lli_model_params_set_backend": (c_status, [_P, ctypes.c_int]),
    "lli_model_params_set_threads": (c_status, [_P, ctypes.c_int]),
    "lli_model_params_set_verify": (c_status, [_P, ctypes.c_int]),
    "lli_model_params_set_expected_arch": (c_status, [_P, ctypes.c_char_p]),
    "lli_model_params_set_layer_range": (c_status, [_P, ctypes.c_int, ctypes.c_int]),
    "lli_model_params_set_vocab_only": (c_status, [_P, ctypes.c_int]),
    "lli_model_params_set_progress": (c_status, [_P, PROGRESS_FN, _P]),
    "lli_model_load": (c_status, [ctypes.c_char_p, _P, _PP]),
    "lli_model_free": (None, [_P]),
    "lli_model_info_int": (c_status, [_P, ctypes.c_int, _I64P]),
    "lli_model_info_str": (c_status, [_P, ctypes.c_int, _STRP]),
    "lli_model_tensor_info": (c_status, [_P, ctypes.c_int64, _STRP, _STRP, ctypes.POINTER(ctypes.c_int),
                                         ctypes.POINTER(ctypes.c_int64 * 4), ctypes.POINTER(ctypes.c_uint64)]),
    "lli_model_verify": (c_status, [ctypes.c_char_p, ctypes.c_int, VERIFY_FN, _P]),
    "lli_convert_params_create": (c_status, [_PP]),
    "lli_convert_params_free": (None, [_P]),
    "lli_convert_params_set_compression": (c_status, [_P, ctypes.c_int, ctypes.c_int]),
    "lli_convert_params_set_threads": (c_status, [_P, ctypes.c_int]),
    "lli_convert_params_set_progress": (c_status, [_P, PROGRESS_FN, _P]),
    "lli_convert_gguf": (c_status, [ctypes.c_char_p, ctypes.c_char_p, _P]),
    "lli_tokenize": (c_status, [_P, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                                ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]),
    "lli_token_to_piece": (c_status, [_P, ctypes.c_int32, ctypes.c_char_p, ctypes.c_size_t,
                                      ctypes.POINTER(ctypes.c_size_t)]),
    "lli_detokenize": (c_status, [_P, ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.c_int, ctypes.c_char_p,
                                  ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]),
}


def _candidates():
    env = os.environ.get("LLMINFER_LIBRARY")
    if env:
        # An explicit choice is the only one tried: silently loading another library would hide
        # the mistake.
        return [env], True
    found = []
    for parent in Path(__file__).resolve().parents:
        lib = parent / "build" / "libllminfer.so"
        if lib.exists():
            found.append(str(lib))
            break
    found.append(ctypes.util.find_library("llminfer") or "libllminfer.so.1")
    return found, False


def load():
    """Load the library and declare every wrapped function; raise OSError naming where it looked."""
    paths, explicit = _candidates()
    errors = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            errors.append(f"{path}: {exc}")
            continue
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        return lib
    origin = "LLMINFER_LIBRARY" if explicit else "the build tree and the system loader path"
    raise OSError(f"libllminfer not found (looked in {origin}): " + "; ".join(errors))
