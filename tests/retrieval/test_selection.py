from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from promptpress.retrieval import (
    CandidatePool,
    Chunk,
    FusionWeights,
    SelectionOptions,
    chunk_document,
    rank_chunks,
    select_chunks,
    select_ranked,
)
from promptpress.retrieval.ranking import bm25_terms
from promptpress.retrieval.selection import Ranking, place
from promptpress.tokens import TokenCounter, counter_for
from promptpress.types import Document, Placement, TextEmbedder
from tests.retrieval.conftest import HashingEmbedder

FACTS = {
    "oxygen": "Oxygen is a chemical element with symbol O and atomic number 8.",
    "rhine": "The Rhine rises in the Swiss Alps and flows into the North Sea.",
    "harvard": "Harvard University was founded in 1636 in Cambridge, Massachusetts.",
    "prime": "A prime number is a natural number greater than 1 with no positive divisors other than 1 and itself.",
    "steam": "James Watt improved the steam engine with a separate condenser in 1769.",
    # Says what "oxygen" says without sharing its words: only the dense ranker sees it.
    "breathing": "Humans inhale the gas that our lungs need in order to stay alive.",
}


def pool_of(
    docs: Sequence[Document], embedder: TextEmbedder, counter: TokenCounter, size: int = 256
) -> CandidatePool:
    chunks = tuple(c for d in docs for c in chunk_document(d, counter, size=size, overlap=0))
    vectors = embedder.embed([c.text for c in chunks])
    return CandidatePool(chunks, vectors, tuple(bm25_terms(c.text) for c in chunks))


def fact_docs(*names: str) -> list[Document]:
    return [Document(n, FACTS[n]) for n in (names or FACTS)]


def ids(selection) -> list[str]:  # type: ignore[no-untyped-def]
    return [s.chunk.document_id for s in selection.chunks]


def test_fusion_puts_what_both_rankers_like_above_what_one_likes(
    embedder: TextEmbedder, counter: TokenCounter
) -> None:
    pool = pool_of(fact_docs(), embedder, counter)
    query = "What is the atomic number of oxygen, the gas we breathe?"
    ranking = rank_chunks(query, pool, embedder=embedder, weights=FusionWeights())
    order = [pool.chunks[i].document_id for i in np.argsort(-ranking.fused)]
    # "prime" shares only "number": BM25 ranks it third, the embedding model last.
    assert order[:3] == ["oxygen", "breathing", "prime"]


def test_dense_alone_finds_the_paraphrase_bm25_alone_cannot(
    embedder: TextEmbedder, counter: TokenCounter
) -> None:
    pool = pool_of(fact_docs("rhine", "harvard", "breathing"), embedder, counter)
    query = "What is required for respiration?"  # no word in common with "breathing"
    options = SelectionOptions(weights=FusionWeights(bm25=0.0, dense=1.0))
    dense = select_chunks(
        query, pool, embedder=embedder, counter=counter, max_tokens=20, options=options
    )
    assert ids(dense) == ["breathing"]
    bm25 = rank_chunks(query, pool, embedder=embedder, weights=FusionWeights(bm25=1.0, dense=0.0))
    assert bm25.dense is None and not bm25.fused.any()


def test_budget_is_filled_by_score_and_never_exceeded(
    fake_embedder: HashingEmbedder, counter: TokenCounter
) -> None:
    pool = pool_of(fact_docs(), fake_embedder, counter)
    sizes = {c.document_id: c.tokens for c in pool.chunks}
    budget = sizes["oxygen"] + sizes["steam"] + 3
    selection = select_chunks(
        "atomic number of oxygen; steam engine condenser",
        pool,
        embedder=fake_embedder,
        counter=counter,
        max_tokens=budget,
        placement=Placement.SCORE,
    )
    assert set(ids(selection)) == {"oxygen", "steam"}
    assert selection.stats.tokens == sum(s.tokens for s in selection.chunks) <= budget
    assert selection.stats.candidates == len(FACTS)
    assert selection.stats.skipped_over_budget == len(FACTS) - 2


def test_a_chunk_too_big_for_the_rest_of_the_budget_is_skipped_not_the_end(
    fake_embedder: HashingEmbedder, counter: TokenCounter
) -> None:
    long_doc = Document("long", "Oxygen oxygen oxygen. " + FACTS["prime"] * 3)
    pool = pool_of([long_doc, *fact_docs("oxygen", "rhine")], fake_embedder, counter)
    budget = pool.chunks[1].tokens + pool.chunks[2].tokens
    selection = select_chunks(
        "oxygen", pool, embedder=fake_embedder, counter=counter, max_tokens=budget
    )
    assert sorted(ids(selection)) == ["oxygen", "rhine"]  # "long" ranked first, did not fit


def test_zero_budget_means_no_limit(fake_embedder: HashingEmbedder, counter: TokenCounter) -> None:
    pool = pool_of(fact_docs(), fake_embedder, counter)
    selection = select_chunks("x", pool, embedder=fake_embedder, counter=counter, max_tokens=0)
    assert len(selection.chunks) == len(FACTS)
    with pytest.raises(ValueError):
        select_chunks("x", pool, embedder=fake_embedder, counter=counter, max_tokens=-1)


def test_near_duplicates_are_dropped(fake_embedder: HashingEmbedder, counter: TokenCounter) -> None:
    docs = [*fact_docs("oxygen", "rhine"), Document("copy", FACTS["oxygen"].upper())]
    pool = pool_of(docs, fake_embedder, counter)
    kept = select_chunks("oxygen", pool, embedder=fake_embedder, counter=counter, max_tokens=0)
    assert sorted(ids(kept)) == ["oxygen", "rhine"] or sorted(ids(kept)) == ["copy", "rhine"]
    assert kept.stats.dropped_duplicates == 1
    keep_all = SelectionOptions(dedup_threshold=None)
    everything = select_chunks(
        "oxygen", pool, embedder=fake_embedder, counter=counter, max_tokens=0, options=keep_all
    )
    assert len(everything.chunks) == 3


def test_empty_query_selects_in_request_order(
    fake_embedder: HashingEmbedder, counter: TokenCounter
) -> None:
    docs = fact_docs("steam", "oxygen", "rhine", "harvard")
    pool = pool_of(docs, fake_embedder, counter)
    budget = sum(c.tokens for c in pool.chunks[:2])
    for query in ("", "   "):
        selection = select_chunks(
            query,
            pool,
            embedder=fake_embedder,
            counter=counter,
            max_tokens=budget,
            placement=Placement.SCORE,
        )
        assert ids(selection) == ["steam", "oxygen"]
    assert fake_embedder.calls == 1  # the pool only: an empty query is not embedded


def test_tokens_are_recounted_for_another_target_encoding(
    fake_embedder: HashingEmbedder, counter: TokenCounter
) -> None:
    pool = pool_of(
        [Document("d", "Ünïcode wörds ärë tökënïzëd dïffërëntly " * 3)], fake_embedder, counter
    )
    cl100k = counter_for("gpt-4")
    selection = select_chunks("wörds", pool, embedder=fake_embedder, counter=cl100k, max_tokens=0)
    (scored,) = selection.chunks
    assert scored.tokens == cl100k.count(scored.chunk.text) != scored.chunk.tokens


def _chunk(doc: str, index: int) -> Chunk:
    return Chunk(doc, f"{doc}#{index}", index, 0, 1, "x", 1, "o200k_base", "0" * 64)


# Candidates: documents a (3 chunks), b (2), c (1), d (1), in request order.
_CHUNKS = [
    _chunk("a", 0),
    _chunk("a", 1),
    _chunk("a", 2),
    _chunk("b", 0),
    _chunk("b", 1),
    _chunk("c", 0),
    _chunk("d", 0),
]
_SCORES = np.array([0.2, 0.1, 0.9, 0.5, 0.6, 0.3, 0.8])


@pytest.mark.parametrize(
    ("placement", "chosen", "expected"),
    [
        (Placement.SCORE, [0, 2, 3, 4, 6], [2, 6, 4, 3, 0]),
        (Placement.SOURCE, [6, 4, 2, 0, 3], [0, 2, 3, 4, 6]),
        # Document strength = best chunk: a 0.9, d 0.8, b 0.6, c 0.3. Strongest first,
        # second strongest last, weakest in the middle; source order inside a document.
        (Placement.EDGES, [0, 2, 3, 4, 5, 6], [0, 2, 3, 4, 5, 6]),
        (Placement.EDGES, [2, 4, 6], [2, 4, 6]),
        (Placement.EDGES, [5, 6, 4, 3], [6, 5, 3, 4]),
        (Placement.EDGES, [], []),
    ],
)
def test_placement(placement: Placement, chosen: list[int], expected: list[int]) -> None:
    assert place(_CHUNKS, chosen, _SCORES, placement) == expected


def test_edges_placement_through_selection(
    fake_embedder: HashingEmbedder, counter: TokenCounter
) -> None:
    docs = [Document(n, f"{FACTS[n]}\n\n{FACTS[n]} Again.") for n in ("rhine", "oxygen", "steam")]
    pool = pool_of(docs, fake_embedder, counter, size=24)
    ranking = Ranking(np.zeros(len(pool)), None, np.array([0.1, 0.2, 0.9, 0.8, 0.5, 0.4]))
    selection = select_ranked(pool, ranking, counter=counter, max_tokens=0, dedup_threshold=None)
    assert [(s.chunk.document_id, s.chunk.index) for s in selection.chunks] == [
        ("oxygen", 0),
        ("oxygen", 1),
        ("rhine", 0),
        ("rhine", 1),
        ("steam", 0),
        ("steam", 1),
    ]
