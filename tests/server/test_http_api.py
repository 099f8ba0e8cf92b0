"""The OpenAI- and Anthropic-compatible HTTP endpoints, driven by the official SDKs.

One real server (gRPC + HTTP on 127.0.0.1:0, real models, LMDB in a temp dir) for
the whole module; the upstreams are scripted local servers speaking the OpenAI
and Anthropic wire protocols (tests/routing/fake_upstream.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from promptpress import AsyncClient
from promptpress.server.app import App, build_app
from promptpress.server.config import ServerConfig
from promptpress.server.resources import load_resources
from promptpress.v1 import promptpress_pb2 as pb
from tests.routing.fake_upstream import (
    FakeUpstream,
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
from tests.server.routed import tiers_config

KEY = "sk-test-alpha"
BUDGET_KEY = "sk-test-budget"
LIMITED_KEY = "sk-test-limited"
SYSTEM = "Answer briefly."


@pytest.fixture(scope="module")
async def server(
    tmp_path_factory: pytest.TempPathFactory, shared_embedder: Any, shared_compressor: Any
) -> AsyncIterator[tuple[App, FakeUpstream, FakeUpstream]]:
    tmp = tmp_path_factory.mktemp("http")
    keys = tmp / "keys.txt"
    keys.write_text(f"{KEY} alpha\n{BUDGET_KEY} budget\n{LIMITED_KEY} limited\n")
    small, frontier = FakeUpstream().start(), FakeUpstream().start()
    extra: dict[str, Any] = {
        **tiers_config(small, frontier),
        # Tenant "budget" keeps at most 40 tokens of history unless a request says otherwise.
        "http": {"tenants": {"budget": {"max_history_tokens": 40}}},
        # Tenant "limited" may spend a millionth of a dollar a day: one call uses it up.
        "tenants": {"limited": {"spend_usd_per_day": 0.000001}},
    }
    config = ServerConfig(
        address="127.0.0.1:0",
        http_address="127.0.0.1:0",
        data_dir=str(tmp / "data"),
        api_keys=str(keys),
        grace_period_s=1.0,
        max_receive_message_bytes=1024 * 1024,  # also caps HTTP bodies
        extra=extra,
    )
    resources = load_resources(config, embedder=shared_embedder, compressor=shared_compressor)
    app = await build_app(config, resources=resources)
    await app.start()
    try:
        yield app, small, frontier
    finally:
        await app.stop(grace=0.5)
        resources.close()
        small.stop()
        frontier.stop()


@pytest.fixture
def upstreams(server: tuple[App, FakeUpstream, FakeUpstream]) -> tuple[FakeUpstream, FakeUpstream]:
    _, small, frontier = server
    small.reset()
    frontier.reset()
    return small, frontier


@pytest.fixture
async def oai(server: tuple[App, FakeUpstream, FakeUpstream]) -> AsyncIterator[openai.AsyncOpenAI]:
    app = server[0]
    async with openai.AsyncOpenAI(
        base_url=f"http://127.0.0.1:{app.http_port}/v1", api_key=KEY, max_retries=0, timeout=60
    ) as client:
        yield client


@pytest.fixture
async def claude(
    server: tuple[App, FakeUpstream, FakeUpstream],
) -> AsyncIterator[anthropic.AsyncAnthropic]:
    app = server[0]
    async with anthropic.AsyncAnthropic(
        base_url=f"http://127.0.0.1:{app.http_port}", api_key=KEY, max_retries=0, timeout=60
    ) as client:
        yield client


def chat(question: str, system: str = SYSTEM) -> list[dict[str, Any]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


# --- OpenAI: /v1/chat/completions --------------------------------------------------------


async def test_openai_create_routes_and_reports(oai: openai.AsyncOpenAI, upstreams) -> None:  # type: ignore[no-untyped-def]
    small, frontier = upstreams
    small.script(JSONReply(openai_completion("Paris.", prompt_tokens=20, completion_tokens=2)))
    raw = await oai.chat.completions.with_raw_response.create(
        model="auto", messages=chat("What is the capital of France?")
    )
    done = raw.parse()
    assert done.choices[0].message.content == "Paris."
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None and (done.usage.prompt_tokens, done.usage.completion_tokens) == (
        20,
        2,
    )
    assert raw.headers["x-promptpress-cache"] == "none"
    assert raw.headers["x-promptpress-tier"] == "small"
    assert raw.headers["x-request-id"]
    report = (done.model_extra or {})["promptpress"]
    assert report["upstream"] == "small/mini" and report["cost_usd"] == pytest.approx(
        (20 * 0.15 + 2 * 0.6) / 1e6
    )
    assert report["tokens_before"] > 0 and report["tokens_after"] > 0
    sent = small.requests[0].json()
    assert sent["model"] == "gpt-4o-mini"
    assert sent["messages"][-1] == {"role": "user", "content": "What is the capital of France?"}
    assert not frontier.requests


async def test_openai_repeat_is_a_cache_hit(oai: openai.AsyncOpenAI, upstreams) -> None:  # type: ignore[no-untyped-def]
    small, _ = upstreams
    small.script(JSONReply(openai_completion("Ottawa.")))
    messages = chat("What is the capital of Canada?", system="Cache test.")
    first = await oai.chat.completions.create(model="small", messages=messages)
    raw = await oai.chat.completions.with_raw_response.create(model="small", messages=messages)
    again = raw.parse()
    assert first.choices[0].message.content == again.choices[0].message.content == "Ottawa."
    assert raw.headers["x-promptpress-cache"] == "exact"
    assert (again.model_extra or {})["promptpress"]["cost_usd"] == 0
    assert len(small.requests) == 1  # the hit never reached the upstream

    # skip_cache from a header: the same question goes upstream again.
    small.script(JSONReply(openai_completion("Ottawa, still.")))
    fresh = await oai.chat.completions.create(
        model="small", messages=messages, extra_headers={"x-promptpress-skip-cache": "true"}
    )
    assert fresh.choices[0].message.content == "Ottawa, still." and len(small.requests) == 2


async def test_a_wrong_cached_answer_is_reported_over_http(
    server, oai: openai.AsyncOpenAI, upstreams
) -> None:  # type: ignore[no-untyped-def]
    """An app on the OpenAI SDK reports a hit by the key its response carried; the
    entry is gone at once, for that tenant only."""
    small, _ = upstreams
    small.script(JSONReply(openai_completion("Lyon.")))  # wrong, and now cached
    messages = chat("What is the capital of France?", system="Bad-hit test.")
    await oai.chat.completions.create(model="small", messages=messages)
    raw = await oai.chat.completions.with_raw_response.create(model="small", messages=messages)
    hit = raw.parse()
    key = raw.headers["x-promptpress-matched-key"]
    assert raw.headers["x-promptpress-cache"] == "exact" and len(small.requests) == 1
    assert (hit.model_extra or {})["promptpress"]["matched_key"] == key

    base = f"http://127.0.0.1:{server[0].http_port}/v1/promptpress/bad_hits"
    async with httpx.AsyncClient() as http:
        other = await http.post(base, json={"key": key}, headers={"x-api-key": BUDGET_KEY})
        reported = await http.post(base, json={"key": key}, headers={"x-api-key": KEY})
        again = await http.post(base, json={"key": key}, headers={"x-api-key": KEY})
        empty = await http.post(base, json={"key": "  "}, headers={"x-api-key": KEY})
        wrong_type = await http.post(base, json={"key": 7}, headers={"x-api-key": KEY})
        anonymous = await http.post(base, json={"key": key})
    assert other.status_code == 200 and other.json()["removed"] == 0  # another tenant's key
    assert reported.status_code == 200
    assert reported.json()["removed"] == 1 and reported.json()["cache"] == "exact"
    assert again.json() == {**again.json(), "removed": 0, "cache": "none"}
    for bad in (empty, wrong_type):
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "key"
    assert anonymous.status_code == 401

    small.script(JSONReply(openai_completion("Paris.")))
    fixed = await oai.chat.completions.with_raw_response.create(model="small", messages=messages)
    assert fixed.parse().choices[0].message.content == "Paris."
    assert fixed.headers["x-promptpress-cache"] == "none" and len(small.requests) == 2
    assert "x-promptpress-matched-key" not in fixed.headers


async def test_openai_stream_with_usage(oai: openai.AsyncOpenAI, upstreams) -> None:  # type: ignore[no-untyped-def]
    small, _ = upstreams
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    small.script(SSEReply(openai_stream(["Ber", "lin", "."], usage=usage)))
    messages = chat("What is the capital of Germany?", system="Stream test.")
    stream = await oai.chat.completions.create(
        model="small", messages=messages, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Berlin."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (12, 3)
    assert (chunks[-1].model_extra or {})["promptpress"]["cache"] == "none"
    assert small.requests[0].json()["stream"] is True

    # The same question streamed again comes from the cache, in the same chunk format.
    stream = await oai.chat.completions.create(model="small", messages=messages, stream=True)
    again = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in again) == "Berlin."
    assert (again[-1].model_extra or {})["promptpress"]["cache"] == "exact"
    assert len(small.requests) == 1


async def test_openai_tools_are_relayed(oai: openai.AsyncOpenAI, upstreams) -> None:  # type: ignore[no-untyped-def]
    small, _ = upstreams
    small.script(JSONReply(openai_completion("It is sunny in Oslo.")))
    tool = {
        "type": "function",
        "function": {
            "name": WEATHER_TOOL["name"],
            "description": WEATHER_TOOL["description"],
            "parameters": WEATHER_TOOL["schema"],
        },
    }
    messages = [
        *chat("What's the weather in Oslo?", system="Tool test."),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "sunny"}'},
    ]
    done = await oai.chat.completions.create(model="small", messages=messages, tools=[tool])  # type: ignore[arg-type, list-item]
    assert done.choices[0].message.content == "It is sunny in Oslo."
    sent = small.requests[0].json()
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather"]
    assert sent["tools"][0]["function"]["parameters"] == WEATHER_TOOL["schema"]
    call = next(m for m in sent["messages"] if m.get("tool_calls"))
    assert call["tool_calls"][0]["id"] == "call_1"
    assert json.loads(call["tool_calls"][0]["function"]["arguments"]) == {"city": "Oslo"}
    result = next(m for m in sent["messages"] if m["role"] == "tool")
    assert result["tool_call_id"] == "call_1" and result["content"] == '{"sky": "sunny"}'


OPENAI_TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": WEATHER_TOOL["name"],
            "description": WEATHER_TOOL["description"],
            "parameters": WEATHER_TOOL["schema"],
        },
    }
]
ANTHROPIC_TOOLS: list[Any] = [
    {
        "name": WEATHER_TOOL["name"],
        "description": WEATHER_TOOL["description"],
        "input_schema": WEATHER_TOOL["schema"],
    }
]
TWO_CALLS = [
    ("call_a", "get_weather", '{"city": "Oslo"}'),
    ("call_b", "get_weather", '{"city": "Rome"}'),
]


async def test_openai_tool_call_answer(oai: openai.AsyncOpenAI, upstreams) -> None:  # type: ignore[no-untyped-def]
    small, _ = upstreams
    small.script(JSONReply(openai_tool_completion(TWO_CALLS[:1])))
    done = await oai.chat.completions.create(
        model="small",
        messages=chat("Weather in Oslo?", system="Tool answer test."),
        tools=OPENAI_TOOLS,
        tool_choice="required",
    )
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [  # type: ignore[union-attr]
        ("call_a", "get_weather", {"city": "Oslo"})
    ]
    assert small.requests[0].json()["tool_choice"] == "required"


async def test_openai_stream_of_tool_calls_from_an_anthropic_upstream(
    oai: openai.AsyncOpenAI, upstreams
) -> None:  # type: ignore[no-untyped-def]
    _, frontier = upstreams
    frontier.script(SSEReply(anthropic_tool_stream(TWO_CALLS, text="Checking.")))
    stream = await oai.chat.completions.create(
        model="frontier",
        messages=chat("Weather in Oslo and Rome?", system="Tool stream test."),
        tools=OPENAI_TOOLS,
        stream=True,
    )
    text, calls, finish = "", {}, None
    async for chunk in stream:
        delta = chunk.choices[0].delta
        text += delta.content or ""
        for piece in delta.tool_calls or []:
            call = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += piece.id or ""
            call["name"] += (piece.function and piece.function.name) or ""
            call["arguments"] += (piece.function and piece.function.arguments) or ""
        finish = chunk.choices[0].finish_reason or finish
    assert text == "Checking." and finish == "tool_calls"
    got = [(c["id"], c["name"], json.loads(c["arguments"])) for _, c in sorted(calls.items())]
    assert got == [(i, n, json.loads(a)) for i, n, a in TWO_CALLS]


async def test_anthropic_tool_use_answer(claude: anthropic.AsyncAnthropic, upstreams) -> None:  # type: ignore[no-untyped-def]
    _, frontier = upstreams
    frontier.script(JSONReply(anthropic_tool_message(TWO_CALLS[:1], text="Let me check.")))
    msg = await claude.messages.create(
        model="frontier",
        max_tokens=100,
        tools=ANTHROPIC_TOOLS,
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "Weather in Oslo? (tool answer)"}],
    )
    assert msg.stop_reason == "tool_use"
    assert [b.type for b in msg.content] == ["text", "tool_use"]
    use = msg.content[1]
    assert (use.id, use.name, use.input) == ("call_a", "get_weather", {"city": "Oslo"})  # type: ignore[union-attr]
    assert frontier.requests[0].json()["tool_choice"] == {"type": "any"}


async def test_anthropic_stream_of_interleaved_tool_calls_from_an_openai_upstream(
    claude: anthropic.AsyncAnthropic, upstreams
) -> None:  # type: ignore[no-untyped-def]
    small, _ = upstreams
    small.script(SSEReply(openai_tool_stream(TWO_CALLS, pieces=3)))  # slices interleave by index
    async with claude.messages.stream(
        model="small",
        max_tokens=100,
        tools=ANTHROPIC_TOOLS,
        messages=[{"role": "user", "content": "Weather in Oslo and Rome? (stream)"}],
    ) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    uses = [(b.id, b.name, b.input) for b in final.content if b.type == "tool_use"]
    assert uses == [(i, n, json.loads(a)) for i, n, a in TWO_CALLS]


async def test_openai_bad_requests_name_the_field(oai: openai.AsyncOpenAI, upstreams) -> None:  # type: ignore[no-untyped-def]
    small, _ = upstreams
    with pytest.raises(openai.BadRequestError) as err:
        await oai.chat.completions.create(model="small", messages=chat("Hi"), temperature=7)
    assert err.value.status_code == 400 and "temperature" in err.value.message
    assert err.value.body["param"] == "temperature"  # type: ignore[index]

    bad_part = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
    with pytest.raises(openai.BadRequestError) as err:
        await oai.chat.completions.create(model="small", messages=bad_part)  # type: ignore[arg-type]
    assert err.value.body["param"] == "messages[0].content[0]"  # type: ignore[index]

    with pytest.raises(openai.BadRequestError) as err:
        await oai.chat.completions.create(
            model="small", messages=chat("Hi"), extra_body={"promptpress": {"compression_rate": 3}}
        )
    assert err.value.body["param"] == "promptpress.compression_rate"  # type: ignore[index]

    with pytest.raises(openai.NotFoundError) as err:
        await oai.chat.completions.create(model="gpt-99", messages=chat("Hi"))
    assert err.value.code == "model_not_found" and "auto" in err.value.message
    assert not small.requests  # nothing invalid went upstream


async def test_raw_http_errors_are_json_never_tracebacks(server) -> None:  # type: ignore[no-untyped-def]
    """What no SDK sends: a body that is not JSON, an unknown path, a wrong method, two
    keys, a body over the size limit."""
    base = f"http://127.0.0.1:{server[0].http_port}"
    auth = {"authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=base, headers=auth) as http:
        garbled = await http.post("/v1/chat/completions", content=b"{not json")
        missing = await http.get("/v1/embeddings")
        wrong = await http.get("/v1/messages", headers={"anthropic-version": "2023-06-01"})
        both = await http.post("/v1/messages", json={}, headers={"x-api-key": BUDGET_KEY})
        huge = {"model": "small", "messages": [{"role": "user", "content": "x" * 1_100_000}]}
        too_large = await http.post("/v1/chat/completions", json=huge)
    assert garbled.status_code == 400 and "not valid JSON" in garbled.json()["error"]["message"]
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "invalid_request_error"
    assert wrong.status_code == 405 and wrong.json()["type"] == "error"
    assert both.status_code == 401 and "conflicting" in both.json()["error"]["message"]
    assert too_large.status_code == 413
    assert too_large.json()["error"]["code"] == "request_too_large"
    for response in (garbled, missing, wrong, both, too_large):
        assert response.headers["x-request-id"] and "Traceback" not in response.text


async def test_openai_bad_key(server, upstreams) -> None:  # type: ignore[no-untyped-def]
    app = server[0]
    async with openai.AsyncOpenAI(
        base_url=f"http://127.0.0.1:{app.http_port}/v1", api_key="sk-wrong", max_retries=0
    ) as client:
        with pytest.raises(openai.AuthenticationError) as err:
            await client.chat.completions.create(model="auto", messages=chat("Hi"))
    assert err.value.status_code == 401 and err.value.code == "invalid_api_key"
    assert not upstreams[0].requests


async def test_over_a_tenant_limit_is_429_with_retry_after(server, upstreams) -> None:  # type: ignore[no-untyped-def]
    app = server[0]
    small, _ = upstreams
    small.script(JSONReply(openai_completion("Rome.", prompt_tokens=20, completion_tokens=2)))
    async with openai.AsyncOpenAI(
        base_url=f"http://127.0.0.1:{app.http_port}/v1", api_key=LIMITED_KEY, max_retries=0
    ) as client:
        first = await client.chat.completions.create(
            model="small", messages=chat("What is the capital of Italy?", system="Limit test.")
        )
        assert first.choices[0].message.content == "Rome."
        with pytest.raises(openai.RateLimitError) as err:
            await client.chat.completions.create(
                model="small", messages=chat("And of Spain?", system="Limit test.")
            )
    assert err.value.status_code == 429 and int(err.value.response.headers["retry-after"]) >= 1
    async with anthropic.AsyncAnthropic(
        base_url=f"http://127.0.0.1:{app.http_port}", api_key=LIMITED_KEY, max_retries=0
    ) as claude:
        with pytest.raises(anthropic.RateLimitError) as aerr:
            await claude.messages.create(
                model="small", max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
            )
    assert aerr.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert len(small.requests) == 1  # refused calls never reached the upstream


async def test_openai_upstreams_down_is_503(oai: openai.AsyncOpenAI, upstreams) -> None:  # type: ignore[no-untyped-def]
    small, frontier = upstreams
    small.script(error_reply(500, "boom"))
    frontier.script(error_reply(500, "boom too"))
    with pytest.raises(openai.InternalServerError) as err:
        await oai.chat.completions.create(
            model="small", messages=chat("Down?", system="Down test.")
        )
    assert err.value.status_code == 503
    assert "Traceback" not in err.value.message and err.value.code == "service_unavailable"


async def test_openai_stream_failing_midway_raises_in_the_sdk(
    oai: openai.AsyncOpenAI, upstreams
) -> None:  # type: ignore[no-untyped-def]
    small, _ = upstreams
    small.script(SSEReply(openai_stream(["Half an ans"], done=False), complete=False))
    stream = await oai.chat.completions.create(
        model="small", messages=chat("Midway?", system="Midway test."), stream=True
    )
    received = []
    with pytest.raises(openai.APIError):
        async for chunk in stream:
            received.append(chunk)
    assert "".join(c.choices[0].delta.content or "" for c in received if c.choices) == "Half an ans"


async def test_client_walking_away_cancels_the_upstream_call(
    oai: openai.AsyncOpenAI, upstreams
) -> None:  # type: ignore[no-untyped-def]
    small, _ = upstreams
    gate = small.gate()
    small.script(SSEReply(openai_stream(["Once", " upon", " a time"]), gate=gate, gate_after=2))
    stream = await oai.chat.completions.create(
        model="small", messages=chat("Tell me a long story.", system="Cancel test."), stream=True
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    await stream.close()
    try:
        assert await asyncio.to_thread(small.wait_for_abort, 10.0)
    finally:
        gate.set()


async def test_models_lists_auto_tiers_and_upstream_models(
    oai: openai.AsyncOpenAI, claude: anthropic.AsyncAnthropic
) -> None:
    ids = [m.id async for m in oai.models.list()]
    assert ids == ["auto", "small", "frontier", "gpt-4o-mini", "claude-sonnet-4-5"]
    listed = await claude.models.list()
    assert [m.id for m in listed.data] == ids
    assert (await oai.models.retrieve("gpt-4o-mini")).owned_by == "small/mini"
    assert (await claude.models.retrieve("frontier")).id == "frontier"
    with pytest.raises(openai.NotFoundError):
        await oai.models.retrieve("gpt-99")


async def test_tenant_defaults_and_request_overrides(server, upstreams) -> None:  # type: ignore[no-untyped-def]
    """Tenant `budget` trims history by default (config); a body field lifts it."""
    app = server[0]
    small, _ = upstreams
    small.default = JSONReply(openai_completion("Fine."))
    history = []
    for i in range(6):
        history += [
            {"role": "user", "content": f"Tell me fact number {i} about the Roman aqueducts."},
            {"role": "assistant", "content": f"Fact {i}: the aqueducts carried water by gravity."},
        ]
    messages = [
        *chat("Thanks!", system="Budget test.")[:1],
        *history,
        {"role": "user", "content": "Thanks!"},
    ]
    try:
        async with openai.AsyncOpenAI(
            base_url=f"http://127.0.0.1:{app.http_port}/v1", api_key=BUDGET_KEY, max_retries=0
        ) as client:
            trimmed = await client.chat.completions.create(model="small", messages=messages)  # type: ignore[arg-type]
            whole = await client.chat.completions.create(
                model="small",
                messages=messages,  # type: ignore[arg-type]
                extra_body={"promptpress": {"max_history_tokens": 0, "skip_cache": True}},
            )
    finally:
        small.default = None
    cut = (trimmed.model_extra or {})["promptpress"]
    kept = (whole.model_extra or {})["promptpress"]
    assert cut["dropped_messages"] > 0 and cut["tokens_after"] < cut["tokens_before"]
    assert kept["dropped_messages"] == 0
    assert len(small.requests[0].json()["messages"]) < len(small.requests[1].json()["messages"])


async def test_documents_indexed_over_grpc_feed_http_requests(
    server, oai: openai.AsyncOpenAI, upstreams
) -> None:  # type: ignore[no-untyped-def]
    """One process, one store: a document indexed through gRPC is retrieved for an
    HTTP request that names it in its promptpress settings."""
    app = server[0]
    small, _ = upstreams
    manual = (
        "The Zephyr 3000 espresso machine heats up in 25 seconds.\n\n"
        "To descale the Zephyr 3000, fill the tank with a 1:4 citric acid solution and run program D."
    )
    async with AsyncClient(f"127.0.0.1:{app.port}", api_key=KEY) as grpc_client:
        await grpc_client.index_documents(
            pb.IndexDocumentsRequest(documents=[pb.Document(id="zephyr", text=manual)])
        )
    small.script(JSONReply(openai_completion("Run program D.")))
    done = await oai.chat.completions.create(
        model="small",
        messages=chat("How do I descale my machine?", system="Docs test."),
        extra_body={"promptpress": {"document_ids": ["zephyr"]}},
    )
    assert done.choices[0].message.content == "Run program D."
    assert "citric acid" in json.dumps(small.requests[0].json()["messages"])

    with pytest.raises(openai.BadRequestError) as err:
        await oai.chat.completions.create(
            model="small",
            messages=chat("And the other one?", system="Docs test."),
            extra_headers={"x-promptpress-document-ids": "zephyr,nope"},
        )
    assert err.value.body["param"] == "promptpress.document_ids[1]"  # type: ignore[index]
    assert len(small.requests) == 1


# --- Anthropic: /v1/messages --------------------------------------------------------------


async def test_anthropic_create_forced_tier(claude: anthropic.AsyncAnthropic, upstreams) -> None:  # type: ignore[no-untyped-def]
    small, frontier = upstreams
    frontier.script(
        JSONReply(anthropic_message("Canberra.", input_tokens=30, output_tokens=3, cache_read=10))
    )
    raw = await claude.messages.with_raw_response.create(
        model="frontier",
        max_tokens=100,
        system=SYSTEM,
        messages=[{"role": "user", "content": "What is the capital of Australia?"}],
    )
    msg = await raw.parse()
    assert [b.text for b in msg.content if b.type == "text"] == ["Canberra."]
    assert msg.stop_reason == "end_turn" and msg.role == "assistant"
    assert (msg.usage.input_tokens, msg.usage.output_tokens, msg.usage.cache_read_input_tokens) == (
        30,
        3,
        10,
    )
    assert raw.headers["x-promptpress-tier"] == "frontier"
    sent = frontier.requests[0]
    assert sent.path == "/v1/messages" and sent.json()["model"] == "claude-sonnet-4-5"
    assert sent.json()["max_tokens"] == 100
    assert not small.requests


async def test_anthropic_stream_then_cache_hit(claude: anthropic.AsyncAnthropic, upstreams) -> None:  # type: ignore[no-untyped-def]
    _, frontier = upstreams
    frontier.script(
        SSEReply(anthropic_stream(["Wel", "ling", "ton."], input_tokens=25, output_tokens=4))
    )
    kwargs: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 50,
        "system": "Anthropic stream test.",
        "messages": [{"role": "user", "content": "What is the capital of New Zealand?"}],
    }
    async with claude.messages.stream(**kwargs) as stream:
        pieces = [t async for t in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(pieces) == "Wellington." and len(pieces) == 3
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 4
    assert final.usage.input_tokens == 25

    events = []
    async with claude.messages.stream(**kwargs) as stream:
        events = [e async for e in stream]
        again = await stream.get_final_message()
    assert [b.text for b in again.content if b.type == "text"] == ["Wellington."]
    names = [e.type for e in events]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    delta = next(e for e in events if e.type == "message_delta")
    assert (delta.model_extra or {})["promptpress"]["cache"] == "exact"
    assert len(frontier.requests) == 1


async def test_anthropic_tools_are_relayed(claude: anthropic.AsyncAnthropic, upstreams) -> None:  # type: ignore[no-untyped-def]
    _, frontier = upstreams
    frontier.script(JSONReply(anthropic_message("Rainy in Bergen.")))
    await claude.messages.create(
        model="frontier",
        max_tokens=100,
        tools=[
            {
                "name": WEATHER_TOOL["name"],
                "description": WEATHER_TOOL["description"],
                "input_schema": WEATHER_TOOL["schema"],
            }
        ],  # type: ignore[list-item]
        messages=[
            {"role": "user", "content": "Weather in Bergen?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Let me check."},
                    {
                        "type": "tool_use",
                        "id": "tu_1",
                        "name": "get_weather",
                        "input": {"city": "Bergen"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "tu_1", "content": "rain"}],
            },
        ],
    )
    sent = frontier.requests[0].json()
    assert sent["tools"][0]["name"] == "get_weather"
    assert sent["tools"][0]["input_schema"] == WEATHER_TOOL["schema"]
    blocks = [b for m in sent["messages"] for b in m["content"] if isinstance(b, dict)]
    use = next(b for b in blocks if b["type"] == "tool_use")
    result = next(b for b in blocks if b["type"] == "tool_result")
    assert (use["id"], use["input"]) == ("tu_1", {"city": "Bergen"})
    assert result["tool_use_id"] == "tu_1"


async def test_anthropic_errors(server, claude: anthropic.AsyncAnthropic, upstreams) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(anthropic.BadRequestError) as err:
        await claude.messages.create(
            model="frontier",
            max_tokens=10,
            messages=[{"role": "user", "content": [{"type": "image", "source": {}}]}],  # type: ignore[list-item, typeddict-item]
        )
    assert err.value.status_code == 400 and "messages[0].content[0]" in err.value.message
    assert err.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]

    with pytest.raises(anthropic.NotFoundError):
        await claude.messages.create(
            model="claude-9", max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
        )

    app = server[0]
    async with anthropic.AsyncAnthropic(
        base_url=f"http://127.0.0.1:{app.http_port}", api_key="sk-wrong", max_retries=0
    ) as client:
        with pytest.raises(anthropic.AuthenticationError) as auth_err:
            await client.messages.create(
                model="auto", max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
            )
    assert auth_err.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert not any(up.requests for up in upstreams)
