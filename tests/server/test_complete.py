"""Complete and StreamComplete end to end: a real server, the real client, and a
local HTTP server speaking the OpenAI / Anthropic wire formats as the upstream."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from subprocess import PIPE

import grpc
import pytest

from promptpress import AsyncClient, PromptPressRpcError
from promptpress.v1 import promptpress_pb2 as pb
from promptpress.v1 import promptpress_pb2_grpc as pb_grpc
from tests.routing.fake_upstream import (
    Hang,
    JSONReply,
    SSEReply,
    anthropic_message,
    openai_completion,
    openai_stream,
)
from tests.server.routed import ask

HARD = (
    "Prove that for every integer n > 1 the sum 1/1^2 + ... + 1/n^2 < 2 - 1/n. Then derive a bound "
    "for the tail, step by step, and write a Python function that checks it for n up to 10^6 with "
    "exact fractions. Explain each step and the complexity."
)


async def test_easy_goes_small_then_exact_and_semantic_hits(routed) -> None:  # type: ignore[no-untyped-def]
    app, small, frontier = routed
    small.script(
        JSONReply(
            openai_completion("Paris.", prompt_tokens=20, completion_tokens=2, cached_tokens=0)
        )
    )
    async with AsyncClient(f"127.0.0.1:{app.port}") as c:
        first = await c.complete(ask("What is the capital of France?"))
        assert first.message.content == "Paris."
        assert first.routing.tier == "small" and not first.routing.forced
        assert first.cache_status == pb.CACHE_STATUS_NONE
        assert first.usage.prompt_tokens == 20 and first.usage.completion_tokens == 2
        assert first.cost_usd == pytest.approx((20 * 0.15 + 2 * 0.6) / 1e6)
        sent = small.requests[0].json()
        assert (
            sent["model"] == "gpt-4o-mini"
            and sent["messages"][-1]["content"] == "What is the capital of France?"
        )

        again = await c.complete(ask("What is the capital of France?"))
        assert again.cache_status == pb.CACHE_STATUS_EXACT and again.message.content == "Paris."
        assert again.matched_key == first.cache.exact_key
        para = await c.complete(ask("what's the capital of france"))
        assert para.cache_status == pb.CACHE_STATUS_SEMANTIC and para.similarity > 0.85
        assert para.matched_key == first.cache.semantic_key
        assert len(small.requests) == 1 and not frontier.requests  # hits never reached upstream

        small.script(JSONReply(openai_completion("Berlin.")))
        other = await c.complete(ask("What is the capital of Germany?"))
        assert other.cache_status == pb.CACHE_STATUS_NONE and other.message.content == "Berlin."

        small.script(JSONReply(openai_completion("Fresh.")))
        skipped = await c.complete(ask("What is the capital of France?", skip_cache=True))
        assert skipped.cache_status == pb.CACHE_STATUS_NONE and skipped.message.content == "Fresh."


async def test_hard_goes_frontier_with_anthropic_accounting(routed) -> None:  # type: ignore[no-untyped-def]
    app, small, frontier = routed
    frontier.script(
        JSONReply(
            anthropic_message(
                "Proof...", input_tokens=100, output_tokens=50, cache_read=400, cache_write=200
            )
        )
    )
    async with AsyncClient(f"127.0.0.1:{app.port}") as c:
        resp = await c.complete(ask(HARD))
    assert resp.routing.tier == "frontier" and resp.routing.score >= 0.5
    assert resp.upstream == "frontier/claude"
    # Anthropic's input_tokens excludes cache reads and writes; promptpress reports all input.
    assert resp.usage.prompt_tokens == 700
    assert resp.usage.cached_tokens == 400 and resp.usage.cache_write_tokens == 200
    expected = (100 * 3.0 + 400 * 0.3 + 200 * 3.75 + 50 * 15.0) / 1e6
    assert resp.cost_usd == pytest.approx(expected)
    body = frontier.requests[0].json()
    assert body["model"] == "claude-sonnet-4-5" and "system" in body and not small.requests


async def test_forced_tier_and_unknown_tier(routed) -> None:  # type: ignore[no-untyped-def]
    app, _, frontier = routed
    frontier.script(JSONReply(anthropic_message("ok")))
    async with AsyncClient(f"127.0.0.1:{app.port}") as c:
        resp = await c.complete(ask("hi there", tier="frontier", skip_cache=True))
        assert resp.routing.tier == "frontier" and resp.routing.forced
        with pytest.raises(PromptPressRpcError) as err:
            await c.complete(ask("hi", tier="gigantic"))
    assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION and "gigantic" in err.value.details


async def test_stream_relays_in_order_then_done(routed) -> None:  # type: ignore[no-untyped-def]
    app, small, _ = routed
    small.script(SSEReply(openai_stream(["The ", "answer ", "is ", "42."]), delay_s=0.01))
    async with AsyncClient(f"127.0.0.1:{app.port}") as c:
        events = [
            e
            async for e in c.stream_complete(
                pb.StreamCompleteRequest(request=ask("Say the answer."))
            )
        ]
    deltas = [e.delta for e in events if e.WhichOneof("event") == "delta"]
    assert "".join(deltas) == "The answer is 42."
    assert events[-1].WhichOneof("event") == "done"
    assert events[-1].done.message.content == "The answer is 42."
    assert sum(1 for e in events if e.WhichOneof("event") == "done") == 1


async def test_stream_sends_its_request_id_first_and_last(routed) -> None:  # type: ignore[no-untyped-def]
    """A stream's x-request-id comes in the initial metadata, before the first delta,
    and again in the trailing metadata, like every other call's."""
    app, small, _ = routed
    small.script(SSEReply(openai_stream(["Fine ", "thanks."]), delay_s=0.01))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        call = pb_grpc.PromptPressServiceStub(channel).StreamComplete(
            pb.StreamCompleteRequest(request=ask("How are you?")), timeout=30
        )
        header = dict(await call.initial_metadata())
        events = [e async for e in call]
        trailer = dict(await call.trailing_metadata())
    assert events[-1].WhichOneof("event") == "done"
    assert len(str(header["x-request-id"])) == 16
    assert trailer["x-request-id"] == header["x-request-id"]


async def test_stream_closed_mid_way_is_an_error_not_a_half_answer(routed) -> None:  # type: ignore[no-untyped-def]
    app, small, _ = routed
    small.script(SSEReply(openai_stream(["Half ", "an ", "answer"])[:2], complete=False))
    seen = []
    async with AsyncClient(f"127.0.0.1:{app.port}") as c:
        with pytest.raises(PromptPressRpcError) as err:
            async for e in c.stream_complete(
                pb.StreamCompleteRequest(request=ask("Tell me a story."))
            ):
                seen.append(e.WhichOneof("event"))
    assert err.value.code is grpc.StatusCode.UNAVAILABLE
    assert "done" not in seen


async def test_deadline_caps_the_upstream_call(routed) -> None:  # type: ignore[no-untyped-def]
    app, small, frontier = routed
    small.script(Hang())
    frontier.script(Hang())  # small gets a share of the deadline, then fails over here
    async with AsyncClient(f"127.0.0.1:{app.port}") as c:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(PromptPressRpcError) as err:
            await c.complete(ask("Will you hang?", skip_cache=True), timeout=1.5)
        elapsed = loop.time() - t0
    assert err.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert elapsed < 10  # never a hang
    # (waited for in a thread: the server under test runs on this event loop)
    assert await asyncio.to_thread(small.wait_for_abort, 5.0)  # the upstream call was abandoned


async def test_no_tiers_configured_is_failed_precondition(client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PromptPressRpcError) as err:
        await client.complete(ask("hello"))
    assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION
    assert "tiers" in err.value.details


async def test_garbage_upstream_is_unavailable_with_summary(routed) -> None:  # type: ignore[no-untyped-def]
    from tests.routing.fake_upstream import RawReply

    app, small, _ = routed
    small.script(RawReply(b"<html>oops</html>", status=200, content_type="text/html"))
    async with AsyncClient(f"127.0.0.1:{app.port}") as c:
        with pytest.raises(PromptPressRpcError) as err:
            await c.complete(ask("Anything?", skip_cache=True))
    assert err.value.code is grpc.StatusCode.UNAVAILABLE
    assert "small/mini" in err.value.details


async def test_cli_complete_and_metrics(routed) -> None:  # type: ignore[no-untyped-def]
    import sys

    app, small, _ = routed
    small.script(JSONReply(openai_completion("Blue.", prompt_tokens=12, completion_tokens=1)))
    cli = Path(sys.executable).parent / "promptpress"
    request = json.dumps(
        {
            "request": {
                "messages": [{"role": "ROLE_USER", "content": "What colour is the sky?"}],
                "target": {"model": "gpt-4o-mini"},
            }
        }
    )
    proc = await asyncio.create_subprocess_exec(
        str(cli),
        "call",
        "Complete",
        "--address",
        f"127.0.0.1:{app.port}",
        stdin=PIPE,
        stdout=PIPE,
        stderr=PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(request.encode()), 60)
    assert proc.returncode == 0, err.decode()
    body = json.loads(out)
    assert body["message"]["content"] == "Blue."
    assert body["routing"]["tier"] == "small"
    assert body["cacheStatus"] == "CACHE_STATUS_NONE"
    assert body["usage"]["promptTokens"] == 12 and body["costUsd"] > 0

    assert app.metrics_server is not None
    url = f"http://127.0.0.1:{app.metrics_server.port}/metrics"
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    assert 'tenant="default"' in text and "promptpress_" in text
    # The completion service (not the router) records what was sent and spent.
    assert app.metrics is not None
    assert (
        app.metrics.value("promptpress_prompt_tokens_total", tenant="default", tier="small") == 12
    )
    assert app.metrics.value(
        "promptpress_cost_usd_total", tenant="default", tier="small"
    ) == pytest.approx(body["costUsd"])
