"""The compression stage: LLMLingua, LongLLMLingua and LLMLingua-2, structure-safe.

`Compressor.compress(text, settings, tenant=...)` is the whole stage for one
text. It protects structure (protect.py), scores units with the loaded model
(scoring.py, methods.py), keeps the best units that fit the budget counted in
the TARGET model's tokenizer (selection.py) and caches the result in LMDB.
segments.compress_segments is the cache-stable variant for the pipeline; the
plain settings and result types live in settings.py (no torch).
"""

from __future__ import annotations

import math

from promptpress.compressor.compression_cache import CachedCompression, CompressionCache, cache_key
from promptpress.compressor.methods import Prepared, is_question_aware, prepare, render
from promptpress.compressor.protect import byte_spans_to_chars
from promptpress.compressor.scoring import KeepScorer, SurprisalScorer
from promptpress.compressor.selection import select_within_budget
from promptpress.compressor.settings import (
    CompressionLimits,
    CompressionResult,
    CompressionSettings,
    compression_ratio,
)
from promptpress.errors import FailedPrecondition, InvalidInput
from promptpress.tokens import TokenCounter, counter_for
from promptpress.types import CompressionMethod


class Compressor:
    """Holds the loaded scorers and the cache; safe to call from many threads."""

    def __init__(
        self,
        *,
        causal: SurprisalScorer | None = None,
        classifier: KeepScorer | None = None,
        distilled: SurprisalScorer | None = None,
        cache: CompressionCache | None = None,
        default_rate: float = 0.5,
        limits: CompressionLimits = CompressionLimits(),
    ) -> None:
        if causal is None and classifier is None and distilled is None:
            raise ValueError("a Compressor needs at least one scorer")
        if not 0 < default_rate <= 1:
            raise ValueError("default_rate must be in (0, 1]")
        self.causal = causal
        self.classifier = classifier
        self.distilled = distilled
        self.cache = cache
        self.default_rate = default_rate
        self.limits = limits

    @property
    def methods(self) -> tuple[CompressionMethod, ...]:
        out = []
        if self.causal is not None:
            out += [CompressionMethod.LLMLINGUA, CompressionMethod.LONGLLMLINGUA]
        if self.classifier is not None:
            out.append(CompressionMethod.LLMLINGUA2)
        if self.distilled is not None:
            out.append(CompressionMethod.DISTILLED)
        return tuple(out)

    # --- validation -------------------------------------------------------------------

    def resolve_method(
        self, method: CompressionMethod | str | None, question: str
    ) -> CompressionMethod:
        if method is None or method == "":
            if self.distilled is not None:
                return CompressionMethod.DISTILLED
            if self.causal is not None:
                return CompressionMethod.LONGLLMLINGUA if question else CompressionMethod.LLMLINGUA
            return CompressionMethod.LLMLINGUA2
        if not isinstance(method, CompressionMethod):
            try:
                method = CompressionMethod(str(method).lower())
            except ValueError:
                known = ", ".join(m.value for m in CompressionMethod)
                raise InvalidInput.single(
                    "method", f"unknown method {method!r}; use one of {known}"
                ) from None
        assert isinstance(method, CompressionMethod)
        if method not in self.methods:
            raise FailedPrecondition(
                f"compression method {method.value} needs a model this server has not loaded"
            )
        if method is CompressionMethod.LONGLLMLINGUA and not question:
            raise InvalidInput.single(
                "question", "longllmlingua is question-aware and needs a question"
            )
        return method

    def validate(self, text: str, settings: CompressionSettings) -> None:
        if settings.rate is not None and not (
            isinstance(settings.rate, (int, float)) and 0 < settings.rate <= 1
        ):
            raise InvalidInput.single("rate", f"must be in (0, 1], got {settings.rate}")
        if settings.target_tokens < 0:
            raise InvalidInput.single(
                "target_tokens", f"must be >= 0, got {settings.target_tokens}"
            )
        size = len(text.encode("utf-8"))
        if size > self.limits.max_text_bytes:
            raise InvalidInput.single(
                "text", f"{size} bytes exceeds the limit of {self.limits.max_text_bytes}"
            )
        if len(settings.question.encode("utf-8")) > self.limits.max_question_bytes:
            raise InvalidInput.single(
                "question", f"exceeds the limit of {self.limits.max_question_bytes} bytes"
            )
        if len(settings.protected_spans) > self.limits.max_protected_spans:
            raise InvalidInput.single(
                "protected_spans", f"more than {self.limits.max_protected_spans} spans"
            )

    # --- one text ---------------------------------------------------------------------

    def compress(
        self, text: str, settings: CompressionSettings = CompressionSettings(), *, tenant: str
    ) -> CompressionResult:
        """Compress one text to the settings' budget. Deterministic; cached when a cache is set."""
        self.validate(text, settings)
        counter = counter_for(settings.target_model)
        original = counter.count(text)
        return self.compress_to_budget(
            text, settings, self.budget_for(original, settings), tenant=tenant
        )

    def budget_for(self, original_tokens: int, settings: CompressionSettings) -> int:
        """The settings' size in target tokens for a text of original_tokens."""
        if settings.target_tokens > 0:
            return settings.target_tokens
        rate = self.default_rate if settings.rate is None else settings.rate
        return math.floor(rate * original_tokens)

    def compress_to_budget(
        self,
        text: str,
        settings: CompressionSettings,
        budget: int,
        *,
        tenant: str,
        prepared: Prepared | None = None,
    ) -> CompressionResult:
        """Compress text to at most `budget` target tokens (settings' rate/target ignored).

        With `prepared` (from `prepare`), the model is not run again and the
        result is not cached (the caller owns that text's lifecycle).
        """
        method = self.resolve_method(settings.method, settings.question)
        counter = counter_for(settings.target_model)
        original = counter.count(text)
        if not text or budget >= original:
            return CompressionResult(text, original, original, 1.0, method, counter.encoding_name)
        key = None
        if self.cache is not None and prepared is None:
            key = self._key(tenant, text, method, settings, counter, budget)
            if (hit := self.cache.get(tenant, key)) is not None:
                ratio = compression_ratio(hit.original_tokens, hit.compressed_tokens)
                return CompressionResult(
                    hit.text,
                    hit.original_tokens,
                    hit.compressed_tokens,
                    ratio,
                    method,
                    hit.encoding,
                    True,
                )
        if prepared is None:
            prepared = self.prepare(text, settings)
        reorder = settings.reorder and is_question_aware(method, settings.question)
        order = prepared.paragraph_order if reorder else None
        units = prepared.units
        selection = select_within_budget(
            units,
            prepared.scores,
            budget,
            render=lambda keep: render(prepared, keep, order),
            count=counter.count,
            # A per-character estimate is enough to aim the search; counts are exact.
            costs=[(u.end - u.start) * original / len(text) for u in units],
            atomic_first=prepared.atomic_first,
        )
        out, tokens = selection.text, selection.tokens
        if tokens >= original:  # never expand
            out, tokens = text, original
        if key is not None and self.cache is not None:
            self.cache.put(
                tenant,
                key,
                CachedCompression(out, original, tokens, method.value, counter.encoding_name),
            )
        return CompressionResult(
            out,
            original,
            tokens,
            compression_ratio(original, tokens),
            method,
            counter.encoding_name,
        )

    def prepare(self, text: str, settings: CompressionSettings) -> Prepared:
        """Protect, cut and score text for settings' method: the model-bound, budget-free part."""
        method = self.resolve_method(settings.method, settings.question)
        keep = byte_spans_to_chars(text, settings.protected_spans, "protected_spans")
        return prepare(
            text,
            method=method,
            causal=self.causal,
            classifier=self.classifier,
            distilled=self.distilled,
            keep=keep,
            question=settings.question,
            detect_structure=settings.detect_structure,
        )

    def _key(
        self,
        tenant: str,
        text: str,
        method: CompressionMethod,
        settings: CompressionSettings,
        counter: TokenCounter,
        budget: int,
    ) -> bytes:
        scorer = {
            CompressionMethod.LLMLINGUA2: self.classifier,
            CompressionMethod.DISTILLED: self.distilled,
        }.get(method, self.causal)
        aware = is_question_aware(method, settings.question)
        material = {
            "method": method.value,
            "budget": budget,
            "encoding": counter.encoding_name,
            "multiplier": counter.multiplier,
            # the question shapes question-aware scores, and any method protects it verbatim
            "question": settings.question if aware or settings.question in text else "",
            "spans": [(s.start, s.end) for s in settings.protected_spans],
            "reorder": settings.reorder and aware,
            "structure": settings.detect_structure,
        }
        return cache_key(text, scorer.model_id if scorer else "", material)
