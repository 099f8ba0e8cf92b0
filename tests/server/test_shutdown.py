"""SIGTERM with work in flight (issue 14, item 9), on a real server process: health
goes NOT_SERVING while calls are still served for the drain window, then what is
left is cancelled at the grace deadline and the process exits soon after, cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from promptpress import AsyncClient, PromptPressRpcError
from promptpress.v1 import promptpress_pb2 as pb
from tests.procs import start_server, temp_log_dir
from tests.server.test_overload import big_text

DRAIN_S = 2.0
GRACE_S = 2.0


@pytest.fixture
def log_dir():  # type: ignore[no-untyped-def]
    with temp_log_dir() as path:
        yield path


async def _health(address: str) -> int:
    async with grpc.aio.insecure_channel(address) as ch:
        resp = await health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(), timeout=2
        )
    return int(resp.status)


async def test_sigterm_drains_then_cancels_and_exits(log_dir: Path) -> None:
    keys = log_dir / "keys"
    keys.write_text("sk-a tenant-a\nsk-b tenant-b\n")
    server = start_server(
        log_dir,
        settings={
            "load_models": False,
            "api_keys": str(keys),
            "worker_threads": 2,
            "drain_period_s": DRAIN_S,
            "grace_period_s": GRACE_S,
        },
    )
    try:
        big = pb.CountTokensRequest(texts=[big_text()])
        async with (
            AsyncClient(server.address, api_key="sk-a") as a,
            AsyncClient(server.address, api_key="sk-b", timeout=5) as b,
        ):
            # Tenant A: three counts of several seconds each, one worker at a time.
            in_flight = [asyncio.create_task(a.count_tokens(big, timeout=60)) for _ in range(3)]
            await asyncio.sleep(1.0)
            server.signal(signal.SIGTERM)
            signalled = time.monotonic()
            await asyncio.sleep(0.5)
            # Draining: a load balancer sees NOT_SERVING, yet calls are still served.
            assert await _health(server.address) == health_pb2.HealthCheckResponse.NOT_SERVING
            assert (await b.count_tokens(pb.CountTokensRequest(texts=["hi"]))).total == 1
            outcomes = await asyncio.gather(*in_flight, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, PromptPressRpcError):
                assert outcome.code in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
            else:
                assert isinstance(outcome, pb.CountTokensResponse)
        code = await asyncio.get_running_loop().run_in_executor(
            None, server.wait, DRAIN_S + GRACE_S + 10
        )
        exited_after = time.monotonic() - signalled
    finally:
        server.stop(timeout=5)
    assert code == 0, server.log_tail()
    # Work left at the grace deadline was cancelled: nothing ran on to its end.
    assert exited_after < DRAIN_S + GRACE_S + 8, server.log_tail()
    events = [
        json.loads(line) for line in server.log_tail(200_000).splitlines() if line.startswith("{")
    ]
    assert not [e for e in events if e["level"] in ("error", "critical")], server.log_tail()
    stopped = [e for e in events if e["event"] == "stopped"]
    assert stopped and stopped[0]["clean"] is True
