"""promptpress.cachekeys: provider prompt-cache layout, cache keys, the semantic cache, cost.

Typical use from the pipeline::

    profiles = load_profiles()                      # once, at start-up
    target = profiles.resolve(inp.target)           # warnings / InvalidInput(strict)
    layout = build_layout(system=..., static_docs=..., history=..., chunks=...,
                          last_user=..., tail=..., tools=inp.tools)
    plan = plan_request(tenant, layout, target, counter, sampling=inp.sampling,
                        embedder_model_id=embedder.model_id)
    plan.provider_body, plan.breakpoints, plan.keys, plan.cost_after.total_usd
    cost_before = estimate_cost(target, prompt_tokens=original_tokens).total_usd

and from Complete::

    query_vec = query_vector(embedder, query)       # run it off the event loop
    hit = cache.lookup(tenant, plan.keys.context_fingerprint, query, query_vec,
                       exact_key=plan.keys.exact_key)
    ... cache.store(tenant, context_fingerprint=..., query_text=..., query_vec=...,
                    response=..., exact_key=..., semantic_key=...)

Prices: `cost_of_usage(usage, target)` prices a provider's reported `Usage`
(parsed by `usage_from_openai`, `usage_from_anthropic`, ...) at the target's
dated prices; `estimate_cost` prices token counts before a call.
"""

from promptpress.cachekeys.breakpoints import (
    Breakpoint,
    PlacementPolicy,
    PrefixStats,
    expected_cache_tokens,
    place_breakpoints,
    prefix_stats,
)
from promptpress.cachekeys.cost import (
    Cost,
    Usage,
    UsageError,
    cost_of_usage,
    estimate_cost,
    usage_from_anthropic,
    usage_from_bedrock,
    usage_from_gemini,
    usage_from_openai,
)
from promptpress.cachekeys.keys import CacheKeys, compute_keys, normalize_query
from promptpress.cachekeys.layout import (
    ContextChunk,
    PromptLayout,
    Section,
    build_layout,
    canonical_json,
    check_messages,
    split_messages,
)
from promptpress.cachekeys.plan import CachePlan, plan_request
from promptpress.cachekeys.profiles import (
    CacheRules,
    ModelPrice,
    ProfileSet,
    ProviderProfile,
    ResolvedTarget,
    load_profiles,
)
from promptpress.cachekeys.render import render_payload, render_provider_body
from promptpress.cachekeys.semantic_cache.cache import (
    CacheHit,
    Entry,
    SemanticCache,
    query_vector,
)
from promptpress.cachekeys.semantic_cache.guards import GuardVerdict
from promptpress.cachekeys.simulate import CacheSimulator, SimRequest, SimResult

__all__ = [
    "Breakpoint",
    "CacheHit",
    "CacheKeys",
    "CachePlan",
    "CacheRules",
    "CacheSimulator",
    "ContextChunk",
    "Cost",
    "Entry",
    "GuardVerdict",
    "ModelPrice",
    "PlacementPolicy",
    "PrefixStats",
    "ProfileSet",
    "PromptLayout",
    "ProviderProfile",
    "ResolvedTarget",
    "Section",
    "SemanticCache",
    "SimRequest",
    "SimResult",
    "Usage",
    "UsageError",
    "build_layout",
    "canonical_json",
    "check_messages",
    "compute_keys",
    "cost_of_usage",
    "estimate_cost",
    "expected_cache_tokens",
    "load_profiles",
    "normalize_query",
    "place_breakpoints",
    "plan_request",
    "prefix_stats",
    "query_vector",
    "render_payload",
    "render_provider_body",
    "split_messages",
    "usage_from_anthropic",
    "usage_from_bedrock",
    "usage_from_gemini",
    "usage_from_openai",
]
