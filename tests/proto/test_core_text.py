"""Core text helpers every stage shares: the question of a request, words and stems."""

from __future__ import annotations

import pytest

from promptpress.terms import stem, terms, words
from promptpress.types import Message, Role, question_of


@pytest.mark.parametrize(
    ("query", "messages", "expected"),
    [
        ("explicit", [Message(Role.USER, "last")], "explicit"),
        (
            "  ",
            [Message(Role.USER, "first"), Message(Role.ASSISTANT, "a"), Message(Role.USER, "last")],
            "last",
        ),
        ("", [Message(Role.USER, "asked"), Message(Role.ASSISTANT, "answer")], "asked"),
        ("", [Message(Role.USER, "asked"), Message(Role.USER, " ")], "asked"),
        ("", [Message(Role.SYSTEM, "sys")], ""),
        ("", [Message(Role.SYSTEM, "sys"), Message(Role.ASSISTANT, "hello")], ""),
        ("", [], ""),
    ],
)
def test_question_of(query: str, messages: list[Message], expected: str) -> None:
    assert question_of(messages, query=query) == expected


def test_words_are_lower_cased_runs_of_word_characters() -> None:
    assert words("Rollo's FEALTY, 911-B café") == ["rollo", "s", "fealty", "911", "b", "café"]


@pytest.mark.parametrize(
    ("variants", "shared"),
    [
        (("increased", "increases", "increase", "increasing"), "increas"),
        (("museums", "museum"), "museum"),
        (("running", "runs", "run"), "run"),
    ],
)
def test_inflections_share_a_stem(variants: tuple[str, ...], shared: str) -> None:
    assert {stem(v) for v in variants} == {shared}


def test_terms_leave_out_stopwords_before_stemming() -> None:
    assert terms("The Museums of Paris", {"the", "of"}) == ["museum", "pari"]
    assert terms("The Museums of Paris") == ["the", "museum", "of", "pari"]
