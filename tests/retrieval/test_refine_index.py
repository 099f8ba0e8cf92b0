"""Sub-chunks embedded at indexing: a small budget's first request embeds only its query."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptpress.retrieval import ChunkingConfig, Corpus, Quotas, SentenceTransformerEmbedder
from promptpress.retrieval.refine import fine_chunking, reachable_fine_chunkings
from promptpress.tokens import TokenCounter
from tests.retrieval.conftest import HashingEmbedder
from tests.retrieval.test_refine import DOCS, IDS, QUESTIONS, _ask

BUDGETS = (128, 256, 512, 700, 4096)


@pytest.mark.parametrize(
    ("size", "overlap", "expected"),
    [
        (256, 32, [(64, 8), (128, 16)]),
        (128, 16, [(64, 8)]),
        (64, 8, []),  # already as fine as the floor: never refined
        (512, 0, [(64, 0), (128, 0), (256, 0)]),
    ],
)
def test_reachable_fine_chunkings_are_every_size_a_budget_asks_for(
    size: int, overlap: int, expected: list[tuple[int, int]]
) -> None:
    chunking = ChunkingConfig(size, overlap)
    asked = {fine_chunking(chunking, b) for b in range(0, 8 * size)} - {None}
    reachable = reachable_fine_chunkings(chunking)
    assert set(reachable) == asked
    assert [(f.size, f.overlap) for f in reachable] == expected


def test_first_small_budget_requests_embed_only_the_query(
    corpus: Corpus, counter: TokenCounter, fake_embedder: HashingEmbedder
) -> None:
    """On LMDB and Valkey: indexing cached every sub-chunk a budget can ask for."""
    corpus.index_documents("t", DOCS)
    indexed = list(fake_embedder.texts)
    fine = corpus.fine_pieces([c for p in corpus.get_documents("t", IDS) for c in p.chunks])
    assert {c.text for c in fine} <= set(indexed), "sub-chunks embedded at indexing"
    assert len(set(indexed)) == len(indexed), "each distinct text once"
    query = QUESTIONS[0][0]
    for budget in BUDGETS:
        result = _ask(corpus, counter, query, budget)
        assert result.selection.chunks
    assert fake_embedder.texts[len(indexed) :] == [query] * len(BUDGETS)


def _selections(corpus: Corpus, counter: TokenCounter) -> list[list[tuple[str, str]]]:
    return [
        [(s.chunk.chunk_id, s.chunk.text) for s in _ask(corpus, counter, q, b).selection.chunks]
        for q, _ in QUESTIONS
        for b in BUDGETS
    ]


def test_selection_is_the_same_whether_sub_chunks_were_embedded_at_indexing_or_not(
    tmp_path: Path, counter: TokenCounter, embedder: SentenceTransformerEmbedder
) -> None:
    """The real model: vectors from the index batch equal those from a request's batch."""
    with Corpus(tmp_path / "lazy", embedder, map_size=64 << 20, fine_at_index=()) as lazy:
        lazy.index_documents("t", DOCS)
        before = _selections(lazy, counter)
    with Corpus(tmp_path / "eager", embedder, map_size=64 << 20) as eager:
        eager.index_documents("t", DOCS)
        after = _selections(eager, counter)
    assert any(len(s) > 1 for s in after) and all(before)
    assert after == before


def test_a_corpus_indexed_without_sub_chunk_vectors_still_serves_small_budgets(
    tmp_path: Path, counter: TokenCounter
) -> None:
    """What a corpus indexed before this change holds: chunks and their vectors only."""
    with Corpus(tmp_path / "new", HashingEmbedder(), map_size=64 << 20) as corpus:
        corpus.index_documents("t", DOCS)
        expected = _selections(corpus, counter)
    old = HashingEmbedder()
    with Corpus(tmp_path / "c", old, map_size=64 << 20, fine_at_index=()) as corpus:
        corpus.index_documents("t", DOCS)
    assert sorted(old.texts) == sorted(d.text for d in DOCS), "chunks only"
    reopened = HashingEmbedder()
    with Corpus(tmp_path / "c", reopened, map_size=64 << 20) as corpus:
        assert corpus.fine_at_index == reachable_fine_chunkings(corpus.chunking)
        assert _selections(corpus, counter) == expected
        queries = {q for q, _ in QUESTIONS}
        lazily = [t for t in reopened.texts if t not in queries]
        assert lazily, "the sub-chunks were embedded by the requests that needed them"
        assert len(set(lazily)) == len(lazily), "once each"
        # Re-indexing identical content stays a no-op: nothing is re-embedded.
        before = len(reopened.texts)
        corpus.index_documents("t", DOCS)
        assert reopened.texts[before:] == []


@pytest.mark.parametrize("backend", ["lmdb", "valkey"])
def test_sub_chunk_vectors_are_evicted_before_chunk_vectors(
    tmp_path: Path, counter: TokenCounter, backend: str, request: pytest.FixtureRequest
) -> None:
    """A cache at its entry cap drops the oldest insertions: the sub-chunks go in first."""
    from tests.storage.conftest import make_store

    embedder = HashingEmbedder()
    quotas = Quotas(max_cached_embeddings=len(DOCS) + 2)
    store = make_store(backend, tmp_path, request)
    with Corpus(store, embedder, quotas=quotas) as corpus:
        corpus.index_documents("t", DOCS)
        assert len(embedder.texts) > len(DOCS) + 2, "more sub-chunks than the cap holds"
        before = len(embedder.texts)
        _ask(corpus, counter, "enzymes", 4096)  # every stored chunk, no refining
        assert embedder.texts[before:] == ["enzymes"], "every chunk vector was kept"
    store.close()


@pytest.mark.parametrize(("setting", "expected"), [(True, [64, 128]), (False, [])])
def test_the_server_setting_decides_what_indexing_embeds(
    tmp_path: Path, shared_embedder, shared_compressor, setting: bool, expected: list[int]
) -> None:  # type: ignore[no-untyped-def]
    from promptpress.server.config import ServerConfig
    from promptpress.server.resources import load_resources

    config = ServerConfig(data_dir=str(tmp_path), index_sub_chunks=setting)
    resources = load_resources(config, embedder=shared_embedder, compressor=shared_compressor)
    try:
        assert [f.size for f in resources.corpus.fine_at_index] == expected
    finally:
        resources.close()


def _inline(corpus: Corpus, counter: TokenCounter, docs: list, budget: int):  # type: ignore[no-untyped-def]
    from promptpress.retrieval import retrieve

    query = QUESTIONS[0][0]
    return retrieve(corpus, "t", query=query, counter=counter, max_tokens=budget, documents=docs)


def test_chunks_the_coarse_stage_would_all_keep_are_not_embedded(
    tmp_path: Path, counter: TokenCounter
) -> None:
    """Inline documents at a small budget: when every chunk fits in what the coarse
    stage keeps (2,048 tokens), ranking them changes nothing, so only the query and
    the sub-chunks are embedded, and the selection is the same as with the chunks
    embedded first."""
    embedder = HashingEmbedder()
    with Corpus(tmp_path / "c", embedder, map_size=64 << 20) as corpus:
        chunks = [c for d in DOCS for c in corpus.prepare(d).chunks]
        assert sum(c.tokens for c in chunks) <= 2048
        result = _inline(corpus, counter, DOCS, 128)
        assert result.selection.stats.granularity == 64 and result.selection.chunks
        embedded = set(embedder.texts)
        assert not embedded & {c.text for c in chunks}, "no coarse chunk was embedded"
        assert {s.chunk.text for s in result.selection.chunks} <= embedded

    # The same documents with their chunks embedded beforehand (as an earlier request
    # at a large budget would have done): the same selection.
    with Corpus(tmp_path / "warm", HashingEmbedder(), map_size=64 << 20) as warm:
        assert _inline(warm, counter, DOCS, 4096).selection.chunks
        again = _inline(warm, counter, DOCS, 128)
    key = [(s.chunk.chunk_id, s.chunk.text) for s in result.selection.chunks]
    assert [(s.chunk.chunk_id, s.chunk.text) for s in again.selection.chunks] == key


def test_a_pool_larger_than_the_coarse_stage_keeps_is_ranked_first(
    tmp_path: Path, counter: TokenCounter
) -> None:
    from promptpress.types import Document

    embedder = HashingEmbedder()
    filler = [
        Document(f"filler-{i}", f"Note {i}: " + " ".join(f"word{i}x{j}" for j in range(220)))
        for i in range(12)
    ]
    with Corpus(tmp_path / "c", embedder, map_size=64 << 20) as corpus:
        chunks = [c for d in DOCS + filler for c in corpus.prepare(d).chunks]
        assert sum(c.tokens for c in chunks) > 2048
        assert _inline(corpus, counter, DOCS + filler, 128).selection.chunks
        assert {c.text for c in chunks} <= set(embedder.texts), "the coarse stage ranked them"
