"""The package as a user gets it: where it finds the library (LLMINFER_LIBRARY, its own copy, the
build tree, the system) and what it says when it finds none, the ABI check, its version, the names of
its exceptions, and what generate() tells besides the text. (Installing it with pip into a fresh venv
is checked by scripts/test.sh, which may use the network.)"""
import ctypes.util
import os
import re
import shutil
import subprocess
import sys

import pytest

import llminfer
from llminfer import _lib
from conftest import ROOT

PACKAGE = ROOT / "bindings" / "python" / "llminfer"
BUILT = ROOT / "build" / "libllminfer.so"
PROMPT = "The capital of France is"


def header_define(name):
    return int(re.search(rf"#define {name} (\d+)", (ROOT / "include" / "llminfer.h").read_text()).group(1))


def run_python(code, cwd, env_extra=None, drop=("LLMINFER_LIBRARY",)):
    env = {k: v for k, v in os.environ.items() if k not in drop and k != "PYTHONPATH"}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def package_copy(tmp_path):
    """The package's sources copied where no build tree is above them."""
    dest = tmp_path / "site" / "llminfer"
    shutil.copytree(PACKAGE, dest, ignore=shutil.ignore_patterns("__pycache__", "*.in"))
    return dest


def test_abi_and_version_come_from_the_header():
    assert _lib.ABI_VERSION == header_define("LLI_ABI_VERSION") == llminfer.abi_version()
    version = ".".join(str(header_define(f"LLI_VERSION_{k}")) for k in ("MAJOR", "MINOR", "PATCH"))
    assert llminfer.__version__ == version == llminfer.version()


def test_the_package_prefers_its_own_copy(package_copy):
    shutil.copy(BUILT, package_copy / "libllminfer.so")
    r = run_python("import llminfer; print(llminfer.library_path()); print(llminfer.version())", package_copy.parent)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(package_copy / "libllminfer.so"), llminfer.version()]
    # LLMINFER_LIBRARY still comes first.
    r = run_python("import llminfer; print(llminfer.library_path())", package_copy.parent,
                   {"LLMINFER_LIBRARY": str(BUILT)})
    assert r.returncode == 0 and r.stdout.strip() == str(BUILT), r.stderr


def test_no_library_anywhere_names_the_variable_and_the_places(package_copy):
    if ctypes.util.find_library("llminfer"):
        pytest.skip("a libllminfer is installed on this system, so one is found")
    r = run_python("import llminfer", package_copy.parent)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert "LLMINFER_LIBRARY" in last and str(package_copy / "libllminfer.so") in last, last
    assert "libllminfer.so.1" in last, last  # the system loader's name was tried too


def test_a_library_of_another_abi_is_refused(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to make a fake library")
    src = tmp_path / "fake.c"
    src.write_text("int lli_abi_version(void) { return 99; }\n")
    fake = tmp_path / "libfake.so"
    subprocess.run([cc, "-shared", "-fPIC", str(src), "-o", str(fake)], check=True)
    r = run_python("import llminfer", tmp_path, {"LLMINFER_LIBRARY": str(fake),
                                                 "PYTHONPATH": str(PACKAGE.parent)}, drop=())
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert "ABI version 99" in last and f"need {_lib.ABI_VERSION}" in last and str(fake) in last, last


def test_exception_names_and_their_old_aliases(tmp_path):
    assert llminfer.Error is llminfer.LLMInferError
    assert llminfer.IOError_ is llminfer.InputOutputError and llminfer.NotImplementedError_ is llminfer.UnimplementedError
    for name in ("InvalidArgumentError", "NoMemoryError", "InputOutputError", "FormatError", "ChecksumError",
                 "MismatchError", "UnsupportedError", "UnimplementedError", "KVFullError", "BackendError",
                 "CancelledError", "BufferTooSmallError", "InternalError"):
        cls = getattr(llminfer, name)
        assert issubclass(cls, llminfer.LLMInferError) and name in llminfer.__all__
        assert name.endswith("Error") and not name.endswith("_")
    assert issubclass(llminfer.InputOutputError, OSError) and issubclass(llminfer.UnimplementedError, NotImplementedError)
    with pytest.raises(llminfer.InputOutputError) as e:
        llminfer.Model.load(tmp_path / "missing")
    assert type(e.value).__name__ == "InputOutputError" and e.value.status == llminfer.E_IO


def test_generate_tells_finish_reason_usage_and_timings(model):
    n_prompt = len(model.tokenize(PROMPT))
    g = model.generate(PROMPT, 6)
    assert g.finish_reason is None
    text = g.read()
    assert text == model.complete(PROMPT, 6) and g.text == text
    assert g.finish_reason == "length"
    assert g.usage == {"prompt_tokens": n_prompt, "completion_tokens": 6, "total_tokens": n_prompt + 6}
    t = g.timings
    assert t["prompt_ms"] > 0 and t["generation_ms"] > 0
    assert t["prompt_tokens_per_s"] == pytest.approx(n_prompt / (t["prompt_ms"] / 1000))
    assert t["generation_tokens_per_s"] == pytest.approx(6 / (t["generation_ms"] / 1000))

    # A stop string ends it with "stop", the tokens counted as far as they went.
    g = model.generate("1, 2, 3,", 30, stop=[" 6"])
    assert g.read() == " 4, 5," and g.finish_reason == "stop"
    assert 0 < g.usage["completion_tokens"] < 30

    # The end of a chat turn is "stop" too, before max_tokens.
    g = model.chat("What is 2+2?", 64)
    pieces = list(g)
    assert pieces and g.finish_reason == "stop" and g.usage["completion_tokens"] < 64

    # Low level: a context's generate() is the same kind of object.
    with model.context(max_batch=16, kv_capacity=64) as ctx:
        g = ctx.generate(model.tokenize(PROMPT), 3)
        assert "".join(g) == model.complete(PROMPT, 3) and g.finish_reason == "length"
        assert g.usage["completion_tokens"] == 3

    # Closed early: no finish reason, and nothing is left behind.
    g = model.generate(PROMPT, 20)
    next(g)
    g.close()
    assert g.finish_reason is None and g.usage["completion_tokens"] >= 1
