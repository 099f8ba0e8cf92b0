"""The semantic-cache pair evaluation: per-category scoring, including categories it
does not know, and the optional held-out file run end to end (real MiniLM, real LMDB)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptpress.bench import semantic_pairs as sp
from promptpress.cachekeys import query_vector


def pair(a: str, b: str, label: int, category: str) -> sp.LabelledPair:
    return sp.LabelledPair(a, b, label, category)


def test_unknown_and_mixed_categories_are_scored_by_label() -> None:
    pairs = [
        pair("a", "a", 1, "brand-new-paraphrase"),
        pair("b", "b", 1, "brand-new-paraphrase"),
        pair("c", "d", 0, "brand-new-near-miss"),
        pair("e", "f", 0, "mixed"),
        pair("g", "g", 1, "mixed"),
    ]
    result = sp.score(pairs, [True, False, True, False, True])
    assert result["recall_by_category"] == {"brand-new-paraphrase": 0.5, "mixed (same answer)": 1.0}
    assert result["false_hits_by_category"] == {
        "brand-new-near-miss": 1.0,
        "mixed (near-miss)": 0.0,
    }
    assert result["recall"] == pytest.approx(2 / 3)
    assert result["false_hit_rate"] == pytest.approx(0.5)
    met = sp.targets_met(result)
    assert met == {"brand-new-paraphrase": False, "mixed (same answer)": True,
                   "brand-new-near-miss": False, "mixed (near-miss)": True}  # fmt: skip


def test_holdout_file_is_evaluated_per_category(
    tmp_path: Path, shared_embedder, shared_pair_encoder
) -> None:  # type: ignore[no-untyped-def]
    rows = [
        {"a": "What is the capital of France?", "b": "what's the capital of france", "label": 1,
         "category": "casual-rewrite"},
        {"a": "Set an alarm for 6 am", "b": "Set an alarm for 6 pm", "label": 0,
         "category": "time"},
    ]  # fmt: skip
    path = tmp_path / "holdout.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    def embed(texts):  # type: ignore[no-untyped-def]
        import numpy as np

        return np.stack([query_vector(shared_embedder, t) for t in texts])

    result = sp.evaluate(shared_embedder, embed, path, encoder=shared_pair_encoder)
    assert result["pairs"] == 2
    default = result[f"verifier (bound {sp.DEFAULT_BOUND})"]
    assert default["recall_by_category"] == {"casual-rewrite": 1.0}
    assert default["false_hits_by_category"] == {"time": 0.0}
    assert result["cosine only"]["false_hits_by_category"] == {"time": 1.0}
    table = sp.tables(result, "held-out pairs")
    assert table.splitlines()[0].startswith("| held-out pairs |")
    assert "casual-rewrite (recall, n=1)" in table and "time (false hits, n=1)" in table


def test_hand_written_file_splits_in_fixed_halves() -> None:
    pairs = sp.load_pairs()
    halves = [sp.hand_split(p) for p in pairs]
    assert set(halves) == {"train", "dev"}
    assert 0.35 < halves.count("dev") / len(pairs) < 0.65
    # Every category is on both sides, so the dev half reports all of them.
    for half in ("train", "dev"):
        assert {p.category for p, h in zip(pairs, halves, strict=True) if h == half} == {
            p.category for p in pairs
        }
    assert [sp.hand_split(p) for p in sp.load_pairs()] == halves  # fixed, not random
