"""How small budgets cut stored chunks finer: sizes and sub-chunks (see refine.py).

Kept apart from refine.py's selection so that the corpus can cut the same
sub-chunks when it indexes a document (to embed them ahead of requests)
without importing the selection stage that reads the corpus.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

from promptpress.retrieval.chunking import Chunk, ChunkingConfig, chunk_document, counter_identity
from promptpress.tokens import TokenCounter
from promptpress.types import Document

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
