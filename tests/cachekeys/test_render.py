"""Provider bodies: each format's shape, breakpoints in the provider's syntax, sampling."""

from __future__ import annotations

import json

import pytest

from promptpress.cachekeys import ContextChunk, build_layout, plan_request, render_provider_body
from promptpress.errors import InvalidInput
from promptpress.types import Document, Message, Role, Sampling, Tool, ToolCall

from .conftest import asst, user, words

SAMPLING = Sampling(temperature=0.5, top_p=0.9, max_output_tokens=200, seed=7, stop=("END",))
TOOLS = [Tool("search", "web search", '{"type":"object","properties":{"q":{"type":"string"}}}')]


def agent_layout():  # type: ignore[no-untyped-def]
    history = [
        user(words(700, 0)),
        asst("let me look", tool_calls=(ToolCall("call_1", "search", '{"q": "x"}'),)),
        Message(Role.TOOL, '{"hits": 3}', tool_call_id="call_1"),
        asst(words(700, 1)),
    ]
    return build_layout(
        system=[words(1200, 2)],
        static_docs=[Document("manual", words(300, 3), static=True)],
        history=history,
        chunks=[ContextChunk("doc", "c1", "a retrieved fact")],
        last_user=user("and then?"),
        tools=TOOLS,
    )


def plan(resolve, counter, provider, model, layout=None):  # type: ignore[no-untyped-def]
    return plan_request(
        "tenant", layout or agent_layout(), resolve(provider, model), counter, sampling=SAMPLING
    )


def test_openai_body(resolve, counter) -> None:
    p = plan(resolve, counter, "openai", "gpt-4o")
    body = json.loads(p.provider_body)
    assert body["model"] == "gpt-4o" and body["prompt_cache_key"] == p.keys.prompt_cache_key
    assert (body["temperature"], body["top_p"], body["seed"], body["stop"]) == (
        0.5,
        0.9,
        7,
        ["END"],
    )
    assert body["max_completion_tokens"] == 200 and "max_tokens" not in body
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "system", "user", "assistant", "tool", "assistant", "user", "user"]
    call = body["messages"][3]["tool_calls"][0]
    assert call == {
        "id": "call_1",
        "type": "function",
        "function": {"name": "search", "arguments": '{"q":"x"}'},
    }
    assert body["tools"][0]["function"]["parameters"]["properties"]["q"] == {"type": "string"}
    assert "cache_control" not in p.provider_body


@pytest.mark.parametrize(
    ("provider", "model", "seed_field", "has_cache_key"),
    [("deepseek", "deepseek-chat", None, False), ("mistral", "mistral-small-latest", "random_seed", True),
     ("qwen", "qwen-plus", "seed", False), ("somebody", "some-model", "seed", False)],
)  # fmt: skip
def test_openai_compatible_variants(
    resolve, counter, provider, model, seed_field, has_cache_key
) -> None:
    body = json.loads(plan(resolve, counter, provider, model).provider_body)
    assert body["max_tokens"] == 200 and "max_completion_tokens" not in body
    assert ("prompt_cache_key" in body) is has_cache_key
    seeds = {k: v for k, v in body.items() if k in ("seed", "random_seed")}
    assert seeds == ({seed_field: 7} if seed_field else {})


def test_anthropic_body_carries_the_breakpoints(resolve, counter) -> None:
    p = plan(resolve, counter, "anthropic", "claude-sonnet-4-5")
    body = json.loads(p.provider_body)
    assert body["max_tokens"] == 200 and body["stop_sequences"] == ["END"] and "seed" not in body
    assert [b["text"][:5] for b in body["system"]] == ["echo ", "<docu"]
    assert body["tools"] == [{"name": "search", "description": "web search",
                              "input_schema": json.loads(TOOLS[0].parameters_json)}]  # fmt: skip
    assert [m["role"] for m in body["messages"]] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert body["messages"][1]["content"][1] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "search",
        "input": {"q": "x"},
    }
    assert body["messages"][2]["content"][0]["type"] == "tool_result"
    # The chunks and the query share the last user turn (alternating roles).
    assert [b["text"][:5] for b in body["messages"][4]["content"]] == ["<cont", "and t"]
    marked = p.provider_body.count('"cache_control"')
    assert marked == len(p.breakpoints) <= 4
    assert [b.kind for b in p.breakpoints] == ["static", "conversation"]
    assert body["system"][1]["cache_control"] == {"type": "ephemeral"}
    assert body["messages"][3]["content"][-1]["cache_control"] == {"type": "ephemeral"}


def test_anthropic_default_max_tokens(resolve, counter) -> None:
    layout = build_layout(last_user=user("hi"))
    body = json.loads(render_provider_body(resolve("anthropic", "claude-sonnet-4-5"), layout))
    assert body["max_tokens"] == 1024 and "system" not in body and "tools" not in body


def test_gemini_body(resolve, counter) -> None:
    body = json.loads(plan(resolve, counter, "gemini", "gemini-2.5-flash").provider_body)
    assert len(body["systemInstruction"]["parts"]) == 2
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user", "model", "user"]
    assert body["contents"][1]["parts"][1] == {
        "functionCall": {"name": "search", "args": {"q": "x"}}
    }
    assert body["contents"][2]["parts"][0] == {
        "functionResponse": {"name": "search", "response": {"hits": 3}}
    }
    assert body["generationConfig"] == {
        "temperature": 0.5, "topP": 0.9, "maxOutputTokens": 200, "seed": 7, "stopSequences": ["END"],
    }  # fmt: skip
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "search"
    assert "model" not in body  # Gemini takes the model in the URL


def test_bedrock_body_uses_cache_points(resolve, counter) -> None:
    p = plan(resolve, counter, "bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    body = json.loads(p.provider_body)
    assert body["inferenceConfig"] == {
        "maxTokens": 200,
        "temperature": 0.5,
        "topP": 0.9,
        "stopSequences": ["END"],
    }
    assert body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["type"] == "object"
    assert [b.kind for b in p.breakpoints] == ["static", "conversation"]
    assert p.provider_body.count('"cachePoint"') == 2
    assert body["system"][-1] == {"cachePoint": {"type": "default"}}
    assert body["messages"][3]["content"][-1] == {"cachePoint": {"type": "default"}}
    tool_use = body["messages"][1]["content"][1]["toolUse"]
    assert tool_use == {"toolUseId": "call_1", "name": "search", "input": {"q": "x"}}


def test_bodies_are_byte_stable(resolve, counter) -> None:
    for provider, model in [
        ("openai", "gpt-4o"),
        ("anthropic", "claude-sonnet-4-5"),
        ("bedrock", "amazon.nova-pro-v1:0"),
    ]:
        a = plan(resolve, counter, provider, model).provider_body
        b = plan(resolve, counter, provider, model).provider_body
        assert a == b and json.loads(a)  # canonical: sorted keys, no whitespace
        assert (
            ": " not in a[:50]
            and json.dumps(json.loads(a), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            == a
        )


def test_invalid_tool_call_arguments_are_invalid_input() -> None:
    with pytest.raises(InvalidInput) as err:
        build_layout(
            history=[asst("", tool_calls=(ToolCall("1", "f", "{bad"),))], last_user=user("q")
        )
    assert err.value.violations[0].field == "history[0].tool_calls[0].arguments_json"


def test_unknown_provider_plan_carries_the_warning(resolve, counter) -> None:
    p = plan(resolve, counter, "acme", "acme-large")
    assert p.target.provider == "generic" and p.warnings and p.cost_after.total_usd == 0.0


@pytest.mark.parametrize(
    "provider_model",
    [("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5"), ("gemini", "gemini-2.5-pro"),
     ("bedrock", "amazon.nova-pro-v1:0"), ("deepseek", "deepseek-chat")],
)  # fmt: skip
@pytest.mark.parametrize(
    "layout_kw",
    [{}, {"system": ["s"]}, {"last_user": Message(Role.USER, "hi")}, {"history": [asst("x")]}],
)
def test_degenerate_requests_still_plan(resolve, counter, provider_model, layout_kw) -> None:
    p = plan_request("t", build_layout(**layout_kw), resolve(*provider_model), counter)
    assert json.loads(p.provider_body) is not None and p.breakpoints == ()
    assert p.cost_after.total_usd >= 0 and len(p.keys.prefix_hashes) == len(p.layout.messages)
