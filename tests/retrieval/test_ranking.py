from __future__ import annotations

import math

import numpy as np
import pytest

from promptpress.retrieval.ranking import (
    FusionWeights,
    bm25_scores,
    bm25_terms,
    dense_scores,
    lucene_idf,
    ranks,
    reciprocal_rank_fusion,
)

INF = math.inf


@pytest.mark.parametrize(
    ("scores", "mask", "expected"),
    [
        ([0.1, 0.9, 0.5], None, [3, 1, 2]),
        ([0.5, 0.9, 0.5], None, [2, 1, 2]),  # ties share the better rank
        ([0.0, 2.0, 0.0, 1.0], [False, True, False, True], [INF, 1, INF, 2]),
        ([], None, []),
        ([1.0, 1.0], [False, False], [INF, INF]),
    ],
)
def test_ranks(scores: list[float], mask: list[bool] | None, expected: list[float]) -> None:
    got = ranks(np.array(scores, dtype=float), ranked=None if mask is None else np.array(mask))
    assert got.tolist() == expected


@pytest.mark.parametrize(
    ("weights", "bm25", "dense", "expected"),
    [
        # Equal weights: agreement at the top wins; a chunk ranked by one side only
        # still scores.
        (FusionWeights(1, 1, 0), [1, 2, INF], [2, 1, 3], [1 / 1 + 1 / 2, 1 / 2 + 1 / 1, 1 / 3]),
        (FusionWeights(1, 0, 60), [1, 2], [2, 1], [1 / 61, 1 / 62]),
        (FusionWeights(0, 2, 60), [1, 2], [2, 1], [2 / 62, 2 / 61]),
        (FusionWeights(2, 1, 10), [INF, 1], [1, 2], [1 / 11, 2 / 11 + 1 / 12]),
    ],
)
def test_weighted_reciprocal_rank_fusion(
    weights: FusionWeights, bm25: list[float], dense: list[float], expected: list[float]
) -> None:
    fused = reciprocal_rank_fusion(np.array(bm25), np.array(dense), weights)
    assert fused == pytest.approx(expected)


@pytest.mark.parametrize(
    "kwargs", [{"bm25": -1.0}, {"dense": -0.1}, {"bm25": 0.0, "dense": 0.0}, {"k": -1.0}]
)
def test_fusion_weights_are_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        FusionWeights(**kwargs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What is the capital of France?", ("capit", "franc")),
        ("Running runners ran", ("run", "runner", "ran")),
        ("the of and", ()),
        ("Ünïcode wörds 42", ("ünïcode", "wörd", "42")),
    ],
)
def test_bm25_terms(text: str, expected: tuple[str, ...]) -> None:
    assert bm25_terms(text) == expected


def test_bm25_prefers_the_chunk_with_rare_query_terms() -> None:
    chunks = [
        bm25_terms("The weather in Paris is mild in spring."),
        bm25_terms("Oxygen is a chemical element with symbol O and atomic number 8."),
        bm25_terms("Paris hosts many museums and galleries."),
    ]
    scores = bm25_scores(bm25_terms("What is the atomic number of oxygen?"), chunks)
    assert int(np.argmax(scores)) == 1
    assert scores[0] == 0 and scores[2] == 0


def test_a_term_in_half_of_two_chunks_still_counts() -> None:
    # rank-bm25's Okapi idf is log((2 - 1 + 0.5) / (1 + 0.5)) = 0 here: the chunk
    # that holds the query's only term would score nothing.
    scores = bm25_scores(("oxygen",), [("oxygen", "gas"), ("rhine", "river")])
    assert scores[0] > 0 and scores[1] == 0


def test_terms_in_most_chunks_still_count_for_the_chunks_that_hold_them() -> None:
    # Okapi: "oxygen" (3 of 4) has a negative idf, "gas" (2 of 4) zero, and
    # rank-bm25 floors negatives at a share of the mean idf, here 0: all score 0.
    chunks = [("oxygen", "gas"), ("oxygen", "gas"), ("oxygen",), ("rhine",)]
    scores = bm25_scores(("oxygen", "gas"), chunks)
    assert scores[0] == scores[1] > scores[2] > scores[3] == 0


@pytest.mark.parametrize(("n", "df", "expected"), [(2, 1, math.log(2)), (1, 1, math.log(4 / 3))])
def test_lucene_idf(n: int, df: int, expected: float) -> None:
    assert lucene_idf(n, df) == pytest.approx(expected)


def test_lucene_idf_is_positive_and_falls_as_terms_get_common() -> None:
    values = [lucene_idf(100, df) for df in range(1, 101)]
    assert all(v > 0 for v in values)
    assert values == sorted(values, reverse=True)


def test_bm25_degenerate_inputs_score_zero() -> None:
    assert bm25_scores(("x",), []).shape == (0,)
    assert bm25_scores((), [("a",), ("b",)]).tolist() == [0, 0]
    assert bm25_scores(("a",), [(), ()]).tolist() == [0, 0]


def test_dense_scores_are_cosines() -> None:
    vectors = np.array([[1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
    assert dense_scores(np.array([1, 0], dtype=np.float32), vectors) == pytest.approx([1, 0, 0.6])
