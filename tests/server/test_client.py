"""The client library's own behaviour: retries on UNAVAILABLE, deadlines."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from promptpress import AsyncClient, Client, PromptPressRpcError
from promptpress.v1 import promptpress_pb2 as pb
from promptpress.v1 import promptpress_pb2_grpc as pb_grpc


class Flaky(pb_grpc.PromptPressServiceServicer):
    """Fails the first `failures` calls with UNAVAILABLE, then answers."""

    def __init__(self, failures: int, delay_s: float = 0.0) -> None:
        self.failures = failures
        self.delay_s = delay_s
        self.calls = 0

    async def CountTokens(self, request, context):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.calls <= self.failures:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "warming up")
        return pb.CountTokensResponse(total=7, encoding="o200k_base")


async def serve(servicer: Flaky) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    pb_grpc.add_PromptPressServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


async def test_async_client_retries_unavailable() -> None:
    flaky = Flaky(failures=2)
    server, address = await serve(flaky)
    try:
        async with AsyncClient(address) as c:
            resp = await c.count_tokens(pb.CountTokensRequest(texts=["x"]))
    finally:
        await server.stop(0)
    assert resp.total == 7 and flaky.calls == 3


async def test_retries_give_up_and_raise_with_code() -> None:
    flaky = Flaky(failures=100)
    server, address = await serve(flaky)
    try:
        async with AsyncClient(address) as c:
            with pytest.raises(PromptPressRpcError) as err:
                await c.count_tokens(pb.CountTokensRequest(texts=["x"]))
    finally:
        await server.stop(0)
    assert err.value.code is grpc.StatusCode.UNAVAILABLE
    assert flaky.calls == 4  # the policy's maxAttempts


async def test_deadline_is_applied() -> None:
    slow = Flaky(failures=0, delay_s=2.0)
    server, address = await serve(slow)
    try:
        async with AsyncClient(address, timeout=0.3) as c:
            with pytest.raises(PromptPressRpcError) as err:
                await c.count_tokens(pb.CountTokensRequest(texts=["x"]))
    finally:
        await server.stop(0)
    assert err.value.code is grpc.StatusCode.DEADLINE_EXCEEDED


async def test_sync_client_sends_api_key(address: str) -> None:
    # The blocking client runs in a thread: the server under test shares this event loop.
    def call() -> int:
        with Client(address, api_key="ignored-without-keys-file") as c:
            return c.count_tokens(pb.CountTokensRequest(texts=["hello world"], model="gpt-4")).total

    assert await asyncio.to_thread(call) == 2
