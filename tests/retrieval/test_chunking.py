from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptpress.retrieval.chunking import ChunkingConfig, chunk_document
from promptpress.tokens import TokenCounter, counter_for
from promptpress.types import Document

SENTENCE = "The river Rhine flows through {n} countries before it reaches the North Sea."


def paragraph(sentences: int, tag: str = "") -> str:
    return " ".join(SENTENCE.format(n=f"{tag}{i}") for i in range(sentences))


def test_same_document_same_chunks_and_ids(counter: TokenCounter) -> None:
    doc = Document("manual", "\n\n".join(paragraph(6, t) for t in "abcdef"))
    first = chunk_document(doc, counter, size=64, overlap=8)
    again = chunk_document(Document("manual", doc.text), counter, size=64, overlap=8)
    assert first == again
    assert len(first) > 3
    assert len({c.chunk_id for c in first}) == len(first)
    assert all(c.chunk_id.startswith("manual#") for c in first)


def test_editing_the_last_paragraph_keeps_earlier_chunk_ids(counter: TokenCounter) -> None:
    paragraphs = [paragraph(2, t) for t in "abcd"]
    before = chunk_document(Document("d", "\n\n".join(paragraphs)), counter, size=64, overlap=8)
    edited = [*paragraphs[:-1], paragraphs[-1].replace("North Sea", "Atlantic")]
    after = chunk_document(Document("d", "\n\n".join(edited)), counter, size=64, overlap=8)
    assert [c.chunk_id for c in before[:-1]] == [c.chunk_id for c in after[:-1]]
    assert before[-1].chunk_id != after[-1].chunk_id


def test_paragraphs_that_fit_are_never_split(counter: TokenCounter) -> None:
    # ~48 tokens each: the first sentence of the next paragraph would still fit,
    # but taking it would split a paragraph that fits whole in a chunk of its own.
    paragraphs = [paragraph(3, t) for t in "abc"]
    doc = Document("d", "\n\n".join(paragraphs))
    chunks = chunk_document(doc, counter, size=64, overlap=8)
    assert [c.text for c in chunks] == paragraphs


def test_small_paragraphs_share_a_chunk(counter: TokenCounter) -> None:
    doc = Document("d", "Alpha one.\n\nBeta two.\n\nGamma three.")
    (chunk,) = chunk_document(doc, counter, size=64, overlap=8)
    assert chunk.text == doc.text


def test_long_paragraph_splits_at_sentences_with_overlap(counter: TokenCounter) -> None:
    doc = Document("d", paragraph(12))
    chunks = chunk_document(doc, counter, size=64, overlap=24)
    assert len(chunks) > 2
    for a, b in itertools.pairwise(chunks):
        assert b.start < a.end, "consecutive chunks of one paragraph overlap"
        shared = doc.text[b.start : a.end]
        assert counter.count(shared) <= 24
        assert shared.endswith(".") and b.text[0].isupper(), "overlap is whole sentences"


def test_no_overlap_across_paragraph_boundaries(counter: TokenCounter) -> None:
    doc = Document("d", paragraph(3, "a") + "\n\n" + paragraph(3, "b"))  # ~54 tokens each
    chunks = chunk_document(doc, counter, size=64, overlap=24)
    assert len(chunks) == 2
    assert chunks[0].end < chunks[1].start


def test_over_long_sentence_and_unbroken_blob_are_cut(counter: TokenCounter) -> None:
    words = " ".join(f"word{i}" for i in range(400))
    blob = "x" * 3000
    doc = Document("d", words + "\n\n" + blob)
    chunks = chunk_document(doc, counter, size=32, overlap=0)
    assert all(0 < c.tokens <= 32 for c in chunks)
    assert "".join(c.text for c in chunks if c.start >= len(words)) == blob


def test_repeated_text_gets_distinct_stable_ids(counter: TokenCounter) -> None:
    doc = Document("d", "\n\n".join([paragraph(3, "a"), paragraph(3, "b"), paragraph(3, "a")]))
    chunks = chunk_document(doc, counter, size=64, overlap=0)
    same = [c for c in chunks if c.text == paragraph(3, "a")]
    assert len(same) == 2
    assert same[0].content_hash == same[1].content_hash
    assert same[0].chunk_id != same[1].chunk_id
    assert [c.chunk_id for c in chunk_document(doc, counter, size=64, overlap=0)] == [
        c.chunk_id for c in chunks
    ]


def test_counts_are_in_the_counter_encoding(counter: TokenCounter) -> None:
    other = counter_for("gpt-4")  # cl100k_base
    doc = Document("d", paragraph(3))
    (a,) = chunk_document(doc, counter, size=256)
    (b,) = chunk_document(doc, other, size=256)
    assert (a.encoding, b.encoding) == (counter.encoding_name, other.encoding_name)
    assert a.tokens == counter.count(a.text) and b.tokens == other.count(b.text)


@pytest.mark.parametrize(("size", "overlap"), [(4, 0), (64, 32), (64, -1), (100, 50)])
def test_invalid_configs_are_refused(size: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        ChunkingConfig(size, overlap)


_words = st.sampled_from(
    [
        "alpha",
        "beta",
        "Gamma",
        "delta.",
        "epsilon!",
        "zeta?",
        "eta,",
        "théta",
        "ιώτα",
        "数据",
        "x" * 40,
    ]
)
_paragraph_text = st.lists(_words, min_size=1, max_size=80).map(" ".join)
_document_text = st.lists(_paragraph_text, min_size=1, max_size=8).map(lambda ps: "\n\n".join(ps))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=_document_text,
    size=st.sampled_from([8, 16, 48, 256]),
    overlap_share=st.sampled_from([0, 4, 8]),
)
def test_chunks_fit_cover_and_slice_the_text(
    counter: TokenCounter, text: str, size: int, overlap_share: int
) -> None:
    doc = Document("p", text)
    overlap = size * overlap_share // 20
    chunks = chunk_document(doc, counter, size=size, overlap=overlap)
    covered = [False] * len(text)
    for i, chunk in enumerate(chunks):
        assert chunk.index == i
        assert chunk.text == text[chunk.start : chunk.end] and chunk.text.strip() == chunk.text
        assert 0 < chunk.tokens <= size and chunk.tokens == counter.count(chunk.text)
        for k in range(chunk.start, chunk.end):
            covered[k] = True
    assert all(covered[k] for k, ch in enumerate(text) if not ch.isspace()), "no text is lost"
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
