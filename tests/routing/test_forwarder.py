"""The forwarder against real HTTP servers on 127.0.0.1 speaking the providers' wire formats."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from promptpress.errors import DeadlineExceeded, FailedPrecondition, InvalidInput, Unavailable
from promptpress.server.routing.forwarder import Forwarder, StreamDone, TextDelta
from promptpress.server.routing.tiers import UpstreamKind
from promptpress.server.routing.usage import Usage
from promptpress.types import Message, Role
from tests.routing.conftest import request_for, tier, upstream
from tests.routing.fake_upstream import (
    Drop,
    Hang,
    JSONReply,
    RawReply,
    SSEReply,
    anthropic_message,
    error_reply,
    openai_completion,
    openai_stream,
)

REQUEST = request_for(
    [Message(Role.SYSTEM, "Be brief."), Message(Role.USER, "What is the capital of France?")]
)


async def collect(events):  # type: ignore[no-untyped-def]
    deltas, done = [], None
    async for event in events:
        if isinstance(event, TextDelta):
            deltas.append(event.text)
        else:
            assert done is None, "more than one StreamDone"
            done = event
    return deltas, done


async def test_openai_json_answer_carries_text_usage_and_upstream(fake, forwarder):
    fake.script(JSONReply(openai_completion("Paris.", prompt_tokens=30, cached_tokens=20)))
    plan = [tier("small", upstream("a", fake, api_key_env="FAKE_KEY"))]

    result = await forwarder.complete(plan, REQUEST)

    assert (result.text, result.finish_reason, result.upstream) == ("Paris.", "stop", "small/a")
    assert result.usage == Usage(prompt_tokens=30, completion_tokens=5, cached_tokens=20)
    sent = fake.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test-123"
    body = sent.json()
    assert body["model"] == "model-a" and body["stream"] is False
    assert body["messages"][-1] == {"role": "user", "content": "What is the capital of France?"}


async def test_anthropic_json_answer_normalises_usage(fake, forwarder):
    fake.script(
        JSONReply(anthropic_message("Paris.", input_tokens=7, cache_read=100, cache_write=50))
    )
    plan = [tier("small", upstream("c", fake, kind=UpstreamKind.ANTHROPIC, api_key_env="FAKE_KEY"))]

    result = await forwarder.complete(plan, REQUEST)

    assert result.text == "Paris."
    assert result.usage == Usage(
        prompt_tokens=157, completion_tokens=5, cached_tokens=100, cache_write_tokens=50
    )
    sent = fake.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-test-123"
    assert sent.headers["anthropic-version"]
    body = sent.json()
    assert body["system"] == [{"type": "text", "text": "Be brief."}] and body["max_tokens"] > 0
    assert [m["role"] for m in body["messages"]] == ["user"]


async def test_retry_after_is_honoured_before_retrying_the_same_upstream(fake, forwarder):
    fake.script(error_reply(429, "slow down", retry_after=0.4), JSONReply(openai_completion("ok")))
    plan = [tier("small", upstream("a", fake))]

    result = await forwarder.complete(plan, REQUEST)

    assert result.text == "ok" and result.upstream == "small/a"
    first, second = fake.requests
    assert second.received_at - first.received_at >= 0.39
    assert [a.status for a in result.attempts] == [429, 200]


async def test_retry_after_longer_than_allowed_fails_over_without_waiting(make_fake, forwarder):
    a, b = make_fake(), make_fake()
    a.script(error_reply(429, "come back in an hour", retry_after=3600))
    b.script(JSONReply(openai_completion("from b")))
    plan = [tier("small", upstream("a", a, weight=1e6), upstream("b", b, weight=1e-6))]

    result = await forwarder.complete(plan, REQUEST, affinity_key="k")

    assert result.upstream == "small/b"
    assert len(a.requests) == 1
    assert forwarder.cooldowns.is_cooling("small/a")


async def test_failover_then_cooldown_skips_the_failed_upstream(make_fake, forwarder):
    a, b = make_fake(), make_fake()
    a.script(error_reply(500, "boom"), error_reply(503, "still boom"))
    b.default = JSONReply(openai_completion("from b"))
    # a is first in affinity order for this key: weights make it certain.
    plan = [tier("small", upstream("a", a, weight=1e6), upstream("b", b, weight=1e-6))]

    first = await forwarder.complete(plan, REQUEST, affinity_key="k")
    second = await forwarder.complete(plan, REQUEST, affinity_key="k")

    assert first.upstream == second.upstream == "small/b"
    assert len(a.requests) == 2  # two tries, then cooling: not asked for the second request
    assert [x.upstream for x in first.attempts] == ["small/a", "small/a", "small/b"]


async def test_fails_over_up_a_tier_when_the_whole_tier_fails(make_fake, forwarder):
    small, big = make_fake(), make_fake()
    small.default = error_reply(502, "bad gateway")
    big.script(JSONReply(openai_completion("frontier answer")))
    plan = [
        tier("small", upstream("s", small)),
        tier("frontier", upstream("f", big, tier="frontier")),
    ]

    result = await forwarder.complete(plan, REQUEST)

    assert (result.tier, result.upstream, result.text) == (
        "frontier",
        "frontier/f",
        "frontier answer",
    )


async def test_every_upstream_failing_is_unavailable_with_a_summary(make_fake, forwarder):
    a, b = make_fake(), make_fake()
    a.default = error_reply(500, "database on fire")
    b.default = Drop()
    plan = [tier("small", upstream("a", a)), tier("frontier", upstream("b", b, tier="frontier"))]

    with pytest.raises(Unavailable) as err:
        await forwarder.complete(plan, REQUEST)

    message = str(err.value)
    assert "small/a: HTTP 500: database on fire (x2)" in message
    assert "frontier/b: connection failed" in message


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (RawReply(b"<html>Bad gateway</html>"), "not JSON: <html>Bad gateway</html>"),
        (RawReply(b""), "not JSON: (empty body)"),
        (JSONReply({"choices": []}), "malformed openai response"),
        (JSONReply(["not", "an", "object"]), "not a JSON object"),
        (JSONReply({"error": {"message": "quota"}}), "upstream error in body"),
    ],
)
async def test_garbage_is_unavailable_naming_what_came_back(fake, forwarder, reply, expected):
    fake.script(reply)
    with pytest.raises(Unavailable, match="all 1 upstream") as err:
        await forwarder.complete([tier("small", upstream("a", fake))], REQUEST)
    assert expected in str(err.value)
    assert len(fake.requests) == 1  # garbage is not retried on the same upstream


async def test_hanging_upstream_and_short_deadline_is_deadline_exceeded(fake, forwarder):
    fake.script(Hang())
    loop = asyncio.get_running_loop()
    started = loop.time()

    with pytest.raises(DeadlineExceeded):
        await forwarder.complete([tier("small", upstream("a", fake))], REQUEST, deadline_s=0.3)

    # Not a speed target: proves the deadline, not the 10 s attempt timeout, ended it.
    assert loop.time() - started < 5
    assert fake.wait_for_abort(5), "the upstream request was not closed"


async def test_deadline_caps_a_retry_after_wait(fake, forwarder):
    fake.script(error_reply(503, "busy", retry_after=1.5))
    with pytest.raises((DeadlineExceeded, Unavailable)):
        await forwarder.complete([tier("small", upstream("a", fake))], REQUEST, deadline_s=0.5)
    assert len(fake.requests) == 1  # no second try after a wait the deadline can't afford


async def test_cancelling_the_caller_closes_the_upstream_request(fake, forwarder):
    fake.script(Hang())
    task = asyncio.create_task(forwarder.complete([tier("small", upstream("a", fake))], REQUEST))
    await wait_for_requests(fake, 1)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await asyncio.to_thread(fake.wait_for_abort, 5)


async def test_cancelling_a_stream_consumer_closes_the_upstream_stream(fake, forwarder):
    fake.script(SSEReply(openai_stream(["one", "two", "three"]), delay_s=30))
    plan = [tier("small", upstream("a", fake))]

    async def consume() -> None:
        async with contextlib.aclosing(forwarder.stream(plan, REQUEST)) as events:
            async for _ in events:
                pass

    task = asyncio.create_task(consume())
    await wait_for_requests(fake, 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(fake.wait_for_abort, 5)


async def test_stream_relays_chunks_in_order_as_they_arrive(fake, forwarder):
    usage = {
        "prompt_tokens": 12,
        "completion_tokens": 3,
        "prompt_tokens_details": {"cached_tokens": 8},
    }
    gate = fake.gate()
    fake.script(SSEReply(openai_stream(["Par", "is", "."], usage=usage), gate=gate, gate_after=2))
    plan = [tier("small", upstream("a", fake))]
    events = forwarder.stream(plan, REQUEST)

    # The server holds back everything after the first two events until the gate
    # opens: receiving "Par" first proves the relay does not wait for the end.
    first = await anext(events)
    assert first == TextDelta("Par", "small/a")
    gate.set()
    rest, done = await collect(events)

    assert rest == ["is", "."]
    assert isinstance(done, StreamDone)
    assert done.result.text == "Paris."
    assert done.result.usage == Usage(12, 3, 8, 0)
    assert fake.requests[0].json()["stream_options"] == {"include_usage": True}


async def test_anthropic_stream_relays_text_and_merges_usage(fake, forwarder):
    from tests.routing.fake_upstream import anthropic_stream

    fake.script(
        SSEReply(anthropic_stream(["Bon", "jour"], input_tokens=4, output_tokens=9, cache_read=60))
    )
    plan = [tier("small", upstream("c", fake, kind=UpstreamKind.ANTHROPIC))]

    deltas, done = await collect(forwarder.stream(plan, REQUEST))

    assert deltas == ["Bon", "jour"]
    assert done.result.finish_reason == "stop"
    assert done.result.usage == Usage(prompt_tokens=64, completion_tokens=9, cached_tokens=60)


@pytest.mark.parametrize(
    "reply",
    [
        SSEReply(openai_stream(["Par", "is"], done=False), complete=False),  # connection dropped
        SSEReply(openai_stream(["Par", "is"], done=False)),  # clean end, no [DONE]
    ],
    ids=["dropped", "no-done"],
)
async def test_stream_closed_mid_answer_is_an_error_never_a_done(make_fake, forwarder, reply):
    a, b = make_fake(), make_fake()
    a.script(reply)
    b.default = SSEReply(openai_stream(["other"]))
    plan = [tier("small", upstream("a", a, weight=1e6), upstream("b", b, weight=1e-6))]

    deltas: list[str] = []
    with pytest.raises(Unavailable, match="mid-stream"):
        async for event in forwarder.stream(plan, REQUEST, affinity_key="k"):
            assert not isinstance(event, StreamDone), "half an answer presented as whole"
            deltas.append(event.text)

    assert deltas == ["Par", "is"]
    assert b.requests == []  # text already relayed: no failover that would splice answers


async def test_anthropic_stream_without_message_stop_is_an_error(fake, forwarder):
    from tests.routing.fake_upstream import anthropic_stream

    fake.script(SSEReply(anthropic_stream(["Bon"], stop=False)))
    plan = [tier("small", upstream("c", fake, kind=UpstreamKind.ANTHROPIC))]
    with pytest.raises(Unavailable, match="message_stop"):
        await collect(forwarder.stream(plan, REQUEST))


async def test_stream_failing_before_any_text_fails_over(make_fake, forwarder):
    a, b = make_fake(), make_fake()
    a.default = error_reply(503, "overloaded")
    b.script(SSEReply(openai_stream(["from ", "b"])))
    plan = [tier("small", upstream("a", a, weight=1e6), upstream("b", b, weight=1e-6))]

    deltas, done = await collect(forwarder.stream(plan, REQUEST, affinity_key="k"))

    assert deltas == ["from ", "b"] and done.result.upstream == "small/b"
    assert len(a.requests) == 2


async def test_missing_api_key_is_failed_precondition(fake, forwarder):
    plan = [tier("small", upstream("a", fake, api_key_env="NOT_SET_ANYWHERE"))]
    with pytest.raises(FailedPrecondition, match="NOT_SET_ANYWHERE"):
        await forwarder.complete(plan, REQUEST)
    assert fake.requests == []


async def test_affinity_key_keeps_requests_on_one_upstream(make_fake):
    fakes = [make_fake() for _ in range(3)]
    for f in fakes:
        f.default = JSONReply(openai_completion("ok"))
    plan = [tier("small", *(upstream(f"u{i}", f) for i, f in enumerate(fakes)))]
    fwd = Forwarder()
    try:
        same = {
            (await fwd.complete(plan, REQUEST, affinity_key="prefix-1")).upstream for _ in range(6)
        }
        spread = {
            (await fwd.complete(plan, REQUEST, affinity_key=f"p{i}")).upstream for i in range(30)
        }
    finally:
        await fwd.aclose()
    assert len(same) == 1
    assert len(spread) == 3


async def wait_for_requests(fake, n: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(500):
        if len(fake.requests) >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"upstream never received {n} request(s)")


async def test_stream_request_answered_with_plain_json_is_relayed_whole(fake, forwarder):
    fake.script(JSONReply(openai_completion("whole answer")))  # server ignored stream=true
    deltas, done = await collect(forwarder.stream([tier("small", upstream("a", fake))], REQUEST))
    assert deltas == ["whole answer"] and done.result.usage.prompt_tokens == 10


async def test_plan_without_upstreams_is_failed_precondition(forwarder):
    with pytest.raises(FailedPrecondition, match="no upstream"):
        await forwarder.complete([tier("small")], REQUEST)


# --- the caller's errors fail at once; the provider's keep retry and failover ---------


def two_tier_plan(first, second):  # type: ignore[no-untyped-def]
    return [
        tier("small", upstream("a", first)),
        tier("frontier", upstream("b", second, tier="frontier")),
    ]


@pytest.mark.parametrize("status", [400, 404, 413, 422])
async def test_a_rejected_request_returns_once_with_the_providers_message(
    make_fake, forwarder, status
):
    first, second = make_fake(), make_fake()
    first.script(error_reply(status, "This model's maximum context length is 128000 tokens"))
    with pytest.raises(InvalidInput) as caught:
        await forwarder.complete(two_tier_plan(first, second), REQUEST)
    assert "maximum context length is 128000 tokens" in str(caught.value)
    assert f"HTTP {status}" in str(caught.value) and "small/a" in str(caught.value)
    assert caught.value.violations[0].field == "request"
    assert len(first.requests) == 1 and second.requests == []  # one try, no failover


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_key_is_the_configurations_fault_at_once(make_fake, forwarder, status):
    first, second = make_fake(), make_fake()
    first.script(error_reply(status, "Incorrect API key provided"))
    with pytest.raises(FailedPrecondition, match="Incorrect API key provided"):
        await forwarder.complete(two_tier_plan(first, second), REQUEST)
    assert len(first.requests) == 1 and second.requests == []


@pytest.mark.parametrize("status", [408, 409, 429, 500, 503])
async def test_transient_statuses_still_retry_and_fail_over(make_fake, forwarder, status):
    first, second = make_fake(), make_fake()
    first.default = error_reply(status, "try later")
    second.script(JSONReply(openai_completion("ok")))
    result = await forwarder.complete(two_tier_plan(first, second), REQUEST)
    assert result.upstream == "frontier/b" and len(first.requests) == 2


async def test_a_rejected_streamed_request_returns_once_too(make_fake, forwarder):
    first, second = make_fake(), make_fake()
    first.script(error_reply(400, "Invalid schema for function 'get_weather'"))
    with pytest.raises(InvalidInput, match="Invalid schema for function 'get_weather'"):
        await collect(forwarder.stream(two_tier_plan(first, second), REQUEST))
    assert len(first.requests) == 1 and second.requests == []
