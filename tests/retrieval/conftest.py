"""Retrieval fixtures: the real embedding model (the session's shared one) and a fast fake one."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from promptpress.retrieval import Corpus, SentenceTransformerEmbedder
from promptpress.tokens import TokenCounter, counter_for


class HashingEmbedder:
    """Deterministic bag-of-words vectors: same words, same vector; no model needed.

    Counts calls and texts so tests can see what was embedded, and can be told to
    fail, to exercise error paths.
    """

    model_id = "test/hashing-64"
    dim = 64

    def __init__(self) -> None:
        self.calls = 0
        self.texts: list[str] = []
        self.fail_with: Exception | None = None
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            if self.fail_with is not None:
                raise self.fail_with
            self.calls += 1
            self.texts.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, hashlib.md5(word.encode()).digest()[0] % self.dim] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else 1.0 / np.sqrt(self.dim)
        return out


@pytest.fixture(scope="session")
def embedder(shared_embedder: SentenceTransformerEmbedder) -> SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 from the wheel: the session's one copy (tests/conftest.py)."""
    return shared_embedder


@pytest.fixture(scope="session")
def counter() -> TokenCounter:
    return counter_for("gpt-4o")


@pytest.fixture
def fake_embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture(params=["lmdb", "valkey"])
def corpus(
    request: pytest.FixtureRequest, tmp_path: Path, fake_embedder: HashingEmbedder
) -> Iterator[Corpus]:
    """A corpus on each back end, its store counting writes (tests/storage/conftest.py)."""
    from tests.storage.conftest import CountingStore, make_store

    store = CountingStore(make_store(request.param, tmp_path, request))
    with Corpus(store, fake_embedder) as c:  # type: ignore[arg-type]
        yield c
    store.close()


@pytest.fixture
def real_corpus(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> Iterator[Corpus]:
    with Corpus(tmp_path / "real-corpus", embedder, map_size=64 << 20) as c:
        yield c
