"""The routing facade the completion service calls: decide a tier, forward, account.

    router = Router.from_config(parse_routing_config(config.extra), embedder=..., metrics=...)
    decision = router.decide(messages, forced_tier=tier)     # sync, CPU (may embed)
    plan = router.config.tiers.plan_from(decision.tier)
    request = upstream_request_for_layout(tenant, layout, plan, profiles, sampling=...)
    answer = await router.complete(tenant, decision, request,
                                   affinity_key=prompt_cache_key, deadline_s=time_left)
    # answer.result.text / .usage / .upstream / .model / .finish_reason, answer.cost_usd

`UpstreamRequest.from_messages(messages)` stands in for the laid-out bodies when
there is no cachekeys layout. Streaming: ``async for event in router.stream(...)``:
TextDelta events, then one RoutedAnswer. Errors are the core's FailedPrecondition /
Unavailable / DeadlineExceeded (subclasses carrying the attempts), already counted
in metrics.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass

import httpx

from promptpress.server.metrics import Metrics
from promptpress.server.routing.difficulty import (
    DifficultyClassifier,
    Embedder,
    RoutingDecision,
    TrainedDifficultyModel,
)
from promptpress.server.routing.forwarder import Forwarder
from promptpress.server.routing.results import StreamDone, TextDelta, UpstreamResult
from promptpress.server.routing.tiers import RoutingConfig
from promptpress.server.routing.upstream_render import UpstreamRequest
from promptpress.server.routing.usage import cost_usd
from promptpress.tokens import counter_for
from promptpress.types import Message


@dataclass(frozen=True, slots=True)
class RoutedAnswer:
    decision: RoutingDecision
    result: UpstreamResult
    cost_usd: float


class Router:
    def __init__(
        self,
        config: RoutingConfig,
        classifier: DifficultyClassifier,
        forwarder: Forwarder,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.classifier = classifier
        self.forwarder = forwarder
        self.metrics = metrics

    @classmethod
    def from_config(
        cls,
        config: RoutingConfig,
        *,
        embedder: Embedder | None = None,
        metrics: Metrics | None = None,
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
        return cls(config, classifier, Forwarder(config.policy, client=client), metrics)

    async def aclose(self) -> None:
        await self.forwarder.aclose()

    def decide(self, messages: Sequence[Message], forced_tier: str = "") -> RoutingDecision:
        """The tier for these messages; FailedPrecondition for an unknown forced tier."""
        return self.classifier.decide(messages, forced_tier)

    async def complete(
        self,
        tenant: str,
        decision: RoutingDecision,
        request: UpstreamRequest,
        *,
        affinity_key: str = "",
        deadline_s: float | None = None,
    ) -> RoutedAnswer:
        plan = self.config.tiers.plan_from(decision.tier)
        try:
            result = await self.forwarder.complete(
                plan, request, affinity_key=affinity_key, deadline_s=deadline_s
            )
        except Exception as exc:
            self._record_failure(tenant, exc)
            raise
        return self._account(tenant, decision, result)

    async def stream(
        self,
        tenant: str,
        decision: RoutingDecision,
        request: UpstreamRequest,
        *,
        affinity_key: str = "",
        deadline_s: float | None = None,
    ) -> AsyncGenerator[TextDelta | RoutedAnswer, None]:
        plan = self.config.tiers.plan_from(decision.tier)
        events = self.forwarder.stream(
            plan, request, affinity_key=affinity_key, deadline_s=deadline_s
        )
        async with contextlib.aclosing(events):
            try:
                async for event in events:
                    if isinstance(event, StreamDone):
                        yield self._account(tenant, decision, event.result)
                    else:
                        yield event
            except Exception as exc:
                self._record_failure(tenant, exc)
                raise

    def cost(self, result: UpstreamResult) -> float:
        return cost_usd(result.usage, self.config.tiers.get(result.tier).prices)

    def _account(
        self, tenant: str, decision: RoutingDecision, result: UpstreamResult
    ) -> RoutedAnswer:
        dollars = self.cost(result)
        if self.metrics is not None:
            self.metrics.record_attempts(tenant, result.attempts)
            self.metrics.record_completion(tenant, result.tier, result.usage, dollars)
        return RoutedAnswer(decision, result, dollars)

    def _record_failure(self, tenant: str, exc: Exception) -> None:
        if self.metrics is not None:
            self.metrics.record_attempts(tenant, getattr(exc, "attempts", ()))
