"""Upstream request bodies laid out by cachekeys, one per wire protocol of a tier plan.

Failover can cross from an OpenAI-compatible upstream to an Anthropic one, and the
two need different layouts (Anthropic takes explicit ``cache_control``
breakpoints; OpenAI takes ``prompt_cache_key``). So the plan's protocols are
each rendered once, by cachekeys' `plan_request`, with the provider profile and
model of the first upstream that speaks it; the forwarder then only swaps in each
upstream's own model name.
"""

from __future__ import annotations

from collections.abc import Sequence

from promptpress.cachekeys.layout import PromptLayout
from promptpress.cachekeys.plan import plan_request
from promptpress.cachekeys.profiles import ProfileSet
from promptpress.server.routing.tiers import Tier, UpstreamConfig, UpstreamKind
from promptpress.server.routing.upstream_render import UpstreamRequest
from promptpress.tokens import counter_for
from promptpress.types import Sampling, Target

_NO_SAMPLING = Sampling()


def first_upstream_by_kind(plan: Sequence[Tier]) -> dict[UpstreamKind, UpstreamConfig]:
    found: dict[UpstreamKind, UpstreamConfig] = {}
    for tier in plan:
        for upstream in tier.upstreams:
            found.setdefault(upstream.kind, upstream)
    return found


def upstream_request_for_layout(
    tenant: str,
    layout: PromptLayout,
    plan: Sequence[Tier],
    profiles: ProfileSet,
    *,
    sampling: Sampling = _NO_SAMPLING,
) -> UpstreamRequest:
    """Bodies for every protocol `plan` may use (the others stay None)."""
    bodies: dict[UpstreamKind, dict] = {}
    for kind, upstream in first_upstream_by_kind(plan).items():
        # An OpenAI-compatible upstream is laid out with the openai profile; a
        # different provider's profile would need its name in the upstream config.
        target = profiles.resolve(Target(provider=kind.value, model=upstream.model))
        cache_plan = plan_request(
            tenant, layout, target, counter_for(upstream.model), sampling=sampling
        )
        bodies[kind] = dict(cache_plan.payload)
    return UpstreamRequest(
        openai=bodies.get(UpstreamKind.OPENAI), anthropic=bodies.get(UpstreamKind.ANTHROPIC)
    )
