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
        # each part of a hyphenated word
        ("SSD", "solid-state drive", True),
        ("DIY", "do-it-yourself", True),
        ("SD", "solid-state drive", False),
    ],
)  # fmt: skip
def test_an_acronym_is_the_initials_of_what_it_stands_for(
    short: str, long: str, expected: bool
) -> None:
    assert abbreviates(short, long) == expected


@pytest.mark.parametrize(
    ("stored", "query", "other"),
    [
        ("How do I vertically center a div using CSS?",
         "How do I vertically center a div using Cascading Style Sheets?",
         "How do I vertically center a div using Sass?"),
        # an expansion longer than a synonym span; four words that are no expansion
        # are left as stored
        ("What's the GDPR deadline for replying to a subject access request?",
         "What's the General Data Protection Regulation deadline for replying to a "
         "subject access request?",
         "What's the usual legal time limit for replying to a subject access request?"),
    ],
)  # fmt: skip
def test_an_expansion_is_read_as_the_abbreviation(stored: str, query: str, other: str) -> None:
    wordnet = default_wordnet()
    assert wordnet is not None
    assert unify(stored, query, wordnet) == query
    assert unify(query, stored, wordnet) == stored
    assert unify(stored, other, wordnet) == stored
