"""Anthropic Messages on the wire <-> promptpress, as pure functions.

`parse_messages_request` reads a ``POST /v1/messages`` body into a WireRequest:
``system`` becomes a system message; a user turn's ``tool_result`` blocks become
tool messages (ahead of its text, as the API orders them); an assistant turn's
``tool_use`` blocks become its tool calls. ``cache_control`` marks are dropped:
promptpress places the provider's breakpoints itself. Images, documents and
extended thinking are refused with their path. `message_json` and `EventStream`
render a Completion as the JSON response or as the SSE event sequence
(message_start, content_block_start/delta/stop, message_delta, message_stop),
tool_use blocks and their input_json_delta pieces included.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from promptpress.server.completion import Completion
from promptpress.server.convert import Violations
from promptpress.server.http import wire
from promptpress.server.http.models import ModelEntry
from promptpress.server.http.wire import WireRequest
from promptpress.server.routing.usage import Usage
from promptpress.v1 import promptpress_pb2 as pb

STOP_REASONS = {
    "end_turn": "end_turn",
    "stop": "end_turn",
    "stop_sequence": "stop_sequence",
    "max_tokens": "max_tokens",
    "length": "max_tokens",
    "tool_use": "tool_use",
    "tool_calls": "tool_use",
    "refusal": "refusal",
    "content_filter": "refusal",
}


# --- request -------------------------------------------------------------------------


def _text_blocks(value: Any, path: str, v: Violations) -> str:
    """A string or an array of text blocks, as one string."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        v.add(path, "must be a string or an array of text blocks")
        return ""
    texts = []
    for j, block in enumerate(value):
        if not isinstance(block, dict) or block.get("type") != "text":
            v.add(f"{path}[{j}]", "only text blocks are supported here")
        elif not isinstance(block.get("text"), str):
            v.add(f"{path}[{j}].text", "must be a string")
        else:
            texts.append(block["text"])
    return "\n\n".join(texts)


def _tool_result(block: dict[str, Any], path: str, v: Violations) -> pb.Message:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        v.add(f"{path}.tool_use_id", "must be a non-empty string")
        call_id = ""
    content = block.get("content", "")
    text = _text_blocks(content, f"{path}.content", v) if content else ""
    if block.get("is_error") is True:
        text = f"[tool error] {text}"
    return pb.Message(role=pb.ROLE_TOOL, content=text, tool_call_id=call_id)


def _turn(m: Any, path: str, v: Violations) -> list[tuple[str, pb.Message]]:
    """One wire message as pb messages, each with its wire path."""
    if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
        v.add(f"{path}.role", "must be user or assistant")
        return []
    role = pb.ROLE_USER if m["role"] == "user" else pb.ROLE_ASSISTANT
    content = m.get("content")
    if isinstance(content, str):
        return [(path, pb.Message(role=role, content=content))]
    if not isinstance(content, list):
        v.add(f"{path}.content", "must be a string or an array of content blocks")
        return []
    out: list[tuple[str, pb.Message]] = []
    texts, calls = [], []
    for j, block in enumerate(content):
        where = f"{path}.content[{j}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_result" and role == pb.ROLE_USER:
            out.append((where, _tool_result(block, where, v)))
        elif kind == "tool_use" and role == pb.ROLE_ASSISTANT:
            calls.append(_tool_use(block, where, v))
        else:
            v.add(where, f"a {m['role']} turn cannot carry a {kind!r} block here")
    if texts or calls or not out:
        out.append((path, pb.Message(role=role, content="\n\n".join(texts), tool_calls=calls)))
    return out


def _tool_use(block: dict[str, Any], path: str, v: Violations) -> pb.ToolCall:
    call_id, name, args = block.get("id"), block.get("name"), block.get("input", {})
    if not isinstance(call_id, str) or not call_id:
        v.add(f"{path}.id", "must be a non-empty string")
    if not isinstance(name, str) or not name:
        v.add(f"{path}.name", "must be a non-empty string")
    if not isinstance(args, dict):
        v.add(f"{path}.input", "must be an object")
        args = {}
    return pb.ToolCall(
        id=call_id if isinstance(call_id, str) else "",
        name=name if isinstance(name, str) else "",
        arguments_json=json.dumps(args, separators=(",", ":")),
    )


def _tools(value: Any, v: Violations) -> list[pb.Tool]:
    if value is None:
        return []
    if not isinstance(value, list):
        v.add("tools", "must be an array")
        return []
    tools = []
    for i, t in enumerate(value):
        if not isinstance(t, dict) or t.get("type", "custom") != "custom":
            v.add(
                f"tools[{i}]", "only client tools {name, description, input_schema} are supported"
            )
            continue
        tools.append(
            wire.tool(t.get("name"), t.get("description"), t.get("input_schema"), f"tools[{i}]", v)
        )
    return tools


def _unsupported(body: Mapping[str, Any], v: Violations) -> None:
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        v.add("thinking", "extended thinking is not supported")


_TOOL_MODES = {
    "auto": pb.TOOL_CHOICE_MODE_AUTO,
    "any": pb.TOOL_CHOICE_MODE_REQUIRED,
    "tool": pb.TOOL_CHOICE_MODE_TOOL,
    "none": pb.TOOL_CHOICE_MODE_NONE,
}


def _tool_choice(value: Any, v: Violations) -> pb.ToolChoice | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    mode = _TOOL_MODES.get(kind) if isinstance(kind, str) else None
    if mode is None:
        v.add("tool_choice", "must be {type: auto | any | tool | none}")
        return None
    name = value.get("name", "")
    return pb.ToolChoice(
        mode=mode,
        name=name if isinstance(name, str) else "",
        disable_parallel_tool_calls=value.get("disable_parallel_tool_use") is True,
    )


def _output_format(body: Mapping[str, Any], v: Violations) -> pb.ResponseFormat | None:
    """Structured output: ``output_config.format`` = {type: json_schema, schema}."""
    config = body.get("output_config")
    spec = config.get("format") if isinstance(config, dict) else None
    if spec is None:
        return None
    if (
        not isinstance(spec, dict)
        or spec.get("type") != "json_schema"
        or not isinstance(spec.get("schema"), dict)
    ):
        v.add("output_config.format", "must be {type: json_schema, schema: {...}}")
        return None
    schema = json.dumps(spec["schema"], separators=(",", ":"))
    return pb.ResponseFormat(
        type=pb.RESPONSE_FORMAT_TYPE_JSON_SCHEMA, schema_json=schema, strict=True
    )


def parse_messages_request(body: Mapping[str, Any]) -> WireRequest:
    """The request in promptpress's terms; InvalidInput listing every bad field."""
    v = Violations()
    paths: list[str] = []
    messages: list[pb.Message] = []
    system = body.get("system")
    if system:
        paths.append("system")
        messages.append(pb.Message(role=pb.ROLE_SYSTEM, content=_text_blocks(system, "system", v)))
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        v.add("messages", "must be a non-empty array of messages")
        raw = []
    for i, m in enumerate(raw):
        for path, message in _turn(m, f"messages[{i}]", v):
            paths.append(path)
            messages.append(message)
    if body.get("max_tokens") is None:
        v.add("max_tokens", "is required")
    if isinstance(body.get("stop_sequences"), str):
        v.add("stop_sequences", "must be an array of strings")
    sampling = wire.sampling(
        v,
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        max_tokens=body.get("max_tokens"),
        max_tokens_path="max_tokens",
        stop=body.get("stop_sequences"),
        stop_path="stop_sequences",
    )
    tools = _tools(body.get("tools"), v)
    tool_choice = _tool_choice(body.get("tool_choice"), v)
    output_format = _output_format(body, v)
    _unsupported(body, v)
    stream = body.get("stream", False)
    if not isinstance(stream, bool | None):
        v.add("stream", "must be a boolean")
    v.raise_if_any()
    request = pb.PreprocessRequest(messages=messages, tools=tools, sampling=sampling)
    if tool_choice is not None:
        request.tool_choice.CopyFrom(tool_choice)
    if output_format is not None:
        request.response_format.CopyFrom(output_format)
    return WireRequest(
        model=body.get("model"),
        request=request,
        stream=bool(stream),
        message_paths=paths,
        field_paths={
            "sampling.max_output_tokens": "max_tokens",
            "sampling.temperature": "temperature",
            "sampling.top_p": "top_p",
            "tools": "tools",
            "tool_choice.mode": "tool_choice.type",
            "tool_choice": "tool_choice",
            "response_format.schema_json": "output_config.format.schema",
        },
    )


# --- response ------------------------------------------------------------------------


def usage_json(usage: Usage | None) -> dict[str, Any]:
    """Anthropic's usage: input_tokens excludes cache reads and writes."""
    u = usage or Usage()
    return {
        "input_tokens": u.uncached_prompt_tokens,
        "output_tokens": u.completion_tokens,
        "cache_read_input_tokens": u.cached_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens + u.cache_write_1h_tokens,
    }


def stop_reason(done: Completion) -> str:
    return STOP_REASONS.get(done.finish_reason, "end_turn")


def _arguments(text: str) -> Any:
    """A tool call's arguments as the object Anthropic's tool_use.input is (else {})."""
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def content_json(done: Completion) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if done.text or not done.tool_calls:
        blocks.append({"type": "text", "text": done.text})
    blocks += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": _arguments(c.arguments_json)}
        for c in done.tool_calls
    ]
    return blocks


def message_json(
    done: Completion, *, model: str, request_id: str, report: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": f"msg_{request_id}",
        "type": "message",
        "role": "assistant",
        "model": done.model or model,
        "content": content_json(done),
        "stop_reason": stop_reason(done),
        "stop_sequence": None,
        "usage": usage_json(done.usage),
        "promptpress": report,
    }


def model_json(e: ModelEntry) -> dict[str, Any]:
    return {"id": e.id, "type": "model", "display_name": e.id, "created_at": "1970-01-01T00:00:00Z"}


def models_json(entries: Sequence[ModelEntry]) -> dict[str, Any]:
    data = [model_json(e) for e in entries]
    return {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
