"""The routing facade the completion service calls: decide a tier, forward, price.

    router = Router.from_config(parse_routing_config(config.extra), profiles=..., embedder=...)
    route = router.route(messages, forced_tier=tier)     # sync, CPU (may embed); plan derived once
    request = upstream_request(pre.plan, route.plan, profiles, sampling=...)
    answer = await router.complete(route, request,
                                   affinity_key=prompt_cache_key, deadline_s=time_left)
    # answer.result.text / .tool_calls / .usage / .upstream / .finish_reason, answer.cost_usd

Streaming: ``async for event in router.stream(...)``: TextDelta and ToolCallDelta
events, then one RoutedAnswer. Errors are the core's InvalidInput (the provider
rejected the request) / FailedPrecondition / Unavailable / DeadlineExceeded,
subclasses carrying the attempts made. Metrics are the caller's business: the
attempts are on the answer and on the error.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx

from promptpress.cachekeys.profiles import ProfileSet, load_profiles
from promptpress.server.routing.bodies import UpstreamRequest
from promptpress.server.routing.difficulty import (
    DifficultyClassifier,
    RoutingDecision,
    TrainedDifficultyModel,
)
from promptpress.server.routing.forwarder import Forwarder
from promptpress.server.routing.results import StreamDone, UpstreamResult
from promptpress.server.routing.results import StreamEvent as ForwardedEvent
from promptpress.server.routing.tiers import RoutingConfig, Tier
from promptpress.server.routing.usage import UpstreamPrices, cost_usd, round_usd, upstream_prices
from promptpress.tokens import counter_for
from promptpress.types import Message, TextEmbedder

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Route:
    """The tier decision and the failover plan it implies (derived once per request)."""

    decision: RoutingDecision
    plan: tuple[Tier, ...]


@dataclass(frozen=True, slots=True)
class RoutedAnswer:
    decision: RoutingDecision
    result: UpstreamResult
    cost_usd: float
    warnings: tuple[str, ...] = ()


class Router:
    def __init__(
        self,
        config: RoutingConfig,
        classifier: DifficultyClassifier,
        forwarder: Forwarder,
        prices: Mapping[str, UpstreamPrices],
    ) -> None:
        self.config = config
        self.classifier = classifier
        self.forwarder = forwarder
        self.prices = prices  # by upstream qualified name

    @classmethod
    def from_config(
        cls,
        config: RoutingConfig,
        *,
        profiles: ProfileSet | None = None,
        embedder: TextEmbedder | None = None,
        count_tokens: Callable[[str], int] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> Router:
        """Builds everything from the parsed config; loads the trained model if one is set."""
        if count_tokens is None:
            # The heuristic's weights were set with real token counts; o200k stands in
            # for every provider's tokenizer closely enough for a difficulty feature.
            count_tokens = counter_for("gpt-4o").count
        model = None
        if config.difficulty_model:
            model = TrainedDifficultyModel.load(config.difficulty_model)
        classifier = DifficultyClassifier(
            config.tiers.names,
            config.thresholds,
            model=model,
            embedder=embedder,
            count_tokens=count_tokens,
        )
        prices = price_book(config, profiles or load_profiles())
        for p in prices.values():
            if p.warning:
                log.warning(p.warning)
        return cls(config, classifier, Forwarder(config.policy, client=client), prices)

    async def aclose(self) -> None:
        await self.forwarder.aclose()

    def decide(
        self,
        messages: Sequence[Message],
        forced_tier: str = "",
        *,
        thresholds: Sequence[float] | None = None,
    ) -> RoutingDecision:
        """The tier for these messages; FailedPrecondition for an unknown forced tier.
        `thresholds` overrides the configured difficulty thresholds for this call."""
        return self.classifier.decide(messages, forced_tier, thresholds=thresholds)

    def route(
        self,
        messages: Sequence[Message],
        forced_tier: str = "",
        *,
        thresholds: Sequence[float] | None = None,
    ) -> Route:
        """The decision and its plan; FailedPrecondition when no tier of it has upstreams."""
        decision = self.decide(messages, forced_tier, thresholds=thresholds)
        return Route(decision, self.config.tiers.plan_from(decision.tier))

    async def complete(
        self,
        route: Route,
        request: UpstreamRequest,
        *,
        affinity_key: str = "",
        deadline_s: float | None = None,
    ) -> RoutedAnswer:
        result = await self.forwarder.complete(
            route.plan, request, affinity_key=affinity_key, deadline_s=deadline_s
        )
        return self._priced(route.decision, result)

    async def stream(
        self,
        route: Route,
        request: UpstreamRequest,
        *,
        affinity_key: str = "",
        deadline_s: float | None = None,
    ) -> AsyncGenerator[ForwardedEvent | RoutedAnswer, None]:
        """The forwarder's deltas as they come, then one RoutedAnswer instead of StreamDone."""
        events = self.forwarder.stream(
            route.plan, request, affinity_key=affinity_key, deadline_s=deadline_s
        )
        try:
            async for event in events:
                if isinstance(event, StreamDone):
                    yield self._priced(route.decision, event.result)
                else:
                    yield event
        finally:
            await events.aclose()

    def cost(self, result: UpstreamResult) -> float:
        return round_usd(cost_usd(result.usage, self.prices[result.upstream].prices))

    def _priced(self, decision: RoutingDecision, result: UpstreamResult) -> RoutedAnswer:
        warning = self.prices[result.upstream].warning
        return RoutedAnswer(decision, result, self.cost(result), (warning,) if warning else ())


def price_book(config: RoutingConfig, profiles: ProfileSet) -> dict[str, UpstreamPrices]:
    """Every upstream's prices, by qualified name (see usage.upstream_prices)."""
    return {
        u.qualified_name: upstream_prices(u, tier.prices, profiles)
        for tier in config.tiers.tiers
        for u in tier.upstreams
    }
