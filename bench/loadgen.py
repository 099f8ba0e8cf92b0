"""A bounded closed-loop load generator for asyncio (used with grpc.aio).

N clients each send one request, wait for the answer, and send the next, until a
deadline passes or a request count is reached. Requests still in flight at the
deadline get `grace_s` to finish and are then cancelled and counted as
unfinished, so a cell always ends by itself, however slow the server is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

# Called with the client's index and its request sequence number, so clients can
# rotate over request variants deterministically.
RequestFn = Callable[[int, int], Awaitable[Any]]


@dataclass(frozen=True)
class LoadSpec:
    concurrency: int
    duration_s: float  # stop starting requests after this long
    max_requests: int | None = None  # or after this many, whichever comes first
    grace_s: float = 5.0  # how long in-flight requests may run past the deadline

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.duration_s <= 0 or self.grace_s < 0:
            raise ValueError(f"invalid load spec {self}")


@dataclass
class CellResult:
    """What one load cell measured. Latencies are of completed requests only."""

    concurrency: int
    elapsed_s: float
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    unfinished: int = 0
    first_error: str | None = None

    @property
    def completed(self) -> int:
        return len(self.latencies_s)

    @property
    def rps(self) -> float:
        return self.completed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @classmethod
    def combine(cls, parts: list[CellResult]) -> CellResult:
        """One result from several rounds of the same cell (times and counts add up)."""
        if not parts or len({p.concurrency for p in parts}) != 1:
            raise ValueError("combine needs rounds of one cell")
        errors = [p.first_error for p in parts if p.first_error]
        return cls(
            concurrency=parts[0].concurrency,
            elapsed_s=sum(p.elapsed_s for p in parts),
            latencies_s=[x for p in parts for x in p.latencies_s],
            errors=sum(p.errors for p in parts),
            unfinished=sum(p.unfinished for p in parts),
            first_error=errors[0] if errors else None,
        )

    def summary(self) -> dict[str, Any]:
        pct = percentiles(self.latencies_s, (50, 95, 99))
        mean = sum(self.latencies_s) / len(self.latencies_s) if self.latencies_s else None
        return {
            "concurrency": self.concurrency,
            "completed": self.completed,
            "errors": self.errors,
            "unfinished": self.unfinished,
            "elapsed_s": round(self.elapsed_s, 4),
            "rps": self.rps,
            "p50_ms": _ms(pct[50]),
            "p95_ms": _ms(pct[95]),
            "p99_ms": _ms(pct[99]),
            "mean_ms": _ms(mean),
            "max_ms": _ms(max(self.latencies_s) if self.latencies_s else None),
            "first_error": self.first_error,
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def percentiles(values: list[float], qs: tuple[float, ...]) -> dict[float, float | None]:
    """Linear-interpolated percentiles (numpy's default method), None when empty."""
    if not values:
        return {q: None for q in qs}
    ordered = sorted(values)
    out: dict[float, float | None] = {}
    for q in qs:
        pos = (len(ordered) - 1) * q / 100.0
        lo = int(pos)
        hi = min(lo + 1, len(ordered) - 1)
        out[q] = ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
    return out


async def run_load(request: RequestFn, spec: LoadSpec) -> CellResult:
    """Runs one cell: `spec.concurrency` clients hammering `request` until bounded."""
    result = CellResult(concurrency=spec.concurrency, elapsed_s=0.0)
    budget = [spec.max_requests if spec.max_requests is not None else -1]
    start = time.perf_counter()
    deadline = start + spec.duration_s
    in_flight = [0]

    def take_ticket() -> bool:
        if time.perf_counter() >= deadline or budget[0] == 0:
            return False
        if budget[0] > 0:
            budget[0] -= 1
        return True

    async def client(index: int) -> None:
        seq = 0
        while take_ticket():
            t0 = time.perf_counter()
            in_flight[0] += 1
            try:
                await request(index, seq)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # counted, not fatal: an error is a measurement too
                result.errors += 1
                if result.first_error is None:
                    result.first_error = f"{type(exc).__name__}: {exc}"[:500]
            else:
                result.latencies_s.append(time.perf_counter() - t0)
            finally:
                in_flight[0] -= 1
            seq += 1

    tasks = [asyncio.create_task(client(i)) for i in range(spec.concurrency)]
    hard_stop = max(0.0, deadline + spec.grace_s - time.perf_counter())
    _, pending = await asyncio.wait(tasks, timeout=hard_stop)
    if pending:
        result.unfinished = in_flight[0]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    # Throughput is over the time work was actually being done, so a cell with a
    # request count that finishes early is not diluted by idle time.
    result.elapsed_s = time.perf_counter() - start
    return result
