"""The hand-written canonical JSON of a message is byte for byte the general one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from promptpress.cachekeys.layout import canonical_json, message_json, message_spec
from promptpress.types import Message, Role, ToolCall

texts = st.text()  # any code point, lone surrogates, quotes, controls, non-ASCII


@given(
    role=st.sampled_from(list(Role)),
    content=texts,
    name=texts,
    tool_call_id=texts,
    calls=st.lists(st.tuples(texts, texts, texts), max_size=2),
)
def test_message_json_is_canonical_json_of_the_spec(
    role: Role, content: str, name: str, tool_call_id: str, calls: list[tuple[str, str, str]]
) -> None:
    m = Message(
        role=role,
        content=content,
        name=name,
        tool_call_id=tool_call_id,
        tool_calls=tuple(ToolCall(*c) for c in calls),
    )
    assert message_json(m) == canonical_json(message_spec(m))
