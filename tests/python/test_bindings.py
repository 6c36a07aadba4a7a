"""The Python bindings against the real default model (SmolLM2-135M-Instruct, Q4_1)."""
import ctypes
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

import llminfer
from conftest import ROOT


def header_version():
    text = (ROOT / "include" / "llminfer.h").read_text()
    parts = [re.search(rf"#define LLI_VERSION_{k} (\d+)", text).group(1) for k in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)


def test_version_matches_header():
    assert llminfer.version() == header_version()
    assert llminfer.abi_version() == 1


def _import_with(env_value):
    env = dict(os.environ, LLMINFER_LIBRARY=env_value)
    code = f"import sys; sys.path.insert(0, {str(ROOT / 'bindings' / 'python')!r}); import llminfer; print(llminfer.version())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_library_path_from_environment_is_honoured(tmp_path):
    bogus = tmp_path / "nothing-here.so"
    r = _import_with(str(bogus))
    assert r.returncode != 0
    assert str(bogus) in r.stderr and "LLMINFER_LIBRARY" in r.stderr
    r = _import_with(str(ROOT / "build" / "libllminfer.so"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == header_version()


def test_model_facts(model_dir):
    with llminfer.Model.load(model_dir) as m:
        assert (m.arch, m.family, m.tokenizer_kind) == ("smollm2_135m", "llama", "gpt2")
        assert (m.n_layer, m.n_embd, m.n_ff, m.n_head, m.n_head_kv, m.head_dim) == (30, 576, 1536, 9, 3, 64)
        assert (m.n_vocab, m.n_ctx_train, m.n_tensors, m.n_fragments) == (49152, 8192, 272, 33)
        assert (m.bos, m.eos) == (1, 2)
        assert m.backend == "cpu" and not m.vocab_only and m.layer_range == (0, 30)
        assert re.fullmatch(r"[0-9a-f]{32}", m.model_id)
        tensors = m.tensors()
        embd = next(t for t in tensors if t.name == "token_embd.weight")
        assert (embd.type, embd.shape) == ("q8_0", (576, 49152))
        assert m.bytes == sum(t.bytes for t in tensors)
        assert "im_start" in m.chat_template
        info = m.info()
        assert info["arch"] == "smollm2_135m" and info["n_layer"] == 30 and info["layer_range"] == (0, 30)


def test_expected_architecture(model_dir):
    with pytest.raises(llminfer.MismatchError) as e:
        llminfer.Model.load(model_dir, expected_arch="mistral_7b")
    assert "mistral_7b" in e.value.message and "smollm2_135m" in e.value.message
    assert e.value.status == llminfer.E_MISMATCH
    with llminfer.Model.load(model_dir, expected_arch="llama") as m:
        assert m.arch == "smollm2_135m"


def test_layer_ranges(model_dir):
    with llminfer.Model.load(model_dir, layer_range=(0, 10)) as m:
        names = {t.name for t in m.tensors()}
        assert m.n_tensors == 1 + 10 * 9 and "token_embd.weight" in names and "output_norm.weight" not in names
    with llminfer.Model.load(model_dir, layer_range=(28, 30)) as m:
        # Tied embeddings: the last layers need token_embd for the output head.
        assert m.n_tensors == 2 * 9 + 2 and m.layer_range == (28, 30)
    with pytest.raises(llminfer.InvalidArgumentError):
        llminfer.Model.load(model_dir, layer_range=(5, 40))
    with llminfer.Model.load(model_dir, vocab_only=True) as m:
        assert m.n_tensors == 0 and m.vocab_only and m.n_vocab == 49152


def test_damaged_fragment(model_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    frag = bad / "layer-005.frag"
    data = bytearray(frag.read_bytes())
    data[len(data) // 2] ^= 0xFF
    frag.write_bytes(bytes(data))
    with pytest.raises(llminfer.ChecksumError) as e:
        llminfer.Model.load(bad)
    assert "layer-005" in e.value.message
    report = llminfer.verify(bad)
    assert not report.ok
    assert [c.name for c in report.failed()] == ["fragment layer-005", "checksums"]
    assert all(c.ok for c in report if c.name.startswith("fragment ") and c.name != "fragment layer-005")


def test_missing_directory(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(llminfer.LLMInferError) as e:
        llminfer.Model.load(missing)
    assert str(missing) in e.value.message and e.value.status == llminfer.E_IO


def test_progress_and_cancel(model_dir):
    seen = []
    with llminfer.Model.load(model_dir, progress=lambda done, total: seen.append((done, total))):
        pass
    assert seen and all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    assert seen[-1][0] == seen[-1][1] > 90_000_000
    with pytest.raises(llminfer.CancelledError):
        llminfer.Model.load(model_dir, progress=lambda done, total: False)

    class Boom(Exception):
        pass

    def explode(done, total):
        raise Boom("from the callback")

    with pytest.raises(Boom):
        llminfer.Model.load(model_dir, progress=explode)


def test_closed_model_is_an_error_not_a_crash(model_dir):
    m = llminfer.Model.load(model_dir)
    with m:
        assert m.n_layer == 30
    with pytest.raises(ValueError, match="closed"):
        m.n_layer
    m.close()  # twice is harmless
    assert "closed" in repr(m)


def test_verify_and_compression(model_dirs):
    raw, zstd = model_dirs
    for d in (raw, zstd):
        report = llminfer.verify(d, threads=2)
        assert report.ok, report.failed()
        assert report.checks[0].name == "manifest"
    with llminfer.Model.load(raw) as a, llminfer.Model.load(zstd) as b:
        assert a.model_id == b.model_id
        assert a.tensors() == b.tensors()


def test_in_place_generates_the_same_text(model_dirs):
    raw, _ = model_dirs
    texts = []
    for in_place in (False, True):
        with llminfer.Model.load(raw, in_place=in_place) as m:
            texts.append("".join(m.generate("The capital of France is", max_tokens=12)))
    assert texts[0] and texts[0] == texts[1]


def test_bad_arguments(model_dir, tmp_path):
    with pytest.raises(ValueError):
        llminfer.Model.load(model_dir, backend="tpu")
    with pytest.raises(llminfer.InvalidArgumentError):
        llminfer.Model.load(model_dir, threads=-3)
    with pytest.raises(ValueError):
        llminfer.convert("x.gguf", tmp_path / "out", compression="lz4")
    with pytest.raises(llminfer.InputOutputError) as e:
        llminfer.convert(tmp_path / "absent.gguf", tmp_path / "out")
    assert "absent.gguf" in e.value.message


def _gguf(arch: str, tensor_type: int) -> bytes:
    """A minimal GGUF v3 file built by hand: one string key and one 32-element tensor."""
    import struct

    def s(text):
        b = text.encode()
        return struct.pack("<Q", len(b)) + b

    header = b"GGUF" + struct.pack("<IQQ", 3, 1, 1)
    kv = s("general.architecture") + struct.pack("<I", 8) + s(arch)
    info = s("blk.0.attn_norm.weight") + struct.pack("<IQIQ", 1, 32, tensor_type, 0)
    meta = header + kv + info
    meta += b"\0" * (-len(meta) % 32)
    return meta + b"\0" * 128


def test_converter_refuses_unsupported_architecture(tmp_path):
    src = tmp_path / "phi3.gguf"
    src.write_bytes(_gguf("phi3", 0))
    with pytest.raises(llminfer.UnsupportedError) as e:
        llminfer.convert(src, tmp_path / "out")
    assert "phi3" in e.value.message and "llama" in e.value.message
    assert not (tmp_path / "out").exists()


def test_converter_refuses_unsupported_tensor_type(tmp_path):
    src = tmp_path / "iq.gguf"
    src.write_bytes(_gguf("llama", 19))  # an i-quant: not supported
    with pytest.raises(llminfer.UnsupportedError) as e:
        llminfer.convert(src, tmp_path / "out")
    assert "blk.0.attn_norm.weight" in e.value.message and "19" in e.value.message
    assert not (tmp_path / "out").exists()


def test_converter_refuses_damaged_gguf(gguf_path, tmp_path):
    data = bytearray(gguf_path.read_bytes()[:4096])
    src = tmp_path / "cut.gguf"
    src.write_bytes(bytes(data))  # the header runs on far past 4 KiB: truncated
    with pytest.raises(llminfer.FormatError) as e:
        llminfer.convert(src, tmp_path / "out")
    assert "cut.gguf" in e.value.message
    assert re.search(r"truncated|more than the file can hold", e.value.message)


def test_tokenizer_matches_llama_cpp_goldens(model_dir):
    goldens = json.loads((ROOT / "tests" / "goldens" / "smollm2.json").read_text())
    with llminfer.Model.load(model_dir, vocab_only=True) as m:
        for case in goldens["tokenize"]:
            ids = m.tokenize(case["text"])
            assert ids == case["ids"], case["text"]
            assert m.detokenize(ids) == case["text"]
        chat = m.tokenize("<|im_start|>user\nHi<|im_end|>\n", add_special=False, parse_special=True)
        assert chat[0] == 1 and m.token_to_piece(chat[0]) == b"<|im_start|>"
        assert m.tokenize("<|im_start|>", add_special=False, parse_special=False) != [1]
        assert m.tokenize("") == []
        with pytest.raises(llminfer.InvalidArgumentError):
            m.token_to_piece(10**9)


def test_a_gguf_path_loads_through_the_librarys_cache(gguf_path, tmp_path):
    """Model.load on a .gguf file converts it once into the cache (lli_model_load_gguf), then loads
    the cache entry; lli_model_load alone refuses the file and names lli_convert_gguf."""
    cache = tmp_path / "cache"
    with llminfer.Model.load(gguf_path, cache_dir=cache) as m:
        assert m.n_layer == 30
    entries = list(cache.iterdir())
    assert len(entries) == 1 and (entries[0] / "manifest.json").is_file()
    stamp = (entries[0] / "manifest.json").stat().st_mtime_ns
    with llminfer.Model.load(gguf_path, cache_dir=cache) as m:  # the entry is reused, not converted again
        assert m.tokenize("Hello") and m.n_layer == 30
    assert list(cache.iterdir()) == entries and (entries[0] / "manifest.json").stat().st_mtime_ns == stamp
    handle = ctypes.c_void_p()
    assert llminfer._L.lli_model_load(os.fsencode(gguf_path), None, ctypes.byref(handle)) == llminfer.E_INVALID_ARG
    assert b"lli_convert_gguf" in llminfer._L.lli_last_error()
