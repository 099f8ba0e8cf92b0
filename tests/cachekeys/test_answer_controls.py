"""tool_choice and response_format: rendered into every body format, and part of the
keys that decide whether an answer may be reused (only when set)."""

from __future__ import annotations

import json

import pytest

from promptpress.cachekeys.keys import compute_keys
from promptpress.cachekeys.layout import build_layout
from promptpress.cachekeys.profiles import load_profiles
from promptpress.cachekeys.render import render_payload
from promptpress.errors import InvalidInput
from promptpress.types import (
    Message,
    ResponseFormat,
    ResponseFormatType,
    Role,
    Target,
    Tool,
    ToolChoice,
    ToolChoiceMode,
)

TOOL = Tool("lookup", "Look a word up.", '{"type": "object"}')
LAYOUT = build_layout(
    system=["Be brief."], last_user=Message(Role.USER, "Define 'apple'."), tools=[TOOL]
)
SCHEMA = '{"type": "object", "properties": {"definition": {"type": "string"}}}'
CHOICE = ToolChoice(ToolChoiceMode.TOOL, "lookup")
FORMAT = ResponseFormat(ResponseFormatType.JSON_SCHEMA, "definition", SCHEMA)


def keys(**kw):  # type: ignore[no-untyped-def]
    return compute_keys("acme", LAYOUT, provider="openai", model="gpt-4o", **kw)


def test_keys_change_only_when_a_control_is_set():
    plain = keys()
    assert keys(tool_choice=None, response_format=None) == plain
    for kw in ({"tool_choice": CHOICE}, {"response_format": FORMAT}):
        other = keys(**kw)
        assert other.exact_key != plain.exact_key
        assert other.context_fingerprint != plain.context_fingerprint  # no semantic reuse
        assert other.prompt_cache_key == plain.prompt_cache_key  # same provider cache prefix
    auto = keys(tool_choice=ToolChoice(ToolChoiceMode.AUTO))
    assert auto.exact_key != keys(tool_choice=CHOICE).exact_key


@pytest.mark.parametrize(
    ("provider", "model", "check"),
    [
        ("gemini", "gemini-2.5-flash",
         lambda b: b["toolConfig"]["functionCallingConfig"] == {"mode": "ANY", "allowedFunctionNames": ["lookup"]}
         and b["generationConfig"]["responseMimeType"] == "application/json"),
        ("bedrock", "anthropic.claude-3-7-sonnet-20250219-v1:0",
         lambda b: b["toolConfig"]["toolChoice"] == {"tool": {"name": "lookup"}}),
    ],
)  # fmt: skip
def test_other_body_formats_take_the_controls_too(provider, model, check):
    target = load_profiles().resolve(Target(provider, model))
    body = render_payload(target, LAYOUT, tool_choice=CHOICE, response_format=FORMAT)
    assert check(body)


def test_a_schema_that_is_not_json_names_its_field():
    target = load_profiles().resolve(Target("openai", "gpt-4o"))
    bad = ResponseFormat(ResponseFormatType.JSON_SCHEMA, "x", "{not json")
    with pytest.raises(InvalidInput) as caught:
        render_payload(target, LAYOUT, response_format=bad)
    assert caught.value.violations[0].field == "response_format.schema_json"


def test_json_object_mode():
    target = load_profiles().resolve(Target("openai", "gpt-4o"))
    body = render_payload(
        target, LAYOUT, response_format=ResponseFormat(ResponseFormatType.JSON_OBJECT)
    )
    assert body["response_format"] == {"type": "json_object"}
    anthropic = load_profiles().resolve(Target("anthropic", "claude-sonnet-4-5"))
    body = render_payload(
        anthropic, LAYOUT, response_format=ResponseFormat(ResponseFormatType.JSON_OBJECT)
    )
    assert json.dumps(body["output_config"]) == json.dumps(
        {"format": {"type": "json_schema", "schema": {"type": "object"}}}
    )
