"""Finer candidates for small context budgets: coarse-to-fine selection.

Documents are chunked, indexed and embedded at the corpus's chunk size (256
tokens by default). A request's context budget can be much smaller: a 128-token
budget holds no 256-token chunk at all and a 256-token budget holds one, so
selection would have nothing to choose between. When the chunk size is more than
a third of the budget, selection runs in two stages:

1. coarse: the stored chunks are ranked as usual (BM25 and dense, fused), and the
   best of them, together at least 2,048 tokens or four budgets, are kept;
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
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from promptpress.retrieval.chunking import Chunk, ChunkingConfig, chunk_document, counter_identity
from promptpress.retrieval.ranking import bm25_terms
from promptpress.retrieval.selection import (
    CandidatePool,
    Selection,
    SelectionOptions,
    rank_chunks,
    select_ranked,
)
from promptpress.tokens import TokenCounter
from promptpress.types import Document, Placement

if TYPE_CHECKING:  # corpus.py imports this module to cut sub-chunks at index time
    from promptpress.retrieval.corpus import Corpus

# Sub-chunks are cut at about budget / FINE_PER_BUDGET tokens, so that a budget
# holds several candidates, ...
FINE_PER_BUDGET = 4
# ... but never below this: a window of one sentence loses the context that makes
# a passage recognisable, to BM25 and to the embedding model alike. On 180
# questions from SQuAD v2 dev articles kept apart from the benchmark's, 128-token
# budgets recalled the answer for 82% with 32-token windows, 91% with 64-token ones.
MIN_FINE_TOKENS = 64
# Refine when fewer than this many stored chunks fit the budget.
REFINE_BELOW_CHUNKS_PER_BUDGET = 3
# The fine stage re-ranks the sub-chunks of the best stored chunks, together
# EXPAND_BUDGETS budgets or EXPAND_MIN_TOKENS tokens, whichever is more: enough
# that the coarse ranking rarely loses the answer, few enough that a request
# embeds at most a few thousand tokens of new sub-chunks. On SQuAD v2 dev
# articles kept apart from the benchmark's, the paragraph holding the answer was
# among the best 2,048 tokens of 256-token chunks for 99.4% of 540 questions
# (98.1% within 1,024).
EXPAND_BUDGETS = 4
EXPAND_MIN_TOKENS = 2048


def fine_chunking(chunking: ChunkingConfig, max_tokens: int) -> ChunkingConfig | None:
    """The finer chunking `max_tokens` calls for, or None when stored chunks do.

    None when there is no limit (0) or when at least three stored chunks fit.
    """
    if max_tokens <= 0 or chunking.size * REFINE_BELOW_CHUNKS_PER_BUDGET <= max_tokens:
        return None
    target = max(MIN_FINE_TOKENS, max_tokens // FINE_PER_BUDGET)
    size = 1 << (target.bit_length() - 1)  # the power of two at or below
    if size >= chunking.size:
        return None
    # Same overlap share as the defaults (32 of 256): a seam answer stays whole.
    return ChunkingConfig(size, size * chunking.overlap // chunking.size)


@functools.lru_cache(maxsize=16)
def reachable_fine_chunkings(chunking: ChunkingConfig) -> tuple[ChunkingConfig, ...]:
    """Every finer chunking `fine_chunking` can ask for over `chunking`, finest first.

    Budgets of 1 to 3 * size - 1 tokens are the only ones that refine; each maps
    to a power of two, so there are a handful at most ((64, 8) and (128, 16) for
    the default 256-token chunks).
    """
    found = {
        fine_chunking(chunking, b) for b in range(1, chunking.size * REFINE_BELOW_CHUNKS_PER_BUDGET)
    }
    return tuple(sorted((f for f in found if f is not None), key=lambda f: f.size))


def split_chunk(chunk: Chunk, counter: TokenCounter, fine: ChunkingConfig) -> list[Chunk]:
    """`chunk` cut into sub-chunks of at most `fine.size` tokens, offsets in its document.

    A sub-chunk carries its parent's `index` (its position among the document's
    stored chunks); `start` orders sub-chunks within a parent.
    """
    if chunk.tokens <= fine.size and chunk.encoding == counter_identity(counter):
        return [chunk]
    pieces = chunk_document(
        Document(chunk.document_id, chunk.text), counter, size=fine.size, overlap=fine.overlap
    )
    return [
        dataclasses.replace(
            piece, index=chunk.index, start=chunk.start + piece.start, end=chunk.start + piece.end
        )
        for piece in pieces
    ]


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


def sub_chunks(chunks: Sequence[Chunk], counter: TokenCounter, fine: ChunkingConfig) -> list[Chunk]:
    """The sub-chunks of `chunks` in order, each id once.

    Neighbouring stored chunks overlap, and an overlap can yield the same
    sub-chunk from both; identical text under one id is one candidate.
    """
    seen: set[str] = set()
    out: list[Chunk] = []
    for chunk in chunks:
        for piece in split_chunk(chunk, counter, fine):
            if piece.chunk_id not in seen:
                seen.add(piece.chunk_id)
                out.append(piece)
    return out


def select_refined(
    corpus: Corpus,
    tenant: str,
    query: str,
    pool: CandidatePool,
    *,
    fine: ChunkingConfig,
    counter: TokenCounter,
    max_tokens: int,
    placement: Placement,
    options: SelectionOptions,
) -> Selection:
    """Coarse-to-fine selection (see the module docstring) over a pool of stored chunks."""
    weights = options.weights
    query_vector = None
    if query.strip() and weights.dense:
        query_vector = corpus.embedder.embed([query])[0]
    coarse = rank_chunks(
        query, pool, embedder=corpus.embedder, weights=weights, query_vector=query_vector
    )
    kept = kept_chunks(pool, coarse.fused, max(EXPAND_MIN_TOKENS, EXPAND_BUDGETS * max_tokens))
    pieces = sub_chunks([pool.chunks[i] for i in kept], corpus.counter, fine)
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
