"""Wire-format parsing and rendering, without a network."""

from __future__ import annotations

import json

import pytest

from promptpress.errors import FailedPrecondition
from promptpress.server.routing import protocols as proto
from promptpress.server.routing import stream_parsers as sse
from promptpress.server.routing.bodies import UpstreamRequest
from promptpress.server.routing.failures import (
    Attempt,
    http_failure,
    retry_after_seconds,
    summarise,
)
from promptpress.server.routing.tiers import UpstreamConfig, UpstreamKind
from promptpress.types import Message, Role, Sampling, ToolCall
from tests.routing.conftest import request_for
from tests.routing.fake_upstream import anthropic_stream, openai_stream


def feed_all(parser, events):  # type: ignore[no-untyped-def]
    decoder = sse.SSEDecoder()
    out = []
    for raw in events:
        for line in raw.split("\n"):
            event = decoder.feed_line(line)
            if event is not None:
                out += parser.feed(event)
    return out


def test_openai_stream_parser_yields_text_and_usage():
    usage = {"prompt_tokens": 9, "completion_tokens": 2}
    parser = sse.OpenAIStreamParser()
    assert feed_all(parser, openai_stream(["a", "b"], usage=usage)) == ["a", "b"]
    assert parser.done
    result = parser.result("ab")
    assert (result.finish_reason, result.usage.prompt_tokens, result.usage_reported) == (
        "stop",
        9,
        True,
    )


def test_openai_stream_without_usage_says_so():
    parser = sse.OpenAIStreamParser()
    feed_all(parser, openai_stream(["a"]))
    assert parser.result("a").usage_reported is False


def test_anthropic_stream_error_event_raises():
    parser = sse.AnthropicStreamParser()
    error = 'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error"}}\n\n'
    with pytest.raises(proto.ProtocolError, match="overloaded_error"):
        feed_all(parser, [*anthropic_stream(["x"])[:3], error])


@pytest.mark.parametrize(
    "data",
    ["not json", '{"choices": [{"delta": {"content": 5}}]}', '{"choices": "x"}', "[1]"],
)
def test_malformed_openai_chunks_raise_protocol_error(data):
    with pytest.raises(proto.ProtocolError):
        sse.OpenAIStreamParser().feed(sse.SSEEvent("message", data))


def test_sse_decoder_joins_multiline_data_and_skips_comments():
    decoder = sse.SSEDecoder()
    lines = [": keep-alive", "event: x", "data: a", "data: b", ""]
    events = [e for e in (decoder.feed_line(line) for line in lines) if e]
    assert events == [sse.SSEEvent("x", "a\nb")]


@pytest.mark.parametrize(
    ("kind", "payload", "text", "finish"),
    [
        (UpstreamKind.OPENAI,
         {"choices": [{"message": {"content": None, "tool_calls": []}, "finish_reason": "stop"}]},
         "", "stop"),
        (UpstreamKind.ANTHROPIC,
         {"type": "message", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
          "stop_reason": "max_tokens"},
         "ab", "length"),
    ],
)  # fmt: skip
def test_parse_completion_shapes(kind, payload, text, finish):
    result = proto.parse_completion(kind, json.dumps(payload).encode())
    assert (result.text, result.finish_reason, result.usage_reported) == (text, finish, False)


def test_anthropic_body_merges_roles_and_moves_system_and_tools():
    messages = [
        Message(Role.SYSTEM, "sys"),
        Message(Role.USER, "q1"),
        Message(Role.ASSISTANT, "", tool_calls=(ToolCall("t1", "lookup", '{"q": 1}'),)),
        Message(Role.TOOL, "result", tool_call_id="t1"),
        Message(Role.USER, "q2"),
    ]
    body = request_for(messages, sampling=Sampling(max_output_tokens=50, stop=("END",), seed=3))
    anthropic = dict(body.body_for(UpstreamKind.ANTHROPIC))
    assert [b["text"] for b in anthropic["system"]] == ["sys"]
    assert [m["role"] for m in anthropic["messages"]] == ["user", "assistant", "user"]
    assert anthropic["messages"][1]["content"][0]["input"] == {"q": 1}
    assert anthropic["messages"][2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": "t1",
        "content": "result",
    }
    assert anthropic["max_tokens"] == 50 and anthropic["stop_sequences"] == ["END"]
    assert "seed" not in anthropic


def test_request_without_a_body_for_a_kind_cannot_be_sent_there():
    request = UpstreamRequest(openai={"messages": []})
    with pytest.raises(FailedPrecondition):
        request.body_for(UpstreamKind.ANTHROPIC)


def test_openai_compatible_options_shape_the_body():
    request = request_for([Message(Role.USER, "hi")], sampling=Sampling(max_output_tokens=20))
    openai_default = UpstreamConfig("a", UpstreamKind.OPENAI, "http://x/v1", "m1")
    body = proto.request_body(openai_default, request, stream=True)
    assert body["max_completion_tokens"] == 20 and "max_tokens" not in body
    assert body["prompt_cache_key"].startswith("pp1-")
    assert body["stream_options"] == {"include_usage": True}

    legacy = UpstreamConfig(
        "b",
        UpstreamKind.OPENAI,
        "http://x/v1",
        "m1",
        max_tokens_field="max_tokens",
        send_prompt_cache_key=False,
        send_stream_options=False,
    )
    body = proto.request_body(legacy, request, stream=True)
    assert body["max_tokens"] == 20 and "max_completion_tokens" not in body
    assert "prompt_cache_key" not in body and "stream_options" not in body


def test_request_body_overrides_model_and_stream():
    up = UpstreamConfig("a", UpstreamKind.OPENAI, "http://x/v1", "m1")
    request = UpstreamRequest(openai={"messages": [], "model": "caller-model", "stream": True})
    body = proto.request_body(up, request, stream=False)
    assert body["model"] == "m1" and body["stream"] is False and "stream_options" not in body


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, 10.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_forms(headers, seconds):
    now = 1445412480.0  # 07:28:00 GMT that day
    assert retry_after_seconds(headers, now=now) == seconds


@pytest.mark.parametrize(
    ("status", "retryable", "cool"),
    [
        (429, True, True),
        (500, True, True),
        (529, True, True),
        (401, False, True),
        (400, False, False),
    ],
)
def test_status_classification(status, retryable, cool):
    failure = http_failure(status, "x", {})
    assert (failure.retryable, failure.cool) == (retryable, cool)


def test_error_summary_prefers_the_providers_message():
    body = json.dumps({"error": {"message": "Rate limit reached for gpt-4o"}}).encode()
    assert proto.error_summary(429, body) == "HTTP 429: Rate limit reached for gpt-4o"
    assert proto.error_summary(502, b"<html>" + b"x" * 500).endswith("…")


def test_summary_groups_repeated_failures():
    attempts = [Attempt("s/a", "HTTP 500: x", 500, "http")] * 2 + [Attempt("s/b", "ok")]
    assert summarise(attempts) == "s/a: HTTP 500: x (x2)"
