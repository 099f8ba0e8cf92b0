"""The semantic_cache suite's latency measurement: real lookups through a real cache
(LMDB in a temp dir) with the real verifier, reported by kind of lookup."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from promptpress.bench.suites.semantic_cache import (
    _tables,
    fill_vectors,
    latency,
    latency_queries,
    p50_by_kind,
)
from promptpress.cachekeys.keys import normalize_query
from promptpress.cachekeys.semantic_cache.verifier import Verifier

STORED = [
    "How do I reset my router to factory settings?",
    "What is the boiling point of water at high altitude?",
    "How long should I rest a steak after cooking it?",
    "Can I take ibuprofen on an empty stomach?",
    "How do I get candle wax out of a tablecloth?",
    "What documents do I need to renew a UK passport?",
]
REWORDED = [
    "How can I restore my router to its factory settings?",
    "How long do I need to let a steak rest once it's cooked?",
    "How do I remove candle wax from a tablecloth?",
]


def test_p50_by_kind_splits_the_lookups_by_what_they_were() -> None:
    times = [1.0, 3.0, 100.0, 200.0, 300.0, 2.0]
    kinds = ["near duplicate", "near duplicate", "paraphrase", "paraphrase", "paraphrase",
             "unrelated"]  # fmt: skip
    assert p50_by_kind(times, kinds) == {"near duplicate": 2.0, "paraphrase": 200.0,
                                         "unrelated": 2.0}  # fmt: skip


def test_latency_reports_verified_lookups_by_kind(
    shared_embedder, shared_pair_encoder, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    vectors = np.asarray(shared_embedder.embed([normalize_query(t) for t in STORED]))
    reworded = np.asarray(shared_embedder.embed([normalize_query(t) for t in REWORDED]))
    paraphrases = [(0, REWORDED[0], reworded[0]), (2, REWORDED[1], reworded[1]),
                   (4, REWORDED[2], reworded[2])]  # fmt: skip
    fill = fill_vectors(vectors, 600, np.random.default_rng(0))
    queries = latency_queries(fill, STORED, paraphrases, np.random.default_rng(1))
    assert [q[3] for q in queries[:3]] == ["paraphrase"] * 3
    verifier = Verifier(shared_embedder, encoder=shared_pair_encoder)
    out = latency(fill, STORED, queries, tmp_path, verifier)
    one = out["one context"]
    assert set(one["verified_p50_ms_by_kind"]) == {"paraphrase", "near duplicate", "unrelated"}
    assert all(ms > 0 for ms in one["verified_p50_ms_by_kind"].values())
    assert one["verified_hit_rate"] > 0  # the near duplicates are served
    table = _tables({}, out, {})
    assert "verified p50 ms: paraphrase / near duplicate / unrelated" in table
