"""The pair encoder: committed weights load offline (safetensors, small, with their
training record) and read both questions jointly (real all-mpnet-base-v2 + adapters)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors import safe_open

from promptpress.cachekeys.semantic_cache.pair_encoder import ENCODER_PATH, META_KEY, MPNET, TARGETS
from promptpress.cachekeys.semantic_cache.verifier import calibrated_threshold, wilson_upper


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
    assert len([n for n in names if n.endswith(".A")]) == 12 * len(TARGETS[MPNET])  # every layer


@pytest.mark.parametrize("bound", [0.005, 0.01, 0.02, 0.05])
def test_the_threshold_meets_the_bound_on_both_calibration_sets(bound: float) -> None:
    with safe_open(str(ENCODER_PATH), framework="pt") as f:
        meta = json.loads((f.metadata() or {})[META_KEY])
    written = meta["written_calibration"]  # the written calibration split's near-misses
    assert written["near_misses"] >= 200 and len(written["negatives"]) <= written["near_misses"]
    t = calibrated_threshold(meta, bound)
    served = sum(s >= t for s in written["negatives"])
    assert served <= bound * written["near_misses"]
    automatic = meta["calibration_negatives"]
    assert wilson_upper(sum(s >= t for s in automatic), len(automatic)) <= bound
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
