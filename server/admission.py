"""Admission control: overload is shed at once, not queued until deadlines pass.

Every RPC (health excepted) is admitted before its work starts:

- at most `max_in_flight` RPCs run at once, and at most `max_in_flight_per_tenant`
  of one tenant's;
- beyond that a call waits in a bounded queue (`max_queued` in all, at most
  `max_queued_per_tenant` of one tenant's); freed slots go to the tenants
  round-robin, so a tenant with a long queue does not starve the others;
- a full queue is RESOURCE_EXHAUSTED at once, with RetryInfo;
- a call whose deadline cannot be met by the expected wait is refused at once
  instead of waiting to time out. The expected wait comes from Little's law:
  throughput ~ in-flight / mean latency (an EWMA of admitted calls' latency).

When the server goes idle after load it asks the C allocator to return freed
memory to the OS (glibc `malloc_trim`), at most once per `trim_every_s`, so the
resident size falls back near its baseline instead of staying at the peak.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from promptpress.errors import ResourceExhausted

log = logging.getLogger("promptpress.server")


@dataclass(frozen=True)
class AdmissionLimits:
    max_in_flight: int = 64
    max_queued: int = 128
    max_in_flight_per_tenant: int = 0  # 0: max_in_flight
    max_queued_per_tenant: int = 0  # 0: half of max_queued

    @property
    def tenant_in_flight(self) -> int:
        return self.max_in_flight_per_tenant or self.max_in_flight

    @property
    def tenant_queued(self) -> int:
        return self.max_queued_per_tenant or max(1, self.max_queued // 2)


@dataclass
class _Waiter:
    tenant: str
    future: asyncio.Future[None]


def _malloc_trim() -> Callable[[], None] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        trim = libc.malloc_trim if libc is not None else None
    except (OSError, AttributeError):  # not glibc
        return None
    if trim is None:
        return None
    return lambda: trim(0)


class Slot:
    """One call's hold on an admission slot (an async context manager). A class, not
    an async generator: every call enters one, and a generator-based manager costs
    several times more (generator, its finaliser hooks, two extra awaits)."""

    __slots__ = ("_admission", "_started", "_tenant", "_time_remaining")

    def __init__(self, admission: Admission, tenant: str, time_remaining: float | None) -> None:
        self._admission = admission
        self._tenant = tenant
        self._time_remaining = time_remaining
        self._started = 0.0

    async def __aenter__(self) -> None:
        a = self._admission
        if a._can_run(self._tenant) and not a._queues.get(self._tenant):
            a._take(self._tenant)  # the common case, without awaiting _acquire
        else:
            await a._acquire(self._tenant, self._time_remaining)
        self._started = a._clock()

    async def __aexit__(self, *exc: object) -> None:
        a = self._admission
        a._observe(a._clock() - self._started)
        a._release(self._tenant)


class Admission:
    def __init__(
        self,
        limits: AdmissionLimits = AdmissionLimits(),
        *,
        clock: Callable[[], float] = time.monotonic,
        trim_every_s: float = 10.0,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._in_flight = 0
        self._tenant_in_flight: dict[str, int] = {}
        self._queues: OrderedDict[str, deque[_Waiter]] = OrderedDict()
        self._queued = 0
        self._latency_s = 0.05  # EWMA of admitted calls' latency; a modest prior
        self._trim = _malloc_trim()
        self._trim_every_s = trim_every_s
        self._last_trim = float("-inf")
        self.shed = 0  # calls refused, for metrics and tests

    # --- state ------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def queued(self) -> int:
        return self._queued

    def expected_wait_s(self, position: int) -> float:
        """Seconds until the call at queue `position` (0: next) is likely admitted."""
        throughput = max(1, self._in_flight) / max(self._latency_s, 1e-3)
        return (position + 1) / throughput

    # --- admission --------------------------------------------------------------------

    def admit(self, tenant: str, time_remaining: float | None) -> Slot:
        """`async with admission.admit(tenant, remaining):` holds a slot for the body;
        entering raises ResourceExhausted when the call must be shed."""
        return Slot(self, tenant, time_remaining)

    def _can_run(self, tenant: str) -> bool:
        return (
            self._in_flight < self.limits.max_in_flight
            and self._tenant_in_flight.get(tenant, 0) < self.limits.tenant_in_flight
        )

    def _take(self, tenant: str) -> None:
        self._in_flight += 1
        self._tenant_in_flight[tenant] = self._tenant_in_flight.get(tenant, 0) + 1

    async def _acquire(self, tenant: str, time_remaining: float | None) -> None:
        # Queued calls are all blocked by a limit (_wake admits any that is not), so a
        # call may pass them only when it is not behind its own tenant's queue.
        if self._can_run(tenant) and not self._queues.get(tenant):
            self._take(tenant)
            return
        queue = self._queues.get(tenant)
        waiting = len(queue) if queue else 0
        wait = self.expected_wait_s(self._queued)
        if self._queued >= self.limits.max_queued or waiting >= self.limits.tenant_queued:
            self._refuse("server is at capacity", wait)
        if time_remaining is not None and wait > time_remaining:
            self._refuse(
                f"server is busy: expected wait {wait:.1f} s exceeds the deadline "
                f"({time_remaining:.1f} s left)",
                wait,
            )
        waiter = _Waiter(tenant, asyncio.get_running_loop().create_future())
        self._queues.setdefault(tenant, deque()).append(waiter)
        self._queued += 1
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self._release(tenant)  # granted in the same instant the caller left
            else:
                self._forget(waiter)
            raise

    def _refuse(self, why: str, retry_after_s: float) -> None:
        self.shed += 1
        raise ResourceExhausted(why, retry_after_s=max(0.1, retry_after_s))

    def _forget(self, waiter: _Waiter) -> None:
        queue = self._queues.get(waiter.tenant)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            self._queued -= 1
            if not queue:
                del self._queues[waiter.tenant]

    def _release(self, tenant: str) -> None:
        self._in_flight -= 1
        left = self._tenant_in_flight[tenant] - 1
        if left:
            self._tenant_in_flight[tenant] = left
        else:
            del self._tenant_in_flight[tenant]
        self._wake()
        if self._in_flight == 0 and not self._queued:
            self._maybe_trim()

    def _wake(self) -> None:
        """Hand freed slots to queued calls, one tenant at a time in rotation."""
        while self._in_flight < self.limits.max_in_flight:
            for tenant in list(self._queues):
                if self._tenant_in_flight.get(tenant, 0) < self.limits.tenant_in_flight:
                    queue = self._queues[tenant]
                    waiter = queue.popleft()
                    self._queued -= 1
                    if queue:
                        self._queues.move_to_end(tenant)
                    else:
                        del self._queues[tenant]
                    if waiter.future.done():  # its caller left; its handler has not run yet
                        break
                    self._take(tenant)
                    waiter.future.set_result(None)
                    break
            else:
                return

    def _observe(self, seconds: float) -> None:
        self._latency_s += 0.2 * (seconds - self._latency_s)

    def _maybe_trim(self) -> None:
        now = self._clock()
        if self._trim is None or now - self._last_trim < self._trim_every_s:
            return
        self._last_trim = now
        self._trim()
