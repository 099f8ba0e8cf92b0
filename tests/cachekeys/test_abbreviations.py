"""Abbreviations and their expansions (cachekeys/semantic_cache/abbreviations.py)."""

from __future__ import annotations

import pytest

from promptpress.cachekeys.semantic_cache.abbreviations import abbreviates
from promptpress.cachekeys.semantic_cache.wordnet import default_wordnet, unify


@pytest.mark.parametrize(
    ("short", "long", "expected"),
    [
        ("CSS", "Cascading Style Sheets", True),
        ("WWII", "World War II", True),  # a Roman numeral counts whole
        ("JS", "JavaScript", True),  # the capitalised parts of a compound word
        ("NYC", "New York City", True),
        ("PTO", "paid time off", True),
        ("U.S.", "United States", True),  # periods aside
        ("CSS", "Cascading Style", False),  # a letter short
        ("HR", "human rights", True),  # the spelling cannot tell which one is meant
        ("css", "cascading style sheets", False),  # not written as an acronym
        ("Java", "Just Another Vague Acronym", False),  # one capital: a word
        ("WWII", "World War I", False),
        ("NASA", "New York", False),
        # the small words of a name left out
        ("MP", "Member of Parliament", True),
        ("DVLA", "Driver and Vehicle Licensing Agency", True),
        ("DVLA", "Driver and Vehicle Agency", False),
    ],
)  # fmt: skip
def test_an_acronym_is_the_initials_of_what_it_stands_for(
    short: str, long: str, expected: bool
) -> None:
    assert abbreviates(short, long) == expected


def test_an_expansion_is_read_as_the_abbreviation() -> None:
    wordnet = default_wordnet()
    assert wordnet is not None
    stored = "How do I vertically center a div using CSS?"
    query = "How do I vertically center a div using Cascading Style Sheets?"
    assert unify(stored, query, wordnet) == query
    assert unify(query, stored, wordnet) == stored
    other = "How do I vertically center a div using Sass?"
    assert unify(stored, other, wordnet) == stored


def test_an_expansion_longer_than_a_synonym_span_is_read() -> None:
    wordnet = default_wordnet()
    assert wordnet is not None
    stored = "What's the GDPR deadline for replying to a subject access request?"
    query = "What's the General Data Protection Regulation deadline for replying to a subject access request?"
    assert unify(stored, query, wordnet) == query
    assert unify(query, stored, wordnet) == stored
    # four words that are no expansion are left as stored
    other = "What's the usual legal time limit for replying to a subject access request?"
    assert unify(stored, other, wordnet) == stored
