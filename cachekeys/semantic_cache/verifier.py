"""The verifier: does a stored question's answer serve a new question?

A lookup first picks candidates by cosine similarity (a low, recall-oriented
prefilter); each candidate is then scored by a tiny MLP over the pair's
difference features (pair_features.py) and served only if its score clears
a threshold chosen for the user's error bound.

Error bound (`max_false_hit_rate`): the decision threshold is the lowest score
at which, on the calibration pairs shipped with the weights (near-miss pairs
that pass the prefilter, produced apart from the training pairs and from the
evaluation set), the one-sided 95% Wilson upper bound of the false-hit rate
is at or under the bound. What it means: on traffic like the calibration
near-misses, at most that share of them would be served, with 95% confidence.
What it cannot promise: a rate on your traffic (a different mix of near-misses
moves it), and anything about answers that are wrong for other reasons.

Bad-hit reports tighten one tenant: `TenantCalibration` keeps a histogram of
the scores of the semantic hits served and of those reported wrong; the
tenant's threshold rises to the lowest score bin at which the smoothed
reported rate (one pseudo-report per 1/bound hits, the bound as a prior) is
within the bound.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from promptpress.cachekeys.semantic_cache.pair_features import (
    FEATURES,
    WordEmbedder,
    WordVectors,
    pair_features,
)

WEIGHTS_PATH = Path(__file__).with_name("verifier_weights.json")
BINS = 20
_Z95 = 1.6448536269514722  # one-sided 95%


def wilson_upper(errors: int, n: int, z: float = _Z95) -> float:
    """One-sided Wilson score upper bound of a binomial proportion."""
    if n == 0:
        return 1.0
    p = errors / n
    denom = 1 + z * z / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + margin) / denom)


def threshold_for_bound(negative_scores: np.ndarray, bound: float) -> float:
    """The lowest score threshold whose false-hit upper bound on these negatives is <= bound
    (a score is served when >= threshold). 1.0+ when no threshold achieves it."""
    scores = np.sort(np.asarray(negative_scores, dtype=np.float64))[::-1]  # high first
    n = len(scores)
    best = float(np.nextafter(scores[0], np.inf)) if n else 0.5  # serve none of them
    if n == 0 or wilson_upper(0, n) > bound:
        return max(best, 1.0 + 1e-9)
    # Serving every negative scoring >= scores[k] gives k+1 false hits.
    for k in range(n):
        if wilson_upper(k + 1, n) > bound:
            break
        if k + 1 < n and scores[k + 1] == scores[k]:
            continue
        best = float(scores[k])
    return best


@dataclass
class TenantCalibration:
    """Served and reported-wrong semantic hits of one tenant, by score bin."""

    served: list[int] = field(default_factory=lambda: [0] * BINS)
    reported: list[int] = field(default_factory=lambda: [0] * BINS)

    @staticmethod
    def bin_of(score: float) -> int:
        return min(BINS - 1, max(0, int(score * BINS)))

    def threshold(self, base: float, bound: float) -> float:
        """The tenant's threshold: base, raised past bins whose smoothed reported rate
        (counting every hit at or above the bin) exceeds the bound."""
        if not any(self.reported):
            return base
        start = self.bin_of(base)
        for b in range(start, BINS):
            served = sum(self.served[b:])
            reported = sum(self.reported[b:])
            if (reported + 1) / (served + 1 / bound) <= bound:
                return max(base, b / BINS)
        return 1.0 + 1e-9  # nothing is served until enough good hits accrue

    def to_json(self) -> bytes:
        return json.dumps({"served": self.served, "reported": self.reported}).encode()

    @classmethod
    def from_json(cls, raw: bytes | None) -> TenantCalibration:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(list(data["served"]), list(data["reported"]))


@dataclass(frozen=True)
class VerifierModel:
    """A standardising MLP (ReLU hidden layers, sigmoid output) read from JSON."""

    mean: np.ndarray
    scale: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    calibration_negatives: np.ndarray  # dev near-miss scores that passed the prefilter
    prefilter: float
    meta: dict

    @classmethod
    def load(cls, path: Path = WEIGHTS_PATH) -> VerifierModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"{path}: trained on other features; retrain the verifier")
        layers = tuple(
            (np.asarray(w, dtype=np.float32), np.asarray(b, dtype=np.float32))
            for w, b in data["layers"]
        )
        return cls(
            mean=np.asarray(data["mean"], dtype=np.float32),
            scale=np.asarray(data["scale"], dtype=np.float32),
            layers=layers,
            calibration_negatives=np.asarray(data["calibration"]["negative_scores"]),
            prefilter=float(data["prefilter"]),
            meta={k: v for k, v in data.items() if k in ("trained_on", "metrics", "version")},
        )

    def score(self, x: np.ndarray) -> np.ndarray:
        h = (np.atleast_2d(x) - self.mean) / self.scale
        for k, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if k < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return 1.0 / (1.0 + np.exp(-h[:, 0]))


class Verifier:
    """Scores (stored question, new question) pairs; thresholds them for an error bound."""

    def __init__(
        self,
        embedder: WordEmbedder | None,
        *,
        max_false_hit_rate: float = 0.01,
        model: VerifierModel | None = None,
        prefilter: float | None = None,
    ) -> None:
        if not 0.0 < max_false_hit_rate < 1.0:
            raise ValueError("max_false_hit_rate must be in (0, 1)")
        self.model = model or VerifierModel.load()
        self.vectors = WordVectors(embedder) if embedder is not None else None
        self.max_false_hit_rate = max_false_hit_rate
        self.prefilter = self.model.prefilter if prefilter is None else prefilter
        self.threshold = threshold_for_bound(self.model.calibration_negatives, max_false_hit_rate)
        self.calls, self.seconds = 0, 0.0  # what verification has cost so far

    def score(self, stored: str, query: str, cosine: float) -> float:
        t0 = time.perf_counter()
        out = float(self.model.score(pair_features(stored, query, cosine, self.vectors))[0])
        self.calls += 1
        self.seconds += time.perf_counter() - t0
        return out

    def warm(self, texts: list[str]) -> None:
        """Embeds the words of stored questions ahead of the lookups that compare them."""
        if self.vectors is not None:
            self.vectors.warm(texts)
