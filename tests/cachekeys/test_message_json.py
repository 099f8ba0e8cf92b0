"""Hand-written fast paths give byte for byte what the general code gives."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from promptpress.cachekeys.keys import _stable_text, normalize_query
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


@given(st.text())
def test_normalize_query_is_nfkc_collapsed_and_casefolded(text: str) -> None:
    # The definition the fast path must keep: NFKC, runs of whitespace -> one space,
    # stripped, case-folded.
    want = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().casefold()
    assert normalize_query(text) == want


wire_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))  # valid UTF-8


@given(st.lists(st.one_of(wire_text, st.sampled_from(["[[v1]]", "[[v", "[[v12]]", "]]"]))))
def test_stable_text_without_volatile_spans_is_what_the_general_path_gives(
    pieces: list[str],
) -> None:
    content = "".join(pieces)
    m = Message(role=Role.USER, content=content)
    general = re.sub(r"\[\[v\d+\]\]", "", content.encode("utf-8").decode("utf-8", errors="replace"))
    assert _stable_text(m) == general
