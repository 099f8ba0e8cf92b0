"""Small budgets over 256-token chunks: coarse-to-fine selection (retrieval/refine.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptpress.cachekeys.layout import ContextChunk, context_message
from promptpress.retrieval import (
    DEFAULT_CHUNK_TOKENS,
    ChunkingConfig,
    Corpus,
    ScoredChunk,
    SelectionOptions,
    retrieve,
)
from promptpress.retrieval.chunking import chunk_document
from promptpress.retrieval.refine import fine_chunking, kept_chunks, split_chunk
from promptpress.retrieval.selection import CandidatePool
from promptpress.tokens import TokenCounter
from promptpress.types import Document, Placement
from tests.retrieval.conftest import HashingEmbedder

# Three documents of 160-170 tokens: each is one 256-token chunk and none fits a
# 128-token budget whole.
DOCS = [
    Document(
        "espresso",
        "The Zephyr 3000 is a dual-boiler espresso machine built in Turin. Its brew boiler "
        "holds 0.8 litres and is kept at 93 degrees Celsius by a PID controller, while the "
        "steam boiler holds 1.5 litres. The rotary pump is rated at 15 bar but the machine "
        "limits extraction pressure to 9 bar with an adjustable over-pressure valve. A full "
        "tank of 2.5 litres lasts for about forty double shots. To descale the machine, owners "
        "fill the tank with a citric acid solution and run the cleaning program, which takes "
        "twenty minutes. The warranty covers the pump for three years and the heating elements "
        "for two years. The group head is a saturated design, which keeps shot temperature "
        "stable across back-to-back drinks. Spare gaskets are sold in packs of four and should "
        "be replaced every twelve months.",
    ),
    Document(
        "lighthouse",
        "The lighthouse on Skerry Point was first lit in 1847, after three ships ran aground "
        "on the reef in a single winter. It was designed by the engineer Alan Stevenson and "
        "built from granite quarried on the mainland and carried across by barge. The tower is "
        "38 metres tall and has 172 steps. Its original oil lamp was replaced by an electric "
        "light in 1931, and the station was automated in 1987, when the last three keepers "
        "left the island. The light flashes white twice every twenty seconds and can be seen "
        "from 24 nautical miles away. Today the keepers' cottages house a small museum that "
        "opens from May to September. A colony of puffins nests on the cliffs below the tower "
        "every summer, and visitors are asked to keep to the marked paths between April and "
        "August.",
    ),
    Document(
        "enzymes",
        "Enzymes are proteins that speed up chemical reactions in living cells without being "
        "used up. Each enzyme has an active site whose shape fits one substrate, an idea first "
        "described by Emil Fischer in 1894 as the lock and key model. Most human enzymes work "
        "best near body temperature, 37 degrees Celsius, and lose their shape when heated much "
        "above it, a change called denaturation. Pepsin, which digests proteins in the stomach, "
        "is most active at a pH of about 2, whereas trypsin in the small intestine prefers a "
        "pH near 8. Inhibitors slow enzymes down: a competitive inhibitor occupies the active "
        "site, while a non-competitive inhibitor binds elsewhere and changes the enzyme's "
        "shape. Many medicines, including aspirin, work by inhibiting a particular enzyme.",
    ),
]
IDS = [d.id for d in DOCS]
QUESTIONS = [
    ("At what temperature is the brew boiler of the Zephyr 3000 kept?", "93 degrees"),
    ("How long does the descaling program take?", "twenty minutes"),
    ("When was the Skerry Point lighthouse automated?", "1987"),
    ("How many steps does the lighthouse tower have?", "172"),
    ("At which pH is pepsin most active?", "pH of about 2"),
    ("Who described the lock and key model?", "Emil Fischer"),
]


@pytest.mark.parametrize(
    ("size", "overlap", "budget", "expected"),
    [
        (256, 32, 128, (64, 8)),  # a quarter of 128 is 32: held at the 64 floor
        (256, 32, 256, (64, 8)),
        (256, 32, 300, (64, 8)),  # powers of two: nearby budgets share sub-chunks
        (256, 32, 512, (128, 16)),
        (256, 32, 40, (64, 8)),
        (256, 32, 767, (128, 16)),
        (256, 32, 768, None),  # three stored chunks fit: no need to refine
        (256, 32, 4096, None),
        (256, 32, 0, None),  # no limit
        (128, 16, 256, (64, 8)),
        (64, 8, 128, None),  # the stored chunks are already as fine as the floor
        (512, 0, 1024, (256, 0)),
    ],
)
def test_fine_chunking(
    size: int, overlap: int, budget: int, expected: tuple[int, int] | None
) -> None:
    fine = fine_chunking(ChunkingConfig(size, overlap), budget)
    assert (None if fine is None else (fine.size, fine.overlap)) == expected


def test_default_chunks_are_refined_for_every_benchmarked_budget() -> None:
    assert DEFAULT_CHUNK_TOKENS == 256
    assert all(fine_chunking(ChunkingConfig(), b) is not None for b in (128, 256, 512))


_sentences = st.lists(
    st.sampled_from(
        [
            "The pump is rated at fifteen bar.",
            "Descaling takes twenty minutes!",
            "Is the warranty three years?",
            "Gaskets come in packs of four, and they wear out.",
            "数据 and théta live here.",
        ]
    ),
    min_size=1,
    max_size=40,
).map(" ".join)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(paragraphs=st.lists(_sentences, min_size=1, max_size=5))
def test_sub_chunks_slice_their_parent_and_have_content_ids(
    counter: TokenCounter, paragraphs: list[str]
) -> None:
    doc = Document("d", "\n\n".join(paragraphs))
    fine = ChunkingConfig(64, 8)
    for parent in chunk_document(doc, counter, size=256, overlap=32):
        pieces = split_chunk(parent, counter, fine)
        covered = set()
        for piece in pieces:
            assert parent.start <= piece.start < piece.end <= parent.end
            assert piece.text == doc.text[piece.start : piece.end]
            assert 0 < piece.tokens <= 64 and piece.tokens == counter.count(piece.text)
            assert piece.index == parent.index and piece.document_id == "d"
            assert piece.content_hash == hashlib.sha256(piece.text.encode()).hexdigest()
            assert piece.chunk_id.split(".")[0] == f"d#{piece.content_hash[:16]}"
            covered.update(range(piece.start, piece.end))
        assert all(
            k in covered for k in range(parent.start, parent.end) if not doc.text[k].isspace()
        )
        assert split_chunk(parent, counter, fine) == pieces, "same chunk, same sub-chunks"


def test_a_chunk_within_the_fine_size_is_its_own_sub_chunk(counter: TokenCounter) -> None:
    (short,) = chunk_document(Document("d", "One short sentence."), counter)
    assert split_chunk(short, counter, ChunkingConfig(64, 8)) == [short]


def _as_sent(chunks: tuple[ScoredChunk, ...]) -> str:
    """The selected chunks as the pipeline lays them out for the model."""
    return context_message(
        [ContextChunk(c.chunk.document_id, c.chunk.chunk_id, c.chunk.text) for c in chunks]
    ).content


def _ask(corpus: Corpus, counter: TokenCounter, query: str, budget: int, **kwargs: object):
    return retrieve(
        corpus, "t", query=query, counter=counter, max_tokens=budget, document_ids=IDS, **kwargs
    )


def test_128_token_budget_over_256_token_chunks_finds_the_answers(
    real_corpus: Corpus, counter: TokenCounter
) -> None:
    real_corpus.index_documents("t", DOCS)
    stored = real_corpus.get_documents("t", IDS)
    assert [len(p.chunks) for p in stored] == [1, 1, 1], "indexed at the default size"
    assert all(p.chunks[0].tokens > 128 for p in stored)

    found, found_without_refining = 0, 0
    for question, answer in QUESTIONS:
        result = _ask(real_corpus, counter, question, 128)
        stats = result.selection.stats
        assert stats.granularity == 64 and 0 < stats.tokens <= 128
        assert sum(counter.count(s.chunk.text) for s in result.selection.chunks) == stats.tokens
        found += answer in _as_sent(result.selection.chunks)
        coarse = _ask(real_corpus, counter, question, 128, options=SelectionOptions(refine=False))
        found_without_refining += answer in _as_sent(coarse.selection.chunks)
    assert found >= len(QUESTIONS) - 1
    assert found_without_refining == 0, "no stored chunk fits: the reason refining exists"


def test_sub_chunk_ids_are_stable_across_requests_and_reopened_corpora(
    tmp_path: Path, counter: TokenCounter
) -> None:
    def ids_for(embedder: HashingEmbedder) -> list[list[str]]:
        with Corpus(tmp_path / "c", embedder, map_size=64 << 20) as corpus:
            corpus.index_documents("t", DOCS)
            return [
                [s.chunk.chunk_id for s in _ask(corpus, counter, q, 128).selection.chunks]
                for q, _ in QUESTIONS
            ]

    first = ids_for(HashingEmbedder())
    assert all(ids for ids in first)
    assert all(i.split("#")[0] in IDS and "#" in i for ids in first for i in ids)
    assert ids_for(HashingEmbedder()) == first


def test_sub_chunks_are_embedded_once(tmp_path: Path, counter: TokenCounter) -> None:
    """When indexing did not embed them (a corpus from before it did, or configured not
    to), the first request that needs sub-chunks embeds them, and only once."""
    embedder = HashingEmbedder()
    with Corpus(tmp_path / "c", embedder, map_size=64 << 20, fine_at_index=()) as corpus:
        corpus.index_documents("t", DOCS)
        indexed = list(embedder.texts)
        assert sorted(indexed) == sorted(d.text for d in DOCS)
        query = QUESTIONS[0][0]
        _ask(corpus, counter, query, 128)
        sub_texts = embedder.texts[len(indexed) :]
        assert query in sub_texts and len(sub_texts) > 3, "the sub-chunks were embedded"
        assert len(set(sub_texts)) == len(sub_texts), "each distinct text once"
        before = len(embedder.texts)
        _ask(corpus, counter, query, 128)
        _ask(corpus, counter, query, 200)  # a nearby budget: the same 64-token sub-chunks
        assert embedder.texts[before:] == [query, query], "only the query was embedded again"
    reopened = HashingEmbedder()
    with Corpus(tmp_path / "c", reopened, map_size=64 << 20, fine_at_index=()) as corpus:
        _ask(corpus, counter, query, 128)
    assert reopened.texts == [query], "cached in LMDB, not just in memory"


def test_sub_chunks_are_placed_in_source_order_within_a_document(
    corpus: Corpus, counter: TokenCounter
) -> None:
    corpus.index_documents("t", DOCS)
    result = _ask(corpus, counter, "lighthouse keepers steps tower light", 256)
    chosen = [s.chunk for s in result.selection.chunks]
    assert len(chosen) > 2 and result.selection.stats.granularity == 64
    for doc_id in {c.document_id for c in chosen}:
        starts = [c.start for c in chosen if c.document_id == doc_id]
        assert starts == sorted(starts)
    by_score = _ask(
        corpus, counter, "lighthouse keepers steps tower", 256, placement=Placement.SCORE
    )
    scores = [s.score for s in by_score.selection.chunks]
    assert scores == sorted(scores, reverse=True)


def test_no_refining_when_everything_fits_or_refining_is_off(
    corpus: Corpus, counter: TokenCounter, fake_embedder: HashingEmbedder
) -> None:
    corpus.index_documents("t", DOCS)
    embedded = len(fake_embedder.texts)
    everything = _ask(corpus, counter, "enzymes", 600)  # 499 tokens in all: all fit
    assert everything.selection.stats.granularity == 256
    assert sorted(s.chunk.document_id for s in everything.selection.chunks) == sorted(IDS)
    off = _ask(corpus, counter, "enzymes", 128, options=SelectionOptions(refine=False))
    assert off.selection.stats.granularity == 256 and off.selection.chunks == ()
    assert fake_embedder.texts[embedded:] == ["enzymes", "enzymes"]


def test_empty_query_fills_a_small_budget_in_source_order(
    corpus: Corpus, counter: TokenCounter
) -> None:
    corpus.index_documents("t", DOCS)
    result = _ask(corpus, counter, "", 128, placement=Placement.SOURCE)
    chosen = [s.chunk for s in result.selection.chunks]
    assert chosen and all(c.document_id == "espresso" for c in chosen)
    assert chosen[0].start == 0 and [c.start for c in chosen] == sorted(c.start for c in chosen)
    assert result.selection.stats.tokens > 96, "the budget is mostly filled"


@pytest.mark.parametrize(
    ("scores", "tokens", "expected"),
    [
        ([0.1, 0.9, 0.5, 0.0], 100, [1, 2]),  # 60 + 60 tokens reach 100: best two
        ([0.1, 0.9, 0.5, 0.0], 60, [1]),
        ([0.1, 0.9, 0.5, 0.0], 1000, [0, 1, 2, 3]),
        ([0.0, 0.0, 0.0, 0.0], 100, [0, 1]),  # no query: the first, in request order
    ],
)
def test_kept_chunks_are_the_best_worth_the_tokens_in_request_order(
    counter: TokenCounter, scores: list[float], tokens: int, expected: list[int]
) -> None:
    chunks = [
        chunk_document(Document(f"d{i}", "word " * 60), counter)[0] for i in range(len(scores))
    ]
    assert all(c.tokens == 60 for c in chunks)
    pool = CandidatePool(tuple(chunks), np.zeros((len(chunks), 4)), tuple(() for _ in chunks))
    assert kept_chunks(pool, np.array(scores), tokens) == expected
