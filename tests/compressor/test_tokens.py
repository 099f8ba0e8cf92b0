"""Token counting: exact tiktoken counts offline, the model table, chat overhead."""

from __future__ import annotations

import pytest

from promptpress.tokens import counter_for, load_encoding_table
from promptpress.types import Message, Role, ToolCall


@pytest.mark.parametrize(
    ("model", "encoding", "approximate"),
    [
        ("gpt-4o", "o200k_base", False),
        ("gpt-4o-mini", "o200k_base", False),
        ("gpt-4.1-nano", "o200k_base", False),
        ("gpt-5", "o200k_base", False),
        ("o3-mini", "o200k_base", False),
        ("o1", "o200k_base", False),
        ("gpt-4", "cl100k_base", False),
        ("gpt-4-turbo", "cl100k_base", False),
        ("gpt-3.5-turbo", "cl100k_base", False),
        ("openai/gpt-4o", "o200k_base", False),
        ("claude-sonnet-4-5", "cl100k_base", True),
        ("us.anthropic.claude-3-5-haiku", "cl100k_base", True),
        ("gemini-2.5-flash", "o200k_base", True),
        ("some-unknown-model", "o200k_base", True),
        ("", "o200k_base", False),  # default model: gpt-4o
    ],
)
def test_model_to_encoding(model: str, encoding: str, approximate: bool) -> None:
    c = counter_for(model)
    assert (c.encoding_name, c.approximate) == (encoding, approximate)


@pytest.mark.parametrize(
    ("model", "text", "ids"),
    [
        ("gpt-4", "hello world", [15339, 1917]),
        ("gpt-4o", "hello world", [24912, 2375]),
    ],
)
def test_tiktoken_ids_match_reference(model: str, text: str, ids: list[int]) -> None:
    assert counter_for(model).encode(text) == ids


def test_special_token_text_is_ordinary_text() -> None:
    c = counter_for("gpt-4o")
    assert c.count("<|endoftext|>") > 1  # not the single control token 199999
    assert c.decode(c.encode("a <|endoftext|> b")) == "a <|endoftext|> b"


def test_approximation_scales_and_rounds_up() -> None:
    exact = counter_for("gpt-4").count("The quick brown fox jumps over the lazy dog.")
    approx = counter_for("claude-3-haiku").count("The quick brown fox jumps over the lazy dog.")
    assert approx == -(-exact * 12 // 10)


def test_chat_overhead_follows_openai_cookbook() -> None:
    # Cookbook: 3 tokens per message, +1 per name, +3 to prime the reply.
    c = counter_for("gpt-4o")
    msgs = [Message(Role.SYSTEM, "You are terse."), Message(Role.USER, "hi", name="bob")]
    expected = (
        (3 + c.count("system") + c.count("You are terse."))
        + (3 + c.count("user") + c.count("hi") + 1 + c.count("bob"))
        + 3
    )
    assert c.count_messages(msgs) == expected
    assert c.count_messages([]) == 0


def test_tool_calls_are_counted() -> None:
    c = counter_for("gpt-4o")
    plain = Message(Role.ASSISTANT, "")
    call = Message(
        Role.ASSISTANT, "", tool_calls=(ToolCall("call_1", "lookup", '{"q": "weather"}'),)
    )
    assert c.count_message(call) > c.count_message(plain)


def test_table_is_dated() -> None:
    assert load_encoding_table().checked_on
