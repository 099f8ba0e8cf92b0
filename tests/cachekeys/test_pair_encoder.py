"""The pair encoder: committed weights load offline (safetensors, small, with their
training record) and read both questions jointly (real all-mpnet-base-v2 + adapters)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from promptpress.cachekeys.semantic_cache.pair_encoder import (
    ENCODER_PATH,
    META_KEY,
    MPNET,
    TARGETS,
    PairEncoder,
    served_graph,
)
from promptpress.cachekeys.semantic_cache.pair_encoder_onnx import QUANTIZATION, graph_folder
from promptpress.cachekeys.semantic_cache.verifier import calibrated_threshold, wilson_upper
from promptpress.prepared_folder import MARKER_FILENAME


def test_weights_are_small_safetensors_with_their_training_record() -> None:
    assert ENCODER_PATH.suffix == ".safetensors"
    assert ENCODER_PATH.stat().st_size < 16 << 20  # adapters and a head, not a model (438 MB)
    with safe_open(str(ENCODER_PATH), framework="pt") as f:
        meta = json.loads((f.metadata() or {})[META_KEY])
        names = set(f.keys())
    record = meta["trained_on"]
    assert record["script"] == "python -m promptpress.bench.train_pair_encoder"
    assert isinstance(record["seed"], int) and record["sources"] and record["splits"]
    assert len(meta["combiner"]) == 3 and len(meta["calibration_negatives"]) > 1000
    assert {"head.weight", "head.bias"} <= names
    assert meta["base_model"] == MPNET and meta["role_veto"] is True
    # The calibration was computed through the graph the service runs.
    assert meta["runtime"]["graph"] == "onnx" and meta["runtime"]["quantization"] == QUANTIZATION
    assert len([n for n in names if n.endswith(".A")]) == 12 * len(TARGETS[MPNET])  # every layer


@pytest.mark.parametrize("bound", [0.005, 0.01, 0.02, 0.05])
def test_the_threshold_meets_the_bound_on_the_written_near_misses(bound: float) -> None:
    with safe_open(str(ENCODER_PATH), framework="pt") as f:
        meta = json.loads((f.metadata() or {})[META_KEY])
    assert meta["bound_on"] == "written"
    written = meta["written_calibration"]  # the written calibration split's near-misses
    count = written["near_misses"]
    assert count >= 800 and len(written["negatives"]) <= count
    t = calibrated_threshold(meta, bound)
    served = sum(s >= t for s in written["negatives"])
    assert wilson_upper(served, count) <= bound  # 95% upper bound, within the bound
    lower = [s for s in written["negatives"] if s < t]
    if lower:  # and the lowest such threshold
        assert wilson_upper(sum(s >= max(lower) for s in written["negatives"]), count) > bound
    # The automatic near-misses are carried and reported, not bound.
    assert len(meta["calibration_negatives"]) > 1000
    # The figures recorded at training time used the same threshold.
    assert meta["metrics"][str(bound)]["threshold"] == pytest.approx(t)


@pytest.mark.parametrize(
    ("stored", "reworded", "near_miss"),
    [
        ("How do I fix a leaking faucet?", "How can I repair a dripping tap?",
         "How do I install a leaking faucet?"),
        ("What is the population of Canada?", "How many people live in Canada?",
         "What is the population of Mexico?"),
        ("Who wrote Pride and Prejudice?", "Who is the author of Pride and Prejudice?",
         "Who wrote Sense and Sensibility?"),
        ("How do I turn on dark mode?", "How can I enable dark mode?",
         "How do I turn off dark mode?"),
        ("How do I move money from savings to checking?",
         "How can I transfer funds from my savings to my checking account?",
         "How do I move money from checking to savings?"),
    ],
)  # fmt: skip
def test_a_rewording_scores_above_a_near_miss(
    shared_pair_encoder, stored: str, reworded: str, near_miss: str
) -> None:  # type: ignore[no-untyped-def]
    same, other = shared_pair_encoder.logits([(stored, reworded), (stored, near_miss)])
    assert same > other


def test_a_pair_scores_the_same_whatever_else_is_scored_with_it(shared_pair_encoder) -> None:  # type: ignore[no-untyped-def]
    q = "How can I repair a dripping tap?"
    stored = ["How do I fix a leaking faucet?", "How do I replace a kitchen tap?", "What is a tap?"]
    together = shared_pair_encoder.logits([(s, q) for s in stored])
    alone = np.array([shared_pair_encoder.logits([(s, q)])[0] for s in stored])
    # The score calibration saw: not moved by batch mates or padding (int8 scales per input).
    assert np.array_equal(together, alone)
    assert shared_pair_encoder.logits([]).shape == (0,)


def test_the_served_graph_reproduces_the_logits_calibration_saw(shared_pair_encoder) -> None:  # type: ignore[no-untyped-def]
    reference = shared_pair_encoder.meta.info["reference_logits"]
    assert len(reference) >= 8 and len({round(r[2], 1) for r in reference}) > 2
    served = shared_pair_encoder.logits([(a, b) for a, b, _ in reference])
    np.testing.assert_allclose(served, [r[2] for r in reference], atol=1e-3)


def test_the_graph_is_prepared_once_and_rebuilt_for_other_weights(
    shared_pair_encoder, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    graph = shared_pair_encoder.graph
    marker = json.loads((graph.parent / MARKER_FILENAME).read_text())
    assert marker["adapters_sha256"] == hashlib.sha256(ENCODER_PATH.read_bytes()).hexdigest()
    assert marker["quantization"]["per_channel"] is True
    base = shared_pair_encoder.base_dir
    # The same weights and base: the prepared folder, not a second export.
    assert served_graph(graph.parent.parent, ENCODER_PATH, base) == graph
    # Other weights get their own folder (the key reads the adapters' bytes).
    other = tmp_path / "other.safetensors"
    other.write_bytes(ENCODER_PATH.read_bytes() + b" ")
    assert graph_folder(graph.parent.parent, other, base) != graph.parent


def test_a_folder_that_is_not_a_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        PairEncoder(ENCODER_PATH, base_dir=tmp_path, cache_dir=tmp_path / "graphs")
