"""Who acts, from the real dependency parser (spaCy en_core_web_sm) and WordNet 3.0: the
same verb done by the asker in one question and by another person in the other is the
question asked from the other side; a rewording that keeps who acts is not."""

from __future__ import annotations

import pytest

from promptpress.cachekeys.semantic_cache.actors import (
    ASKER,
    Actor,
    actor_changed,
    asker_plays_another,
)
from promptpress.cachekeys.semantic_cache.argument_roles import RoleReader
from promptpress.cachekeys.semantic_cache.wordnet import WordNet


@pytest.fixture(scope="module")
def reader(wordnet: WordNet) -> RoleReader:
    return RoleReader(is_person=wordnet.is_person)


def changed(reader: RoleReader, wordnet: WordNet, a: str, b: str) -> bool:
    first, second = reader._parsed(a).actors, reader._parsed(b).actors
    return actor_changed(first, second, wordnet.is_person)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # the asker acts in one, a person both name in the other
        ("How do I apologise to my sister for missing her graduation?",
         "My sister apologised for missing my graduation - how should I reply?"),
        ("What's the kindest way to apologise to my flatmate after an argument?",
         "My flatmate apologised to me after an argument; how should I respond?"),
        ("How do I pay my brother back for the flights?",
         "How do I get my brother to pay me back for the flights?"),
        ("How do I interview my nanny before she starts?",
         "How will my nanny interview me before I start?"),
        # a pronoun that names a person: "someone", "she"
        ("What's the kindest way to end things with someone who still loves me?",
         "How do I move on after someone I still love ends things?"),
    ],
)  # fmt: skip
def test_the_other_party_acting_is_another_question(
    reader: RoleReader, wordnet: WordNet, a: str, b: str
) -> None:
    assert changed(reader, wordnet, a, b)
    assert changed(reader, wordnet, b, a)  # symmetric
    assert reader.refuses(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # who acts is kept: voice, question form, generic "you"
        ("How do I apologise to my sister for missing her graduation?",
         "What's the best way to apologise to my sister for missing her graduation?"),
        ("How do you descale a kettle?", "How do I descale a kettle?"),
        ("How do I get my toddler to sleep in her own bed?",
         "How can I get my toddler to sleep in her own bed?"),
        # done *with* someone: they act along with the asker
        ("What's the fairest way to split the bills with my housemates?",
         "How should my housemates and I split the bills fairly?"),
        # the person is the asker ("I'm a teacher")
        ("I'm a teacher; how do I handle a pupil who keeps interrupting?",
         "How should a pupil who keeps interrupting be handled by a teacher?"),
        # anyone of a kind, not a particular person: for the encoder
        ("What's the best way for a beginner to learn the violin?",
         "For a beginner, what is the best way to learn the violin?"),
        # a thing acting is not another party
        ("How do I stop the dishwasher from leaking?",
         "Why does my dishwasher keep leaking?"),
    ],
)  # fmt: skip
def test_a_rewording_keeps_who_acts(reader: RoleReader, wordnet: WordNet, a: str, b: str) -> None:
    assert not changed(reader, wordnet, a, b)
    assert not changed(reader, wordnet, b, a)


def test_who_acts_verb_by_verb(reader: RoleReader) -> None:
    actors = reader._parsed("How should I respond when my partner apologises after a fight?").actors
    agents, _ = actors.by_verb["respond"]
    assert agents == {Actor(ASKER)}
    (partner,) = actors.by_verb["apologise"][0]
    assert partner.lemma == "partner" and partner.particular  # "my" hangs from the verb
    # an infinitive after "the best way": the asker; after a person noun: that person
    way = reader._parsed("What's the best way to apologise to my partner?").actors
    assert way.by_verb["apologise"][0] == {Actor(ASKER)}
    first = reader._parsed("Who was the first woman to fly solo across the Atlantic?").actors
    assert {a.lemma for a in first.by_verb["fly"][0]} == {"woman"}


def test_is_person_reads_first_noun_senses(wordnet: WordNet) -> None:
    for word in ("partner", "landlord", "grandmother", "teachers", "nanny"):
        assert wordnet.is_person(word), word
    for word in ("kettle", "dishwasher", "decision", "Atlantic"):
        assert not wordnet.is_person(word), word


def test_without_a_person_test_who_acts_is_not_read() -> None:
    plain = RoleReader()
    a = "How do I apologise to my sister for missing her graduation?"
    b = "My sister apologised for missing my graduation - how should I reply?"
    assert not plain._parsed(a).actors.by_verb
    assert not plain.refuses(a, b)


@pytest.mark.parametrize(
    ("a", "b", "other_side"),
    [
        ("What should I check before hiring a plumber for a bathroom refit?",
         "What should I check before taking on a bathroom refit as a plumber?", True),
        ("How do I ask my landlord to repaint the hallway?",
         "As a landlord, how do I answer a request to repaint the hallway?", True),
        # the asker is the one the other question speaks "for" or "like"
        ("What are the rules of chess for a complete beginner?",
         "Explain the rules of chess to me like I'm a complete beginner.", False),
        # a kind of people, not one person acted on
        ("Can I claim mileage if I'm a self-employed electrician?",
         "Can self-employed electricians claim mileage?", False),
    ],
)  # fmt: skip
def test_an_asker_who_is_the_one_acted_on(
    reader: RoleReader, a: str, b: str, other_side: bool
) -> None:
    first, second = reader._parsed(a).actors, reader._parsed(b).actors
    assert asker_plays_another(first, second) is other_side
    assert asker_plays_another(second, first) is other_side
