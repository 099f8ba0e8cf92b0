"""Argument roles from the real dependency parser (spaCy en_core_web_sm): an exchange
of roles is a different question; voice, word order and rewording are not."""

from __future__ import annotations

import pytest

from promptpress.cachekeys.semantic_cache.argument_roles import (
    QUESTION,
    RoleReader,
    roles_exchanged,
)


@pytest.fixture(scope="module")
def reader() -> RoleReader:
    return RoleReader()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Who owns WhatsApp?", "What does WhatsApp own?"),
        ("Which airline owns KLM?", "Which airline does KLM own?"),
        ("How many grams are in 3 ounces?", "How many ounces are in 3 grams?"),
        ("Which birds migrate from Europe to Africa in winter?",
         "Which birds migrate from Africa to Europe in winter?"),
        ("Why did Germany declare war on the US in 1941?",
         "Why did the US declare war on Germany in 1941?"),
    ],
)  # fmt: skip
def test_swapped_arguments_exchange_roles(reader: RoleReader, first: str, second: str) -> None:
    assert reader.exchanged(first, second)
    assert reader.exchanged(second, first)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Who wrote Hamlet?", "Hamlet was written by whom?"),  # passive: roles map back
        ("Who wrote Hamlet?", "Who is the author of Hamlet?"),
        ("How do I move money from savings to checking?",
         "How can I transfer funds from my savings to my checking account?"),
        ("When was the Eiffel Tower built?", "The Eiffel Tower was built when?"),
        ("What should I pack for a beach vacation?", "what should i bring on a beach holiday"),
        ("Who owns WhatsApp?", "Who owns WhatsApp?"),
    ],
)  # fmt: skip
def test_rewordings_keep_roles(reader: RoleReader, first: str, second: str) -> None:
    assert not reader.exchanged(first, second)


def test_roles_name_subject_object_and_preposition(reader: RoleReader) -> None:
    roles = reader.roles("Who sent the parcel to Paris?")
    assert roles[QUESTION] == "subject"
    assert roles["parcel"] == "object"
    assert roles["paris"] == "prep:to"
    passive = reader.roles("The parcel was sent to Paris by whom?")
    assert passive["parcel"] == "object" and passive[QUESTION] == "subject"


def test_one_changed_role_alone_is_not_an_exchange() -> None:
    # "subject -> object" for one word with no partner trading back: not an exchange.
    assert not roles_exchanged({"a": "subject", "b": "prep:in"}, {"a": "object", "b": "prep:in"})
    assert roles_exchanged({"a": "subject", "b": "object"}, {"a": "object", "b": "subject"})
    # Roles that are not arguments (a modifier's label) never trade.
    assert not roles_exchanged({"a": "advmod", "b": "ROOT"}, {"a": "ROOT", "b": "advmod"})
