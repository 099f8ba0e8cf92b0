"""What to send upstream: one provider body per wire protocol of a tier plan.

Failover can cross from an OpenAI-compatible upstream to an Anthropic one, and the
two need different bodies (Anthropic takes explicit ``cache_control`` breakpoints;
OpenAI takes ``prompt_cache_key``). The bodies are rendered by cachekeys' own
renderers (the code behind Preprocess's ``provider_body``) from what the pipeline
already computed for the request (`CachePlan`: the layout, its prefix token counts,
prefix hashes, breakpoints and keys). A protocol whose provider caches by other
rules only re-places breakpoints over those counts: nothing is laid out, counted or
keyed twice. The forwarder then only sets each upstream's model, stream flags and
per-upstream options.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promptpress.cachekeys.breakpoints import Breakpoint, PlacementPolicy, place_breakpoints
from promptpress.cachekeys.plan import CachePlan
from promptpress.cachekeys.profiles import ProfileSet, ResolvedTarget
from promptpress.cachekeys.render import render_payload
from promptpress.errors import FailedPrecondition
from promptpress.server.routing.tiers import Tier, UpstreamConfig, UpstreamKind
from promptpress.types import ResponseFormat, Sampling, Target, ToolChoice

_NO_SAMPLING = Sampling()


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """Provider bodies (the forwarder sets ``model``/``stream``); None: cannot be sent
    to that kind of upstream."""

    openai: Mapping[str, Any] | None = None
    anthropic: Mapping[str, Any] | None = None

    def body_for(self, kind: UpstreamKind) -> Mapping[str, Any]:
        body = self.openai if kind is UpstreamKind.OPENAI else self.anthropic
        if body is None:
            raise FailedPrecondition(f"no {kind.value} request body for this request")
        return body

    def supports(self, kind: UpstreamKind) -> bool:
        return (self.openai if kind is UpstreamKind.OPENAI else self.anthropic) is not None


def first_upstream_by_kind(plan: Sequence[Tier]) -> dict[UpstreamKind, UpstreamConfig]:
    found: dict[UpstreamKind, UpstreamConfig] = {}
    for tier in plan:
        for upstream in tier.upstreams:
            found.setdefault(upstream.kind, upstream)
    return found


def _breakpoints(cache_plan: CachePlan, target: ResolvedTarget) -> tuple[Breakpoint, ...]:
    if target.rules == cache_plan.target.rules:
        return cache_plan.breakpoints
    # The prefix counts came from the request's own tokenizer: close enough to place
    # another provider's breakpoints (its minimums are thresholds, not exact sizes).
    return tuple(
        place_breakpoints(
            cache_plan.layout,
            target.rules,
            cache_plan.stats,
            cache_plan.keys.prefix_hashes,
            policy=PlacementPolicy(),
        )
    )


def upstream_request(
    cache_plan: CachePlan,
    plan: Sequence[Tier],
    profiles: ProfileSet,
    *,
    sampling: Sampling = _NO_SAMPLING,
    tool_choice: ToolChoice | None = None,
    response_format: ResponseFormat | None = None,
) -> UpstreamRequest:
    """Bodies for every protocol `plan` may use (the others stay None)."""
    bodies: dict[UpstreamKind, dict[str, Any]] = {}
    for kind, upstream in first_upstream_by_kind(plan).items():
        # An OpenAI-compatible upstream is laid out with the openai profile.
        target = profiles.resolve(Target(provider=kind.value, model=upstream.model))
        bodies[kind] = render_payload(
            target,
            cache_plan.layout,
            sampling,
            _breakpoints(cache_plan, target),
            cache_plan.keys.prompt_cache_key,
            tool_choice=tool_choice,
            response_format=response_format,
        )
    return UpstreamRequest(
        openai=bodies.get(UpstreamKind.OPENAI), anthropic=bodies.get(UpstreamKind.ANTHROPIC)
    )
