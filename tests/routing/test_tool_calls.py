"""Tool calls both ways, in each provider's real wire format: the model's calls come
back (whole and streamed, one and two in parallel), and the tool-result turn goes
upstream the way each API expects it."""

from __future__ import annotations

import json

import pytest

from promptpress.server.routing import protocols as proto
from promptpress.server.routing import stream_parsers as sse
from promptpress.server.routing.forwarder import StreamDone, TextDelta
from promptpress.server.routing.tiers import UpstreamKind
from promptpress.types import (
    FinishReason,
    Message,
    ResponseFormat,
    ResponseFormatType,
    Role,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolChoiceMode,
)
from tests.routing.conftest import request_for, tier, upstream
from tests.routing.fake_upstream import (
    JSONReply,
    SSEReply,
    anthropic_message,
    anthropic_tool_message,
    anthropic_tool_stream,
    openai_completion,
    openai_tool_completion,
    openai_tool_stream,
)

WEATHER = Tool(
    "get_weather",
    "Current weather for a city.",
    '{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}',
)
ONE = [("call_1", "get_weather", '{"city": "Paris"}')]
TWO = [*ONE, ("call_2", "get_weather", '{"city": "Rome", "unit": "celsius"}')]
QUESTION = [Message(Role.USER, "What is the weather in Paris and in Rome?")]
KINDS = [UpstreamKind.OPENAI, UpstreamKind.ANTHROPIC]


def calls_of(raw: list[tuple[str, str, str]]) -> tuple[ToolCall, ...]:
    return tuple(ToolCall(i, n, a) for i, n, a in raw)


def plan_for(kind: UpstreamKind, fake):  # type: ignore[no-untyped-def]
    return [tier("small", upstream("m", fake, kind=kind))]


def json_reply(kind: UpstreamKind, raw):  # type: ignore[no-untyped-def]
    if kind is UpstreamKind.OPENAI:
        return JSONReply(openai_tool_completion(raw))
    return JSONReply(anthropic_tool_message(raw))


def sse_reply(kind: UpstreamKind, raw, **kw):  # type: ignore[no-untyped-def]
    if kind is UpstreamKind.OPENAI:
        return SSEReply(openai_tool_stream(raw, **kw))
    return SSEReply(anthropic_tool_stream(raw, **kw))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("raw", [ONE, TWO], ids=["one", "two-parallel"])
async def test_whole_answer_carries_the_tool_calls(make_fake, forwarder, kind, raw):
    fake = make_fake()
    fake.script(json_reply(kind, raw))
    plan = plan_for(kind, fake)
    result = await forwarder.complete(plan, request_for(QUESTION, plan, tools=[WEATHER]))
    assert result.finish_reason == FinishReason.TOOL_CALLS
    assert [(c.id, c.name) for c in result.tool_calls] == [(i, n) for i, n, _ in raw]
    assert [json.loads(c.arguments_json) for c in result.tool_calls] == [
        json.loads(a) for _, _, a in raw
    ]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("raw", [ONE, TWO], ids=["one", "two-parallel"])
async def test_streamed_tool_calls_are_relayed_in_pieces_then_assembled(
    make_fake, forwarder, kind, raw
):
    fake = make_fake()
    fake.script(sse_reply(kind, raw, pieces=4, text="Let me check."))
    plan = plan_for(kind, fake)
    events = [e async for e in forwarder.stream(plan, request_for(QUESTION, plan, tools=[WEATHER]))]

    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    pieces = [e for e in events if isinstance(e, ToolCallDelta)]
    done = events[-1]
    assert text == "Let me check." and isinstance(done, StreamDone)
    # Every call's slices, joined in order per index, are its arguments.
    for index, (call_id, name, arguments) in enumerate(raw):
        mine = [p for p in pieces if p.index == index]
        assert mine[0].id == call_id and mine[0].name == name
        assert "".join(p.arguments for p in mine) == arguments
    assert len(pieces) > 2 * len(raw)  # the arguments really came in several pieces
    if len(raw) == 2 and kind is UpstreamKind.OPENAI:
        order = [p.index for p in pieces if p.arguments]
        assert order[:2] == [0, 1]  # interleaved across chunks
    assert done.result.tool_calls == calls_of(raw)
    assert done.result.finish_reason == FinishReason.TOOL_CALLS


def test_openai_compatible_server_saying_stop_with_tool_calls_means_tool_calls():
    body = openai_tool_completion(ONE)
    body["choices"][0]["finish_reason"] = "stop"
    parsed = proto.parse_completion(UpstreamKind.OPENAI, json.dumps(body).encode())
    assert parsed.finish_reason == "tool_calls" and parsed.tool_calls == calls_of(ONE)


def test_anthropic_tool_without_input_streams_empty_arguments_as_an_empty_object():
    parser = sse.AnthropicStreamParser()
    decoder = sse.SSEDecoder()
    for raw in anthropic_tool_stream([("toolu_1", "now", "")]):
        for line in raw.split("\n"):
            event = decoder.feed_line(line)
            if event is not None:
                parser.feed(event)
    assert parser.result("").tool_calls == (ToolCall("toolu_1", "now", "{}"),)


@pytest.mark.parametrize(
    "payload",
    [
        {"choices": [{"delta": {"tool_calls": [{"index": "x"}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": 5}}]}}]},
    ],
)
def test_malformed_streamed_tool_calls_are_protocol_errors(payload):
    with pytest.raises(proto.ProtocolError):
        sse.OpenAIStreamParser().feed(sse.SSEEvent("message", json.dumps(payload)))


# --- the tool-result turn -------------------------------------------------------------

RESULT_TURN = [
    Message(Role.SYSTEM, "You are a weather assistant."),
    *QUESTION,
    Message(Role.ASSISTANT, "", tool_calls=calls_of(TWO)),
    Message(Role.TOOL, '{"temp_c": 21, "sky": "clear"}', tool_call_id="call_1"),
    Message(Role.TOOL, "Error: the weather service timed out", tool_call_id="call_2"),
]


async def test_tool_results_go_to_openai_as_tool_messages(make_fake, forwarder):
    fake = make_fake()
    fake.script(JSONReply(openai_completion("Paris is clear at 21 °C; Rome is unknown.")))
    plan = plan_for(UpstreamKind.OPENAI, fake)
    result = await forwarder.complete(plan, request_for(RESULT_TURN, plan, tools=[WEATHER]))

    assert result.finish_reason == "stop" and not result.tool_calls
    sent = fake.requests[0].json()["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "tool"]
    calls = sent[2]["tool_calls"]
    assert [(c["id"], c["type"], c["function"]["name"]) for c in calls] == [
        ("call_1", "function", "get_weather"),
        ("call_2", "function", "get_weather"),
    ]
    assert json.loads(calls[1]["function"]["arguments"]) == json.loads(TWO[1][2])
    assert sent[3] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": '{"temp_c": 21, "sky": "clear"}',
    }
    assert sent[4]["content"] == "Error: the weather service timed out"  # not JSON: as is


async def test_tool_results_go_to_anthropic_as_tool_result_blocks_in_one_user_turn(
    make_fake, forwarder
):
    fake = make_fake()
    fake.script(JSONReply(anthropic_message("Paris is clear at 21 °C; Rome is unknown.")))
    plan = plan_for(UpstreamKind.ANTHROPIC, fake)
    await forwarder.complete(plan, request_for(RESULT_TURN, plan, tools=[WEATHER]))

    body = fake.requests[0].json()
    assert [b["text"] for b in body["system"]] == ["You are a weather assistant."]
    turns = body["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    uses = turns[1]["content"]
    assert [(b["type"], b["id"], b["input"]) for b in uses] == [
        ("tool_use", "call_1", {"city": "Paris"}),
        ("tool_use", "call_2", {"city": "Rome", "unit": "celsius"}),
    ]
    results = [{k: v for k, v in b.items() if k != "cache_control"} for b in turns[2]["content"]]
    assert results == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": RESULT_TURN[3].content},
        {"type": "tool_result", "tool_use_id": "call_2", "content": RESULT_TURN[4].content},
    ]
    assert body["tools"][0]["name"] == "get_weather" and "input_schema" in body["tools"][0]


# --- tool_choice and structured output --------------------------------------------------

SCHEMA = '{"type": "object", "properties": {"temp_c": {"type": "number"}}}'


def test_tool_choice_and_response_format_reach_both_protocols():
    request = request_for(
        QUESTION,
        tools=[WEATHER],
        tool_choice=ToolChoice(
            ToolChoiceMode.TOOL, "get_weather", disable_parallel_tool_calls=True
        ),
        response_format=ResponseFormat(ResponseFormatType.JSON_SCHEMA, "weather", SCHEMA, True),
    )
    openai = request.body_for(UpstreamKind.OPENAI)
    assert openai["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert openai["parallel_tool_calls"] is False
    assert openai["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "weather", "schema": json.loads(SCHEMA), "strict": True},
    }
    anthropic = request.body_for(UpstreamKind.ANTHROPIC)
    assert anthropic["tool_choice"] == {
        "type": "tool",
        "name": "get_weather",
        "disable_parallel_tool_use": True,
    }
    assert anthropic["output_config"] == {
        "format": {"type": "json_schema", "schema": json.loads(SCHEMA)}
    }


@pytest.mark.parametrize(
    ("mode", "openai", "anthropic"),
    [
        (ToolChoiceMode.AUTO, "auto", {"type": "auto"}),
        (ToolChoiceMode.NONE, "none", {"type": "none"}),
        (ToolChoiceMode.REQUIRED, "required", {"type": "any"}),
    ],
)
def test_tool_choice_modes(mode, openai, anthropic):
    request = request_for(QUESTION, tools=[WEATHER], tool_choice=ToolChoice(mode))
    assert request.body_for(UpstreamKind.OPENAI)["tool_choice"] == openai
    assert request.body_for(UpstreamKind.ANTHROPIC)["tool_choice"] == anthropic


def test_without_tool_choice_or_format_the_bodies_carry_neither():
    request = request_for(QUESTION, tools=[WEATHER])
    for kind in KINDS:
        body = request.body_for(kind)
        assert not {"tool_choice", "response_format", "output_config"} & set(body)


async def test_a_server_that_ignores_stream_true_still_relays_its_tool_calls(make_fake, forwarder):
    fake = make_fake()
    fake.script(JSONReply(openai_tool_completion(TWO)))  # JSON although a stream was asked for
    plan = plan_for(UpstreamKind.OPENAI, fake)
    events = [e async for e in forwarder.stream(plan, request_for(QUESTION, plan, tools=[WEATHER]))]
    pieces = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [(p.index, p.id, p.arguments) for p in pieces] == [
        (i, call_id, arguments) for i, (call_id, _, arguments) in enumerate(TWO)
    ]
    assert events[-1].result.tool_calls == calls_of(TWO)
