"""Chat formatting of whole conversations, by the library's lli_chat_format() (the one the tools use).

The model's template (a Jinja text in the GGUF metadata) is not executed; it is recognised by its
markers: ChatML (<|im_start|>: SmolLM2, Qwen; with the template's default system message when the
conversation has none), Llama 3 (<|start_header_id|>) and Mistral ([INST]).
"""
import ctypes
from typing import Iterable, List, Mapping, Optional, Sequence

from ._errors import E_BUFFER_TOO_SMALL, OK, _L

__all__ = ["ChatFormatError", "detect_format", "format_chat", "end_markers"]


class ChatFormatError(ValueError):
    """The model's chat template is none of the known formats, or a message is malformed."""


_ROLES = ("system", "user", "assistant", "tool")


def detect_format(template: str) -> Optional[str]:
    """"chatml", "llama3", "mistral", or None for a template of another kind (or none)."""
    if "<|im_start|>" in template:
        return "chatml"
    if "<|start_header_id|>" in template:
        return "llama3"
    if "[INST]" in template:
        return "mistral"
    return None


def end_markers(template: str) -> List[str]:
    """The texts that end an assistant turn in the template's format (to stop generation at)."""
    return {"chatml": ["<|im_end|>"], "llama3": ["<|eot_id|>"], "mistral": ["</s>"]}.get(detect_format(template), [])


def _check_messages(messages: Sequence[Mapping[str, str]]) -> List[Mapping[str, str]]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Iterable):
        raise ChatFormatError("messages must be a list of {'role': ..., 'content': ...} objects")
    result = []
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise ChatFormatError(f"message {i} must be an object with string 'role' and 'content'")
        if m["role"] not in _ROLES:
            raise ChatFormatError(f"message {i} has role {m['role']!r}; expected one of {', '.join(_ROLES)}")
        result.append(m)
    if not result:
        raise ChatFormatError("messages is empty")
    return result


def format_chat(template: str, messages: Sequence[Mapping[str, str]], add_generation_prompt: bool = True) -> str:
    """The prompt text for a conversation, to tokenize with parse_special (and add_special) on."""
    messages = _check_messages(messages)
    n = len(messages)
    roles = (ctypes.c_char_p * n)(*[m["role"].encode() for m in messages])
    contents = (ctypes.c_char_p * n)(*[m["content"].encode("utf-8", "surrogatepass") for m in messages])
    tmpl = template.encode("utf-8", "surrogatepass")
    size = ctypes.c_size_t()
    status = _L.lli_chat_format(tmpl, roles, contents, n, int(bool(add_generation_prompt)), None, 0, ctypes.byref(size))
    if status == E_BUFFER_TOO_SMALL:
        out = ctypes.create_string_buffer(size.value + 1)
        status = _L.lli_chat_format(tmpl, roles, contents, n, int(bool(add_generation_prompt)), out, len(out),
                                    ctypes.byref(size))
        if status == OK:
            return out.raw[:size.value].decode("utf-8", "surrogatepass")
    if status == OK:  # an empty text
        return ""
    raise ChatFormatError(_L.lli_last_error().decode(errors="replace"))
