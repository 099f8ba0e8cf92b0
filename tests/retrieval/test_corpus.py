from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from promptpress.errors import InvalidInput, ResourceExhausted
from promptpress.retrieval import ChunkingConfig, Corpus, IndexStatus
from promptpress.retrieval.corpus import IndexResult, Quotas
from promptpress.types import Document
from tests.retrieval.conftest import HashingEmbedder

PARAGRAPH = "Paragraph {k} describes topic {k} in a sentence. It has a second sentence about {k}."


def text(*keys: str) -> str:
    return "\n\n".join(PARAGRAPH.format(k=k) for k in keys)


def writes(corpus: Corpus) -> int:
    return int(corpus.store.writes)  # type: ignore[attr-defined]


def chunk_texts(corpus: Corpus, tenant: str, doc_id: str) -> list[str]:
    (doc,) = corpus.get_documents(tenant, [doc_id])
    return [c.text for c in doc.chunks]


def stored_chunk_records(corpus: Corpus, tenant: str = "t") -> int:
    return sum(
        len(d.chunks) for d in corpus.get_documents(tenant, corpus.list_document_ids(tenant))
    )


def test_index_creates_and_returns_counts(corpus: Corpus) -> None:
    results = corpus.index_documents("t", [Document("a", text("x", "y")), Document("b", text("z"))])
    assert [(r.document_id, r.status) for r in results] == [
        ("a", IndexStatus.CREATED),
        ("b", IndexStatus.CREATED),
    ]
    (a,) = corpus.get_documents("t", ["a"])
    assert results[0].chunks == len(a.chunks) >= 1
    assert results[0].tokens == sum(c.tokens for c in a.chunks) > 0
    assert a.document.text == text("x", "y")


def test_reindexing_identical_content_writes_nothing(
    corpus: Corpus, fake_embedder: HashingEmbedder
) -> None:
    docs = [Document("a", text("x", "y"), {"lang": "en"}), Document("b", text("z"))]
    first = corpus.index_documents("t", docs)
    txn, calls = writes(corpus), fake_embedder.calls
    again = corpus.index_documents("t", [Document("a", text("x", "y"), {"lang": "en"}), docs[1]])
    assert [r.status for r in again] == [IndexStatus.UNCHANGED] * 2
    assert [(r.chunks, r.tokens) for r in again] == [(r.chunks, r.tokens) for r in first]
    assert writes(corpus) == txn, "no write"
    assert fake_embedder.calls == calls, "nothing re-embedded"


@pytest.mark.parametrize(
    "change",
    [
        Document("a", text("x", "changed")),
        Document("a", text("x", "y"), {"lang": "de"}),
        Document("a", text("x", "y"), static=True),
    ],
)
def test_changed_content_or_metadata_replaces(corpus: Corpus, change: Document) -> None:
    corpus.index_documents("t", [Document("a", text("x", "y"), {"lang": "en"})])
    (result,) = corpus.index_documents("t", [change])
    assert result.status is IndexStatus.REPLACED
    (stored,) = corpus.get_documents("t", ["a"])
    assert stored.document == change


def test_replace_leaves_no_stale_chunks(corpus: Corpus) -> None:
    corpus.chunking = ChunkingConfig(size=24, overlap=0)
    corpus.index_documents("t", [Document("a", text("1", "2", "3", "4"))])
    assert stored_chunk_records(corpus) == 4
    corpus.index_documents("t", [Document("a", text("5"))])
    assert chunk_texts(corpus, "t", "a") == [text("5")]
    assert stored_chunk_records(corpus) == 1


def test_no_chunk_is_embedded_twice(corpus: Corpus, fake_embedder: HashingEmbedder) -> None:
    corpus.index_documents("t", [Document("a", text("x")), Document("b", text("x"))])
    assert fake_embedder.texts == [text("x")]
    corpus.index_documents("t", [Document("c", text("x"))])
    corpus.delete_documents("t", ["a", "b", "c"])
    corpus.index_documents("t", [Document("a", text("x"))])
    assert fake_embedder.texts == [text("x")]


def test_a_failure_while_writing_leaves_the_old_state(corpus: Corpus) -> None:
    corpus.index_documents("t", [Document("a", text("old"))])
    corpus.store.fail_commit = OSError("disk on fire")  # type: ignore[attr-defined]
    with pytest.raises(OSError):
        corpus.index_documents("t", [Document("a", text("new")), Document("b", text("b"))])
    corpus.store.fail_commit = None  # type: ignore[attr-defined]
    assert chunk_texts(corpus, "t", "a") == [text("old")]
    assert corpus.list_document_ids("t") == ["a"]
    assert corpus.usage("t") == (1, len(text("old")))


def test_quotas_refuse_whole_requests(corpus: Corpus) -> None:
    corpus.quotas = Quotas(max_documents=3, max_bytes=len(text("a")) * 4)
    corpus.index_documents("t", [Document("a", text("a")), Document("b", text("b"))])
    with pytest.raises(ResourceExhausted, match="3 documents"):
        corpus.index_documents("t", [Document("c", text("c")), Document("d", text("d"))])
    assert corpus.list_document_ids("t") == ["a", "b"], "nothing of the refused request"
    assert corpus.usage("t") == (2, 2 * len(text("a")))
    # Another tenant has its own quota; replacing a document does not count it twice.
    corpus.index_documents("u", [Document("c", text("c")), Document("d", text("d"))])
    corpus.index_documents("t", [Document("a", text("A")), Document("c", text("c"))])
    with pytest.raises(ResourceExhausted, match="bytes"):
        corpus.index_documents("t", [Document("a", text("a", "b", "c"))])
    corpus.delete_documents("t", ["a", "b"])
    assert corpus.usage("t") == (1, len(text("c")))
    corpus.index_documents("t", [Document("x", text("x")), Document("y", text("y"))])


def test_a_failure_while_embedding_writes_nothing(
    corpus: Corpus, fake_embedder: HashingEmbedder
) -> None:
    corpus.index_documents("t", [Document("a", text("old"))])
    fake_embedder.fail_with = RuntimeError("model crashed")
    with pytest.raises(RuntimeError):
        corpus.index_documents("t", [Document("a", text("new")), Document("b", text("b"))])
    assert chunk_texts(corpus, "t", "a") == [text("old")]
    assert corpus.list_document_ids("t") == ["a"]


def test_invalid_batch_writes_nothing(corpus: Corpus, fake_embedder: HashingEmbedder) -> None:
    with pytest.raises(InvalidInput) as err:
        corpus.index_documents("t", [Document("a", text("x")), Document("b", "  ")])
    assert [v.field for v in err.value.violations] == ["documents[1].text"]
    assert corpus.list_document_ids("t") == []
    assert fake_embedder.calls == 0, "validation comes before any work"


def test_delete_reports_deleted_and_not_found(corpus: Corpus) -> None:
    corpus.index_documents("t", [Document("a", text("x")), Document("b", text("y"))])
    result = corpus.delete_documents("t", ["a", "zzz", "b", "yyy"])
    assert (result.deleted, result.not_found) == (2, ("zzz", "yyy"))
    assert corpus.list_document_ids("t") == []
    assert stored_chunk_records(corpus) == 0
    again = corpus.delete_documents("t", ["a"])
    assert (again.deleted, again.not_found) == (0, ("a",))


def test_tenants_are_separated(corpus: Corpus) -> None:
    corpus.index_documents("alice", [Document("shared-id", text("alice"))])
    corpus.index_documents("bob", [Document("shared-id", text("bob")), Document("b2", text("b2"))])
    assert chunk_texts(corpus, "alice", "shared-id") == [text("alice")]
    assert chunk_texts(corpus, "bob", "shared-id") == [text("bob")]
    with pytest.raises(InvalidInput) as err:
        corpus.get_documents("alice", ["shared-id", "b2"])
    assert [v.field for v in err.value.violations] == ["document_ids[1]"]
    assert corpus.delete_documents("alice", ["b2"]).not_found == ("b2",)
    corpus.delete_documents("alice", ["shared-id"])
    assert corpus.list_document_ids("alice") == []
    assert corpus.list_document_ids("bob") == ["b2", "shared-id"]


@pytest.mark.parametrize(("a", "b"), [("ab", "a"), ("a", ""), ("t", "t\x00")])
def test_tenant_prefixes_never_overlap(corpus: Corpus, a: str, b: str) -> None:
    corpus.index_documents(a, [Document("x", text("a"))])
    corpus.index_documents(b, [Document("bx", text("b"))])
    assert corpus.list_document_ids(a) == ["x"]
    assert corpus.list_document_ids(b) == ["bx"]


def test_documents_survive_reopening(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    """An LMDB corpus opened from a path (the embedded default) keeps its documents."""
    with Corpus(tmp_path / "c", fake_embedder) as corpus:
        corpus.index_documents("t", [Document("a", text("x"), {"k": "v"}, static=True)])
    with Corpus(tmp_path / "c", fake_embedder) as corpus:
        (doc,) = corpus.get_documents("t", ["a"])
        assert doc.document == Document("a", text("x"), {"k": "v"}, static=True)
        (result,) = corpus.index_documents("t", [doc.document])
        assert result.status is IndexStatus.UNCHANGED


def test_concurrent_indexing_from_threads(corpus: Corpus) -> None:
    docs = [Document(f"d{i}", text(str(i), "common")) for i in range(16)]

    def index(doc: Document) -> list[IndexResult]:
        return corpus.index_documents("t", [doc])

    with ThreadPoolExecutor(max_workers=4) as pool:
        first = [r for results in pool.map(index, docs + docs) for r in results]
    statuses = {}
    for r in first:
        statuses.setdefault(r.document_id, []).append(r.status)
    # Each document is created exactly once, whichever thread got there first.
    assert all(
        sorted(s, key=lambda x: x.value) == [IndexStatus.CREATED, IndexStatus.UNCHANGED]
        for s in statuses.values()
    )
    assert len(corpus.list_document_ids("t")) == 16


def test_a_full_lmdb_store_is_resource_exhausted_not_internal(
    tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    import grpc

    from promptpress.server.status import status_for
    from promptpress.storage.lmdb_store import LmdbStore

    # Room for a few documents with their chunks' and sub-chunks' vectors (~50 KB each).
    store = LmdbStore(tmp_path / "tiny", map_size=512 << 10)
    with Corpus(store, fake_embedder) as corpus:
        big = " ".join(f"word{i}" for i in range(1500))  # ~13 KB
        with pytest.raises(ResourceExhausted) as err:
            for i in range(20):
                corpus.index_documents("t", [Document(f"d{i}", f"{big} {i}")])
        stored = corpus.list_document_ids("t")
        assert 0 < len(stored) < 20
        assert corpus.usage("t")[0] == len(stored), "the refused write left nothing behind"
    store.close()
    code, message, _ = status_for(err.value, "request-id")
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "full" in message and "store_map_size" in message
