"""The service suite's overload row: offered load far beyond capacity.

Many closed-loop clients (far more than the server's `max_in_flight +
max_queued`; the suite starts a server with small limits for this) send
Preprocess with a deadline for a fixed time. A client that is
shed (RESOURCE_EXHAUSTED) waits the RetryInfo delay it was given (at most 1 s)
before its next try, as a well-behaved client would. Measured:

- goodput: answered requests per second, as a share of the capacity measured in
  the same run (promptpress's best rps for that RPC and size in the load cells);
- shed share: refused at once; late share: DEADLINE_EXCEEDED (what shedding is
  meant to prevent); p50/p99 of the admitted requests;
- memory: RSS before, peak during (sampled), and after a settle period, so a
  server that keeps its peak after load shows it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from promptpress.bench.frame import ratio
from promptpress.bench.loadgen import percentiles
from promptpress.bench.servers import ServerProcess

MB = 1024 * 1024


@dataclass(frozen=True)
class OverloadSpec:
    clients: int
    duration_s: float
    deadline_s: float
    settle_s: float  # idle time before the after-load RSS


@dataclass
class _Tally:
    latencies_s: list[float]
    shed: int = 0
    late: int = 0
    other: int = 0
    first_other: str | None = None

    @property
    def attempts(self) -> int:
        return len(self.latencies_s) + self.shed + self.late + self.other


def _retry_delay_s(err: grpc.aio.AioRpcError) -> float:
    status = rpc_status.from_call(err)
    for detail in status.details if status is not None else ():
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return float(info.retry_delay.ToTimedelta().total_seconds())
    return 0.1


async def _client(
    call: Any, requests: Sequence[bytes], index: int, spec: OverloadSpec, end: float, t: _Tally
) -> None:
    seq = 0
    while time.monotonic() < end:
        started = time.monotonic()
        try:
            await call(requests[(index + seq) % len(requests)], timeout=spec.deadline_s)
            t.latencies_s.append(time.monotonic() - started)
        except grpc.aio.AioRpcError as err:
            code = err.code()
            if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
                t.shed += 1
                wait = min(1.0, _retry_delay_s(err), max(0.0, end - time.monotonic()))
                await asyncio.sleep(wait)
            elif code is grpc.StatusCode.DEADLINE_EXCEEDED:
                t.late += 1
            else:
                t.other += 1
                t.first_other = t.first_other or f"{code.name}: {err.details()}"
        seq += 1


async def measure_overload(
    address: str,
    rpc: str,
    requests: Sequence[bytes],
    spec: OverloadSpec,
    proc: ServerProcess,
    capacity_rps: float | None,
) -> dict[str, Any]:
    tally = _Tally([])
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(f"/promptpress.v1.PromptPressService/{rpc}")
        for request in requests:  # warm-up: first calls pay one-time costs
            await call(request, timeout=300)
        idle_rss = proc.rss_bytes()
        peak_rss = idle_rss
        started = time.monotonic()
        end = started + spec.duration_s
        clients = [
            asyncio.create_task(_client(call, requests, i, spec, end, tally))
            for i in range(spec.clients)
        ]
        while not all(c.done() for c in clients):
            peak_rss = max(peak_rss, proc.rss_bytes())
            await asyncio.sleep(0.2)
        await asyncio.gather(*clients)
        elapsed = time.monotonic() - started
    await asyncio.sleep(spec.settle_s)
    after_rss = proc.rss_bytes()
    goodput = len(tally.latencies_s) / elapsed
    q = percentiles(tally.latencies_s, (0.5, 0.99))
    attempts = max(1, tally.attempts)
    return {
        "rpc": rpc,
        "clients": spec.clients,
        "duration_s": spec.duration_s,
        "deadline_s": spec.deadline_s,
        "offered_rps": tally.attempts / elapsed,
        "goodput_rps": goodput,
        "capacity_rps": capacity_rps,
        "goodput_vs_capacity": ratio(goodput, capacity_rps) if capacity_rps else None,
        "shed_share": tally.shed / attempts,
        "late_share": tally.late / attempts,
        "other_errors": tally.other,
        "first_other_error": tally.first_other,
        "admitted_p50_ms": None if q[0.5] is None else q[0.5] * 1000,
        "admitted_p99_ms": None if q[0.99] is None else q[0.99] * 1000,
        "rss_before_mb": idle_rss / MB,
        "rss_peak_mb": peak_rss / MB,
        "rss_after_mb": after_rss / MB,
        "rss_after_vs_before": ratio(after_rss, idle_rss),
        "settle_s": spec.settle_s,
    }


TABLE_HEADER = [
    "RPC",
    "clients",
    "offered rps",
    "goodput rps",
    "capacity rps",
    "goodput / capacity",
    "shed",
    "late",
    "admitted p50 ms",
    "admitted p99 ms",
    "RSS before / peak / after MiB",
]


def table_row(o: dict[str, Any]) -> list[Any]:
    return [
        o["rpc"],
        o["clients"],
        o["offered_rps"],
        o["goodput_rps"],
        o["capacity_rps"],
        o["goodput_vs_capacity"],
        f"{o['shed_share']:.0%}",
        f"{o['late_share']:.0%}",
        o["admitted_p50_ms"],
        o["admitted_p99_ms"],
        f"{o['rss_before_mb']:.0f} / {o['rss_peak_mb']:.0f} / {o['rss_after_mb']:.0f}",
    ]
