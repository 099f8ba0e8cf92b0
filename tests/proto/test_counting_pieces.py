"""Long texts are counted in pieces (with cancellation checkpoints between): the
pieces' counts must sum to the whole text's count, exactly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from promptpress.tokens import counter_for, split_for_counting

WORDS = st.sampled_from(
    ["hello", "World", "Élan", "über", "日本語", "it's", "x.y", "123", "4567", "!!", "--", "a"]
)
SEPARATORS = st.sampled_from([" ", "  ", "", "\n", "\t", " \n", ". "])
TEXTS = st.lists(st.tuples(WORDS, SEPARATORS), max_size=400).map(
    lambda parts: "".join(w + s for w, s in parts)
)


@settings(max_examples=150, deadline=None)
@given(TEXTS, st.sampled_from(["gpt-4o", "gpt-4", "claude-3-5-sonnet"]))
def test_pieces_count_like_the_whole(text: str, model: str) -> None:
    counter = counter_for(model)
    pieces = split_for_counting(text, piece_chars=16)
    assert "".join(pieces) == text
    assert sum(len(counter.encode(p)) for p in pieces) == len(counter.encode(text))


def test_long_text_counts_exactly_through_count_many() -> None:
    counter = counter_for("gpt-4o")
    text = "Alpha beta, gamma  delta.\n" * 20_000  # > one piece
    assert len(split_for_counting(text)) > 1
    assert counter.count_many([text, "hi"]) == [len(counter.encode(text)), 1]
