"""The pair encoder's calibration: the scores the verifier would give, the threshold
for an error bound, and the figures per split (bench/train_pair_encoder.py).

The threshold for an error bound (`calibrated_threshold` in
cachekeys/semantic_cache/verifier.py, weights with "bound_on": "written") is the
lowest at which the one-sided 95% Wilson upper bound of the false-hit rate over
every near-miss of the written calibration split (bench/written_pairs.py; those
under the prefilter counted as not served, as the evaluation counts them) is
within the bound. The near-misses of the calibration half of the automatic `dev`
split that pass the prefilter are kept beside it and reported per bound; until
session 8 the stricter of a Wilson bound on those and a plain rate on the
written ones set it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from promptpress.bench.matcher_data import Pair
from promptpress.cachekeys.semantic_cache.verifier import (
    agreeing_logit,
    calibrated_threshold,
    exact_differences,
    same_words,
    verifier_scores,
)

BOUNDS = (0.005, 0.01, 0.02, 0.05)

# A split as the training script holds it: pairs, cosines, feature-MLP scores, features.
Split = tuple[Sequence[Any], np.ndarray, np.ndarray, np.ndarray]


def served_scores(
    split: Split,
    logits: np.ndarray,
    combiner: Sequence[float],
    logit_range: tuple[float, float],
    vetoed: np.ndarray,
) -> np.ndarray:
    """The verifier's scores of a split's pairs, as the service computes them (a
    near-repeat is not encoded: the top of the logit range stands for its logit; a
    pair the parse refuses, `vetoed`, scores 0)."""
    pairs, _, mlp, x = split
    best = agreeing_logit(combiner, logit_range)
    repeat = np.array([same_words(p.a, p.b) for p in pairs], dtype=bool)
    logits = np.where(repeat, best, logits)
    exact = exact_differences(x, [(p.a, p.b) for p in pairs])
    return verifier_scores(logits, mlp, exact, combiner, logit_range, vetoed)


def written_calibration(split: Split, score: np.ndarray, prefilter: float) -> dict[str, Any]:
    """What the weights carry of the written calibration near-misses: the scores of
    those that pass the prefilter, and how many near-misses there are in all."""
    pairs, cos, _, _ = split
    label = np.array([p.label for p in pairs])
    passes = (cos >= prefilter) & (label == 0)
    return {
        "negatives": np.sort(score[passes]).round(6).tolist(),
        "near_misses": int((label == 0).sum()),
        "pairs": len(pairs),
    }


def per_category(pairs: Sequence[Any], served: np.ndarray) -> dict[str, float]:
    cats = sorted({p.category for p in pairs})
    return {c: float(served[[p.category == c for p in pairs]].mean()) for c in cats}


def metrics(
    info: dict[str, Any],
    splits: dict[str, tuple[Split, np.ndarray]],
    prefilter: float,
    bounds: Sequence[float] = BOUNDS,
) -> dict[str, Any]:
    """Per bound: the calibrated threshold and, per split (split, verifier scores),
    recall, false-hit rate and the rate per category."""
    out: dict[str, Any] = {}
    for bound in bounds:
        t = calibrated_threshold(info, bound)
        entry: dict[str, Any] = {"threshold": t}
        for name, ((pairs, cos, _, _), score) in splits.items():
            served = (cos >= prefilter) & (score >= t)
            label = np.array([p.label for p in pairs])
            entry[name] = {
                "recall": float(served[label == 1].mean()),
                "false_hit_rate": float(served[label == 0].mean()),
                "by_category": per_category(pairs, served),
            }
        out[str(bound)] = entry
    return out


def as_pairs(labelled: Sequence[Any]) -> list[Pair]:
    return [Pair(p.a, p.b, p.label, p.category) for p in labelled]
