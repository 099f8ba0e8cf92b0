"""How hard is a request? A score in [0, 1] that picks the tier before inference.

Two scorers, one interface:

- the heuristic (always there): a few features of the conversation (prompt size,
  code, maths, reasoning cues, multiple-choice options, constraints, depth) weighed
  by hand into a logistic score;
- an optional trained model (`TrainedDifficultyModel`, see difficulty_train.py):
  logistic regression over the query's sentence embedding plus the same features,
  stored as JSON coefficients (never pickle: a model file must not be able to run
  code), applied here with plain numpy.

`DifficultyClassifier.decide` turns the score into a tier with ascending thresholds
(the cost/quality knob) and honours a forced tier.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from promptpress.errors import FailedPrecondition
from promptpress.server.routing.difficulty_features import (
    FEATURE_NAMES,
    DifficultyFeatures,
    extract_features,
    prefix_features,
)
from promptpress.types import Message, TextEmbedder, question_of

__all__ = [
    "FEATURE_NAMES",
    "DifficultyClassifier",
    "DifficultyFeatures",
    "RoutingDecision",
    "TrainedDifficultyModel",
    "extract_features",
    "heuristic_score",
]

MODEL_FORMAT = "promptpress.difficulty/1"


# --- the heuristic --------------------------------------------------------------------

# Hand-set log-odds per unit of each feature vector entry; the bias puts a short,
# plain question well below 0.5. Set by reasoning about each cue, then sanity-checked
# (not fitted) on the routing bench: code and maths are the strongest signals of a
# task a small model fails; length alone is weak; constraints mostly mark writing
# tasks, which small models handle, so they weigh little.
HEURISTIC_WEIGHTS = {
    "log_prompt_tokens": 0.15,
    "log_query_tokens": 0.35,
    "code": 5.0,
    "math": 5.0,
    "numbers": 0.45,
    "reasoning": 0.8,
    "options": 2.5,
    "constraints": -0.2,
    "easy_task": -1.0,
    "depth": 0.3,
}
HEURISTIC_BIAS = -3.6


def heuristic_score(features: DifficultyFeatures) -> float:
    weights = np.array([HEURISTIC_WEIGHTS[n] for n in FEATURE_NAMES])
    return _sigmoid(float(weights @ features.vector()) + HEURISTIC_BIAS)


_CUE_WORDS = {
    "log_prompt_tokens": "long prompt",
    "log_query_tokens": "long question",
    "code": "code",
    "math": "maths",
    "numbers": "numbers",
    "reasoning": "reasoning cues",
    "options": "multiple choice",
    "constraints": "constraints",
    "easy_task": "writing task",
    "depth": "long conversation",
}


def top_cues(features: DifficultyFeatures, limit: int = 3) -> list[str]:
    """The features that pushed the heuristic score up most, for the decision's reason."""
    # Measured against a plain one-line question, so a short prompt is not "long".
    baseline = DifficultyFeatures(20, 20, 0, 0, 0, 0, 0, 0, 0, 1).vector()
    deltas = features.vector() - baseline
    contributions = {
        n: HEURISTIC_WEIGHTS[n] * d for n, d in zip(FEATURE_NAMES, deltas, strict=True)
    }
    ranked = sorted((c, n) for n, c in contributions.items() if c > 0.3)
    return [_CUE_WORDS[n] for _, n in reversed(ranked)][:limit]


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


# --- the trained model -----------------------------------------------------------------


@dataclass(frozen=True)
class TrainedDifficultyModel:
    """Logistic regression over [standardised features, query embedding]."""

    coef: np.ndarray  # len(FEATURE_NAMES) + embedding_dim
    intercept: float
    feature_mean: np.ndarray
    feature_scale: np.ndarray
    embedding_dim: int  # 0: features only
    embedding_model: str = ""
    metadata: dict[str, Any] | None = None

    def score(self, features: DifficultyFeatures, embedding: np.ndarray | None) -> float:
        x = (features.vector() - self.feature_mean) / self.feature_scale
        if self.embedding_dim:
            if embedding is None or embedding.shape != (self.embedding_dim,):
                raise ValueError(f"model needs a {self.embedding_dim}-dim query embedding")
            x = np.concatenate([x, embedding.astype(np.float64)])
        return _sigmoid(float(self.coef @ x) + self.intercept)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": MODEL_FORMAT,
                "features": list(FEATURE_NAMES),
                "embedding_dim": self.embedding_dim,
                "embedding_model": self.embedding_model,
                "intercept": self.intercept,
                "coef": self.coef.tolist(),
                "feature_mean": self.feature_mean.tolist(),
                "feature_scale": self.feature_scale.tolist(),
                "metadata": self.metadata or {},
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> TrainedDifficultyModel:
        data = json.loads(text)
        if data.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a difficulty model file (format {data.get('format')!r})")
        if tuple(data["features"]) != FEATURE_NAMES:
            raise ValueError("difficulty model was trained on other features; retrain it")
        coef = np.asarray(data["coef"], dtype=np.float64)
        dim = int(data["embedding_dim"])
        if coef.shape != (len(FEATURE_NAMES) + dim,):
            raise ValueError("difficulty model coefficients do not match its dimensions")
        return cls(
            coef=coef,
            intercept=float(data["intercept"]),
            feature_mean=np.asarray(data["feature_mean"], dtype=np.float64),
            feature_scale=np.asarray(data["feature_scale"], dtype=np.float64),
            embedding_dim=dim,
            embedding_model=str(data.get("embedding_model", "")),
            metadata=dict(data.get("metadata") or {}),
        )

    @classmethod
    def load(cls, path: str | Path) -> TrainedDifficultyModel:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")


# --- the decision ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    tier: str
    score: float  # difficulty in [0, 1]; higher is harder
    forced: bool
    reason: str


class DifficultyClassifier:
    """Scores requests and maps the score to a tier (tiers cheapest first).

    With N tiers and N-1 ascending thresholds, a score at or above thresholds[i]
    goes to tier i+1 or higher. With fewer thresholds, clearing the last one goes
    straight to the top tier (the middle ones are reached by failover or forcing).
    """

    def __init__(
        self,
        tier_names: Sequence[str],
        thresholds: Sequence[float] = (0.5,),
        *,
        model: TrainedDifficultyModel | None = None,
        embedder: TextEmbedder | None = None,
        count_tokens: Callable[[str], int] | None = None,
    ) -> None:
        if model is not None and model.embedding_dim and embedder is None:
            raise ValueError("the trained difficulty model needs an embedder")
        if model is not None and model.embedding_dim and embedder is not None:
            _check_embedder(model, embedder)
        if list(thresholds) != sorted(thresholds) or not thresholds:
            raise ValueError("thresholds must be a non-empty ascending sequence")
        self.tier_names = tuple(tier_names)
        self.thresholds = tuple(thresholds)
        self.model = model
        self._embedder = embedder
        self._count = count_tokens

    def score(self, messages: Sequence[Message]) -> tuple[float, DifficultyFeatures, str]:
        """(score, features, which scorer: "model" or "heuristic") of the request as it
        stands, judged by its last question alone."""
        features = extract_features(messages, self._count)
        return self._scores([(question_of(messages), features)])[0], features, self._scorer

    @property
    def _scorer(self) -> str:
        return "heuristic" if self.model is None else "model"

    def _scores(self, points: Sequence[tuple[str, DifficultyFeatures]]) -> list[float]:
        if self.model is None:
            return [heuristic_score(f) for _, f in points]
        model = self.model
        if not model.embedding_dim:
            return [model.score(f, None) for _, f in points]
        assert self._embedder is not None
        questions = list(dict.fromkeys(q for q, _ in points))  # each question embedded once
        rows = np.asarray(self._embedder.embed(questions))
        by_question = dict(zip(questions, rows, strict=True))
        return [model.score(f, by_question[q]) for q, f in points]

    def conversation_score(
        self, messages: Sequence[Message]
    ) -> tuple[float, DifficultyFeatures, int, int]:
        """The hardest point of the conversation so far: (score, its features, its
        position among the conversation's user turns (1-based), how many there are)."""
        points = prefix_features(messages, self._count)
        scores = self._scores(points)
        best = max(range(len(scores)), key=lambda i: (scores[i], i))
        return scores[best], points[best][1], points[best][1].depth, points[-1][1].depth

    def tier_for(self, score: float, thresholds: Sequence[float] | None = None) -> str:
        if not self.tier_names:
            raise FailedPrecondition("no tiers configured")
        thresholds = thresholds or self.thresholds
        index = sum(score >= t for t in thresholds)
        if index == len(thresholds):
            index = len(self.tier_names) - 1
        return self.tier_names[min(index, len(self.tier_names) - 1)]

    def decide(
        self,
        messages: Sequence[Message],
        forced_tier: str = "",
        *,
        thresholds: Sequence[float] | None = None,
    ) -> RoutingDecision:
        """The tier of the conversation's hardest point so far, not of its last message:
        a later turn resends the earlier ones, so its tier never goes down and the
        provider's prompt cache (and the model the user talks to) stays. No server
        state is needed. `thresholds` replaces the configured ones for this call (an
        experiment arm's); ascending, like the config's."""
        if forced_tier:
            if forced_tier not in self.tier_names:
                known = ", ".join(self.tier_names) or "none configured"
                raise FailedPrecondition(f"unknown tier {forced_tier!r} (tiers: {known})")
            score = self.score(messages)[0]
            return RoutingDecision(forced_tier, score, True, "tier forced by the request")
        score, features, turn, turns = self.conversation_score(messages)
        thresholds = tuple(thresholds or self.thresholds)
        tier = self.tier_for(score, thresholds)
        cues = ", ".join(top_cues(features)) or "no difficulty cues"
        passed = [t for t in thresholds if score >= t]
        relation = f">= {passed[-1]:.2f}" if passed else f"< {thresholds[0]:.2f}"
        where = f"; hardest at turn {turn} of {turns}" if turn < turns else ""
        return RoutingDecision(
            tier, score, False, f"{self._scorer} score {score:.2f} {relation} ({cues}{where})"
        )


def _check_embedder(model: TrainedDifficultyModel, embedder: TextEmbedder) -> None:
    """A model is only meaningful with the embedding model it was trained on."""
    model_id = getattr(embedder, "model_id", "")
    if model.embedding_model and model_id and model_id != model.embedding_model:
        raise ValueError(
            f"difficulty model was trained on {model.embedding_model!r} embeddings, "
            f"the embedder is {model_id!r}"
        )
    dim = getattr(embedder, "dim", None)
    if dim is not None and dim != model.embedding_dim:
        raise ValueError(
            f"difficulty model expects {model.embedding_dim}-dim embeddings, got {dim}"
        )
