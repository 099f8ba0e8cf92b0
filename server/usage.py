"""Token usage from each provider's own fields, normalised; and its cost.

Providers count prompt tokens differently, and getting it wrong mis-prices cached
requests by up to 10x:

- OpenAI (and OpenAI-compatible servers): ``usage.prompt_tokens`` already includes
  ``usage.prompt_tokens_details.cached_tokens``. No cache-write count.
- Anthropic Messages: ``usage.input_tokens`` EXCLUDES ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens``; the prompt is the sum of all three.
- Gemini (``usageMetadata``): ``promptTokenCount`` includes ``cachedContentTokenCount``.

Everything becomes `Usage`, whose ``prompt_tokens`` always includes cached tokens
(the meaning of the API's ``Usage.prompt_tokens``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promptpress.server.tiers import Prices


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0  # all input tokens, cached and cache-written included
    completion_tokens: int = 0
    cached_tokens: int = 0  # input read from the provider's prompt cache
    cache_write_tokens: int = 0  # input written to the provider's prompt cache

    @property
    def uncached_prompt_tokens(self) -> int:
        return max(0, self.prompt_tokens - self.cached_tokens - self.cache_write_tokens)


class UsageError(ValueError):
    """A usage object that is present but not shaped like the provider's."""


def usage_from_openai(raw: Any) -> Usage:
    u = _mapping(raw, "usage")
    details = u.get("prompt_tokens_details") or {}
    return Usage(
        prompt_tokens=_count(u, "prompt_tokens"),
        completion_tokens=_count(u, "completion_tokens"),
        cached_tokens=_count(_mapping(details, "usage.prompt_tokens_details"), "cached_tokens"),
    )


def usage_from_anthropic(raw: Any) -> Usage:
    u = _mapping(raw, "usage")
    read = _count(u, "cache_read_input_tokens")
    write = _count(u, "cache_creation_input_tokens")
    return Usage(
        prompt_tokens=_count(u, "input_tokens") + read + write,
        completion_tokens=_count(u, "output_tokens"),
        cached_tokens=read,
        cache_write_tokens=write,
    )


def usage_from_gemini(raw: Any) -> Usage:
    u = _mapping(raw, "usageMetadata")
    # thoughtsTokenCount is billed as output but not included in candidatesTokenCount.
    return Usage(
        prompt_tokens=_count(u, "promptTokenCount"),
        completion_tokens=_count(u, "candidatesTokenCount") + _count(u, "thoughtsTokenCount"),
        cached_tokens=_count(u, "cachedContentTokenCount"),
    )


def merge_anthropic_stream_usage(start: Mapping[str, Any], delta: Mapping[str, Any]) -> Usage:
    """Anthropic streams usage twice: message_start (input side, output so far) and
    message_delta (cumulative output; newer APIs repeat input counts). Later wins."""
    merged = {**start, **{k: v for k, v in delta.items() if v is not None}}
    return usage_from_anthropic(merged)


def cost_usd(usage: Usage, prices: Prices) -> float:
    """Dollars for one call at per-million-token prices."""
    return (
        usage.uncached_prompt_tokens * prices.input
        + usage.cached_tokens * prices.cached_input
        + usage.cache_write_tokens * prices.cache_write
        + usage.completion_tokens * prices.output
    ) / 1_000_000


def _mapping(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise UsageError(f"{where} is not an object")
    return raw


def _count(u: Mapping[str, Any], key: str) -> int:
    value = u.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise UsageError(f"usage field {key!r} is not a non-negative number: {value!r}")
    return int(value)
