"""British and American words for one thing (cachekeys/semantic_cache/regional_words.py)."""

from __future__ import annotations

import pytest

from promptpress.cachekeys.semantic_cache.regional_words import (
    RegionalWords,
    default_regional_words,
    pairs_from,
    terms_in,
)
from promptpress.cachekeys.semantic_cache.wordnet import WordNet, unify


@pytest.mark.parametrize(
    ("description", "other", "expected"),
    [
        ("worthless, unwanted material; debris; litter (US: trash, garbage)", "US", ["trash", "garbage"]),
        ("a valve through which liquid is drawn (US usu.: faucet, spigot)", "US", ["faucet", "spigot"]),
        ("a German loanword for descending on a rope (US rappel)", "US", ["rappel"]),
        ("baked potato", "US", ["baked potato"]),  # the description is the word
        ("training shoes. (UK: trainer)", "US", []),  # the other dialect's word only
        # hedged: a near equivalent, or another word also used
        ("a building society (US equivalent: savings and loan association)", "US", []),
        ("a cool box (US and UK also: cooler)", "US", []),
        # prose, not a term
        ("courgette (US: zucchini, from the Italian)", "US", ["zucchini"]),
        ("(slang) lucky (person, woman)", "US", []),
    ],
)  # fmt: skip
def test_the_other_dialects_words_are_read_from_a_description(
    description: str, other: str, expected: list[str]
) -> None:
    assert terms_in(description, other) == expected


def test_variants_of_a_key_pair_item_by_item() -> None:
    pairs = list(
        pairs_from({"earth, earthed": "to connect to the ground (US: ground, grounded)"}, "US")
    )
    assert pairs == [("earth", "ground"), ("earthed", "grounded")]


def test_same_thing_is_symmetric_and_reads_plurals() -> None:
    words = RegionalWords.from_pairs([("mobile phone", "cell phone"), ("Carry-on", "hand luggage")])
    assert words.same_thing("mobile phone", "cell phone")
    assert words.same_thing("Cell phones", "mobile phones")
    assert words.same_thing("hand luggage", "carry on")  # case and hyphens aside
    assert not words.same_thing("mobile phone", "landline")
    assert not words.same_thing("mobile phone", "mobile phone")  # not a pair: the same words


def test_a_word_is_read_with_the_shared_words_beside_it() -> None:
    words = RegionalWords.from_pairs([("jacket potato", "baked potato")])
    assert words.same_in_context("jacket", "baked", ["medium", "a"], ["potatoes", "topped"])
    assert not words.same_in_context("jacket", "baked", ["medium"], ["apples"])


def test_breame_is_read() -> None:
    words = default_regional_words()
    assert words is not None
    for british, american in [("rubbish", "garbage"), ("paracetamol", "acetaminophen"),
                              ("trainers", "sneakers"), ("cancelled", "canceled"),
                              ("jacket potato", "baked potato"), ("colour", "color")]:  # fmt: skip
        assert words.same_thing(british, american)
    # words whose meanings differ between the two dialects are not read
    assert not words.same_thing("first floor", "second floor")
    assert not words.same_thing("billion", "trillion")


@pytest.mark.parametrize(
    ("stored", "query", "other"),
    [
        ("Where should I put the rubbish bins on collection day?",
         "Where should I put the garbage bins on collection day?",
         "Where should I put the recycling bins on collection day?"),
        ("Roughly how many calories are in a medium jacket potato with butter?",
         "Roughly how many calories are in a medium baked potato with butter?",
         "Roughly how many calories are in a medium sweet potato with butter?"),
        ("Will I pay roaming charges using my mobile phone in Italy?",
         "Will I pay roaming charges using my cell phone in Italy?",
         "Will I pay roaming charges using my work phone in Italy?"),
    ],
)  # fmt: skip
def test_unify_reads_the_other_dialects_word_as_a_synonym(
    stored: str, query: str, other: str, wordnet: WordNet
) -> None:
    assert unify(stored, query, wordnet) == query
    assert unify(query, stored, wordnet) == stored
    assert unify(stored, other, wordnet) == stored
