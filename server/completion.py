"""Complete and StreamComplete: preprocess, answer from the semantic cache, else route.

    preprocess -> cache lookup (exact key, then same context + similar query)
               -> hit: the stored answer, no upstream call
               -> miss: pick a tier, forward with failover, store the answer

The cache's context is everything but the final question: tool definitions, tool
calls and tool results (and tool_choice / response_format) are part of it, so an
answer is never served across them. Answers that are tool calls are never stored.
The completion service, not the router, records metrics.

Blocking work (the pipeline, embeddings, LMDB) runs in the worker pool; the
upstream call is async. The caller's remaining gRPC deadline caps the upstream
calls, and cancelling the RPC cancels them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

from promptpress.cachekeys.semantic_cache.cache import CacheHit, SemanticCache, query_vector
from promptpress.cachekeys.semantic_cache.verification import BadHitReport
from promptpress.errors import FailedPrecondition
from promptpress.server.metrics import Metrics
from promptpress.server.pipeline import Pipeline, PreprocessOutput
from promptpress.server.routing.bodies import UpstreamRequest, upstream_request
from promptpress.server.routing.difficulty import RoutingDecision
from promptpress.server.routing.forwarder import TextDelta
from promptpress.server.routing.router import Route, RoutedAnswer, Router
from promptpress.server.routing.usage import Usage
from promptpress.storage import StoreFull, StoreUnavailable, warn_throttled
from promptpress.types import FinishReason, PreprocessInput, ToolCall, ToolCallDelta

T = TypeVar("T")
log = logging.getLogger("promptpress.server")


@dataclass(frozen=True)
class CompletionInput:
    request: PreprocessInput
    tier: str = ""
    skip_cache: bool = False
    cache_threshold: float | None = None  # None: the semantic cache's configured threshold
    routing_thresholds: tuple[float, ...] | None = None  # None: the configured ones


@dataclass(frozen=True)
class Completion:
    """A whole answer, from the cache or an upstream."""

    text: str
    pre: PreprocessOutput
    cache_status: str  # "none" | "exact" | "semantic"
    similarity: float = 0.0
    matched_key: str = ""
    decision: RoutingDecision | None = None
    upstream: str = ""
    model: str = ""
    usage: Usage | None = None
    cost_usd: float = 0.0
    finish_reason: str = ""  # a FinishReason value, or what the upstream said
    tool_calls: tuple[ToolCall, ...] = ()
    warnings: tuple[str, ...] = ()  # besides the preprocessing's (e.g. an unpriced model)


class Completer:
    def __init__(
        self,
        pipeline: Pipeline,
        executor: Executor,
        *,
        router: Router | None,
        cache: SemanticCache | None,
        metrics: Metrics | None,
    ) -> None:
        self.pipeline = pipeline
        self.executor = executor
        self.router = router
        self.cache = cache
        self.metrics = metrics

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def report_bad_hit(self, tenant: str, key: str) -> BadHitReport:
        """Removes the answer served under `key` (a completion's matched_key) and
        counts the report in the tenant's calibration. Blocking: store I/O."""
        if self.cache is None:
            raise FailedPrecondition("this server has no semantic cache (models not loaded)")
        return self.cache.report_bad_hit(tenant, key)

    def _query_vector(self, query: str) -> Any:
        embedder = self.pipeline.resources.embedder
        if embedder is None or not query.strip():
            return None
        return query_vector(embedder, query)

    def _lookup(
        self, tenant: str, pre: PreprocessOutput, threshold: float | None = None
    ) -> tuple[CacheHit | None, Any]:
        assert self.cache is not None
        vec = self._query_vector(pre.query)
        keys = pre.plan.keys
        try:
            hit = self.cache.lookup(
                tenant,
                keys.context_fingerprint,
                pre.query,
                vec,
                exact_key=keys.exact_key,
                threshold=threshold,
            )
        except StoreUnavailable as exc:  # the cache is an optimisation: answer from upstream
            warn_throttled(log, "semantic cache treated as a miss: %s", exc)
            hit = None
        return hit, vec

    def _store(self, tenant: str, pre: PreprocessOutput, vec: Any, answer: RoutedAnswer) -> None:
        assert self.cache is not None
        keys = pre.plan.keys
        try:
            self._store_answer(tenant, pre, vec, answer, keys)
        except (StoreUnavailable, StoreFull) as exc:
            warn_throttled(log, "answer not cached: %s", exc)

    def _store_answer(
        self, tenant: str, pre: PreprocessOutput, vec: Any, answer: RoutedAnswer, keys: Any
    ) -> None:
        assert self.cache is not None
        self.cache.store(
            tenant,
            context_fingerprint=keys.context_fingerprint,
            query_text=pre.query,
            query_vec=vec,
            response=answer.result.text,
            exact_key=keys.exact_key,
            semantic_key=keys.semantic_key,
            metadata={"model": answer.result.model, "upstream": answer.result.upstream},
        )

    async def _prepare(
        self, tenant: str, inp: CompletionInput
    ) -> tuple[PreprocessOutput, CacheHit | None, Any]:
        if self.router is None:
            raise FailedPrecondition(
                "no upstream is configured: add [tiers.NAME] tables to the server config"
            )
        pre = await self._run(self.pipeline.preprocess, inp.request)
        hit, vec = None, None
        if self.cache is not None and not inp.skip_cache:
            hit, vec = await self._run(self._lookup, tenant, pre, inp.cache_threshold)
            if self.metrics is not None:
                self.metrics.record_cache_lookup(tenant, hit.kind if hit else "none")
                if hit is not None:
                    self.metrics.record_cache_answer(tenant, hit.kind)
        return pre, hit, vec

    def _cached(self, pre: PreprocessOutput, hit: CacheHit) -> Completion:
        return Completion(
            text=hit.response,
            pre=pre,
            cache_status=hit.kind,
            similarity=hit.similarity,
            matched_key=hit.key,
            model=hit.metadata.get("model", ""),
            upstream=hit.metadata.get("upstream", ""),
            finish_reason="stop",
        )

    def _upstream_request(
        self, inp: CompletionInput, pre: PreprocessOutput, route: Route
    ) -> UpstreamRequest:
        r = inp.request
        return upstream_request(
            pre.plan,
            route.plan,
            self.pipeline.resources.profiles,
            sampling=r.sampling,
            tool_choice=r.tool_choice,
            response_format=r.response_format,
        )

    async def _route(
        self, inp: CompletionInput, pre: PreprocessOutput
    ) -> tuple[Route, UpstreamRequest]:
        assert self.router is not None
        route = await self._run(
            functools.partial(self.router.route, thresholds=inp.routing_thresholds),
            inp.request.messages,
            inp.tier,
        )
        request = await self._run(self._upstream_request, inp, pre, route)
        return route, request

    def _record(self, tenant: str, answer: RoutedAnswer) -> None:
        if self.metrics is not None:
            r = answer.result
            self.metrics.record_attempts(tenant, r.attempts)
            self.metrics.record_completion(tenant, r.tier, r.usage, answer.cost_usd)

    def _record_failure(self, tenant: str, exc: BaseException) -> None:
        if self.metrics is not None:
            self.metrics.record_attempts(tenant, getattr(exc, "attempts", ()))

    def _answered(self, pre: PreprocessOutput, answer: RoutedAnswer) -> Completion:
        r = answer.result
        return Completion(
            text=r.text,
            pre=pre,
            cache_status="none",
            decision=answer.decision,
            upstream=r.upstream,
            model=r.model,
            usage=r.usage,
            cost_usd=answer.cost_usd,
            finish_reason=r.finish_reason,
            tool_calls=r.tool_calls,
            warnings=answer.warnings,
        )

    async def _remember(
        self,
        tenant: str,
        inp: CompletionInput,
        pre: PreprocessOutput,
        vec: Any,
        answer: RoutedAnswer,
    ) -> None:
        if self.cache is None or inp.skip_cache or vec is None or not answer.result.text:
            return
        if answer.result.tool_calls:
            # Never cached, not even exactly: a call's id is the provider's, fresh for
            # each answer, and running a tool (sending the mail, paying the bill) is a
            # side effect the agent asked the model about now, not last time.
            return
        if answer.result.finish_reason not in (FinishReason.STOP, ""):
            return  # a truncated or filtered answer is not worth serving again
        await self._run(self._store, tenant, pre, vec, answer)

    async def complete(
        self, tenant: str, inp: CompletionInput, deadline_s: float | None
    ) -> Completion:
        pre, hit, vec = await self._prepare(tenant, inp)
        if hit is not None:
            return self._cached(pre, hit)
        route, request = await self._route(inp, pre)
        assert self.router is not None
        try:
            answer = await self.router.complete(
                route,
                request,
                affinity_key=pre.plan.keys.prompt_cache_key,
                deadline_s=deadline_s,
            )
        except Exception as exc:
            self._record_failure(tenant, exc)
            raise
        self._record(tenant, answer)
        await self._remember(tenant, inp, pre, vec, answer)
        return self._answered(pre, answer)

    async def stream(
        self, tenant: str, inp: CompletionInput, deadline_s: float | None
    ) -> AsyncGenerator[str | ToolCallDelta | Completion, None]:
        """Text deltas and tool-call pieces in order, then exactly one Completion (only
        after the upstream finished; it carries the assembled tool calls)."""
        pre, hit, vec = await self._prepare(tenant, inp)
        if hit is not None:
            yield hit.response
            yield self._cached(pre, hit)
            return
        route, request = await self._route(inp, pre)
        assert self.router is not None
        events = self.router.stream(
            route,
            request,
            affinity_key=pre.plan.keys.prompt_cache_key,
            deadline_s=deadline_s,
        )
        async with contextlib.aclosing(events):
            try:
                async for event in events:
                    if isinstance(event, TextDelta):
                        yield event.text
                    elif isinstance(event, ToolCallDelta):
                        yield event
                    elif isinstance(event, RoutedAnswer):
                        self._record(tenant, event)
                        await self._remember(tenant, inp, pre, vec, event)
                        yield self._answered(pre, event)
            except Exception as exc:
                self._record_failure(tenant, exc)
                raise
