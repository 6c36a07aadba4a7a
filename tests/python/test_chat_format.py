"""lli_chat_format (the library's chat formatting, used by lli-generate) gives the same text as the
Python package's format_chat for the same conversations, in each of the three formats, until the
package calls the library's function itself."""
import ctypes
import os
from pathlib import Path

import pytest

from conftest import ROOT
from llminfer.chat import format_chat

LIB = os.environ.get("LLMINFER_LIBRARY", str(ROOT / "build" / "libllminfer.so"))

TEMPLATES = {
    "chatml": "{% for m in messages %}<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
              "Hugging Face<|im_end|>\n<|im_start|>{{ m.role }}...",
    "chatml-no-default": "<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>",
    "llama3": "<|start_header_id|>{{ role }}<|end_header_id|>",
    "mistral": "[INST] {{ content }} [/INST]",
    "mistral-tight": "[INST]{{ content }}[/INST]",
}

CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! ½ 🙂"},
     {"role": "user", "content": "Bye\nnow"}],
    [{"role": "system", "content": "A"}, {"role": "system", "content": "B"}, {"role": "user", "content": ""},
     {"role": "tool", "content": "42"}, {"role": "assistant", "content": "x"}],
]


def lib_format(lib, template, messages, gen):
    n = len(messages)
    roles = (ctypes.c_char_p * n)(*[m["role"].encode() for m in messages])
    contents = (ctypes.c_char_p * n)(*[m["content"].encode() for m in messages])
    need = ctypes.c_size_t()
    st = lib.lli_chat_format(template.encode(), roles, contents, n, gen, None, 0, ctypes.byref(need))
    assert st in (0, 12)  # LLI_OK (empty text) or LLI_E_BUFFER_TOO_SMALL
    buf = ctypes.create_string_buffer(need.value + 1)
    assert lib.lli_chat_format(template.encode(), roles, contents, n, gen, buf, need.value + 1, ctypes.byref(need)) == 0
    return buf.raw[:need.value].decode()


@pytest.fixture(scope="module")
def lib():
    if not Path(LIB).exists():
        pytest.fail(f"{LIB} is missing: build the library first")
    lib = ctypes.CDLL(LIB)
    lib.lli_chat_format.restype = ctypes.c_int
    lib.lli_chat_format.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p),
                                    ctypes.c_size_t, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t,
                                    ctypes.POINTER(ctypes.c_size_t)]
    return lib


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_library_and_package_format_alike(lib, name):
    for messages in CONVERSATIONS:
        for gen in (True, False):
            assert lib_format(lib, TEMPLATES[name], messages, int(gen)) == format_chat(TEMPLATES[name], messages, gen), \
                (name, messages, gen)


def test_unknown_template_refused_by_both(lib):
    roles = (ctypes.c_char_p * 1)(b"user")
    contents = (ctypes.c_char_p * 1)(b"Hi")
    assert lib.lli_chat_format(b"{{ messages }}", roles, contents, 1, 1, None, 0, None) == 7  # LLI_E_UNSUPPORTED
    with pytest.raises(ValueError):
        format_chat("{{ messages }}", [{"role": "user", "content": "Hi"}])
