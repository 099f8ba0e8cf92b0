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
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from promptpress.errors import FailedPrecondition
from promptpress.types import Message, Role, TextEmbedder, question_of

MODEL_FORMAT = "promptpress.difficulty/1"


# --- features ----------------------------------------------------------------------

_I = re.IGNORECASE | re.MULTILINE

# (pattern, weight): a feature is the capped sum of the weights of the cues present,
# so one unmistakable cue (a code fence) counts fully and weak ones only together.
_CODE = [
    (re.compile(p, _I), w)
    for p, w in (
        (r"```", 1.0),
        (r"^\s*(def|class|import|from \S+ import|#include|public static|fn|func|SELECT)\b", 1.0),
        (
            r"\b(python|javascript|typescript|java|c\+\+|c#|golang|rust|sql|bash|regex|html|css)\b",
            0.6,
        ),
        (
            r"\b(function|algorithm|implement (a|an|the)|program|debug|refactor|compiler?|recursion"
            r"|(time|space) complexity|data structure|linked list|binary (search|tree)|arrays?"
            r"|sorted list)\b",
            0.6,
        ),
        (r"[{};]\s*$", 0.4),
    )
]
_MATH = [
    (re.compile(p, _I), w)
    for p, w in (
        (r"\$[^$\n]+\$|\\\(|\\\[", 1.0),
        (
            r"\\(frac|sqrt|sum|prod|int|binom|cdot|times|le|ge|neq|pi|angle|triangle|overline)\b",
            1.0,
        ),
        (r"\d\s*[-+*/^=<>]\s*\d|\b[a-z]\s*[\^=]\s*\d", 0.5),
        (
            r"\b(calculate|compute|solve|equation|probability|integer|prime|remainder|divisible"
            r"|derivative|integral|polynomial|expected value|modulo|perimeter|area of)\b",
            0.6,
        ),
        (
            r"\b(how (many|much|long|old|far)|twice|times (as|more)|half|average|total|per|each"
            r"|percent(age)?|ratio|sum of|product of|more than|less than)\b",
            0.3,
        ),
    )
]
_REASONING = re.compile(
    r"\b(step[- ]by[- ]step|prove|proof|derive|why|justify|deduce|infer|reason(ing)?"
    r"|analy[sz]e|trade-?offs?|implications?|determine|which of the following|most likely"
    r"|explain how|think|relationship between|true, false,? or uncertain|does not belong)\b",
    _I,
)
# Tasks that transform or produce text: well within a small model's reach.
_EASY_TASK = re.compile(
    r"\b(extract|summari[sz]e|rewrite|rephrase|paraphrase|translate|proofread|edit|"
    r"json|csv|email|letter|poem|story|blog|essay|tweet|slogan|describe|imagine|pretend|"
    r"role-?play|act as|draft|compose|brainstorm|list)\b",
    _I,
)
_OPTIONS = re.compile(r"^\s*\(?[A-D][).:]\s+\S", re.MULTILINE)
_CONSTRAINT = re.compile(
    r"\b(must|should|at least|at most|no more than|exactly|without|do not|don't|ensure"
    r"|make sure|limit(ed)? to|within|only|in \d+ (words|sentences|lines))\b",
    _I,
)
_LIST_ITEM = re.compile(r"^\s*(\d+[.)]|[-*•])\s+\S", re.MULTILINE)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?")

FEATURE_NAMES = (
    "log_prompt_tokens",
    "log_query_tokens",
    "code",
    "math",
    "numbers",
    "reasoning",
    "options",
    "constraints",
    "easy_task",
    "depth",
)


@dataclass(frozen=True, slots=True)
class DifficultyFeatures:
    prompt_tokens: int  # the whole conversation
    query_tokens: int  # the last user message
    code: float  # share of code cues present, 0..1
    math: float  # share of maths cues present, 0..1
    numbers: int  # numbers in the query
    reasoning: int  # reasoning cue words in the query
    options: int  # multiple-choice option lines (A) ... D))
    constraints: int  # constraint words and list items in the query
    easy_task: int  # cues of writing/transforming tasks (extract, rewrite, email, ...)
    depth: int  # user turns in the conversation

    def vector(self) -> np.ndarray:
        """Numeric form, in FEATURE_NAMES order, squashed so no feature dominates by scale."""
        return np.array(
            [
                math.log1p(self.prompt_tokens),
                math.log1p(self.query_tokens),
                self.code,
                self.math,
                math.log1p(min(self.numbers, 8)),
                math.log1p(self.reasoning),
                min(self.options, 4) / 4,
                math.log1p(self.constraints),
                math.log1p(self.easy_task),
                math.log1p(max(0, self.depth - 1)),
            ],
            dtype=np.float64,
        )


def extract_features(
    messages: Sequence[Message], count_tokens: Callable[[str], int] | None = None
) -> DifficultyFeatures:
    count = count_tokens or _approx_tokens
    query = question_of(messages)
    return DifficultyFeatures(
        prompt_tokens=sum(count(m.content) for m in messages),
        query_tokens=count(query),
        code=_cue_strength(_CODE, query),
        math=_cue_strength(_MATH, query),
        numbers=len(_NUMBER.findall(query)),
        reasoning=len(_REASONING.findall(query)),
        options=len(_OPTIONS.findall(query)),
        constraints=len(_CONSTRAINT.findall(query)) + len(_LIST_ITEM.findall(query)),
        easy_task=len(_EASY_TASK.findall(query)),
        depth=sum(m.role is Role.USER for m in messages),
    )


def _cue_strength(cues: Sequence[tuple[re.Pattern[str], float]], text: str) -> float:
    return min(1.0, sum(weight for pattern, weight in cues if pattern.search(text)))


def _approx_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)  # the usual English chars-per-token rule


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
        """(score, features, which scorer: "model" or "heuristic")."""
        features = extract_features(messages, self._count)
        if self.model is None:
            return heuristic_score(features), features, "heuristic"
        embedding = None
        if self.model.embedding_dim:
            assert self._embedder is not None
            embedding = np.asarray(self._embedder.embed([question_of(messages)]))[0]
        return self.model.score(features, embedding), features, "model"

    def tier_for(self, score: float) -> str:
        if not self.tier_names:
            raise FailedPrecondition("no tiers configured")
        index = sum(score >= t for t in self.thresholds)
        if index == len(self.thresholds):
            index = len(self.tier_names) - 1
        return self.tier_names[min(index, len(self.tier_names) - 1)]

    def decide(self, messages: Sequence[Message], forced_tier: str = "") -> RoutingDecision:
        score, features, scorer = self.score(messages)
        if forced_tier:
            if forced_tier not in self.tier_names:
                known = ", ".join(self.tier_names) or "none configured"
                raise FailedPrecondition(f"unknown tier {forced_tier!r} (tiers: {known})")
            return RoutingDecision(forced_tier, score, True, "tier forced by the request")
        tier = self.tier_for(score)
        cues = ", ".join(top_cues(features)) or "no difficulty cues"
        passed = [t for t in self.thresholds if score >= t]
        relation = f">= {passed[-1]:.2f}" if passed else f"< {self.thresholds[0]:.2f}"
        return RoutingDecision(
            tier, score, False, f"{scorer} score {score:.2f} {relation} ({cues})"
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
