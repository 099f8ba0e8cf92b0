"""One upstream call's I/O, shared by the forwarder's whole and streamed paths:
awaiting within a time budget, parsing a whole reply, reading a stream's pieces,
and turning a reply into a result. Every way these fail becomes an
`UpstreamCallFailed` saying whether another try is worth it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

import httpx

from promptpress.server.routing import protocols as proto
from promptpress.server.routing import stream_parsers as sse
from promptpress.server.routing.failures import (
    Attempt,
    UpstreamCallFailed,
    connection_failure,
    garbage_failure,
    timeout_failure,
)
from promptpress.server.routing.results import UpstreamResult
from promptpress.server.routing.tiers import UpstreamConfig

_T = TypeVar("_T")


async def within(budget: float, call: Awaitable[_T]) -> _T:
    """Awaits one upstream call within `budget` seconds, timeouts and transport errors
    mapped to retryable failures."""
    try:
        async with asyncio.timeout(budget):
            return await call
    except (TimeoutError, httpx.TimeoutException):
        raise timeout_failure(budget) from None
    except httpx.TransportError as exc:
        raise connection_failure(exc) from None


def parse_reply(upstream: UpstreamConfig, payload: bytes) -> proto.UpstreamReply:
    try:
        return proto.parse_completion(upstream.kind, payload)
    except proto.ProtocolError as exc:
        raise garbage_failure(exc) from None


async def stream_pieces(
    response: httpx.Response, parser: sse.StreamParser, idle_budget: Callable[[], float]
) -> AsyncIterator[sse.StreamPiece]:
    """Text and tool-call pieces as the upstream streams them, each line awaited within
    `idle_budget()` seconds; a stream that ends without its terminator is a failure."""
    decoder = sse.SSEDecoder()
    lines = response.aiter_lines()
    while not parser.done:
        budget = idle_budget()
        try:
            async with asyncio.timeout(budget):
                line = await anext(lines, None)
        except (TimeoutError, httpx.TimeoutException):
            raise timeout_failure(budget, streaming=True) from None
        except httpx.TransportError as exc:
            raise UpstreamCallFailed(
                f"connection lost mid-stream ({type(exc).__name__})",
                kind="midstream",
                retryable=True,
                cool=True,
            ) from None
        event = decoder.flush() if line is None else decoder.feed_line(line)
        if event is not None:
            try:
                for piece in parser.feed(event):
                    yield piece
            except proto.ProtocolError as exc:
                raise garbage_failure(exc) from None
        if line is None:
            break
    if not parser.done:
        anthropic = isinstance(parser, sse.AnthropicStreamParser)
        terminator = "message_stop" if anthropic else "[DONE]"
        raise UpstreamCallFailed(
            f"stream ended without {terminator}",
            kind="midstream",
            retryable=True,
            cool=True,
        )


def result_of(
    upstream: UpstreamConfig, c: proto.UpstreamReply, attempts: Sequence[Attempt]
) -> UpstreamResult:
    return UpstreamResult(
        text=c.text,
        finish_reason=c.finish_reason,
        usage=c.usage,
        usage_reported=c.usage_reported,
        upstream=upstream.qualified_name,
        tier=upstream.tier,
        model=c.model or upstream.model,
        attempts=tuple(attempts),
        tool_calls=c.tool_calls,
    )
