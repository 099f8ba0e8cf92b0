"""Training the difficulty model from a labelled JSONL file.

Each line: ``{"text": "...", "label": "easy" | "hard"}`` (optionally ``"messages"``:
a list of ``{"role", "content"}`` instead of ``text``, to train on whole chats).
The model is scikit-learn's LogisticRegression over the standardised heuristic
features plus the query's sentence embedding, exported as JSON coefficients
(`TrainedDifficultyModel`) so loading it never unpickles anything.

The CLI command (``promptpress train-difficulty DATA.jsonl --out model.json``) is a
thin call of `train_from_file`.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from promptpress.errors import FieldViolation, InvalidInput
from promptpress.server.routing.difficulty import (
    FEATURE_NAMES,
    TrainedDifficultyModel,
    extract_features,
)
from promptpress.types import Message, Role, TextEmbedder, question_of

LABELS = {"easy": 0, "hard": 1}
_MAX_VIOLATIONS = 20


@dataclass(frozen=True)
class LabelledExample:
    messages: tuple[Message, ...]
    hard: bool


@dataclass(frozen=True)
class TrainReport:
    examples: int
    hard: int
    train_accuracy: float


def load_labelled(path: str | Path) -> list[LabelledExample]:
    """Reads the JSONL file; every bad line is reported (InvalidInput), not skipped."""
    examples: list[LabelledExample] = []
    violations: list[FieldViolation] = []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            examples.append(parse_example(json.loads(line)))
        except (ValueError, TypeError, KeyError) as exc:
            violations.append(FieldViolation(f"line {number}", str(exc)))
            if len(violations) >= _MAX_VIOLATIONS:
                break
    if violations:
        raise InvalidInput(violations)
    if len({e.hard for e in examples}) < 2:
        raise InvalidInput.single(str(path), "needs examples of both labels, easy and hard")
    return examples


def parse_example(record: object) -> LabelledExample:
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    label = record.get("label")
    if label not in LABELS:
        raise ValueError(f"label must be 'easy' or 'hard', got {label!r}")
    if "messages" in record:
        messages = tuple(
            Message(Role(str(m["role"])), str(m["content"])) for m in record["messages"]
        )
    else:
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError("needs a non-empty 'text' (or 'messages')")
        messages = (Message(Role.USER, text),)
    if not messages:
        raise ValueError("'messages' is empty")
    return LabelledExample(messages, label == "hard")


def train_difficulty_model(
    examples: Sequence[LabelledExample],
    embedder: TextEmbedder | None,
    *,
    embedding_model: str = "",
    count_tokens: Callable[[str], int] | None = None,
    regularisation: float = 1.0,
    seed: int = 0,
) -> tuple[TrainedDifficultyModel, TrainReport]:
    """Fits the model; embedder None trains on the heuristic features alone."""
    from sklearn.linear_model import LogisticRegression  # heavy: only when training

    x_features = np.stack([extract_features(e.messages, count_tokens).vector() for e in examples])
    mean = x_features.mean(axis=0)
    scale = x_features.std(axis=0)
    scale[scale == 0] = 1.0
    blocks = [(x_features - mean) / scale]
    dim = 0
    if embedder is not None:
        embeddings = np.asarray(embedder.embed([question_of(e.messages) for e in examples]))
        dim = int(embeddings.shape[1])
        blocks.append(embeddings.astype(np.float64))
    x = np.hstack(blocks)
    y = np.array([int(e.hard) for e in examples])
    clf = LogisticRegression(C=regularisation, max_iter=2000, random_state=seed)
    clf.fit(x, y)
    model = TrainedDifficultyModel(
        coef=clf.coef_[0].astype(np.float64),
        intercept=float(clf.intercept_[0]),
        feature_mean=mean,
        feature_scale=scale,
        embedding_dim=dim,
        embedding_model=embedding_model,
        metadata={
            "trained_on": _dt.date.today().isoformat(),
            "examples": len(examples),
            "hard": int(y.sum()),
            "features": list(FEATURE_NAMES),
            "regularisation": regularisation,
        },
    )
    accuracy = float((clf.predict(x) == y).mean())
    return model, TrainReport(len(examples), int(y.sum()), accuracy)


def train_from_file(
    data: str | Path,
    out: str | Path,
    embedder: TextEmbedder | None,
    *,
    embedding_model: str = "",
    count_tokens: Callable[[str], int] | None = None,
    regularisation: float = 1.0,
) -> TrainReport:
    """Reads `data`, trains, writes the JSON model to `out`; returns what it did."""
    examples = load_labelled(data)
    model, report = train_difficulty_model(
        examples,
        embedder,
        embedding_model=embedding_model,
        count_tokens=count_tokens,
        regularisation=regularisation,
    )
    model.save(out)
    return report
