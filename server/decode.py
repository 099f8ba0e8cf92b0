"""Undecodable requests -> INVALID_ARGUMENT, never UNKNOWN with Python internals.

grpc.aio calls a method's request deserializer (`Message.FromString`) before any
servicer code runs; when it raises (malformed protobuf, invalid UTF-8 in a string
field) grpc answers `UNKNOWN: Unexpected <class 'DecodeError'>` and logs an ERROR
with a traceback, before authentication, so anyone can flood the error log.

`DecodeGuard` is a server interceptor that swaps every unary-request method's
deserializer for one that returns an `Undecodable` marker instead of raising, and
answers that marker with INVALID_ARGUMENT. It logs at most one WARNING per
`warn_every_s` seconds (with how many it suppressed in between).
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from promptpress.server.logs import log_event

log = logging.getLogger("promptpress.server")


@dataclass(frozen=True, slots=True)
class Undecodable:
    """Stands in for a request whose bytes did not parse."""

    method: str
    reason: str


class RateLimitedWarning:
    """At most one warning per interval; counts what it swallowed."""

    def __init__(
        self, interval_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._next = float("-inf")
        self._suppressed = 0

    def __call__(self, event: str, **fields: Any) -> bool:
        with self._lock:
            now = self._clock()
            if now < self._next:
                self._suppressed += 1
                return False
            suppressed, self._suppressed = self._suppressed, 0
            self._next = now + self.interval_s
        log_event(log, event, logging.WARNING, suppressed_since_last=suppressed, **fields)
        return True


def _tolerant(deserializer: Callable[[bytes], Any], method: str) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:  # DecodeError, UnicodeDecodeError, ...: all mean "bad bytes"
            return Undecodable(method, type(exc).__name__)

    return deserialize


class DecodeGuard(grpc.aio.ServerInterceptor):
    def __init__(self, warn: RateLimitedWarning | None = None) -> None:
        self.warn = warn or RateLimitedWarning()

    async def _refuse(self, request: Undecodable, context: grpc.aio.ServicerContext) -> None:
        self.warn("undecodable request", rpc=request.method, reason=request.reason)
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"request body is not a valid protobuf message for {request.method}",
        )

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming or handler.request_deserializer is None:
            return handler
        method = handler_call_details.method
        deserializer = _tolerant(handler.request_deserializer, method)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._guard_unary(handler.unary_unary),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._guard_stream(handler.unary_stream),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _guard_unary(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, Undecodable):
                await self._refuse(request, context)
            return await behavior(request, context)

        return guarded

    def _guard_stream(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isasyncgenfunction(behavior):

            async def guarded_gen(
                request: Any, context: grpc.aio.ServicerContext
            ) -> AsyncIterator[Any]:
                if isinstance(request, Undecodable):
                    await self._refuse(request, context)
                async for item in behavior(request, context):
                    yield item

            return guarded_gen

        # A coroutine that writes with context.write() (e.g. health's Watch).
        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, Undecodable):
                await self._refuse(request, context)
            return await behavior(request, context)

        return guarded
