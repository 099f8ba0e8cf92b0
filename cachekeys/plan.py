"""One call for the pipeline: layout in, body + breakpoints + keys + costs out.

The pieces (`place_breakpoints`, `compute_keys`, `render_provider_body`,
`estimate_cost`) stay callable alone; this module only composes them in the
order they depend on each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from promptpress.cachekeys.breakpoints import (
    Breakpoint,
    PlacementPolicy,
    PrefixStats,
    expected_cache_tokens,
    place_breakpoints,
    prefix_stats,
)
from promptpress.cachekeys.cost import Cost, estimate_cost
from promptpress.cachekeys.keys import CacheKeys, compute_keys
from promptpress.cachekeys.layout import PromptLayout, canonical_json
from promptpress.cachekeys.profiles import ResolvedTarget
from promptpress.cachekeys.render import render_payload
from promptpress.tokens import TokenCounter
from promptpress.types import ResponseFormat, Sampling, ToolChoice

_NO_SAMPLING = Sampling()


@dataclass(frozen=True)
class CachePlan:
    layout: PromptLayout
    target: ResolvedTarget
    stats: PrefixStats
    breakpoints: tuple[Breakpoint, ...]
    keys: CacheKeys
    payload: dict  # the provider body as a dict (for a forwarder)
    provider_body: str  # the same body as canonical JSON text
    expected_cached_tokens: int  # steady-state cache reads for this request
    expected_cache_write_tokens: int
    cost_after: Cost  # input cost with the expected reads and writes
    warnings: tuple[str, ...]

    @property
    def prompt_tokens(self) -> int:
        return self.stats.total_tokens


def plan_request(
    tenant: str,
    layout: PromptLayout,
    target: ResolvedTarget,
    counter: TokenCounter,
    *,
    sampling: Sampling = _NO_SAMPLING,
    query_text: str | None = None,
    embedder_model_id: str = "",
    policy: PlacementPolicy | None = None,
    tool_choice: ToolChoice | None = None,
    response_format: ResponseFormat | None = None,
) -> CachePlan:
    """Breakpoints, keys, the provider body and the expected input cost of one request."""
    keys = compute_keys(
        tenant,
        layout,
        provider=target.provider,
        model=target.model,
        sampling=sampling,
        query_text=query_text,
        embedder_model_id=embedder_model_id,
        tool_choice=tool_choice,
        response_format=response_format,
    )
    stats = prefix_stats(layout, counter)
    bps = place_breakpoints(
        layout, target.rules, stats, keys.prefix_hashes, policy=policy or PlacementPolicy()
    )
    payload = render_payload(
        target,
        layout,
        sampling,
        bps,
        keys.prompt_cache_key,
        tool_choice=tool_choice,
        response_format=response_format,
    )
    read, written = expected_cache_tokens(layout, target.rules, stats, bps)
    cost = estimate_cost(
        target, prompt_tokens=stats.total_tokens, cached_tokens=read, cache_write_tokens=written
    )
    return CachePlan(
        layout=layout,
        target=target,
        stats=stats,
        breakpoints=bps,
        keys=keys,
        payload=payload,
        provider_body=canonical_json(payload),
        expected_cached_tokens=read,
        expected_cache_write_tokens=written,
        cost_after=cost,
        warnings=target.warnings,
    )
