"""What `model` may name over HTTP, and what each name means for the pipeline.

- ``auto``: the router picks the tier from the request's difficulty;
- a tier name (``small``, ``frontier``, ...): that tier is forced;
- a configured upstream model (``gpt-4o-mini``): the tier that serves it is forced.
  Failover may still move up a tier, as for any forced tier.

The preprocessing target (token counting, provider cache layout, cost estimate) is
the named upstream, else the first upstream of the tier, else of the cheapest tier.
"""

from __future__ import annotations

from dataclasses import dataclass

from promptpress.errors import FailedPrecondition, NotFound
from promptpress.server.routing.tiers import TierConfig, UpstreamConfig
from promptpress.types import Target

AUTO = "auto"


@dataclass(frozen=True, slots=True)
class ModelChoice:
    name: str  # as the caller asked
    tier: str  # "" lets the router decide
    target: Target


@dataclass(frozen=True, slots=True)
class ModelEntry:
    id: str
    kind: str  # "auto" | "tier" | "upstream"
    owned_by: str


def _target(upstream: UpstreamConfig | None) -> Target:
    if upstream is None:
        return Target()
    return Target(provider=upstream.kind.value, model=upstream.model)


def _first_upstream(tiers: TierConfig, start: int = 0) -> UpstreamConfig | None:
    for tier in tiers.tiers[start:]:
        if tier.upstreams:
            return tier.upstreams[0]
    return None


def resolve_model(name: object, tiers: TierConfig | None) -> ModelChoice:
    """The tier and target for `model`; NotFound (404) for a name nothing serves."""
    if tiers is None or not tiers.tiers:
        raise FailedPrecondition("no upstream is configured: add [tiers.NAME] tables to the config")
    if not isinstance(name, str) or not name.strip():
        raise NotFound("model", "is required: `auto`, a tier name or a configured model")
    name = name.strip()
    if name == AUTO:
        return ModelChoice(name, "", _target(_first_upstream(tiers)))
    for i, tier in enumerate(tiers.tiers):
        if tier.name == name:
            return ModelChoice(name, tier.name, _target(_first_upstream(tiers, i)))
    for tier in tiers.tiers:
        for upstream in tier.upstreams:
            if upstream.model == name:
                return ModelChoice(name, tier.name, _target(upstream))
    known = ", ".join(e.id for e in list_models(tiers))
    raise NotFound("model", f"no model {name!r} here (known: {known})")


def list_models(tiers: TierConfig | None) -> list[ModelEntry]:
    """`auto`, every tier, then every configured upstream model (each once)."""
    if tiers is None or not tiers.tiers:
        return []
    entries = [ModelEntry(AUTO, "auto", "promptpress")]
    entries += [ModelEntry(t.name, "tier", "promptpress") for t in tiers.tiers]
    seen = {e.id for e in entries}
    for tier in tiers.tiers:
        for upstream in tier.upstreams:
            if upstream.model not in seen:
                seen.add(upstream.model)
                entries.append(ModelEntry(upstream.model, "upstream", upstream.qualified_name))
    return entries
