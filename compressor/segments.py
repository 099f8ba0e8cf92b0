"""Cache-stable compression of a whole prompt: frozen prefix, question-aware context.

Provider prompt caches match on an exact prefix. If the older history turns
and static documents at the front of a prompt were compressed with the current
question in mind, their bytes would change every turn and the cache discount
would be lost. So:

- each PREFIX segment is compressed alone, question-agnostically, at the
  settings' rate, and cached by content: it compresses to the same bytes on
  every turn, forever (frozen);
- the CONTEXT segments (retrieved chunks, which change per question anyway) are
  ranked by relevance to the question and share the remaining budget,
  more relevant chunks keeping more: LongLLMLingua's dynamic ratio.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from promptpress.compressor import relevance
from promptpress.compressor.compress import Compressor
from promptpress.compressor.methods import rank_bias
from promptpress.compressor.settings import (
    CompressionResult,
    CompressionSettings,
    compression_ratio,
)
from promptpress.tokens import counter_for
from promptpress.types import CompressionMethod, Span

# LongLLMLingua's dynamic_context_compression_ratio: the most relevant chunk's
# rate is raised by this much and the least relevant one's lowered by as much.
DYNAMIC_RATE_SPREAD = 0.3


@dataclass(frozen=True, slots=True)
class Segment:
    """One message body or document chunk."""

    text: str
    protected_spans: tuple[Span, ...] = ()
    compress: bool = True  # False passes it through untouched (no_compress, pinned)


@dataclass(frozen=True, slots=True)
class SegmentsResult:
    prefix: tuple[CompressionResult, ...]
    context: tuple[CompressionResult, ...]
    # One per context segment: relevance to the question, higher is more relevant
    # (all 0.0 without a question); the pipeline may use it for placement.
    context_relevance: tuple[float, ...]
    original_tokens: int
    compressed_tokens: int

    @property
    def ratio(self) -> float:
        return compression_ratio(self.original_tokens, self.compressed_tokens)


def compress_segments(
    compressor: Compressor,
    prefix: Sequence[Segment],
    context: Sequence[Segment],
    settings: CompressionSettings,
    *,
    tenant: str,
) -> SegmentsResult:
    """Compress prefix segments frozen and context segments question-aware.

    settings.rate (or the compressor's default) applies to the prefix; the context
    gets the same rate, or, with settings.target_tokens, whatever the compressed
    prefix leaves of that total.
    """
    for seg in (*prefix, *context):
        compressor.validate(
            seg.text, dataclasses.replace(settings, protected_spans=seg.protected_spans)
        )
    agnostic = dataclasses.replace(
        settings,
        method=_agnostic_method(compressor, settings.method),
        question="",
        target_tokens=0,
        reorder=False,
    )
    prefix_out = tuple(_one(compressor, seg, agnostic, tenant) for seg in prefix)
    counter = counter_for(settings.target_model)
    lengths = [counter.count(seg.text) for seg in context]
    if settings.target_tokens > 0:
        budget = max(0, settings.target_tokens - sum(r.compressed_tokens for r in prefix_out))
    else:
        budget = compressor.budget_for(sum(lengths), settings)
    context_out, relevance = _compress_context(
        compressor, context, lengths, budget, settings, tenant
    )
    everything = prefix_out + context_out
    return SegmentsResult(
        prefix=prefix_out,
        context=context_out,
        context_relevance=relevance,
        original_tokens=sum(r.original_tokens for r in everything),
        compressed_tokens=sum(r.compressed_tokens for r in everything),
    )


def _agnostic_method(compressor: Compressor, method: CompressionMethod | None) -> CompressionMethod:
    distilled = CompressionMethod.DISTILLED
    if distilled in compressor.methods and method in (None, distilled):
        return distilled
    if (
        method is CompressionMethod.LLMLINGUA2
        or CompressionMethod.LLMLINGUA not in compressor.methods
    ):
        return CompressionMethod.LLMLINGUA2
    return CompressionMethod.LLMLINGUA


def _one(
    compressor: Compressor, seg: Segment, settings: CompressionSettings, tenant: str
) -> CompressionResult:
    if not seg.compress:
        return _passthrough(compressor, seg.text, settings)
    return compressor.compress(
        seg.text, dataclasses.replace(settings, protected_spans=seg.protected_spans), tenant=tenant
    )


def _passthrough(
    compressor: Compressor, text: str, settings: CompressionSettings
) -> CompressionResult:
    counter = counter_for(settings.target_model)
    n = counter.count(text)
    method = compressor.resolve_method(settings.method, settings.question)
    return CompressionResult(text, n, n, 1.0, method, counter.encoding_name)


def _question_aware_method(
    compressor: Compressor, settings: CompressionSettings
) -> CompressionMethod | None:
    """The method that ranks the tail by the question, or None when none applies."""
    if not settings.question:
        return None
    wanted = settings.method
    if wanted is None:  # the compressor's default family
        wanted = compressor.resolve_method(None, settings.question)
        if wanted is CompressionMethod.LLMLINGUA:
            wanted = CompressionMethod.LONGLLMLINGUA
    if wanted in (CompressionMethod.DISTILLED, CompressionMethod.LONGLLMLINGUA):
        return wanted if wanted in compressor.methods else None
    return None


def _compress_context(
    compressor: Compressor,
    context: Sequence[Segment],
    lengths: Sequence[int],
    budget: int,
    settings: CompressionSettings,
    tenant: str,
) -> tuple[tuple[CompressionResult, ...], tuple[float, ...]]:
    if not context:
        return (), ()
    method = _question_aware_method(compressor, settings)
    question_aware = method is not None
    if method is None:
        method = _agnostic_method(compressor, settings.method)
    seg_settings = dataclasses.replace(
        settings,
        method=method,
        target_tokens=0,
        reorder=False,
        question=settings.question if question_aware else "",
    )
    if not question_aware and settings.target_tokens <= 0:
        # Nothing ties the chunks together: compress each alone, frozen and cached like the prefix.
        return tuple(_one(compressor, seg, seg_settings, tenant) for seg in context), (0.0,) * len(
            context
        )
    movable = [i for i, seg in enumerate(context) if seg.compress and seg.text]
    movable_lengths = [lengths[i] for i in movable]
    fixed = sum(lengths) - sum(movable_lengths)
    scores = np.zeros(len(context))
    if settings.question:
        scores[movable] = relevance.text_relevance(
            [context[i].text for i in movable], settings.question
        )
    shares = _dynamic_budgets(
        movable_lengths, scores[movable], max(0, budget - fixed), question_aware
    )
    share_of = dict(zip(movable, shares, strict=True))
    out: list[CompressionResult] = []
    for i, seg in enumerate(context):
        if i not in share_of:
            out.append(_passthrough(compressor, seg.text, seg_settings))
            continue
        own = dataclasses.replace(seg_settings, protected_spans=seg.protected_spans)
        out.append(compressor.compress_to_budget(seg.text, own, share_of[i], tenant=tenant))
    return tuple(out), tuple(float(r) for r in scores)


def _dynamic_budgets(
    lengths: Sequence[int], relevance: np.ndarray, budget: int, dynamic: bool
) -> list[int]:
    """Split budget over segments: base rate +/- DYNAMIC_RATE_SPREAD by relevance rank.

    Shares are capped at each segment's length; what a capped segment cannot
    use is handed to the others in proportion to their weight (water-filling).
    """
    n = len(lengths)
    if n == 0:
        return []
    total = sum(lengths)
    if total == 0:
        return [0] * n
    base = min(1.0, budget / total)
    bias = rank_bias(relevance) if dynamic else np.zeros(n)
    weights = np.array(
        [max(0.0, base + DYNAMIC_RATE_SPREAD * b) * ln for b, ln in zip(bias, lengths, strict=True)]
    )
    caps = np.array(lengths, dtype=float)
    shares = np.zeros(n)
    remaining = float(min(budget, total))
    open_ = np.ones(n, dtype=bool)
    while remaining > 1e-9 and open_.any() and weights[open_].sum() > 0:
        give = remaining * weights * open_ / weights[open_].sum()
        room = caps - shares
        give = np.minimum(give, room)
        shares += give
        remaining -= give.sum()
        open_ &= (caps - shares) > 1e-9
    return [int(s) for s in np.floor(shares + 1e-9)]
