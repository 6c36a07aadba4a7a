"""Chat formatting from Python: format_chat is the library's lli_chat_format (tests/test_chat.c
checks its rules in C); here the texts it gives through the bindings for each format, multi-byte
text kept whole, and the refusals as ChatFormatError with the library's reason."""
import pytest

from llminfer.chat import ChatFormatError, format_chat

SMOL = ("{% for m in messages %}<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
        "Hugging Face<|im_end|>\n<|im_start|>{{ m.role }}...")


def test_chatml_with_the_templates_default_system_message():
    assert format_chat(SMOL, [{"role": "user", "content": "Hi ½ 🙂"}]) == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nHi ½ 🙂<|im_end|>\n<|im_start|>assistant\n")
    # A conversation's own system message replaces the default; no generation prompt when not asked.
    assert format_chat(SMOL, [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                       add_generation_prompt=False) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")


def test_llama3_and_mistral():
    msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}]
    assert format_chat("<|start_header_id|>{{ role }}<|end_header_id|>", msgs) == (
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n")
    # Mistral: the system text goes before the first user message; tool messages are left out.
    mistral = [{"role": "system", "content": "S"}] + msgs[:2] + [{"role": "tool", "content": "42"}] + msgs[2:]
    assert format_chat("[INST] {{ content }} [/INST]", mistral) == "[INST] S\n\nHi[/INST] Hello</s>[INST] Bye[/INST]"
    assert format_chat("[INST]{{ content }}[/INST]", msgs) == "[INST]Hi[/INST]Hello</s>[INST]Bye[/INST]"


def test_refusals_say_why():
    with pytest.raises(ChatFormatError, match="template"):
        format_chat("{{ messages }}", [{"role": "user", "content": "Hi"}])
    with pytest.raises(ChatFormatError, match="role"):
        format_chat(SMOL, [{"role": "narrator", "content": "Hi"}])
    with pytest.raises(ChatFormatError, match="empty"):
        format_chat(SMOL, [])
