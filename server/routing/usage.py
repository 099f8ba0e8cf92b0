"""Provider usage for routing: the normalised `Usage` and its cost at a tier's prices.

The parsing of each provider's usage fields lives in one place,
promptpress.cachekeys.cost (OpenAI's ``prompt_tokens`` includes cached tokens;
Anthropic's ``input_tokens`` excludes cache reads and writes; Gemini's
``promptTokenCount`` includes ``cachedContentTokenCount``). This module adds
what routing needs on top: Anthropic's two-part streamed usage, and dollars at
the per-million prices configured for a tier.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from promptpress.cachekeys.cost import (
    Usage,
    UsageError,
    usage_from_anthropic,
    usage_from_gemini,
    usage_from_openai,
)
from promptpress.server.routing.tiers import Prices

__all__ = [
    "Usage",
    "UsageError",
    "cost_usd",
    "merge_anthropic_stream_usage",
    "usage_from_anthropic",
    "usage_from_gemini",
    "usage_from_openai",
]


def merge_anthropic_stream_usage(start: Mapping[str, Any], delta: Mapping[str, Any]) -> Usage:
    """Anthropic streams usage twice: message_start (input side, output so far) and
    message_delta (cumulative output; newer APIs repeat input counts). Later wins."""
    merged = {**start, **{k: v for k, v in delta.items() if v is not None}}
    return usage_from_anthropic(merged)


def cost_usd(usage: Usage, prices: Prices) -> float:
    """Dollars for one call at a tier's per-million-token prices (all cache writes at
    the tier's cache-write price)."""
    written = usage.cache_write_tokens + usage.cache_write_1h_tokens
    return (
        usage.uncached_prompt_tokens * prices.input
        + usage.cached_tokens * prices.cached_input
        + written * prices.cache_write
        + usage.completion_tokens * prices.output
    ) / 1_000_000
