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
    model=st.sampled_from(["gpt-4o", "gpt-4", "claude-3-5-sonnet", "some-unknown-model"]),
)
def test_message_count_is_the_same_remembered_or_not(
    role: Role, content: str, name: str, model: str
) -> None:
    counter = counter_for(model)
    m = Message(role=role, content=content, name=name)
    fresh = counter._count_message(m)
    assert counter.count_message(m) == fresh  # first call fills the memo
    assert counter.count_message(m) == fresh  # second reads it


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
