"""Provider usage for routing: the normalised `Usage`, each upstream's prices, and cost.

The parsing of each provider's usage fields lives in one place,
promptpress.cachekeys.cost (OpenAI's ``prompt_tokens`` includes cached tokens;
Anthropic's ``input_tokens`` excludes cache reads and writes; Gemini's
``promptTokenCount`` includes ``cachedContentTokenCount``). This module adds
what routing needs on top: Anthropic's two-part streamed usage, each upstream's
prices, and dollars.

One price source: cachekeys/profiles.toml (dated, with sources) prices every model
it knows; a tier's ``prices`` override it key by key. A model with no price in
either gets a warning (at start-up and in every answer it gives), never a silent 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promptpress.cachekeys.cost import (
    Usage,
    UsageError,
    round_usd,
    usage_from_anthropic,
    usage_from_gemini,
    usage_from_openai,
)
from promptpress.cachekeys.profiles import ProfileSet
from promptpress.server.routing.tiers import PriceOverrides, Prices, UpstreamConfig
from promptpress.types import Target

__all__ = [
    "UpstreamPrices",
    "Usage",
    "UsageError",
    "cost_usd",
    "merge_anthropic_stream_usage",
    "round_usd",
    "upstream_prices",
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


@dataclass(frozen=True, slots=True)
class UpstreamPrices:
    prices: Prices
    warning: str = ""  # non-empty: no price known, costs are reported as 0


def upstream_prices(
    upstream: UpstreamConfig, overrides: PriceOverrides, profiles: ProfileSet
) -> UpstreamPrices:
    """The upstream's prices: the price table's for its model, overridden key by key."""
    target = profiles.resolve(Target(provider=upstream.kind.value, model=upstream.model))
    o = overrides
    if target.price is not None:
        base = Prices(
            input=target.input_price(),
            cached_input=target.cache_read_price(),
            cache_write=target.cache_write_price(),
            output=target.output_price(),
        )
    else:
        # Unset cache prices mean "billed like plain input", the safe assumption.
        plain = o.input or 0.0
        base = Prices(input=plain, cached_input=plain, cache_write=plain, output=0.0)
    prices = Prices(
        input=base.input if o.input is None else o.input,
        cached_input=base.cached_input if o.cached_input is None else o.cached_input,
        cache_write=base.cache_write if o.cache_write is None else o.cache_write,
        output=base.output if o.output is None else o.output,
    )
    warning = ""
    if target.price is None and (o.input is None or o.output is None):
        warning = (
            f"no price for model {upstream.model!r} (upstream {upstream.qualified_name}): "
            "not in the price table and no tiers.{tier}.prices input and output; "
            "its cost is reported as 0".replace("{tier}", upstream.tier)
        )
    return UpstreamPrices(prices, warning)
