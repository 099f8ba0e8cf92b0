"""The scope every call runs in, as class-based async context managers.

`Admitted`: one call of a tenant inside its limits -- rate limits, admission
(shed at once when over capacity), and a CancelToken bound for the call; gRPC
and HTTP calls alike. `RpcScope`: a gRPC call around that -- its request id
(`x-request-id`), authentication, the `rpc` log line and every error mapped to a
status in one place.

They were generator-based (`contextlib.asynccontextmanager`), three deep with the
admission slot. Every call enters them, and for a small Preprocess answered on
the event loop the generators, their finaliser hooks and the extra awaits were a
measurable part of the call (bench/README, per-request overhead); classes do the
same in plain method calls.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from typing import Protocol

import grpc

from promptpress.cancel import CancelToken, bound
from promptpress.server import experiment_wire
from promptpress.server.admission import Admission, Slot
from promptpress.server.logs import log_event
from promptpress.server.rate_limits import RateLimits
from promptpress.server.status import status_for
from promptpress.server.workers import tenant_scope

log = logging.getLogger("promptpress.server")


class KeysTenants(Protocol):
    def tenant_for(self, metadata: Iterable[tuple[str, str | bytes]]) -> str: ...


class Owner(Protocol):
    """What the scopes need of the servicer."""

    @property
    def rate_limits(self) -> RateLimits: ...
    @property
    def admission(self) -> Admission: ...
    @property
    def tokens(self) -> set[CancelToken]: ...
    @property
    def keyring(self) -> KeysTenants: ...


class Admitted:
    """`async with Admitted(servicer, tenant, remaining):` -- see the module docstring."""

    __slots__ = ("_bound", "_owner", "_remaining", "_scope", "_slot", "_tenant", "_token")

    def __init__(self, owner: Owner, tenant: str, remaining: float | None) -> None:
        self._owner = owner
        self._tenant = tenant
        self._remaining = remaining

    async def __aenter__(self) -> None:
        owner, tenant = self._owner, self._tenant
        if owner.rate_limits.plan(tenant) is not None:
            await owner.rate_limits.admit(tenant)
        self._slot: Slot = owner.admission.admit(tenant, self._remaining)
        await self._slot.__aenter__()
        self._token = token = CancelToken.after(self._remaining)
        owner.tokens.add(token)
        self._bound = bound(token)
        self._scope = tenant_scope(tenant)
        self._bound.__enter__()
        self._scope.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self._scope.__exit__()
        self._bound.__exit__()
        # Ended early (cancelled, deadline, shutdown): work still running for this
        # call stops at its next checkpoint.
        self._token.cancel("call ended")
        self._owner.tokens.discard(self._token)
        await self._slot.__aexit__()


class RpcScope:
    """`async with RpcScope(servicer, rpc, context) as tenant:` authenticates, admits,
    and maps any error to a status.

    `x-request-id` travels in the trailing metadata of every call, OK or error:
    grpc.aio sends the trailers in the answer's own batch, while initial metadata
    of our own is always a batch of its own (a syscall, and a wake-up on each
    side). A stream (`header=True`) also sends it first, in the initial metadata,
    so a caller has it before the first message."""

    __slots__ = ("_admitted", "_context", "_header", "_owner", "_request_id", "_rpc", "_tenant")

    def __init__(
        self,
        owner: Owner,
        rpc: str,
        context: grpc.aio.ServicerContext,
        *,
        header: bool = False,
    ) -> None:
        self._owner = owner
        self._rpc = rpc
        self._context = context
        self._header = header
        self._tenant = ""

    async def __aenter__(self) -> str:
        request_id = self._request_id = os.urandom(8).hex()  # secrets.token_hex(8), unwrapped
        experiment_wire.request_id_var.set(request_id)
        context = self._context
        context.set_trailing_metadata((("x-request-id", request_id),))
        try:
            if self._header:
                await context.send_initial_metadata((("x-request-id", request_id),))
            self._tenant = self._owner.keyring.tenant_for(context.invocation_metadata() or ())
            self._admitted = Admitted(self._owner, self._tenant, context.time_remaining())
            await self._admitted.__aenter__()
        except BaseException as exc:
            await self._failed(exc)
            raise
        return self._tenant

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> bool:
        try:
            await self._admitted.__aexit__(exc_type, exc, tb)
        except Exception as late:  # releasing failed: a status all the same
            await self._failed(late)
            raise
        if exc is None:
            log_event(
                log, "rpc", rpc=self._rpc, tenant=self._tenant, request_id=self._request_id,
                code="OK",
            )  # fmt: skip
            return False
        # An error becomes a status here (context.abort raises AbortError in its
        # place); cancellation, an abort and GeneratorExit propagate as they are.
        await self._failed(exc)
        return False

    async def _failed(self, exc: BaseException) -> None:
        """Log and map `exc`: cancellation is logged and left to propagate, an abort is
        already a status, any other error becomes one (context.abort raises)."""
        rpc, request_id = self._rpc, self._request_id
        if isinstance(exc, asyncio.CancelledError):
            log_event(log, "rpc", rpc=rpc, request_id=request_id, code="CANCELLED")
            return
        if isinstance(exc, grpc.aio.AbortError) or not isinstance(exc, Exception):
            return
        code, message, trailer = status_for(exc, request_id)
        level = logging.ERROR if code is grpc.StatusCode.INTERNAL else logging.INFO
        log.log(
            level,
            "rpc",
            exc_info=exc if level == logging.ERROR else None,
            extra={"rpc": rpc, "request_id": request_id, "code": code.name, "detail": message},
        )
        trailing = (*trailer, ("x-request-id", request_id))
        await self._context.abort(code, message, trailing_metadata=trailing)
