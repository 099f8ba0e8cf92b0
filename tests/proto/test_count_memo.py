"""Remembered counts (per message, per resolved target) are the counts computed afresh."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptpress.cachekeys import load_profiles
from promptpress.errors import InvalidInput
from promptpress.tokens import counter_for
from promptpress.types import Message, Role, Target


@settings(max_examples=60, deadline=None)  # the first call loads an encoding
@given(
    role=st.sampled_from(list(Role)),
    content=st.text(max_size=200),
    name=st.sampled_from(["", "alice"]),
    tool_call_id=st.sampled_from(["", "call_1", "call_with_a_much_longer_identifier_42"]),
    model=st.sampled_from(["gpt-4o", "gpt-4", "claude-3-5-sonnet", "some-unknown-model"]),
)
def test_message_count_is_the_same_remembered_or_not(
    role: Role, content: str, name: str, tool_call_id: str, model: str
) -> None:
    counter = counter_for(model)
    m = Message(role=role, content=content, name=name, tool_call_id=tool_call_id)
    fresh = counter._count_message(m)
    assert counter.count_message(m) == fresh  # first call fills the memo
    assert counter.count_message(m) == fresh  # second reads it


def test_the_memo_tells_messages_apart_by_every_counted_field() -> None:
    """The memo's key is the counted fields, not the Message: equal-looking messages
    that differ in role, name or tool_call_id keep their own counts."""
    counter = counter_for("gpt-4o")
    base = Message(role=Role.USER, content="The same words in every message.")
    variants = [
        base,
        Message(role=Role.ASSISTANT, content=base.content),
        Message(role=Role.USER, content=base.content, name="a_rather_long_participant_name"),
        Message(role=Role.TOOL, content=base.content, tool_call_id="call_0123456789abcdef"),
    ]
    for m in variants * 2:  # the second pass reads the memo
        assert counter.count_message(m) == counter._count_message(m)
    assert len({counter.count_message(m) for m in variants[1:]} | {counter.count_message(base)}) > 1


def test_the_memo_keeps_encodings_apart() -> None:
    text = "Grüße — ünïcödé text, counted differently by cl100k and o200k. " * 3
    m = Message(role=Role.USER, content=text)
    old, new = counter_for("gpt-4"), counter_for("gpt-4o")
    assert old.encoding_name != new.encoding_name
    assert old.count_message(m) == old._count_message(m)
    assert new.count_message(m) == new._count_message(m)
    assert old.count_message(m) != new.count_message(m)


def test_resolved_targets_are_remembered_but_strict_misses_raise_every_time() -> None:
    profiles = load_profiles()
    target = Target("openai", "gpt-4o-mini")
    first = profiles.resolve(target)
    assert profiles.resolve(target) is first
    assert first == profiles._resolve(target)
    strict = Target("nobody", "x", strict=True)
    for _ in range(2):
        with pytest.raises(InvalidInput):
            profiles.resolve(strict)
    assert strict not in profiles._resolved
