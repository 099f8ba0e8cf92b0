"""Forwarding a request to a tier plan: affinity order, retries, failover, cooldown,
the caller's deadline, cancellation, and streaming.

Order of tries: the tiers of the plan in order (cheapest first, "up a tier"); within
a tier, the healthy upstreams in rendezvous order for the affinity key (so a shared
prompt prefix keeps hitting the same provider cache); upstreams cooling down after a
failure come last, as a last resort rather than not at all. Each upstream gets up to
``policy.max_attempts`` tries on retryable failures, with jittered exponential
backoff or the upstream's Retry-After, whichever is longer.

Time: ``deadline_s`` (seconds left on the caller's gRPC deadline) caps every wait
and every upstream call. While another upstream is still left to try, one attempt
gets at most ``policy.attempt_share`` of the time remaining, so a hung upstream
cannot eat the whole deadline before failover; a timed-out attempt fails over at
once (a hung upstream will likely hang again) and cools its upstream, and so does
an attempt cancelled before any of its answer arrived (the caller's deadline or
cancellation got there first). Cancelling the calling task cancels the upstream
request; httpx then closes that connection instead of returning it to the pool.

A provider's 400/404/413/422 (the request is at fault) or 401/403 (the key is)
ends the request at once with the provider's message: no other upstream would
take it either. 408, 409, 429, 5xx, timeouts and connection errors retry and fail
over.

Streaming relays text and tool-call pieces as they arrive. Before the first piece
a failure still fails over; after it the stream raises UpstreamUnavailable, and a stream that ends without
its terminator ([DONE] / message_stop) is an error: the final StreamDone is only
ever produced for a complete answer.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence

import httpx

from promptpress.server.routing import protocols as proto
from promptpress.server.routing import stream_parsers as sse
from promptpress.server.routing import upstream_io
from promptpress.server.routing.affinity import Node, rendezvous_order
from promptpress.server.routing.bodies import UpstreamRequest
from promptpress.server.routing.failures import (
    Attempt,
    UpstreamCallFailed,
    UpstreamUnavailable,
    deadline_error,
    exhausted_error,
    fatal_error,
    garbage_failure,
    http_failure,
)
from promptpress.server.routing.results import (
    CooldownTracker,
    StreamDone,
    StreamEvent,
    TextDelta,
    UpstreamResult,
)
from promptpress.server.routing.tiers import RetryPolicy, Tier, UpstreamConfig
from promptpress.types import ToolCallDelta

_DEADLINE_SLACK_S = 0.001
_DEFAULT_POLICY = RetryPolicy()


class Forwarder:
    """Sends requests to upstreams. One per process; holds the pooled HTTP client."""

    def __init__(
        self,
        policy: RetryPolicy = _DEFAULT_POLICY,
        *,
        client: httpx.AsyncClient | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy
        self._client = client or httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=policy.max_connections,
                max_keepalive_connections=policy.max_connections,
            ),
            timeout=httpx.Timeout(policy.attempt_timeout_s, connect=policy.connect_timeout_s),
        )
        self._environ = os.environ if environ is None else environ
        self._clock = clock
        self._rng = rng or random.Random()
        self.cooldowns = CooldownTracker(clock)

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- order -----------------------------------------------------------------

    def attempt_order(self, plan: Sequence[Tier], affinity_key: str = "") -> list[UpstreamConfig]:
        """Healthy upstreams tier by tier in affinity order, then the cooling ones."""
        key = affinity_key or uuid.uuid4().hex  # no key: weighted random spread
        healthy: list[UpstreamConfig] = []
        cooling: list[UpstreamConfig] = []
        for tier in plan:
            by_name = {u.name: u for u in tier.upstreams}
            nodes = [Node(u.name, u.weight) for u in tier.upstreams]
            for node in rendezvous_order(key, nodes):
                upstream = by_name[node.name]
                bucket = cooling if self.cooldowns.is_cooling(upstream.qualified_name) else healthy
                bucket.append(upstream)
        cooling.sort(key=lambda u: self.cooldowns.until(u.qualified_name))
        return healthy + cooling

    # --- non-streamed --------------------------------------------------------------

    async def complete(
        self,
        plan: Sequence[Tier],
        request: UpstreamRequest,
        *,
        affinity_key: str = "",
        deadline_s: float | None = None,
    ) -> UpstreamResult:
        deadline = self._deadline(deadline_s)
        attempts: list[Attempt] = []
        order = self.attempt_order(plan, affinity_key)
        for i, upstream in enumerate(order):
            for n in range(self.policy.max_attempts):
                if self._expired(deadline):
                    raise deadline_error(attempts)
                started = self._clock()
                cap = self._attempt_cap(deadline, self.policy.attempt_timeout_s, i + 1 < len(order))
                try:
                    completion = await self._call(upstream, request, deadline, cap)
                except asyncio.CancelledError:
                    self._abandoned(upstream)
                    raise
                except UpstreamCallFailed as failure:
                    attempts.append(self._failed(upstream, failure, started))
                    if failure.fatal:
                        raise fatal_error(upstream.qualified_name, failure, attempts) from None
                    if not await self._should_retry(upstream, failure, n, deadline, attempts):
                        break
                    continue
                return self._succeeded(upstream, completion, attempts, started)
        raise exhausted_error(attempts)

    async def _call(
        self, upstream: UpstreamConfig, request: UpstreamRequest, deadline: float, cap: float
    ) -> proto.UpstreamReply:
        url, body, headers = self._prepare(upstream, request, stream=False)
        budget = self._budget(deadline, cap)
        response = await upstream_io.within(
            budget, self._client.post(url, json=body, headers=headers, timeout=budget)
        )
        if response.status_code != 200:
            raise http_failure(
                response.status_code,
                proto.error_summary(response.status_code, response.content),
                response.headers,
            )
        return upstream_io.parse_reply(upstream, response.content)

    # --- streamed --------------------------------------------------------------------

    async def stream(
        self,
        plan: Sequence[Tier],
        request: UpstreamRequest,
        *,
        affinity_key: str = "",
        deadline_s: float | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """TextDelta and ToolCallDelta events as they arrive, then exactly one
        StreamDone, or an error."""
        deadline = self._deadline(deadline_s)
        attempts: list[Attempt] = []
        order = self.attempt_order(plan, affinity_key)
        for i, upstream in enumerate(order):
            for n in range(self.policy.max_attempts):
                if self._expired(deadline):
                    raise deadline_error(attempts)
                started = self._clock()
                relayed = False
                first_byte = self._attempt_cap(
                    deadline, self.policy.stream_idle_timeout_s, i + 1 < len(order)
                )
                try:
                    async for event in self._stream_once(
                        upstream, request, deadline, attempts, first_byte
                    ):
                        relayed = relayed or not isinstance(event, StreamDone)
                        yield event
                    return
                except asyncio.CancelledError:
                    if not relayed:
                        self._abandoned(upstream)
                    raise
                except UpstreamCallFailed as failure:
                    attempts.append(self._failed(upstream, failure, started))
                    if failure.fatal and not relayed:
                        raise fatal_error(upstream.qualified_name, failure, attempts) from None
                    if relayed:
                        # Part of an answer is already with the client: no failover.
                        if self._expired(deadline):
                            raise deadline_error(attempts) from None
                        raise UpstreamUnavailable(
                            f"{upstream.qualified_name} failed mid-stream, answer incomplete: "
                            f"{failure.summary}",
                            attempts,
                        ) from None
                    if not await self._should_retry(upstream, failure, n, deadline, attempts):
                        break
        raise exhausted_error(attempts)

    async def _stream_once(
        self,
        upstream: UpstreamConfig,
        request: UpstreamRequest,
        deadline: float,
        attempts: list[Attempt],
        first_byte_cap: float,
    ) -> AsyncGenerator[StreamEvent, None]:
        url, body, headers = self._prepare(upstream, request, stream=True)
        started = self._clock()
        budget = self._budget(deadline, first_byte_cap)
        req = self._client.build_request("POST", url, json=body, headers=headers, timeout=budget)
        response = await upstream_io.within(budget, self._client.send(req, stream=True))
        try:
            if response.status_code != 200:
                payload = await self._read_with_budget(response, deadline)
                raise http_failure(
                    response.status_code,
                    proto.error_summary(response.status_code, payload),
                    response.headers,
                )
            if response.headers.get("content-type", "").startswith("application/json"):
                # Some OpenAI-compatible servers ignore stream=true: relay the whole answer.
                completion = await self._whole_answer(upstream, response, deadline)
                if completion.text:
                    yield TextDelta(completion.text, upstream.qualified_name)
                for i, call in enumerate(completion.tool_calls):
                    yield ToolCallDelta(i, call.id, call.name, call.arguments_json)
                yield StreamDone(self._succeeded(upstream, completion, attempts, started))
                return
            parser = sse.stream_parser_for(upstream.kind)
            parts: list[str] = []
            idle = self.policy.stream_idle_timeout_s
            pieces = upstream_io.stream_pieces(
                response, parser, lambda: self._budget(deadline, idle)
            )
            async for piece in pieces:
                if isinstance(piece, str):
                    parts.append(piece)
                    yield TextDelta(piece, upstream.qualified_name)
                else:
                    yield piece
            try:
                completion = parser.result("".join(parts))
            except proto.ProtocolError as exc:
                raise garbage_failure(exc) from None
            yield StreamDone(self._succeeded(upstream, completion, attempts, started))
        finally:
            # Unread (cancelled, failed, abandoned) streams close their connection here.
            await response.aclose()

    async def _whole_answer(
        self, upstream: UpstreamConfig, response: httpx.Response, deadline: float
    ) -> proto.UpstreamReply:
        budget = self._budget(deadline, self.policy.attempt_timeout_s)
        payload = await upstream_io.within(budget, response.aread())
        return upstream_io.parse_reply(upstream, payload)

    async def _read_with_budget(self, response: httpx.Response, deadline: float) -> bytes:
        budget = self._budget(deadline, self.policy.attempt_timeout_s)
        try:
            async with asyncio.timeout(budget):
                return await response.aread()
        except (TimeoutError, httpx.HTTPError):
            return b""

    # --- shared --------------------------------------------------------------------

    def _prepare(
        self, upstream: UpstreamConfig, request: UpstreamRequest, *, stream: bool
    ) -> tuple[str, dict, dict[str, str]]:
        if not request.supports(upstream.kind):
            raise UpstreamCallFailed(
                f"request has no {upstream.kind.value} body",
                kind="config",
                retryable=False,
                cool=False,
            )
        api_key = ""
        if upstream.api_key_env:
            api_key = self._environ.get(upstream.api_key_env, "")
            if not api_key:
                raise UpstreamCallFailed(
                    f"environment variable {upstream.api_key_env} (API key) is not set",
                    kind="config",
                    retryable=False,
                    cool=False,
                )
        body = proto.request_body(upstream, request, stream=stream)
        headers = proto.request_headers(upstream, api_key, stream=stream)
        return proto.endpoint(upstream), body, headers

    async def _should_retry(
        self,
        upstream: UpstreamConfig,
        failure: UpstreamCallFailed,
        n: int,
        deadline: float,
        attempts: list[Attempt],
    ) -> bool:
        """Waits before another try on the same upstream and says so; False: move on."""
        if self._expired(deadline):
            raise deadline_error(attempts)
        policy = self.policy
        wait = self._backoff(n)
        if failure.retry_after_s is not None:
            wait = max(wait, failure.retry_after_s)
        # A timeout fails over at once: a hung upstream will likely hang again, and
        # a second wait on it would leave the next upstream no time.
        hung = failure.kind == "timeout"
        out_of_tries = hung or not failure.retryable or n + 1 >= policy.max_attempts
        too_long = (failure.retry_after_s or 0.0) > policy.max_retry_after_s
        if out_of_tries or too_long or wait >= self._remaining(deadline):
            if failure.cool:
                cool_for = max(policy.cooldown_s, failure.retry_after_s or 0.0)
                self.cooldowns.cool(upstream.qualified_name, cool_for)
            return False
        await asyncio.sleep(wait)
        return True

    def _backoff(self, n: int) -> float:
        ceiling = min(self.policy.backoff_max_s, self.policy.backoff_base_s * 2**n)
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)  # "equal jitter"

    def _deadline(self, deadline_s: float | None) -> float:
        return float("inf") if deadline_s is None else self._clock() + max(0.0, deadline_s)

    def _remaining(self, deadline: float) -> float:
        return deadline - self._clock()

    def _expired(self, deadline: float) -> bool:
        # A timer may fire a hair before its deadline: a millisecond left is none left.
        return self._remaining(deadline) <= _DEADLINE_SLACK_S

    def _attempt_cap(self, deadline: float, cap: float, more_to_try: bool) -> float:
        """Longest one attempt may take: `cap`, and while another upstream is left to
        try, at most attempt_share of the time remaining (so it gets its turn)."""
        remaining = self._remaining(deadline)
        if more_to_try and remaining != float("inf"):
            return min(cap, remaining * self.policy.attempt_share)
        return cap

    def _abandoned(self, upstream: UpstreamConfig) -> None:
        """An attempt cancelled before its answer arrived counts against the upstream
        (the gRPC deadline often cancels the call before the attempt's own timeout)."""
        self.cooldowns.cool(upstream.qualified_name, self.policy.cooldown_s)

    def _budget(self, deadline: float, cap: float) -> float:
        return max(0.0, min(cap, self._remaining(deadline)))

    def _since(self, started: float) -> float:
        return self._clock() - started

    def _failed(self, upstream: UpstreamConfig, f: UpstreamCallFailed, started: float) -> Attempt:
        return Attempt(upstream.qualified_name, f.summary, f.status, f.kind, self._since(started))

    def _succeeded(
        self,
        upstream: UpstreamConfig,
        completion: proto.UpstreamReply,
        attempts: list[Attempt],
        started: float,
    ) -> UpstreamResult:
        """Records the successful attempt, ends the upstream's cooldown, builds the result."""
        attempts.append(Attempt(upstream.qualified_name, "ok", 200, "ok", self._since(started)))
        self.cooldowns.reset(upstream.qualified_name)
        return upstream_io.result_of(upstream, completion, attempts)
