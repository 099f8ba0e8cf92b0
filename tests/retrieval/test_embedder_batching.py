"""Micro-batched embedding: concurrent callers share passes and get the same vectors, bit for bit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from promptpress.retrieval.embedder import SentenceTransformerEmbedder

TEXTS = [
    "Who swore fealty to King Charles?",
    "The Normans gave their name to Normandy, a region in France.",
    "ord_8f3a2c91 shipped on 2024-03-05 to https://example.com/track?id=42",
    " ".join(["Rollo led the Norse raiders along the Seine."] * 12),
    "Short.",
] * 4


def test_batched_vectors_equal_unbatched_ones(shared_embedder) -> None:  # type: ignore[no-untyped-def]
    # The session's embedder batches (the default); a second one with batching off
    # shares nothing with it but the weights on disk.
    alone = SentenceTransformerEmbedder(batching=False)
    want = alone.embed(TEXTS)
    before = shared_embedder.batcher.stats.batches
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda k: shared_embedder.embed([TEXTS[k]])[0], range(len(TEXTS))))
    assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
    together = shared_embedder.embed(TEXTS)  # one call, many widths
    assert np.array_equal(together, want)
    assert shared_embedder.batcher.stats.batches - before < len(TEXTS) + 1  # passes were shared
    # Still the model's own embedding: sentence-transformers' encode agrees to float noise.
    reference = alone._model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert np.allclose(want, reference, atol=1e-5)


def test_parallel_passes_and_repeated_texts_change_no_vector(shared_embedder) -> None:  # type: ignore[no-untyped-def]
    # Two passes at once (the server's default on two cores), and callers sending
    # the same texts at the same time (embedded once per batch): same vectors.
    want = shared_embedder.embed(TEXTS)
    parallel = SentenceTransformerEmbedder(max_concurrent=2, window_s=0.02)
    calls = [TEXTS[k : k + 6] for k in range(0, len(TEXTS), 3)]  # overlapping windows
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(parallel.embed, calls))
    for k, vectors in zip(range(0, len(TEXTS), 3), got, strict=True):
        assert np.array_equal(vectors, want[k : k + 6])
    assert parallel.batcher.stats.items == len(calls)
