"""The retrieval bench suite's scoring helpers: a wrong recall check would make
every number in bench/README.md wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptpress.bench.suites.retrieval_scoring import (
    STORED_ONLY,
    method_options,
    normalise,
    recalled,
    selected_pieces,
    service_corpus,
)
from promptpress.retrieval import ChunkingConfig, FusionWeights, Selection, SelectionOptions
from promptpress.retrieval.chunking import Chunk
from promptpress.retrieval.selection import ScoredChunk
from promptpress.tokens import counter_for
from tests.retrieval.conftest import HashingEmbedder


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The  Normans, of France!", "normans of france"),
        ("an apple a day", "apple day"),
        ("Théâtre", "théâtre"),
    ],
)
def test_normalise_is_squads(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(
    ("pieces", "answers", "expected"),
    [
        (["They lived in France."], ["France"], True),
        (["They lived in the Frankish lands."], ["France", "Frank"], False),  # whole words only
        (["in the 10th and 11th centuries"], ["10th and 11th centuries"], True),
        (
            ["ends with 10th", "and 11th centuries"],
            ["10th and 11th centuries"],
            False,
        ),  # not across pieces
        ([], ["x"], False),
    ],
)
def test_recalled(pieces: list[str], answers: list[str], expected: bool) -> None:
    assert recalled(pieces, answers) is expected


def _scored(doc: str, index: int, start: int, end: int, text: str) -> ScoredChunk:
    chunk = Chunk(
        doc, f"{doc}#{index}", index, start, end, text[start:end], 1, "o200k_base", "0" * 64
    )
    return ScoredChunk(chunk, 1.0, 1, 0.0, 0.0)


def test_selected_pieces_merge_overlapping_chunks_of_a_document() -> None:
    a = "One two. Three four. Five six."
    b = "Other document text."
    chosen = (
        _scored("b", 0, 0, len(b), b),
        _scored("a", 2, 21, 30, a),
        _scored("a", 0, 0, 13, a),
        _scored("a", 1, 9, 20, a),  # overlaps chunk 0: the answer "two. Three" spans them
    )
    pieces = selected_pieces(Selection(chosen), {"a": a, "b": b})
    assert sorted(pieces) == sorted([b, a])
    assert recalled(pieces, ["two three"]) and recalled(pieces, ["four five"])


def test_the_bench_measures_the_service_defaults(
    tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    with service_corpus(tmp_path / "c", fake_embedder) as corpus:
        assert corpus.chunking == ChunkingConfig()
        assert corpus.counter.encoding_name == counter_for().encoding_name
    options = method_options()
    assert options["fusion"] == SelectionOptions()
    assert options["bm25"].weights == FusionWeights(
        bm25=1.0, dense=0.0, k=options["fusion"].weights.k
    )
    assert options["dense"].weights == FusionWeights(
        bm25=0.0, dense=1.0, k=options["fusion"].weights.k
    )
    assert options["bm25"].refine and options["dense"].refine
    assert options[STORED_ONLY] == SelectionOptions(refine=False)
