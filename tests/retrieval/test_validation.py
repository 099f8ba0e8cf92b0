from __future__ import annotations

import pytest

from promptpress.errors import InvalidInput
from promptpress.retrieval import Corpus, DocumentLimits, retrieve
from promptpress.retrieval.validation import document_id_violations, document_violations
from promptpress.types import Document

LIMITS = DocumentLimits(
    max_documents=3,
    max_document_ids=3,
    max_document_bytes=100,
    max_metadata_bytes=20,
    max_id_bytes=10,
)
OK = "A fine document."


@pytest.mark.parametrize(
    ("documents", "expected"),
    [
        ([Document("a", OK), Document("b", OK)], []),
        ([Document("a", "")], [("documents[0].text", "empty")]),
        ([Document("a", OK), Document("b", " \n\t ")], [("documents[1].text", "empty")]),
        ([Document("a", "x" * 101)], [("documents[0].text", "101 bytes; the limit is 100")]),
        (
            [Document("a", "é" * 51)],
            [("documents[0].text", "102 bytes")],
        ),  # UTF-8 bytes, not characters
        (
            [Document("a", OK), Document("b", OK), Document("a", OK)],
            [("documents[2].id", "duplicate id 'a', also documents[0]")],
        ),
        ([Document("", OK)], [("documents[0].id", "must not be empty")]),
        ([Document("x" * 11, OK)], [("documents[0].id", "11 bytes")]),
        ([Document("a\nb", OK)], [("documents[0].id", "control characters")]),
        ([Document("a", OK, {"key": "v" * 20})], [("documents[0].metadata", "23 bytes")]),
        ([Document(str(i), OK) for i in range(4)], [("documents", "4 documents; the limit is 3")]),
        (
            [Document("a", ""), Document("a", "x" * 200)],
            [
                ("documents[0].text", "empty"),
                ("documents[1].id", "duplicate"),
                ("documents[1].text", "200 bytes"),
            ],
        ),
    ],
)
def test_document_violations(documents: list[Document], expected: list[tuple[str, str]]) -> None:
    got = document_violations(documents, LIMITS)
    assert [v.field for v in got] == [field for field, _ in expected]
    for violation, (_, text) in zip(got, expected, strict=True):
        assert text in violation.description


@pytest.mark.parametrize(
    ("ids", "inline", "expected"),
    [
        (["a", "b"], [], []),
        (["a", "b", "a"], [], [("document_ids[2]", "duplicate id 'a', also document_ids[0]")]),
        (["a", ""], [], [("document_ids[1]", "must not be empty")]),
        (["a", "b", "c", "d"], [], [("document_ids", "4 ids; the limit is 3")]),
        (
            ["x", "b"],
            [Document("b", OK)],
            [("document_ids[1]", "also given inline as documents[0]")],
        ),
    ],
)
def test_document_id_violations(
    ids: list[str], inline: list[Document], expected: list[tuple[str, str]]
) -> None:
    got = document_id_violations(ids, LIMITS, inline=inline)
    assert [
        (v.field, text in v.description) for v, (_, text) in zip(got, expected, strict=True)
    ] == [(field, True) for field, _ in expected]
    assert len(got) == len(expected)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_id_bytes": 0}, {"max_id_bytes": 301}, {"max_documents": 0}, {"max_document_bytes": -1}],
)
def test_limits_are_validated(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        DocumentLimits(**kwargs)


@pytest.fixture
def small_corpus(tmp_path, fake_embedder):  # type: ignore[no-untyped-def]
    with Corpus(tmp_path / "c", fake_embedder, limits=LIMITS, map_size=16 << 20) as c:
        yield c


def test_index_rejects_too_many_documents(small_corpus: Corpus) -> None:
    with pytest.raises(InvalidInput) as err:
        small_corpus.index_documents("t", [Document(str(i), OK) for i in range(4)])
    assert [v.field for v in err.value.violations] == ["documents"]


def test_delete_rejects_bad_ids(small_corpus: Corpus) -> None:
    with pytest.raises(InvalidInput) as err:
        small_corpus.delete_documents("t", ["a", "a"])
    assert [v.field for v in err.value.violations] == ["document_ids[1]"]


def test_retrieve_reports_inline_and_id_problems_together(small_corpus: Corpus, counter) -> None:  # type: ignore[no-untyped-def]
    small_corpus.index_documents("t", [Document("stored", OK)])
    with pytest.raises(InvalidInput) as err:
        retrieve(
            small_corpus,
            "t",
            query="q",
            counter=counter,
            max_tokens=100,
            documents=[Document("inline", "")],
            document_ids=["stored", "stored"],
        )
    assert [v.field for v in err.value.violations] == ["documents[0].text", "document_ids[1]"]


def test_retrieve_names_every_unknown_id(small_corpus: Corpus, counter) -> None:  # type: ignore[no-untyped-def]
    small_corpus.index_documents("t", [Document("known", OK)])
    with pytest.raises(InvalidInput) as err:
        retrieve(
            small_corpus,
            "t",
            query="q",
            counter=counter,
            max_tokens=100,
            document_ids=["nope", "known", "gone"],
        )
    assert [(v.field, v.description) for v in err.value.violations] == [
        ("document_ids[0]", "unknown document id 'nope'"),
        ("document_ids[2]", "unknown document id 'gone'"),
    ]
