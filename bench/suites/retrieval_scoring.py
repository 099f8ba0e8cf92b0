"""The retrieval suite's scoring: what is compared, and when a question counts as recalled.

Kept apart from the suite's run and report (retrieval.py) because every number
the suite publishes rests on these few functions; tests/retrieval/
test_bench_suite.py checks them one by one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from promptpress.bench.datasets import squad_normalise as normalise
from promptpress.retrieval import (
    Corpus,
    FusionWeights,
    Selection,
    SelectionOptions,
    SentenceTransformerEmbedder,
)
from promptpress.types import TextEmbedder

BUDGETS = (128, 256, 512)
METHODS = ("in_order", "bm25", "dense", "fusion")
# Not the service: fusion over the stored chunks only (SelectionOptions.refine off).
STORED_ONLY = "fusion_stored_chunks"

__all__ = [
    "BUDGETS",
    "METHODS",
    "STORED_ONLY",
    "CountingEmbedder",
    "Tally",
    "method_options",
    "normalise",
    "recalled",
    "selected_pieces",
    "service_corpus",
]


def service_corpus(path: Path, embedder: TextEmbedder) -> Corpus:
    """The corpus as the server builds it: default chunking, default tokenizer."""
    return Corpus(path, embedder)


def method_options() -> dict[str, SelectionOptions]:
    """The service's options (fusion), and the same with one ranker or no refining."""
    service = SelectionOptions()
    k = service.weights.k
    return {
        "fusion": service,
        "bm25": SelectionOptions(weights=FusionWeights(bm25=1.0, dense=0.0, k=k)),
        "dense": SelectionOptions(weights=FusionWeights(bm25=0.0, dense=1.0, k=k)),
        STORED_ONLY: SelectionOptions(refine=False),
    }


class CountingEmbedder:
    """The model, counting the texts it embeds; remembers queries only when told to.

    Timed requests run with `remember` off, so each embeds its query as the
    service would; the untimed comparison runs reuse the question's embedding.
    """

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner = inner
        self.model_id, self.dim = inner.model_id, inner.dim
        self.remember = False
        self.embedded = 0  # texts other than remembered queries
        self._queries: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.remember and len(texts) == 1 and texts[0] in self._queries:
            return self._queries[texts[0]]
        self.embedded += len(texts)
        vectors = self.inner.embed(texts)
        if self.remember and len(texts) == 1:
            self._queries = {texts[0]: vectors}
        return vectors


@dataclass
class Tally:
    """Per method and budget: recalled, tokens used; latencies (s), per-request facts."""

    hits: dict[tuple[str, int], list[bool]]
    tokens: dict[tuple[str, int], list[int]]
    latency: dict[str, list[float]]
    misses: dict[int, list[bool]]  # warm request embedded more than its query
    granularity: dict[int, list[int]]
    candidates: dict[int, list[int]]
    documents: list[int]  # per question

    @classmethod
    def empty(cls) -> Tally:
        d = defaultdict
        return cls(d(list), d(list), d(list), d(list), d(list), d(list), [])


def recalled(pieces: Sequence[str], answers: Sequence[str]) -> bool:
    padded = [f" {normalise(p)} " for p in pieces]
    return any(f" {normalise(a)} " in p for a in answers for p in padded)


def selected_pieces(selection: Selection, texts: dict[str, str]) -> list[str]:
    """The selected text as a reader sees it: touching chunks of a document merged."""
    spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for scored in selection.chunks:
        spans[scored.chunk.document_id].append((scored.chunk.start, scored.chunk.end))
    pieces = []
    for doc_id, doc_spans in spans.items():
        merged: list[list[int]] = []
        text = texts[doc_id]
        for start, end in sorted(doc_spans):
            # Overlapping or separated only by whitespace: one passage to a reader.
            if merged and not text[merged[-1][1] : start].strip():
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        pieces += [text[s:e] for s, e in merged]
    return pieces
