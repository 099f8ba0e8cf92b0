"""What a request costs: estimated before sending, and from what the provider reports.

Providers count cached input differently, and mixing the conventions up
mis-prices cached requests by up to 10x:

- OpenAI-compatible: ``usage.prompt_tokens`` INCLUDES
  ``prompt_tokens_details.cached_tokens``; writes are not reported (free).
- DeepSeek: ``prompt_cache_hit_tokens`` + ``prompt_cache_miss_tokens`` = prompt.
- Anthropic Messages: ``usage.input_tokens`` EXCLUDES ``cache_read_input_tokens``
  and ``cache_creation_input_tokens`` (split by TTL in ``cache_creation``).
- Bedrock Converse: ``inputTokens`` excludes ``cacheReadInputTokens`` and
  ``cacheWriteInputTokens`` too.
- Gemini ``usageMetadata``: ``promptTokenCount`` includes
  ``cachedContentTokenCount``; ``thoughtsTokenCount`` is billed as output.

Everything becomes `Usage`, whose ``prompt_tokens`` always includes cached and
written tokens (the meaning of the API's ``Usage.prompt_tokens``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promptpress.cachekeys.profiles import ResolvedTarget

MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0  # all input: uncached + cache reads + cache writes
    completion_tokens: int = 0
    cached_tokens: int = 0  # read from the prompt cache
    cache_write_tokens: int = 0  # written with the default (short) TTL
    cache_write_1h_tokens: int = 0  # written with the extended TTL

    @property
    def uncached_prompt_tokens(self) -> int:
        written = self.cache_write_tokens + self.cache_write_1h_tokens
        return max(0, self.prompt_tokens - self.cached_tokens - written)


@dataclass(frozen=True, slots=True)
class Cost:
    """USD by what it paid for."""

    input_usd: float = 0.0  # uncached input
    cache_read_usd: float = 0.0
    cache_write_usd: float = 0.0
    output_usd: float = 0.0

    @property
    def total_usd(self) -> float:
        return self.input_usd + self.cache_read_usd + self.cache_write_usd + self.output_usd

    @property
    def prompt_usd(self) -> float:
        return self.input_usd + self.cache_read_usd + self.cache_write_usd


def round_usd(dollars: float) -> float:
    """Dollars at a precision fit to report: 1e-10 (a ten-thousandth of a micro-dollar),
    so float noise like 9.299999999999999e-06 reads 9.3e-06."""
    return round(dollars, 10)


class UsageError(ValueError):
    """A usage object that is present but not shaped like the provider's."""


def cost_of_usage(usage: Usage, target: ResolvedTarget) -> Cost:
    """Dollars for one call at the target's prices (0 when the model has no price)."""
    return Cost(
        input_usd=usage.uncached_prompt_tokens * target.input_price() / MILLION,
        cache_read_usd=usage.cached_tokens * target.cache_read_price() / MILLION,
        cache_write_usd=(
            usage.cache_write_tokens * target.cache_write_price()
            + usage.cache_write_1h_tokens * target.cache_write_price(extended_ttl=True)
        )
        / MILLION,
        output_usd=usage.completion_tokens * target.output_price() / MILLION,
    )


def estimate_cost(
    target: ResolvedTarget,
    *,
    prompt_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
    output_tokens: int = 0,
) -> Cost:
    """The cost of a request of this shape (reads/writes are part of prompt_tokens)."""
    cached = min(cached_tokens, prompt_tokens)
    written = min(cache_write_tokens, prompt_tokens - cached)
    usage = Usage(prompt_tokens, output_tokens, cached, written)
    return cost_of_usage(usage, target)


def _obj(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise UsageError(f"{where} is not an object")
    return raw


def _n(u: Mapping[str, Any], key: str) -> int:
    value = u.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise UsageError(f"usage field {key!r} is not a non-negative number: {value!r}")
    return int(value)


def usage_from_openai(raw: Any) -> Usage:
    u = _obj(raw, "usage")
    details = _obj(u.get("prompt_tokens_details") or {}, "usage.prompt_tokens_details")
    cached = _n(details, "cached_tokens")
    if not cached and "prompt_cache_hit_tokens" in u:  # DeepSeek's own field names
        cached = _n(u, "prompt_cache_hit_tokens")
    return Usage(_n(u, "prompt_tokens"), _n(u, "completion_tokens"), cached)


def usage_from_anthropic(raw: Any) -> Usage:
    u = _obj(raw, "usage")
    read = _n(u, "cache_read_input_tokens")
    write = _n(u, "cache_creation_input_tokens")
    by_ttl = _obj(u.get("cache_creation") or {}, "usage.cache_creation")
    write_1h = min(write, _n(by_ttl, "ephemeral_1h_input_tokens"))
    return Usage(
        prompt_tokens=_n(u, "input_tokens") + read + write,
        completion_tokens=_n(u, "output_tokens"),
        cached_tokens=read,
        cache_write_tokens=write - write_1h,
        cache_write_1h_tokens=write_1h,
    )


def usage_from_bedrock(raw: Any) -> Usage:
    u = _obj(raw, "usage")
    read = _n(u, "cacheReadInputTokens")
    write = _n(u, "cacheWriteInputTokens")
    return Usage(_n(u, "inputTokens") + read + write, _n(u, "outputTokens"), read, write)


def usage_from_gemini(raw: Any) -> Usage:
    u = _obj(raw, "usageMetadata")
    return Usage(
        prompt_tokens=_n(u, "promptTokenCount"),
        completion_tokens=_n(u, "candidatesTokenCount") + _n(u, "thoughtsTokenCount"),
        cached_tokens=_n(u, "cachedContentTokenCount"),
    )
