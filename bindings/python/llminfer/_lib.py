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
_I32P = ctypes.POINTER(ctypes.c_int32)
_F32P = ctypes.POINTER(ctypes.c_float)
_SIZEP = ctypes.POINTER(ctypes.c_size_t)

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
    "lli_model_params_set_in_place": (c_status, [_P, ctypes.c_int]),
    "lli_model_params_set_progress": (c_status, [_P, PROGRESS_FN, _P]),
    "lli_model_load": (c_status, [ctypes.c_char_p, _P, _PP]),
    "lli_gguf_cache_entry": (c_status, [ctypes.c_char_p, ctypes.c_char_p, _P, ctypes.c_char_p, ctypes.c_size_t, _SIZEP]),
    "lli_model_load_gguf": (c_status, [ctypes.c_char_p, ctypes.c_char_p, _P, _P, _PP, ctypes.POINTER(ctypes.c_int)]),
    "lli_chat_format": (c_status, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p),
                                   ctypes.c_size_t, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, _SIZEP]),
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
    # KV cache
    "lli_kv_cache_params_create": (c_status, [_PP]),
    "lli_kv_cache_params_free": (None, [_P]),
    "lli_kv_cache_params_set_capacity": (c_status, [_P, ctypes.c_int64]),
    "lli_kv_cache_params_set_block_size": (c_status, [_P, ctypes.c_int]),
    "lli_kv_cache_params_set_type": (c_status, [_P, ctypes.c_int]),
    "lli_kv_cache_params_set_prefix_cache": (c_status, [_P, ctypes.c_int]),
    "lli_kv_cache_create": (c_status, [_P, _P, _PP]),
    "lli_kv_cache_free": (None, [_P]),
    "lli_kv_seq_create": (c_status, [_P, _I32P]),
    "lli_kv_seq_create_with_prefix": (c_status, [_P, _I32P, ctypes.c_int64, _I32P, _I64P]),
    "lli_kv_seq_free": (c_status, [_P, ctypes.c_int32]),
    "lli_kv_seq_fork": (c_status, [_P, ctypes.c_int32, _I32P]),
    "lli_kv_seq_truncate": (c_status, [_P, ctypes.c_int32, ctypes.c_int64]),
    "lli_kv_seq_length": (c_status, [_P, ctypes.c_int32, _I64P]),
    "lli_kv_free_blocks": (c_status, [_P, _I64P]),
    "lli_kv_seq_fits": (c_status, [_P, ctypes.c_int32, ctypes.c_int64, ctypes.POINTER(ctypes.c_int)]),
    "lli_kv_seq_blocks": (c_status, [_P, ctypes.c_int32, _I64P]),
    "lli_kv_stat": (c_status, [_P, ctypes.c_int, _I64P]),
    "lli_kv_seq_save": (c_status, [_P, ctypes.c_int32, ctypes.c_char_p]),
    "lli_kv_seq_restore": (c_status, [_P, ctypes.c_char_p, _I32P]),
    "lli_kv_seq_save_buffer": (c_status, [_P, ctypes.c_int32, _P, ctypes.c_size_t, _SIZEP]),
    "lli_kv_seq_restore_buffer": (c_status, [_P, _P, ctypes.c_size_t, _I32P]),
    "lli_kv_state_load": (c_status, [ctypes.c_char_p, ctypes.c_int, _PP]),
    "lli_kv_state_wait": (c_status, [_P]),
    "lli_kv_state_length": (c_status, [_P, _I64P]),
    "lli_kv_seq_restore_state": (c_status, [_P, _P, _I32P]),
    "lli_kv_state_free": (None, [_P]),
    # Contexts, batches, decoding
    "lli_context_params_create": (c_status, [_PP]),
    "lli_context_params_free": (None, [_P]),
    "lli_context_params_set_threads": (c_status, [_P, ctypes.c_int]),
    "lli_context_params_set_max_batch": (c_status, [_P, ctypes.c_int]),
    "lli_context_create": (c_status, [_P, _P, _P, _PP]),
    "lli_context_free": (None, [_P]),
    "lli_batch_create": (c_status, [ctypes.c_int32, _PP]),
    "lli_batch_free": (None, [_P]),
    "lli_batch_clear": (c_status, [_P]),
    "lli_batch_add": (c_status, [_P, ctypes.c_int32, ctypes.c_int32, ctypes.c_int64, ctypes.c_int]),
    "lli_batch_set_hidden": (c_status, [_P, _F32P, ctypes.c_int64]),
    "lli_batch_size": (c_status, [_P, _I32P]),
    "lli_decode": (c_status, [_P, _P]),
    "lli_get_logits": (c_status, [_P, ctypes.c_int32, ctypes.POINTER(_F32P)]),
    "lli_get_hidden": (c_status, [_P, ctypes.c_int32, ctypes.POINTER(_F32P)]),
    "lli_context_stat": (c_status, [_P, ctypes.c_int, _I64P]),
    "lli_context_stats_reset": (c_status, [_P]),
    # Samplers
    "lli_sampler_create": (c_status, [_PP]),
    "lli_sampler_free": (None, [_P]),
    "lli_sampler_add_greedy": (c_status, [_P]),
    "lli_sampler_add_temperature": (c_status, [_P, ctypes.c_float]),
    "lli_sampler_add_top_k": (c_status, [_P, ctypes.c_int32]),
    "lli_sampler_add_top_p": (c_status, [_P, ctypes.c_float]),
    "lli_sampler_add_min_p": (c_status, [_P, ctypes.c_float]),
    "lli_sampler_add_penalties": (c_status, [_P, ctypes.c_int32, ctypes.c_float, ctypes.c_float, ctypes.c_float]),
    "lli_sampler_add_dist": (c_status, [_P, ctypes.c_uint64]),
    "lli_sampler_sample": (c_status, [_P, _P, ctypes.c_int32, _I32P]),
    "lli_sampler_accept": (c_status, [_P, ctypes.c_int32]),
    # The C scheduler (the header's experimental section: it may still change). Declared so that it
    # can be called through the loaded library; llminfer.scheduler is the Python scheduler.
    "lli_sched_params_create": (c_status, [_PP]),
    "lli_sched_params_free": (None, [_P]),
    "lli_sched_params_set_budget": (c_status, [_P, ctypes.c_int32]),
    "lli_sched_params_set_max_running": (c_status, [_P, ctypes.c_int32]),
    "lli_sched_params_set_preempt": (c_status, [_P, ctypes.c_int]),
    "lli_sched_params_set_prefix_cache": (c_status, [_P, ctypes.c_int]),
    "lli_sched_create": (c_status, [_P, _P, _PP]),
    "lli_sched_free": (None, [_P]),
    "lli_sched_add": (c_status, [_P, _I32P, ctypes.c_int64, ctypes.c_int64, _I64P]),
    "lli_sched_step": (c_status, [_P, _P, _I32P]),
    "lli_sched_ready": (c_status, [_P, ctypes.c_int32, _I64P, _I32P]),
    "lli_sched_append": (c_status, [_P, ctypes.c_int64, ctypes.c_int32]),
    "lli_sched_finish": (c_status, [_P, ctypes.c_int64]),
    "lli_sched_stat": (c_status, [_P, ctypes.c_int, _I64P]),
    "lli_sched_request_stat": (c_status, [_P, ctypes.c_int64, ctypes.c_int, _I64P]),
}

#: Every C function the package binds, by name.
BOUND = frozenset(_SIGNATURES)


#: Bound functions the loaded library lacks (an older release); calling one raises OSError.
MISSING = set()


def _missing(name, path):
    def call(*_args):
        raise OSError(f"{name} is not exported by {path} (an older libllminfer?)")
    call.__name__ = name
    return call


#: The ABI these declarations were written for (LLI_ABI_VERSION of include/llminfer.h, which a test
#: keeps equal): a library reporting another lli_abi_version() is refused rather than called wrongly.
ABI_VERSION = 1

#: Where the package keeps its own copy of the library (pip install puts it there).
PACKAGE_LIBRARY = Path(__file__).resolve().parent / "libllminfer.so"


def _candidates():
    """(paths to try in order, whether the user chose the one path)."""
    env = os.environ.get("LLMINFER_LIBRARY")
    if env:
        # An explicit choice is the only one tried: silently loading another library would hide
        # the mistake.
        return [env], True
    found = [str(PACKAGE_LIBRARY)]
    for parent in Path(__file__).resolve().parents:  # a source checkout's build/ folder
        lib = parent / "build" / "libllminfer.so"
        if lib.exists():
            found.append(str(lib))
            break
    found.append(ctypes.util.find_library("llminfer") or "libllminfer.so.1")  # the system's loader path
    return found, False


def load():
    """Load the library and declare every wrapped function. The order: LLMINFER_LIBRARY (alone, when
    set), the package's own copy, a source checkout's build tree, the system loader's path. Raise
    OSError naming LLMINFER_LIBRARY and every place tried."""
    paths, explicit = _candidates()
    errors = []
    for path in paths:
        if not explicit and os.sep in path and not os.path.exists(path):
            errors.append(f"{path}: no such file")
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            errors.append(f"{path}: {exc}")
            continue
        try:
            abi = lib.lli_abi_version
        except AttributeError:
            errors.append(f"{path}: not libllminfer (no lli_abi_version)")
            continue
        abi.restype, abi.argtypes = ctypes.c_int, []
        if abi() != ABI_VERSION:
            errors.append(f"{path}: ABI version {abi()}, these bindings need {ABI_VERSION}")
            continue
        for name, (restype, argtypes) in _SIGNATURES.items():
            try:
                fn = getattr(lib, name)
            except AttributeError:
                # An older library without this function: calling it says so instead of crashing
                # at import, so that everything else keeps working.
                setattr(lib, name, _missing(name, path))
                MISSING.add(name)
                continue
            fn.restype = restype
            fn.argtypes = argtypes
        lib._path = path
        return lib
    if explicit:
        where = "LLMINFER_LIBRARY names it; unset it to search the package, the build tree and the system"
    else:
        where = ("set LLMINFER_LIBRARY to the path of libllminfer.so, or install the package with pip so that "
                 "it carries its own copy")
    raise OSError(f"libllminfer could not be loaded ({where}); tried: " + "; ".join(errors))
