"""Unit scores for each method: one small function per method, chosen by a lookup.

- LLMLingua: a unit's surprisal under the causal LM (informative words are
  hard to predict).
- LongLLMLingua: surprisal conditioned on the question, plus the contrastive
  term (how much the question makes the unit more predictable), plus a
  per-sentence relevance bias: LongLLMLingua's coarse ranking and dynamic
  ratio, folded into one global ranking so one budget search serves all.
- LLMLingua-2: the classifier's keep probability.

`prepare` does everything that does not depend on the budget; `render` turns a
keep-mask back into text, optionally with paragraphs reordered by relevance.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from nltk.tokenize.punkt import PunktSentenceTokenizer
from promptpress.compressor.protect import find_regions
from promptpress.compressor.scoring import KeepScorer, SurprisalScorer, fold_to_units
from promptpress.compressor.selection import Unit, assemble, split_units
from promptpress.types import CompressionMethod

_SENTENCES = PunktSentenceTokenizer()  # untrained: needs no downloaded data
_BLANK_LINE = re.compile(r"\n[ \t]*\n\s*")


@dataclass(frozen=True, slots=True)
class LongLLMLinguaWeights:
    """How LongLLMLingua's three signals combine into one unit score."""

    contrastive: float = 1.0  # weight of (unconditioned - conditioned) surprisal
    sentence_bias: float = 1.0  # weight of the sentence's relevance rank, in surprisal units
    reduce: str = "mean"


DEFAULT_LONG_WEIGHTS = LongLLMLinguaWeights()
CAUSAL_REDUCE = "mean"


@dataclass(frozen=True, slots=True)
class Prepared:
    """A text cut into units and scored; everything the budget search needs."""

    text: str
    units: list[Unit]
    trailing: str
    scores: np.ndarray  # one per unit; higher is kept first
    paragraph_of_unit: np.ndarray  # paragraph index of each unit
    paragraph_order: tuple[int, ...]  # paragraphs, most question-relevant first
    relevance: float  # mean contrastive gain of the whole text (0.0 without a question)


def boundaries_to_ids(units: Sequence[Unit], starts: Sequence[int]) -> np.ndarray:
    """For each unit, the index of the last boundary at or before its body."""
    bodies = np.fromiter((u.body for u in units), dtype=np.int64, count=len(units))
    return np.searchsorted(np.asarray(starts, dtype=np.int64), bodies, side="right") - 1


def paragraph_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in _BLANK_LINE.finditer(text)]


def sentence_starts(text: str) -> list[int]:
    starts = [s for s, _ in _SENTENCES.span_tokenize(text)]
    return [0, *starts[1:]] if starts else [0]


def rank_bias(values: np.ndarray) -> np.ndarray:
    """Map group values to evenly spaced biases in [-1, 1] by rank (best = +1).

    LongLLMLingua's dynamic ratio gives the i-th ranked context a linearly
    decreasing share; a rank-based bias does the same inside one ranking.
    """
    n = len(values)
    if n <= 1:
        return np.zeros(n)
    order = np.argsort(-values, kind="stable")
    bias = np.empty(n)
    bias[order] = np.linspace(1.0, -1.0, n)
    return bias


def llmlingua_scores(text: str, units: Sequence[Unit], causal: SurprisalScorer) -> np.ndarray:
    return fold_to_units(text, units, causal.surprisal(text), CAUSAL_REDUCE)


def longllmlingua_scores(
    text: str,
    units: Sequence[Unit],
    causal: SurprisalScorer,
    question: str,
    weights: LongLLMLinguaWeights = DEFAULT_LONG_WEIGHTS,
) -> tuple[np.ndarray, np.ndarray]:
    """Unit scores and per-unit contrastive gain for a question-aware compression."""
    plain = fold_to_units(text, units, causal.surprisal(text), weights.reduce)
    asked = fold_to_units(
        text, units, causal.surprisal(text, prefix=question + "\n\n"), weights.reduce
    )
    gain = np.nan_to_num(plain - asked)
    sentence = boundaries_to_ids(units, sentence_starts(text))
    sentence_gain = np.array(
        [
            gain[sentence == s].mean() if (sentence == s).any() else 0.0
            for s in range(sentence.max() + 1)
        ]
    )
    bias = rank_bias(sentence_gain)[sentence]
    return asked + weights.contrastive * gain + weights.sentence_bias * bias, gain


def llmlingua2_scores(text: str, units: Sequence[Unit], classifier: KeepScorer) -> np.ndarray:
    return fold_to_units(text, units, classifier.keep_probability(text), "mean")


def prepare(
    text: str,
    *,
    method: CompressionMethod,
    causal: SurprisalScorer | None,
    classifier: KeepScorer | None,
    keep: Sequence[tuple[int, int]] = (),
    question: str = "",
    detect_structure: bool = True,
) -> Prepared:
    regions = find_regions(text, keep=keep, question=question, detect_structure=detect_structure)
    units, trailing = split_units(text, regions)
    paragraph = boundaries_to_ids(units, paragraph_starts(text))
    relevance = 0.0
    if method is CompressionMethod.LLMLINGUA2:
        assert classifier is not None
        scores = llmlingua2_scores(text, units, classifier)
    elif method is CompressionMethod.LONGLLMLINGUA:
        assert causal is not None
        scores, gain = longllmlingua_scores(text, units, causal, question)
        relevance = float(gain.mean()) if len(gain) else 0.0
    else:
        assert causal is not None
        scores = llmlingua_scores(text, units, causal)
    scores = np.nan_to_num(scores, nan=0.0)
    order = _paragraph_order(scores, paragraph, method)
    return Prepared(text, units, trailing, scores, paragraph, order, relevance)


def _paragraph_order(
    scores: np.ndarray, paragraph: np.ndarray, method: CompressionMethod
) -> tuple[int, ...]:
    n = int(paragraph.max()) + 1 if len(paragraph) else 0
    if method is not CompressionMethod.LONGLLMLINGUA or n <= 1:
        return tuple(range(n))
    means = np.array(
        [scores[paragraph == p].mean() if (paragraph == p).any() else -np.inf for p in range(n)]
    )
    return tuple(int(p) for p in np.argsort(-means, kind="stable"))


def render(prepared: Prepared, keep: Sequence[bool], order: Sequence[int] | None = None) -> str:
    """The kept units as text; with `order`, paragraphs are emitted in that order."""
    if order is None or len(order) <= 1:
        return assemble(prepared.text, prepared.units, keep, prepared.trailing)
    parts = []
    for p in order:
        idx = np.flatnonzero(prepared.paragraph_of_unit == p)
        if len(idx) == 0:
            continue
        units = [prepared.units[i] for i in idx]
        piece = assemble(prepared.text, units, [keep[i] for i in idx], "").strip()
        if piece:
            parts.append(piece)
    return "\n\n".join(parts)
