"""An agent loop through the real gRPC server: user -> tool calls -> tool results ->
answer, with Complete and StreamComplete, against an OpenAI-compatible and an
Anthropic upstream (local servers speaking each wire format); the semantic cache
around tool calls; a provider's 400 coming back once, fast, with its message."""

from __future__ import annotations

import json

import grpc
import pytest

from promptpress import AsyncClient, PromptPressRpcError
from promptpress.v1 import promptpress_pb2 as pb
from tests.routing.fake_upstream import (
    JSONReply,
    SSEReply,
    anthropic_message,
    anthropic_stream,
    anthropic_tool_message,
    anthropic_tool_stream,
    error_reply,
    openai_completion,
    openai_stream,
    openai_tool_completion,
    openai_tool_stream,
)

WEATHER = pb.Tool(
    name="get_weather",
    description="Current weather for a city.",
    parameters_json='{"type": "object", "properties": {"city": {"type": "string"}}}',
)
CALLS = [
    ("call_p", "get_weather", '{"city": "Paris"}'),
    ("call_r", "get_weather", '{"city": "Rome"}'),
]
RESULTS = {"call_p": '{"temp_c": 21, "sky": "clear"}', "call_r": "Error: service timed out"}
QUESTION = pb.Message(role=pb.ROLE_USER, content="What is the weather in Paris and Rome?")
# "small" is OpenAI-compatible, "frontier" Anthropic (tests/server/test_complete.py).
PROTOCOLS = {"openai": "small", "anthropic": "frontier"}


def request(
    messages: list[pb.Message], tier: str, skip_cache: bool = False, **kw
) -> pb.CompleteRequest:  # type: ignore[no-untyped-def]
    return pb.CompleteRequest(
        skip_cache=skip_cache,
        request=pb.PreprocessRequest(
            messages=[pb.Message(role=pb.ROLE_SYSTEM, content="Use the tools."), *messages],
            target=pb.Target(provider="openai", model="gpt-4o-mini"),
            tools=[WEATHER],
            **kw,
        ),
        tier=tier,
    )


def result_turn(calls: list[pb.ToolCall], results: dict[str, str]) -> list[pb.Message]:
    """The conversation so far plus the assistant's calls and one result per call."""
    assistant = pb.Message(role=pb.ROLE_ASSISTANT, tool_calls=calls)
    tools = [pb.Message(role=pb.ROLE_TOOL, tool_call_id=c.id, content=results[c.id]) for c in calls]
    return [QUESTION, assistant, *tools]


def fake_for(protocol: str, small, frontier):  # type: ignore[no-untyped-def]
    return small if protocol == "openai" else frontier


def tool_reply(protocol: str, stream: bool):  # type: ignore[no-untyped-def]
    if protocol == "openai":
        return (
            SSEReply(openai_tool_stream(CALLS, pieces=3))
            if stream
            else (JSONReply(openai_tool_completion(CALLS)))
        )
    return (
        SSEReply(anthropic_tool_stream(CALLS, pieces=3))
        if stream
        else (JSONReply(anthropic_tool_message(CALLS)))
    )


def answer_reply(protocol: str, stream: bool, text: str):  # type: ignore[no-untyped-def]
    if protocol == "openai":
        return SSEReply(openai_stream([text])) if stream else JSONReply(openai_completion(text))
    return SSEReply(anthropic_stream([text])) if stream else JSONReply(anthropic_message(text))


def check_tool_results_sent(protocol: str, body: dict) -> None:
    if protocol == "openai":
        sent = body["messages"]
        assert [m["role"] for m in sent[-4:]] == ["user", "assistant", "tool", "tool"]
        assert [c["id"] for c in sent[-3]["tool_calls"]] == ["call_p", "call_r"]
        assert [(m["tool_call_id"], m["content"]) for m in sent[-2:]] == list(RESULTS.items())
    else:
        turns = body["messages"]
        assert [t["role"] for t in turns] == ["user", "assistant", "user"]
        assert [b["id"] for b in turns[1]["content"]] == ["call_p", "call_r"]
        assert [(b["tool_use_id"], b["content"]) for b in turns[2]["content"]] == list(
            RESULTS.items()
        )


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_agent_loop_through_complete(routed, protocol) -> None:  # type: ignore[no-untyped-def]
    app, small, frontier = routed
    fake = fake_for(protocol, small, frontier)
    tier = PROTOCOLS[protocol]
    fake.script(tool_reply(protocol, False), answer_reply(protocol, False, "Paris 21 °C."))
    async with AsyncClient(f"127.0.0.1:{app.port}") as c:
        first = await c.complete(request([QUESTION], tier))
        assert first.finish_reason == "tool_calls"
        assert [(t.id, t.name, json.loads(t.arguments_json)) for t in first.message.tool_calls] == [
            (i, n, json.loads(a)) for i, n, a in CALLS
        ]
        calls = list(first.message.tool_calls)
        final = await c.complete(request(result_turn(calls, RESULTS), tier))
    assert final.finish_reason == "stop" and final.message.content == "Paris 21 °C."
    assert not final.message.tool_calls
    assert len(fake.requests) == 2
    check_tool_results_sent(protocol, fake.requests[1].json())


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_agent_loop_through_stream_complete(routed, protocol) -> None:  # type: ignore[no-untyped-def]
    app, small, frontier = routed
    fake = fake_for(protocol, small, frontier)
    tier = PROTOCOLS[protocol]
    fake.script(tool_reply(protocol, True), answer_reply(protocol, True, "Paris 21 °C."))
    async with AsyncClient(f"127.0.0.1:{app.port}") as c:
        events = [
            e
            async for e in c.stream_complete(
                pb.StreamCompleteRequest(request=request([QUESTION], tier))
            )
        ]
        pieces = [e.tool_call for e in events if e.WhichOneof("event") == "tool_call"]
        done = events[-1].done
        assert events[-1].WhichOneof("event") == "done"
        assert done.finish_reason == "tool_calls"
        for index, (call_id, name, arguments) in enumerate(CALLS):
            mine = [p for p in pieces if p.index == index]
            assert (mine[0].id, mine[0].name) == (call_id, name)
            assert "".join(p.arguments_delta for p in mine) == arguments
        assert [(t.id, t.arguments_json) for t in done.message.tool_calls] == [
            (i, a) for i, _, a in CALLS
        ]

        follow = request(result_turn(list(done.message.tool_calls), RESULTS), tier)
        events = [e async for e in c.stream_complete(pb.StreamCompleteRequest(request=follow))]
    text = "".join(e.delta for e in events if e.WhichOneof("event") == "delta")
    assert text == "Paris 21 °C." and events[-1].done.finish_reason == "stop"
    check_tool_results_sent(protocol, fake.requests[1].json())


async def test_cache_never_replays_a_tool_call_nor_crosses_tool_results(routed) -> None:  # type: ignore[no-untyped-def]
    app, small, _ = routed
    calls = [pb.ToolCall(id=i, name=n, arguments_json=a) for i, n, a in CALLS]
    other_results = {**RESULTS, "call_p": '{"temp_c": 3, "sky": "snow"}'}
    small.script(
        JSONReply(openai_tool_completion(CALLS)),
        JSONReply(openai_tool_completion(CALLS)),
        JSONReply(openai_completion("Paris 21 °C, clear.")),
        JSONReply(openai_completion("Paris 3 °C, snow.")),
    )
    async with AsyncClient(f"127.0.0.1:{app.port}") as c:
        await c.complete(request([QUESTION], "small"))
        again = await c.complete(request([QUESTION], "small"))  # same request: not from cache
        assert again.cache_status == pb.CACHE_STATUS_NONE and again.message.tool_calls
        clear = await c.complete(request(result_turn(calls, RESULTS), "small"))
        snow = await c.complete(request(result_turn(calls, other_results), "small"))
        repeat = await c.complete(request(result_turn(calls, RESULTS), "small"))
    assert clear.message.content == "Paris 21 °C, clear."
    assert snow.cache_status == pb.CACHE_STATUS_NONE and snow.message.content == "Paris 3 °C, snow."
    assert repeat.cache_status == pb.CACHE_STATUS_EXACT
    assert repeat.message.content == "Paris 21 °C, clear."
    assert len(small.requests) == 4


async def test_tool_choice_and_response_format_pass_through(routed) -> None:  # type: ignore[no-untyped-def]
    app, small, frontier = routed
    small.script(JSONReply(openai_completion('{"temp_c": 21}')))
    frontier.script(JSONReply(anthropic_message('{"temp_c": 21}')))
    schema = '{"type": "object", "properties": {"temp_c": {"type": "number"}}}'
    extra = {
        "tool_choice": pb.ToolChoice(mode=pb.TOOL_CHOICE_MODE_NONE),
        "response_format": pb.ResponseFormat(
            type=pb.RESPONSE_FORMAT_TYPE_JSON_SCHEMA, name="weather", schema_json=schema
        ),
    }
    async with AsyncClient(f"127.0.0.1:{app.port}") as c:
        for tier in PROTOCOLS.values():
            await c.complete(request([QUESTION], tier, skip_cache=True, **extra))
        with pytest.raises(PromptPressRpcError) as err:
            bad = pb.ToolChoice(mode=pb.TOOL_CHOICE_MODE_TOOL, name="no_such_tool")
            await c.complete(request([QUESTION], "small", tool_choice=bad))
    assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
    openai = small.requests[0].json()
    assert openai["tool_choice"] == "none"
    assert openai["response_format"]["json_schema"]["schema"] == json.loads(schema)
    anthropic = frontier.requests[0].json()
    assert anthropic["tool_choice"] == {"type": "none"}
    assert anthropic["output_config"]["format"]["schema"] == json.loads(schema)


@pytest.mark.parametrize("stream", [False, True], ids=["Complete", "StreamComplete"])
async def test_a_provider_400_returns_once_with_its_message(routed, stream) -> None:  # type: ignore[no-untyped-def]
    app, small, frontier = routed
    message = "This model's maximum context length is 128000 tokens. Please reduce the length."
    small.script(error_reply(400, message))
    req = request([QUESTION], "small")
    async with AsyncClient(f"127.0.0.1:{app.port}") as c:
        with pytest.raises(PromptPressRpcError) as err:
            if stream:
                async for _ in c.stream_complete(pb.StreamCompleteRequest(request=req)):
                    pass
            else:
                await c.complete(req)
    assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert message in err.value.details
    assert len(small.requests) == 1 and frontier.requests == []  # no retry, no failover
