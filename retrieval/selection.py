"""Budgeted chunk selection: rank, fill the token budget, drop near-duplicates, place.

`select_chunks` is the whole stage. It is split into `rank_chunks` (score every
candidate) and `select_ranked` (fill the budget and place) so that callers that
compare rankers on one query, such as the benchmark, score once and select many
times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from promptpress.retrieval.chunking import Chunk, counter_identity
from promptpress.retrieval.ranking import (
    DEFAULT_WEIGHTS,
    FusionWeights,
    bm25_scores,
    bm25_terms,
    dense_scores,
    ranks,
    reciprocal_rank_fusion,
)
from promptpress.tokens import TokenCounter
from promptpress.types import Placement, TextEmbedder

DEFAULT_DEDUP_THRESHOLD = 0.95


@dataclass(frozen=True, slots=True)
class SelectionOptions:
    """Service-level knobs (the request only picks budget, placement and query)."""

    weights: FusionWeights = DEFAULT_WEIGHTS
    # Cosine similarity at or above which a chunk counts as a near-duplicate of one
    # already selected; None keeps duplicates.
    dedup_threshold: float | None = DEFAULT_DEDUP_THRESHOLD
    # Cut stored chunks finer when fewer than three fit the request's budget
    # (refine.py); False selects among stored chunks only.
    refine: bool = True


DEFAULT_OPTIONS = SelectionOptions()


@dataclass(frozen=True, slots=True, eq=False)
class CandidatePool:
    """The chunks a query is ranked against, with what the rankers need.

    Chunks are in request order: documents as given, chunks in source order.
    `vectors` rows are the chunks' unit-length embeddings; `terms` their BM25 terms.
    """

    chunks: tuple[Chunk, ...]
    vectors: np.ndarray
    terms: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        n = len(self.chunks)
        if self.vectors.shape[0] != n or len(self.terms) != n:
            raise ValueError("chunks, vectors and terms must have one entry per chunk")

    def __len__(self) -> int:
        return len(self.chunks)


@dataclass(frozen=True, slots=True, eq=False)
class Ranking:
    """Per-candidate scores: raw BM25, cosine (None if not computed), fused."""

    bm25: np.ndarray
    dense: np.ndarray | None
    fused: np.ndarray


@dataclass(frozen=True, slots=True)
class ScoredChunk:
    chunk: Chunk
    score: float  # fused (reciprocal rank fusion) score
    tokens: int  # counted with the target's tokenizer
    bm25: float
    dense: float


@dataclass(frozen=True, slots=True)
class SelectionStats:
    candidates: int = 0
    selected: int = 0
    tokens: int = 0
    dropped_duplicates: int = 0
    skipped_over_budget: int = 0
    # Size (tokens) the candidates were cut at: the corpus's chunk size, or the
    # finer size a small budget called for (see refine.py); 0 when not recorded.
    granularity: int = 0


@dataclass(frozen=True, slots=True)
class Selection:
    """The chosen chunks in placement order, and how they were chosen."""

    chunks: tuple[ScoredChunk, ...] = ()
    stats: SelectionStats = field(default_factory=SelectionStats)


def fuse(bm25: np.ndarray, dense: np.ndarray | None, weights: FusionWeights) -> np.ndarray:
    bm25_ranks = ranks(bm25, ranked=bm25 > 0)
    dense_ranks = np.full(bm25.shape[0], np.inf) if dense is None else ranks(dense)
    return reciprocal_rank_fusion(bm25_ranks, dense_ranks, weights)


def rank_chunks(
    query: str,
    pool: CandidatePool,
    *,
    embedder: TextEmbedder,
    weights: FusionWeights,
    query_vector: np.ndarray | None = None,
) -> Ranking:
    """Score every candidate against the query. An empty query scores all zero.

    `query_vector` is the query's embedding when the caller already has it (it
    ranks twice per request when the budget needs finer chunks).
    """
    n = len(pool)
    if not query.strip() or n == 0:
        zeros = np.zeros(n, dtype=np.float64)
        return Ranking(zeros, None, zeros)
    bm25 = bm25_scores(bm25_terms(query), pool.terms) if weights.bm25 else np.zeros(n)
    dense = None
    if weights.dense:
        if query_vector is None:
            query_vector = embedder.embed([query])[0]
        dense = dense_scores(query_vector, pool.vectors)
    return Ranking(bm25, dense, fuse(bm25, dense, weights))


def select_chunks(
    query: str,
    pool: CandidatePool,
    *,
    embedder: TextEmbedder,
    counter: TokenCounter,
    max_tokens: int,
    placement: Placement = Placement.EDGES,
    options: SelectionOptions = DEFAULT_OPTIONS,
) -> Selection:
    """Rank the pool for `query`, fill `max_tokens` (0: no limit), place the result."""
    ranking = rank_chunks(query, pool, embedder=embedder, weights=options.weights)
    return select_ranked(
        pool,
        ranking,
        counter=counter,
        max_tokens=max_tokens,
        placement=placement,
        dedup_threshold=options.dedup_threshold,
    )


def select_ranked(
    pool: CandidatePool,
    ranking: Ranking,
    *,
    counter: TokenCounter,
    max_tokens: int,
    placement: Placement = Placement.EDGES,
    dedup_threshold: float | None = DEFAULT_DEDUP_THRESHOLD,
) -> Selection:
    """Greedy fill by fused score: a chunk that does not fit is skipped, not the end.

    Ties keep request order, so with no query the result is the in-order baseline.
    """
    if max_tokens < 0:
        raise ValueError("max_tokens must be >= 0 (0 means no limit)")
    remaining = max_tokens if max_tokens else None
    identity = counter_identity(counter)
    chosen: list[int] = []
    chosen_tokens: list[int] = []
    dropped = skipped = 0
    for i in np.argsort(-ranking.fused, kind="stable"):
        chunk = pool.chunks[i]
        tokens = chunk.tokens if chunk.encoding == identity else counter.count(chunk.text)
        if remaining is not None and tokens > remaining:
            skipped += 1
            continue
        if dedup_threshold is not None and _near_duplicate(
            pool.vectors, chosen, i, dedup_threshold
        ):
            dropped += 1
            continue
        chosen.append(int(i))
        chosen_tokens.append(tokens)
        if remaining is not None:
            remaining -= tokens
    scored = {
        i: _scored(pool, ranking, i, tokens)
        for i, tokens in zip(chosen, chosen_tokens, strict=True)
    }
    ordered = tuple(scored[i] for i in place(pool.chunks, chosen, ranking.fused, placement))
    stats = SelectionStats(len(pool), len(ordered), sum(chosen_tokens), dropped, skipped)
    return Selection(ordered, stats)


def _near_duplicate(vectors: np.ndarray, chosen: list[int], i: int, threshold: float) -> bool:
    if not chosen:
        return False
    return bool(np.max(vectors[chosen] @ vectors[i]) >= threshold)


def _scored(pool: CandidatePool, ranking: Ranking, i: int, tokens: int) -> ScoredChunk:
    dense = float(ranking.dense[i]) if ranking.dense is not None else 0.0
    return ScoredChunk(
        pool.chunks[i], float(ranking.fused[i]), tokens, float(ranking.bm25[i]), dense
    )


def place(
    chunks: Sequence[Chunk], chosen: Sequence[int], scores: np.ndarray, placement: Placement
) -> list[int]:
    """Order the chosen candidate indices for the context block.

    SCORE: best first. SOURCE: request order. EDGES: documents ranked by their best
    chunk, the strongest at the two ends of the block and the weakest in the middle
    (models attend least to the middle of a long context); source order inside a
    document.
    """
    if placement is Placement.SCORE:
        return sorted(chosen, key=lambda i: (-scores[i], i))
    if placement is Placement.SOURCE:
        return sorted(chosen)
    by_document: dict[str, list[int]] = {}
    for i in chosen:
        by_document.setdefault(chunks[i].document_id, []).append(i)
    documents = sorted(
        by_document.values(), key=lambda members: (-max(scores[m] for m in members), min(members))
    )
    front, back = documents[0::2], documents[1::2]
    return [i for members in [*front, *reversed(back)] for i in sorted(members)]
