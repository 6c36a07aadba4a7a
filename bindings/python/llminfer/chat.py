"""Chat formatting: the formats lli-generate --chat knows, for whole conversations.

The model's template (a Jinja text in the GGUF metadata) is not executed; it is recognised by its
markers, as lli-generate does: ChatML (<|im_start|>: SmolLM2, Qwen; with the template's default system
message when the conversation has none), Llama 3 (<|start_header_id|>) and Mistral ([INST]).
"""
import re
from typing import Iterable, List, Mapping, Optional, Sequence

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


def _default_system(template: str) -> Optional[str]:
    m = re.search(r"<\|im_start\|>system\n(.*?)<\|im_end\|>", template, re.S)
    return m.group(1) if m else None


def format_chat(template: str, messages: Sequence[Mapping[str, str]], add_generation_prompt: bool = True) -> str:
    """The prompt text for a conversation, to tokenize with parse_special (and add_special) on."""
    messages = _check_messages(messages)
    kind = detect_format(template)
    if kind == "chatml":
        out = []
        if messages[0]["role"] != "system":
            system = _default_system(template)
            if system is not None:
                out.append(f"<|im_start|>system\n{system}<|im_end|>\n")
        for m in messages:
            out.append(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n")
        if add_generation_prompt:
            out.append("<|im_start|>assistant\n")
        return "".join(out)
    if kind == "llama3":
        out = [f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content']}<|eot_id|>" for m in messages]
        if add_generation_prompt:
            out.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
        return "".join(out)
    if kind == "mistral":
        space = " " if "[INST] " in template else ""
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        out = []
        first_user = True
        for m in messages:
            if m["role"] == "user":
                text = f"{system}\n\n{m['content']}" if first_user and system else m["content"]
                first_user = False
                out.append(f"[INST]{space}{text}[/INST]")
            elif m["role"] == "assistant":
                out.append(f"{space}{m['content']}</s>")
        return "".join(out)
    raise ChatFormatError("this model's chat template is not one of ChatML, Llama 3 or Mistral [INST]")
