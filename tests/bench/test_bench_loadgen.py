"""The load generator, the echo ceiling server and the child-process launcher."""

from __future__ import annotations

import asyncio
import sys

import grpc
import numpy as np
import pytest

from promptpress.bench import servers
from promptpress.bench.echo_server import create_echo_server
from promptpress.bench.loadgen import CellResult, LoadSpec, percentiles, run_load


async def test_request_count_bounds_the_cell_and_clients_rotate() -> None:
    seen: list[tuple[int, int]] = []

    async def request(client: int, seq: int) -> None:
        seen.append((client, seq))
        await asyncio.sleep(0)

    result = await run_load(request, LoadSpec(concurrency=4, duration_s=60, max_requests=10))
    assert result.completed == 10 and len(seen) == 10
    assert {c for c, _ in seen} == {0, 1, 2, 3}
    assert result.errors == 0 and result.unfinished == 0 and result.rps > 0


async def test_errors_are_counted_not_raised() -> None:
    async def request(client: int, seq: int) -> None:
        if seq % 2:
            raise RuntimeError("boom")

    result = await run_load(request, LoadSpec(concurrency=1, duration_s=60, max_requests=6))
    assert (result.completed, result.errors) == (3, 3)
    assert result.first_error == "RuntimeError: boom"


async def test_hung_requests_are_cancelled_after_the_grace_period() -> None:
    cancelled = []

    async def hang(client: int, seq: int) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(client)
            raise

    result = await run_load(hang, LoadSpec(concurrency=3, duration_s=0.05, grace_s=0.05))
    assert result.completed == 0 and result.unfinished == 3
    assert sorted(cancelled) == [0, 1, 2]
    assert result.summary()["p50_ms"] is None


@pytest.mark.parametrize("spec", [(0, 1.0, 1.0), (1, 0.0, 1.0), (1, 1.0, -1.0)])
def test_invalid_specs_are_rejected(spec) -> None:
    with pytest.raises(ValueError):
        LoadSpec(concurrency=spec[0], duration_s=spec[1], grace_s=spec[2])


@pytest.mark.parametrize(
    "values", [[5.0], [1.0, 2.0], [3.0, 1.0, 2.0, 10.0, 7.0], list(range(101))]
)
def test_percentiles_match_numpy(values: list[float]) -> None:
    ours = percentiles(values, (50, 95, 99))
    expected = np.percentile(values, [50, 95, 99])
    assert [ours[50], ours[95], ours[99]] == pytest.approx(list(expected))


def test_percentiles_of_nothing_are_none() -> None:
    assert percentiles([], (50,)) == {50: None}


async def test_echo_server_answers_with_the_configured_size_or_echoes() -> None:
    method = "/promptpress.v1.PromptPressService/CountTokens"
    server, port = await create_echo_server("127.0.0.1:0", {method: {5: 1000}})
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(method)
            assert len(await call(b"hello")) == 1000
            assert await call(b"other") == b"\x00" * 1000  # same length, same canned answer
            assert await call(b"hello!") == b"hello!"  # unknown length: echoed
            assert await channel.unary_unary("/any.Service/Method")(b"x") == b"x"
    finally:
        await server.stop(0)


@pytest.mark.parametrize(
    ("line", "port"),
    [
        ('{"event": "serving", "port": 4242, "address": "127.0.0.1:4242"}', 4242),
        ('2026-01-01 INFO {"event": "serving", "port": 7}', 7),
        ('{"event": "draining", "port": 4242}', None),
        ('{"event": "serving", "port": "4242"}', None),
        ("serving on port 4242", None),
    ],
)
def test_serving_line_parsing(line: str, port: int | None) -> None:
    assert servers._serving_port(line) == port


def test_echo_child_process_reports_port_and_memory() -> None:
    with servers.running("echo", servers.echo_argv()) as echo:
        assert echo.port > 0
        # Current RSS first: the process may grow between the two reads, and the
        # kernel folds growth into VmHWM lazily, so allow a page-level slack.
        rss = echo.rss_bytes()
        assert rss > 1024 * 1024
        assert echo.peak_rss_bytes() >= rss - 64 * 1024
    assert echo.process.returncode is not None  # stopped on exit


def test_a_child_that_dies_before_serving_raises_with_its_log() -> None:
    argv = [sys.executable, "-c", "import sys; print('no such luck', file=sys.stderr); sys.exit(3)"]
    with pytest.raises(servers.ServerStartError, match="no such luck"):
        servers.start_server("dud", argv, startup_timeout_s=30)


def test_rounds_combine_into_one_cell() -> None:
    a = CellResult(concurrency=2, elapsed_s=1.0, latencies_s=[0.1, 0.2], errors=1, first_error="E1")
    b = CellResult(concurrency=2, elapsed_s=3.0, latencies_s=[0.3], unfinished=2, first_error="E2")
    both = CellResult.combine([a, b])
    assert (both.completed, both.errors, both.unfinished) == (3, 1, 2)
    assert both.rps == pytest.approx(3 / 4.0) and both.first_error == "E1"
    with pytest.raises(ValueError):
        CellResult.combine([a, CellResult(concurrency=3, elapsed_s=1.0)])
