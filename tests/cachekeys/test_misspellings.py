"""Misspellings (cachekeys/semantic_cache/misspellings.py): a query word no dictionary
knows, one edit from a word of the stored question, is read as that word mistyped."""

from __future__ import annotations

import pytest

from promptpress.cachekeys.semantic_cache.misspellings import knows, misspelled_as, one_edit
from promptpress.cachekeys.semantic_cache.verifier import read_as_query
from promptpress.cachekeys.semantic_cache.wordnet import WordNet


@pytest.mark.parametrize(
    ("a", "b", "edit"),
    [
        ("battery", "batery", True),  # dropped
        ("update", "updat", True),
        ("field", "feild", True),  # neighbours swapped
        ("benefits", "benifits", True),  # changed
        ("lid", "lids", True),  # added
        ("field", "fielder", False),
        ("field", "field", False),
        ("form", "from", True),
    ],
)
def test_one_edit(a: str, b: str, edit: bool) -> None:
    assert one_edit(a, b) == edit
    assert one_edit(b, a) == edit


def test_known_words_are_in_a_dictionary(wordnet: WordNet) -> None:
    assert knows("batteries", wordnet)  # WordNet, through its base form
    assert knows("should", wordnet)  # not in WordNet: the document frequencies
    assert not knows("batery", wordnet)
    assert not knows("nothin", wordnet)


@pytest.mark.parametrize(
    ("stored", "query", "read"),
    [
        ("Why does my phone battery drain so fast after the update?",
         "why does my phone batery drain so fast after the updat",
         "Why does my phone batery drain so fast after the updat?"),
        ("Why do my knees pop when nothing hurts?", "why do my knees pop when nothin hurts",
         "Why do my knees pop when nothin hurts?"),
        # a real word is not a misspelling ("form" / "from")
        ("How do I fill in the form online?", "How do I fill in the from online?",
         "How do I fill in the form online?"),
        ("How do I descale my kettle?", "how do i descale my kettel", "How do I descale my kettel?"),
        # the stored word must be known itself ("Sistine" alone is not in WordNet)
        ("Who painted the Sistine Chapel ceiling?", "who painted the sixtine chapel ceiling",
         "Who painted the Sistine Chapel ceiling?"),
        # nor a word of three letters, nor one that starts with another letter
        ("Where is the pub?", "where is the pbu", "Where is the pub?"),
        ("Is Gambia hot in May?", "is zambia hot in may", "Is Gambia hot in May?"),
        # one edit from two words of the stored question: which was meant is unclear
        ("Is a cart or a card better?", "is a carx or a card better", "Is a cart or a card better?"),
    ],
)  # fmt: skip
def test_the_querys_misspellings_are_written_into_the_stored_question(
    wordnet: WordNet, stored: str, query: str, read: str
) -> None:
    assert misspelled_as(stored, query, wordnet) == read


def test_a_misspelled_query_reads_as_a_near_repeat_only_when_nothing_else_differs(
    wordnet: WordNet,
) -> None:
    stored = "Why does my phone battery drain so fast after the update?"
    assert read_as_query(stored, "why does my phone batery drain so fast after the updat",
                         wordnet) == "Why does my phone batery drain so fast after the updat?"  # fmt: skip
    # another word changed besides: read as stored
    query = "why does my laptop batery drain so fast after the updat"
    assert read_as_query(stored, query, wordnet) == stored
