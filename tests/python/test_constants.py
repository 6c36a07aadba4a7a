"""Every number the Python package passes to the library equals the header's: status codes, info
and statistics keys, types and modes. They are written twice (the header, and dicts here, since
ctypes cannot read a header), so this test is what keeps the two the same."""
import re

import pytest

import llminfer
from llminfer import _engine, _errors, scheduler
from conftest import ROOT


@pytest.fixture(scope="module")
def header():
    text = (ROOT / "include" / "llminfer.h").read_text()
    values = {m[0]: int(m[1]) for m in re.findall(r"^#define (LLI_\w+) (-?\d+)\s*$", text, re.M)}
    values.update({m[0]: int(m[1]) for m in re.findall(r"^\s+(LLI_\w+) = (\d+),?", text, re.M)})
    assert len(values) > 80
    return values


def check(py: dict, header: dict, prefix: str, rename=None):
    rename = rename or {}
    for name, value in py.items():
        c_name = prefix + rename.get(name, name).upper()
        assert c_name in header, f"{name}: the header has no {c_name}"
        assert header[c_name] == value, f"{name} = {value} here, {c_name} = {header[c_name]} in the header"


def test_status_codes(header):
    codes = {name: getattr(_errors, name) for name in dir(_errors) if re.fullmatch(r"E_[A-Z_]+|OK", name)}
    assert len(codes) == 14
    check({n: v for n, v in codes.items() if n != "OK"}, header, "LLI_")
    assert _errors.OK == header["LLI_OK"]
    # Every status of the header has its exception class.
    for name, value in header.items():
        if name.startswith("LLI_E_"):
            assert isinstance(_errors.error_for(value, "m"), llminfer.LLMInferError)


def test_model_keys_and_modes(header):
    check(llminfer._INT_KEYS, header, "LLI_INFO_", {"backend_id": "backend", "bos": "token_bos", "eos": "token_eos"})
    check(llminfer._STR_KEYS, header, "LLI_INFO_", {"tokenizer_kind": "tokenizer"})
    check(llminfer._BACKENDS, header, "LLI_BACKEND_")
    check(llminfer._COMPRESSION, header, "LLI_COMPRESS_")
    # Integer and string keys are disjoint: one passed to the other reader is refused.
    assert not set(llminfer._INT_KEYS.values()) & set(llminfer._STR_KEYS.values())


def test_cache_context_and_scheduler_keys(header):
    check(_engine.KV_TYPES, header, "LLI_KV_TYPE_")
    check(_engine.KV_STAT_KEYS, header, "LLI_KV_STAT_")
    check(_engine.CTX_STAT_KEYS, header, "LLI_CTX_STAT_")
    check(scheduler.SCHED_STAT_KEYS, header, "LLI_SCHED_STAT_",
          {"swapped_out": "swap_outs", "prefix_reused_tokens": "reused_tokens", "entries": "step_tokens"})
    check(scheduler.SCHED_REQ_KEYS, header, "LLI_SCHED_REQ_")
    check(scheduler.SCHED_PREEMPT, header, "LLI_SCHED_PREEMPT_")
    check({state: code for code, state in scheduler.SCHED_STATES.items()}, header, "LLI_SCHED_")
