"""Fixtures: the bindings from the source tree, the default model converted raw and with zstd."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bindings" / "python"))

import llminfer  # noqa: E402

# One compute thread per context unless the caller says otherwise: on a small machine shared with
# other jobs, a pool of as many threads as cores waits at every barrier for a descheduled thread and
# runs many times slower, which makes timings, not results, depend on the machine's load.
os.environ.setdefault("LLMINFER_THREADS", "1")


@pytest.fixture(scope="session")
def gguf_path():
    path = Path(os.environ.get("LLMINFER_TEST_GGUF", ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"))
    if not path.exists():
        pytest.fail(f"{path} is missing: run scripts/fetch-model.sh (or set LLMINFER_TEST_GGUF)")
    return path


@pytest.fixture(scope="session")
def model_dirs(gguf_path, tmp_path_factory):
    base = tmp_path_factory.mktemp("models")
    raw, zstd = base / "raw", base / "zstd"
    llminfer.convert(gguf_path, raw)
    llminfer.convert(gguf_path, zstd, compression="zstd", level=1)
    return raw, zstd


@pytest.fixture
def model_dir(model_dirs):
    return model_dirs[0]


@pytest.fixture(scope="session")
def model(model_dirs):
    """The default model, loaded once for the inference tests (read-only: shareable)."""
    with llminfer.Model.load(model_dirs[0]) as m:
        yield m


def needs(call, *args, **kwargs):
    """Run a call of one of issue 4's functions; skip the test, naming the C function, if this build
    of the library does not implement it yet."""
    try:
        return call(*args, **kwargs)
    except llminfer.UnimplementedError as exc:
        pytest.skip(f"{exc.function or 'a function'} is not implemented in this build of libllminfer")
