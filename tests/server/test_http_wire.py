"""The HTTP endpoints' pure pieces: wire JSON -> the gRPC API's request, settings, models,
and the stream framing, table by table (no server; see test_http_api.py for that)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptpress.errors import InvalidInput, NotFound
from promptpress.server.app import build_app, check_config, limits_from_config
from promptpress.server.completion import Completion
from promptpress.server.config import ServerConfig
from promptpress.server.http import anthropic_api, anthropic_stream, openai_api
from promptpress.server.http.models import list_models, resolve_model
from promptpress.server.http.options import HttpOptions, OptionDefaults, request_options
from promptpress.server.http.wire import completion_input
from promptpress.server.pipeline import PreprocessOutput, PreprocessStats
from promptpress.server.routing.tiers import parse_routing_config
from promptpress.server.routing.usage import Usage
from promptpress.types import Role, ToolCall, ToolCallDelta, ToolChoiceMode
from promptpress.v1 import promptpress_pb2 as pb

USER = [{"role": "user", "content": "hi"}]
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def violations(exc: pytest.ExceptionInfo[InvalidInput]) -> dict[str, str]:
    return {v.field: v.description for v in exc.value.violations}


@pytest.mark.parametrize(
    ("extra", "mode", "name", "serial"),
    [
        ({}, None, "", False),
        ({"tool_choice": "auto"}, pb.TOOL_CHOICE_MODE_AUTO, "", False),
        ({"tool_choice": "none"}, pb.TOOL_CHOICE_MODE_NONE, "", False),
        ({"tool_choice": "required"}, pb.TOOL_CHOICE_MODE_REQUIRED, "", False),
        (
            {"tool_choice": {"type": "function", "function": {"name": "f"}}},
            pb.TOOL_CHOICE_MODE_TOOL,
            "f",
            False,
        ),
        ({"parallel_tool_calls": False}, pb.TOOL_CHOICE_MODE_AUTO, "", True),
        (
            {"tool_choice": "required", "parallel_tool_calls": False},
            pb.TOOL_CHOICE_MODE_REQUIRED,
            "",
            True,
        ),
    ],
)
def test_openai_tool_choice(extra: dict, mode: int | None, name: str, serial: bool) -> None:
    wire = openai_api.parse_chat_request(
        {"model": "auto", "messages": USER, "tools": [TOOL], **extra}
    )
    req = wire.request
    assert req.HasField("tool_choice") == (mode is not None)
    if mode is not None:
        assert (req.tool_choice.mode, req.tool_choice.name) == (mode, name)
        assert req.tool_choice.disable_parallel_tool_calls is serial


@pytest.mark.parametrize(
    ("choice", "mode", "serial"),
    [
        ({"type": "auto"}, pb.TOOL_CHOICE_MODE_AUTO, False),
        ({"type": "any"}, pb.TOOL_CHOICE_MODE_REQUIRED, False),
        ({"type": "none"}, pb.TOOL_CHOICE_MODE_NONE, False),
        (
            {"type": "tool", "name": "f", "disable_parallel_tool_use": True},
            pb.TOOL_CHOICE_MODE_TOOL,
            True,
        ),
    ],
)
def test_anthropic_tool_choice(choice: dict, mode: int, serial: bool) -> None:
    tools = [{"name": "f", "input_schema": {"type": "object"}}]
    body = {
        "model": "auto",
        "max_tokens": 5,
        "messages": USER,
        "tools": tools,
        "tool_choice": choice,
    }
    tc = anthropic_api.parse_messages_request(body).request.tool_choice
    assert (tc.mode, tc.disable_parallel_tool_calls) == (mode, serial)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "messages[0].content[0]",
        ),
        ({"messages": USER, "temperature": "hot"}, "temperature"),
        ({"messages": USER, "max_tokens": 0}, "max_tokens"),
        ({"messages": USER, "max_completion_tokens": 1.5}, "max_completion_tokens"),
        ({"messages": USER, "stop": [1]}, "stop"),
        ({"messages": USER, "n": 2}, "n"),
        ({"messages": USER, "tools": [{"type": "web_search"}]}, "tools[0]"),
        ({"messages": USER, "tool_choice": "always"}, "tool_choice"),
        ({"messages": USER, "response_format": {"type": "xml"}}, "response_format"),
        ({"messages": USER, "stream": "yes"}, "stream"),
    ],
)
def test_openai_bad_fields_are_named(body: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        openai_api.parse_chat_request({"model": "auto", **body})
    assert field in violations(exc)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": USER}, "max_tokens"),
        ({"max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        (
            {"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image"}]}]},
            "messages[0].content[0]",
        ),
        (
            {
                "max_tokens": 5,
                "messages": [
                    {"role": "user", "content": [{"type": "tool_use", "id": "a", "name": "f"}]}
                ],
            },
            "messages[0].content[0]",
        ),
        (
            {
                "max_tokens": 5,
                "messages": USER,
                "thinking": {"type": "enabled", "budget_tokens": 9},
            },
            "thinking",
        ),
        ({"max_tokens": 5, "messages": USER, "tool_choice": {"type": "sometimes"}}, "tool_choice"),
        ({"max_tokens": 5, "messages": USER, "stop_sequences": "END"}, "stop_sequences"),
    ],
)
def test_anthropic_bad_fields_are_named(body: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        anthropic_api.parse_messages_request({"model": "auto", **body})
    assert field in violations(exc)


def test_anthropic_turns_become_messages_in_order() -> None:
    body = {
        "model": "auto",
        "max_tokens": 5,
        "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}],
        "messages": [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {"c": 1}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "text", "text": "sun"}],
                    },
                    {
                        "type": "text",
                        "text": "and tomorrow?",
                        "cache_control": {"type": "ephemeral"},
                    },
                ],
            },
        ],
    }
    wire = anthropic_api.parse_messages_request(body)
    got = [(m.role, m.content, m.tool_call_id) for m in wire.request.messages]
    assert got == [
        (pb.ROLE_SYSTEM, "Be brief.\n\nBe kind.", ""),
        (pb.ROLE_USER, "weather?", ""),
        (pb.ROLE_ASSISTANT, "", ""),
        (pb.ROLE_TOOL, "sun", "t1"),
        (pb.ROLE_USER, "and tomorrow?", ""),
    ]
    call = wire.request.messages[2].tool_calls[0]
    assert (call.id, call.name, json.loads(call.arguments_json)) == ("t1", "w", {"c": 1})
    assert list(wire.message_paths) == [
        "system", "messages[0]", "messages[1]", "messages[2].content[0]", "messages[2]",
    ]  # fmt: skip


LIMITS = limits_from_config(ServerConfig(max_message_bytes=10))
TIERS = parse_routing_config(
    {
        "tiers": {
            "small": {
                "upstreams": [
                    {
                        "name": "m",
                        "kind": "openai",
                        "base_url": "http://x/v1",
                        "model": "gpt-4o-mini",
                    }
                ]
            },
            "frontier": {
                "upstreams": [
                    {
                        "name": "c",
                        "kind": "anthropic",
                        "base_url": "http://y",
                        "model": "claude-sonnet-4-5",
                    }
                ]
            },
        }
    }
).tiers


def test_limits_violations_use_the_callers_paths() -> None:
    wire = openai_api.parse_chat_request(
        {
            "model": "auto",
            "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "x" * 11}],
        }
    )
    with pytest.raises(InvalidInput) as exc:
        completion_input(
            wire, HttpOptions(), resolve_model("auto", TIERS), tenant="t", limits=LIMITS
        )
    assert "messages[1].content" in violations(exc)


def test_options_feed_the_pipeline_input() -> None:
    wire = openai_api.parse_chat_request(
        {"model": "frontier", "messages": USER, "tools": [TOOL], "tool_choice": "none"}
    )
    options = HttpOptions(
        max_history_tokens=7, compression_rate=0.5, compression_method="llmlingua2", skip_cache=True
    )
    inp = completion_input(
        wire, options, resolve_model("frontier", TIERS), tenant="acme", limits=LIMITS
    )
    req = inp.request
    assert (inp.tier, inp.skip_cache, req.tenant) == ("frontier", True, "acme")
    assert (req.budget.max_history_tokens, req.budget.compression_rate) == (7, 0.5)
    assert req.compression_method is not None and req.compression_method.value == "llmlingua2"
    assert (req.target.provider, req.target.model) == ("anthropic", "claude-sonnet-4-5")
    assert req.tool_choice is not None and req.tool_choice.mode is ToolChoiceMode.NONE
    assert req.messages[0].role is Role.USER


@pytest.mark.parametrize(
    ("name", "tier", "model"),
    [("auto", "", "gpt-4o-mini"), ("small", "small", "gpt-4o-mini"), ("frontier", "frontier", "claude-sonnet-4-5"),
     ("claude-sonnet-4-5", "frontier", "claude-sonnet-4-5"), (" gpt-4o-mini ", "small", "gpt-4o-mini")],
)  # fmt: skip
def test_model_names(name: str, tier: str, model: str) -> None:
    choice = resolve_model(name, TIERS)
    assert (choice.tier, choice.target.model) == (tier, model)


def test_unknown_model_is_not_found_and_listing_is_complete() -> None:
    with pytest.raises(NotFound) as exc:
        resolve_model("gpt-5", TIERS)
    assert exc.value.field == "model"
    assert [e.id for e in list_models(TIERS)] == [
        "auto",
        "small",
        "frontier",
        "gpt-4o-mini",
        "claude-sonnet-4-5",
    ]


def test_settings_layers_body_over_headers_over_tenant_over_defaults() -> None:
    defaults = OptionDefaults.from_config(
        {"http": {"defaults": {"max_history_tokens": 100, "compression_rate": 0.5},
                  "tenants": {"acme": {"max_history_tokens": 200}}}}
    )  # fmt: skip
    assert defaults.for_tenant("other").max_history_tokens == 100
    acme = defaults.for_tenant("acme")
    assert (acme.max_history_tokens, acme.compression_rate) == (200, 0.5)
    headers = {
        "X-PromptPress-Max-History-Tokens": "300",
        "x-promptpress-document-ids": "a, b",
        "other": "1",
    }
    got = request_options(acme, headers, {"promptpress": {"max_history_tokens": 400}})
    assert (got.max_history_tokens, got.document_ids, got.compression_rate) == (
        400,
        ("a", "b"),
        0.5,
    )


@pytest.mark.parametrize(
    ("headers", "body", "field"),
    [
        ({"x-promptpress-compression-rate": "2"}, {}, "x-promptpress-compression-rate"),
        ({"x-promptpress-skip-cache": "maybe"}, {}, "x-promptpress-skip-cache"),
        ({"x-promptpress-colour": "red"}, {}, "x-promptpress-colour"),
        ({}, {"promptpress": {"max_prompt_tokens": -1}}, "promptpress.max_prompt_tokens"),
        ({}, {"promptpress": {"placement": "middle"}}, "promptpress.placement"),
        ({}, {"promptpress": "fast"}, "promptpress"),
    ],
)
def test_bad_settings_name_the_header_or_field(headers: dict, body: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        request_options(HttpOptions(), headers, body)
    assert field in violations(exc)


def test_bad_config_table_names_the_key() -> None:
    with pytest.raises(InvalidInput) as exc:
        OptionDefaults.from_config({"http": {"tenants": {"acme": {"compression_rate": "lots"}}}})
    assert "http.tenants.acme.compression_rate" in violations(exc)


def _done(**kw: Any) -> Completion:
    pre = PreprocessOutput(messages=(), plan=None, stats=PreprocessStats(), query="")  # type: ignore[arg-type]
    return Completion(text=kw.pop("text", ""), pre=pre, cache_status="none", **kw)


def _events(frames: bytes) -> list[tuple[str, dict]]:
    out = []
    for block in frames.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((lines.get("event", ""), json.loads(lines["data"])))
    return out


def test_anthropic_stream_opens_a_block_per_tool_call() -> None:
    stream = anthropic_stream.EventStream(model="m", request_id="r")
    raw = stream.start() + stream.text("Let me look.")
    raw += stream.tool_call(ToolCallDelta(0, id="t1", name="w", arguments='{"c":'))
    raw += stream.tool_call(ToolCallDelta(0, arguments="1}"))
    raw += stream.tool_call(ToolCallDelta(1, id="t2", name="w", arguments="{}"))
    calls = (ToolCall("t1", "w", '{"c":1}'), ToolCall("t2", "w", "{}"))
    raw += stream.finish(
        _done(text="Let me look.", tool_calls=calls, finish_reason="tool_calls", usage=Usage(5, 2)),
        {},
    )
    events = _events(raw)
    kinds = [
        (name, d.get("index"), d.get("content_block", d.get("delta", {})).get("type"))
        for name, d in events
    ]
    assert kinds == [
        ("message_start", None, None),
        ("content_block_start", 0, "text"), ("content_block_delta", 0, "text_delta"),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, "tool_use"), ("content_block_delta", 1, "input_json_delta"),
        ("content_block_delta", 1, "input_json_delta"), ("content_block_stop", 1, None),
        ("content_block_start", 2, "tool_use"), ("content_block_delta", 2, "input_json_delta"),
        ("content_block_stop", 2, None),
        ("message_delta", None, None), ("message_stop", None, None),
    ]  # fmt: skip
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert events[-2][1]["usage"]["output_tokens"] == 2


def test_openai_tool_call_rendering() -> None:
    done = _done(tool_calls=(ToolCall("c1", "w", '{"c":1}'),), finish_reason="tool_calls")
    body = openai_api.chat_completion(done, model="auto", request_id="r", created=0, report={})
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"c":1}'}}
    ]
    chunks = openai_api.ChunkStream(model="m", request_id="r", created=0, include_usage=False)
    first = _events(chunks.tool_call(ToolCallDelta(0, id="c1", name="w", arguments="")))[0][1]
    more = _events(chunks.tool_call(ToolCallDelta(0, arguments='{"c":1}')))[0][1]
    assert first["choices"][0]["delta"]["tool_calls"] == [
        {"index": 0, "id": "c1", "type": "function", "function": {"arguments": "", "name": "w"}}
    ]
    assert more["choices"][0]["delta"]["tool_calls"] == [
        {"index": 0, "function": {"arguments": '{"c":1}'}}
    ]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (ServerConfig(http_address="localhost"), "http_address"),
        (ServerConfig(http_address="127.0.0.1:99999"), "http_address"),
        (ServerConfig(http_address="127.0.0.1:0", extra={"http": {"defaults": {"speed": 1}}}), "http.defaults.speed"),
        (ServerConfig(http_address="127.0.0.1:0", extra={"http": {"tenant": {}}}), "http.tenant"),
    ],
)  # fmt: skip
def test_check_config_rejects_bad_http_settings_before_models_load(
    config: ServerConfig, field: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        check_config(config)
    assert field in violations(exc)


def test_anthropic_stream_holds_interleaved_calls_and_sends_them_whole() -> None:
    stream = anthropic_stream.EventStream(model="m", request_id="r")
    raw = stream.start()
    raw += stream.tool_call(ToolCallDelta(0, id="a", name="f", arguments=""))
    raw += stream.tool_call(ToolCallDelta(1, id="b", name="g", arguments=""))
    for piece in (ToolCallDelta(0, arguments='{"x"'), ToolCallDelta(1, arguments='{"y"'),
                  ToolCallDelta(0, arguments=":1}"), ToolCallDelta(1, arguments=":2}")):  # fmt: skip
        raw += stream.tool_call(piece)
    raw += stream.finish(_done(finish_reason="tool_calls"), {})
    events = _events(raw)
    blocks: dict[int, dict] = {}
    open_now: set[int] = set()
    for name, data in events:
        if name == "content_block_start":
            assert not open_now, "blocks must not overlap"
            open_now.add(data["index"])
            blocks[data["index"]] = {**data["content_block"], "json": ""}
        elif name == "content_block_delta":
            assert data["index"] in open_now
            blocks[data["index"]]["json"] += data["delta"]["partial_json"]
        elif name == "content_block_stop":
            open_now.discard(data["index"])
    got = [(b["id"], b["name"], json.loads(b["json"])) for _, b in sorted(blocks.items())]
    assert got == [("a", "f", {"x": 1}), ("b", "g", {"y": 2})]


async def test_plaintext_http_on_all_interfaces_warns(tmp_path, resources, caplog) -> None:  # type: ignore[no-untyped-def]
    config = ServerConfig(address="127.0.0.1:0", http_address="0.0.0.0:0", data_dir=str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="promptpress.server"):
        app = await build_app(config, resources=resources)
    await app.stop(grace=0)
    assert app.http_port > 0
    assert any("plaintext HTTP endpoints" in r.getMessage() for r in caplog.records)


# Any JSON at all, and bodies shaped like requests with any JSON in their fields.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
REQUEST_KEYS = ["model", "messages", "system", "tools", "tool_choice", "max_tokens", "temperature",
                "top_p", "stop", "stop_sequences", "seed", "n", "stream", "stream_options",
                "response_format", "output_config", "thinking", "parallel_tool_calls",
                "max_completion_tokens", "promptpress"]  # fmt: skip
message_like = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool", "developer"]) | json_values},
    optional={
        "content": json_values,
        "tool_calls": json_values,
        "tool_call_id": json_values,
        "name": json_values,
    },
)
bodies = st.dictionaries(st.sampled_from(REQUEST_KEYS), json_values, max_size=8) | st.builds(
    lambda body, messages: {**body, "messages": messages},
    st.dictionaries(st.sampled_from(REQUEST_KEYS), json_values, max_size=6),
    st.lists(message_like, min_size=1, max_size=4),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies)
def test_any_body_is_parsed_or_refused_with_invalid_input(body: dict) -> None:
    """Whatever a caller sends, the parsers answer a request or InvalidInput (a 400),
    never another exception (a 500)."""
    for parse in (openai_api.parse_chat_request, anthropic_api.parse_messages_request):
        try:
            wire = parse(body)
        except InvalidInput:
            continue
        try:
            choice = resolve_model(wire.model, TIERS)
            options = request_options(HttpOptions(), {}, body)
            completion_input(wire, options, choice, tenant="t", limits=LIMITS)
        except (InvalidInput, NotFound):
            pass
