"""Finer candidates for small context budgets: coarse-to-fine selection.

Documents are chunked, indexed and embedded at the corpus's chunk size (256
tokens by default). A request's context budget can be much smaller: a 128-token
budget holds no 256-token chunk at all and a 256-token budget holds one, so
selection would have nothing to choose between. When the chunk size is more than
a third of the budget, selection runs in two stages:

1. coarse: the stored chunks are ranked as usual (BM25 and dense, fused), and the
   best of them, together at least 2,048 tokens or four budgets, are kept (when
   all of them fit in that, all are kept without being embedded or ranked);
2. fine: each kept chunk is cut again, on the same sentence and paragraph
   boundaries, into sub-chunks of about a quarter of the budget (a power of two,
   at least `MIN_FINE_TOKENS` = 64); those are ranked against the query and fill the
   budget with the usual de-duplication and placement.

Sub-chunks are ordinary `Chunk`s: exact slices of the document text, with ids
made of the document id and their content hash (the same chunk always yields the
same sub-chunks), and embeddings cached in the corpus by content hash like any
chunk's, so none is embedded twice. Sizes are powers of two so that nearby
budgets share sub-chunks and their cached vectors: with the default 256-token
chunks every budget below 768 tokens asks for 64- or 128-token sub-chunks
(`reachable_fine_chunkings`). The corpus embeds those when it indexes a document
(corpus.py), so a small-budget request over stored documents finds them cached.
Only the kept chunks are cut, so when they are not cached (inline documents, a
corpus indexed before sub-chunks were embedded at index time, an evicted cache
entry, a corpus configured not to) the work per request is still bounded by the
budget, not by the corpus: a 128-token budget over a thousand stored documents
embeds at most about 2,300 tokens of new sub-chunks (2,048 and one chunk), once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from promptpress.retrieval.chunking import ChunkingConfig
from promptpress.retrieval.corpus import Corpus, PreparedDocument
from promptpress.retrieval.ranking import bm25_terms
from promptpress.retrieval.selection import (
    CandidatePool,
    Selection,
    SelectionOptions,
    rank_chunks,
    select_ranked,
)
from promptpress.retrieval.subchunks import (
    FINE_PER_BUDGET,
    MIN_FINE_TOKENS,
    REFINE_BELOW_CHUNKS_PER_BUDGET,
    fine_chunking,
    reachable_fine_chunkings,
    split_chunk,
    sub_chunks,
)
from promptpress.tokens import TokenCounter
from promptpress.types import Placement

__all__ = [
    "EXPAND_BUDGETS",
    "EXPAND_MIN_TOKENS",
    "FINE_PER_BUDGET",
    "MIN_FINE_TOKENS",
    "REFINE_BELOW_CHUNKS_PER_BUDGET",
    "coarse_keep_tokens",
    "fine_chunking",
    "kept_chunks",
    "reachable_fine_chunkings",
    "select_refined",
    "split_chunk",
    "sub_chunks",
]

# The fine stage re-ranks the sub-chunks of the best stored chunks, together
# EXPAND_BUDGETS budgets or EXPAND_MIN_TOKENS tokens, whichever is more: enough
# that the coarse ranking rarely loses the answer, few enough that a request
# embeds at most a few thousand tokens of new sub-chunks. On SQuAD v2 dev
# articles kept apart from the benchmark's, the paragraph holding the answer was
# among the best 2,048 tokens of 256-token chunks for 99.4% of 540 questions
# (98.1% within 1,024).
EXPAND_BUDGETS = 4
EXPAND_MIN_TOKENS = 2048


def kept_chunks(pool: CandidatePool, fused: np.ndarray, tokens: int) -> list[int]:
    """Indices (request order) of the best chunks by fused score, `tokens` worth."""
    kept: list[int] = []
    total = 0
    for i in np.argsort(-fused, kind="stable"):
        if total >= tokens:
            break
        kept.append(int(i))
        total += pool.chunks[i].tokens
    return sorted(kept)


def coarse_keep_tokens(max_tokens: int) -> int:
    """How many tokens of the best chunks the coarse stage keeps for a budget."""
    return max(EXPAND_MIN_TOKENS, EXPAND_BUDGETS * max_tokens)


def select_refined(
    corpus: Corpus,
    tenant: str,
    query: str,
    documents: Sequence[PreparedDocument],
    *,
    fine: ChunkingConfig,
    counter: TokenCounter,
    max_tokens: int,
    placement: Placement,
    options: SelectionOptions,
) -> Selection:
    """Coarse-to-fine selection (see the module docstring) over the documents' chunks.

    When all the chunks together fit in what the coarse stage keeps, it would keep
    every one whatever their ranking, so they are neither embedded nor ranked: only
    their sub-chunks are (the same selection, without embedding the chunks a second
    time at the coarse size, about half a cold request's model work)."""
    weights = options.weights
    query_vector = None
    if query.strip() and weights.dense:
        query_vector = corpus.embedder.embed([query])[0]
    chunks = [c for d in documents for c in d.chunks]
    keep = coarse_keep_tokens(max_tokens)
    if sum(c.tokens for c in chunks) > keep:
        pool = corpus.candidate_pool(tenant, documents)
        coarse = rank_chunks(
            query, pool, embedder=corpus.embedder, weights=weights, query_vector=query_vector
        )
        chunks = [pool.chunks[i] for i in kept_chunks(pool, coarse.fused, keep)]
    pieces = sub_chunks(chunks, corpus.counter, fine)
    fine_pool = corpus.chunk_pool(tenant, pieces, [bm25_terms(p.text) for p in pieces])
    ranking = rank_chunks(
        query, fine_pool, embedder=corpus.embedder, weights=weights, query_vector=query_vector
    )
    selection = select_ranked(
        fine_pool,
        ranking,
        counter=counter,
        max_tokens=max_tokens,
        placement=placement,
        dedup_threshold=options.dedup_threshold,
    )
    return dataclasses.replace(
        selection, stats=dataclasses.replace(selection.stats, granularity=fine.size)
    )
