"""Undecodable requests -> INVALID_ARGUMENT, never UNKNOWN with Python internals.

grpc.aio calls a method's request deserializer (`Message.FromString`) before any
servicer code runs; when it raises (malformed protobuf, invalid UTF-8 in a string
field) grpc answers `UNKNOWN: Unexpected <class 'DecodeError'>` and logs an ERROR
with a traceback, before authentication, so anyone can flood the error log.

`DecodeGuard` swaps every method's request deserializer for one that returns
an `Undecodable` marker instead of raising, and answers that marker with
INVALID_ARGUMENT (for a streaming request, at the first bad message). It logs at most one WARNING per `warn_every_s` seconds (with
how many it suppressed in between).

It wraps the method handlers once, as services register them
(`guard.registrar(server)` stands in for the server), rather than being a
`grpc.aio.ServerInterceptor`: an interceptor is awaited on every call and
rebuilt the handler each time, ~5% of a small Preprocess's server time.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
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


class DecodeGuard:
    def __init__(self, warn: RateLimitedWarning | None = None) -> None:
        self.warn = warn or RateLimitedWarning()

    def registrar(self, server: grpc.aio.Server) -> GuardedRegistrar:
        """What to hand `add_*Servicer_to_server` instead of `server`."""
        return GuardedRegistrar(server, self)

    async def _refuse(self, request: Undecodable, context: grpc.aio.ServicerContext) -> None:
        self.warn("undecodable request", rpc=request.method, reason=request.reason)
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"request body is not a valid protobuf message for {request.method}",
        )

    def wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        """`handler` with a deserializer that cannot raise."""
        if handler.request_deserializer is None:
            return handler
        deserializer = _tolerant(handler.request_deserializer, method)
        kinds = (
            ("stream_stream", grpc.stream_stream_rpc_method_handler, self._guard_requests),
            ("stream_unary", grpc.stream_unary_rpc_method_handler, self._guard_requests),
            ("unary_unary", grpc.unary_unary_rpc_method_handler, self._guard_unary),
            ("unary_stream", grpc.unary_stream_rpc_method_handler, self._guard_stream),
        )
        for kind, make, guard in kinds:
            behavior = getattr(handler, kind)
            if behavior is not None:
                return make(  # type: ignore[no-any-return]
                    guard(behavior),
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

    def _guard_requests(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        """A streaming-request method: its request iterator ends the call with
        INVALID_ARGUMENT at the first message that did not parse. (A method that
        reads with `context.read()` instead would see the `Undecodable` marker.)"""
        refuse = self._refuse

        async def checked(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
            async for request in requests:
                if isinstance(request, Undecodable):
                    await refuse(request, context)
                yield request

        if inspect.isasyncgenfunction(behavior):

            async def guarded_gen(requests: Any, context: grpc.aio.ServicerContext) -> Any:
                async for item in behavior(checked(requests, context), context):
                    yield item

            return guarded_gen

        async def guarded(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            return await behavior(checked(requests, context), context)

        return guarded


class _GuardedGeneric(grpc.GenericRpcHandler):
    """A generic handler whose method handlers are wrapped, once per method."""

    def __init__(self, inner: grpc.GenericRpcHandler, guard: DecodeGuard) -> None:
        self._inner = inner
        self._guard = guard
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        method = handler_call_details.method
        if method in self._wrapped:
            return self._wrapped[method]
        handler = self._inner.service(handler_call_details)
        if handler is None:
            return None
        wrapped = self._wrapped[method] = self._guard.wrap(handler, method)
        return wrapped


class GuardedRegistrar:
    """Takes the registrations generated code makes (`add_generic_rpc_handlers`,
    `add_registered_method_handlers`) and passes them on to the server guarded."""

    def __init__(self, server: grpc.aio.Server, guard: DecodeGuard) -> None:
        self._server = server
        self._guard = guard

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(_GuardedGeneric(h, self._guard) for h in handlers)
        )

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        self._server.add_registered_method_handlers(
            service_name,
            {
                name: self._guard.wrap(handler, f"/{service_name}/{name}")
                for name, handler in method_handlers.items()
            },
        )
