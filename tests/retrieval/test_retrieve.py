from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from promptpress.retrieval import Corpus, retrieve
from promptpress.tokens import TokenCounter
from promptpress.types import Document, Placement
from tests.retrieval.conftest import HashingEmbedder

MANUAL = Document(
    "manual", "Always greet the customer by name. Never promise refunds.", static=True
)
OXYGEN = Document("oxygen", "Oxygen has atomic number 8 and is essential for respiration.")
RHINE = Document("rhine", "The Rhine flows from the Swiss Alps to the North Sea.")
HARVARD = Document("harvard", "Harvard University was founded in 1636 in Cambridge.")


def test_inline_documents_work_without_indexing(corpus: Corpus, counter: TokenCounter) -> None:
    result = retrieve(
        corpus,
        "t",
        query="atomic number of oxygen",
        counter=counter,
        max_tokens=20,
        documents=[RHINE, OXYGEN],
    )
    assert [s.chunk.document_id for s in result.selection.chunks] == ["oxygen"]
    assert corpus.list_document_ids("t") == [], "inline documents are not stored"


def test_inline_embeddings_are_cached_between_requests(
    corpus: Corpus, counter: TokenCounter, fake_embedder: HashingEmbedder
) -> None:
    for query in ("oxygen", "rhine"):
        retrieve(
            corpus, "t", query=query, counter=counter, max_tokens=100, documents=[RHINE, OXYGEN]
        )
    assert sorted(fake_embedder.texts) == sorted([RHINE.text, OXYGEN.text, "oxygen", "rhine"])


def test_inline_and_stored_documents_are_ranked_together(
    corpus: Corpus, counter: TokenCounter
) -> None:
    corpus.index_documents("t", [OXYGEN, HARVARD])
    result = retrieve(
        corpus,
        "t",
        query="When was Harvard founded, and where does the Rhine flow?",
        counter=counter,
        max_tokens=counter.count(RHINE.text) + counter.count(HARVARD.text),
        documents=[RHINE],
        document_ids=["oxygen", "harvard"],
        placement=Placement.SOURCE,
    )
    assert [s.chunk.document_id for s in result.selection.chunks] == ["rhine", "harvard"]
    assert result.selection.stats.candidates == 3


def test_static_documents_are_returned_whole_not_chunk_selected(
    corpus: Corpus, counter: TokenCounter
) -> None:
    stored_static = Document("policy", "Refunds need a receipt. " * 50, static=True)
    corpus.index_documents("t", [stored_static, OXYGEN])
    result = retrieve(
        corpus,
        "t",
        query="refunds",
        counter=counter,
        max_tokens=5,
        documents=[MANUAL, RHINE],
        document_ids=["policy", "oxygen"],
    )
    assert result.static_documents == (MANUAL, stored_static)
    assert {s.chunk.document_id for s in result.selection.chunks} <= {"rhine", "oxygen"}
    assert result.selection.stats.candidates == 2


def test_only_static_documents_select_nothing(corpus: Corpus, counter: TokenCounter) -> None:
    result = retrieve(corpus, "t", query="q", counter=counter, max_tokens=100, documents=[MANUAL])
    assert result.static_documents == (MANUAL,)
    assert result.selection.chunks == ()


def test_retrieval_is_tenant_scoped(corpus: Corpus, counter: TokenCounter) -> None:
    corpus.index_documents("alice", [OXYGEN])
    with pytest.raises(Exception, match="unknown document id 'oxygen'"):
        retrieve(
            corpus, "bob", query="oxygen", counter=counter, max_tokens=100, document_ids=["oxygen"]
        )


def test_concurrent_requests_match_serial_ones(corpus: Corpus, counter: TokenCounter) -> None:
    corpus.index_documents("t", [OXYGEN, RHINE, HARVARD])
    queries = ["oxygen", "Rhine North Sea", "Harvard 1636", "respiration", "Swiss Alps"] * 4

    def ask(query: str) -> list[str]:
        result = retrieve(
            corpus,
            "t",
            query=query,
            counter=counter,
            max_tokens=16,
            document_ids=["oxygen", "rhine", "harvard"],
        )
        return [s.chunk.chunk_id for s in result.selection.chunks]

    serial = [ask(q) for q in queries]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(ask, queries)) == serial
