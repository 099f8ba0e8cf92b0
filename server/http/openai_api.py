"""OpenAI Chat Completions on the wire <-> promptpress, as pure functions.

`parse_chat_request` reads a ``POST /v1/chat/completions`` body into a
WireRequest; `chat_completion` and `ChunkStream` render a Completion as the JSON
response or as ``chat.completion.chunk`` events, tool calls included. Fields that
cannot be honoured (``n`` > 1, non-text content parts) are refused with their
path rather than silently ignored; fields without effect on the answer
(``user``, ``metadata``, ``store``, ``logit_bias``, penalties) are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from promptpress.server.completion import Completion
from promptpress.server.convert import Violations
from promptpress.server.http import sse, wire
from promptpress.server.http.errors import HttpFailure, openai_error
from promptpress.server.http.models import ModelEntry
from promptpress.server.http.wire import WireRequest
from promptpress.server.routing.usage import Usage
from promptpress.types import ToolCall, ToolCallDelta
from promptpress.v1 import promptpress_pb2 as pb

ROLES = {
    "system": pb.ROLE_SYSTEM,
    "developer": pb.ROLE_SYSTEM,
    "user": pb.ROLE_USER,
    "assistant": pb.ROLE_ASSISTANT,
    "tool": pb.ROLE_TOOL,
}
FINISH_REASONS = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "tool_calls": "tool_calls",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
}


# --- request -------------------------------------------------------------------------


def _content(value: Any, path: str, v: Violations) -> str:
    """A string, null, or an array of text parts, as one string."""
    if value is None or isinstance(value, str):
        return value or ""
    if not isinstance(value, list):
        v.add(path, "must be a string or an array of content parts")
        return ""
    texts = []
    for j, part in enumerate(value):
        if not isinstance(part, dict) or part.get("type") != "text":
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            v.add(f"{path}[{j}]", f"only text parts are supported, not {kind!r}")
        elif not isinstance(part.get("text"), str):
            v.add(f"{path}[{j}].text", "must be a string")
        else:
            texts.append(part["text"])
    return "".join(texts)


def _tool_calls(value: Any, path: str, v: Violations) -> list[pb.ToolCall]:
    if value is None:
        return []
    if not isinstance(value, list):
        v.add(path, "must be an array")
        return []
    calls = []
    for j, call in enumerate(value):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            v.add(f"{path}[{j}].function", "must be an object with a name and arguments")
            continue
        args = fn.get("arguments", "")
        if not isinstance(args, str):
            v.add(f"{path}[{j}].function.arguments", "must be a JSON string")
            args = ""
        call_id = call.get("id")
        calls.append(
            pb.ToolCall(
                id=call_id if isinstance(call_id, str) else "", name=fn["name"], arguments_json=args
            )
        )
    return calls


def _message(m: Any, path: str, v: Violations) -> pb.Message | None:
    if not isinstance(m, dict):
        v.add(path, "must be an object")
        return None
    role_name = m.get("role")
    role = ROLES.get(role_name) if isinstance(role_name, str) else None
    if role is None:
        v.add(f"{path}.role", f"must be one of {', '.join(ROLES)}")
        return None
    name = m.get("name")
    call_id = m.get("tool_call_id")
    return pb.Message(
        role=role,
        content=_content(m.get("content"), f"{path}.content", v),
        name=name if isinstance(name, str) else "",
        tool_call_id=call_id if isinstance(call_id, str) else "",
        tool_calls=_tool_calls(m.get("tool_calls"), f"{path}.tool_calls", v),
    )


def _tools(value: Any, v: Violations) -> list[pb.Tool]:
    if value is None:
        return []
    if not isinstance(value, list):
        v.add("tools", "must be an array")
        return []
    tools = []
    for i, t in enumerate(value):
        fn = t.get("function") if isinstance(t, dict) else None
        if (
            not isinstance(t, dict)
            or t.get("type", "function") != "function"
            or not isinstance(fn, dict)
        ):
            v.add(
                f"tools[{i}]", "must be {type: function, function: {name, description, parameters}}"
            )
            continue
        tools.append(
            wire.tool(
                fn.get("name"),
                fn.get("description"),
                fn.get("parameters"),
                f"tools[{i}].function",
                v,
            )
        )
    return tools


def _unsupported(body: Mapping[str, Any], v: Violations) -> None:
    if body.get("n", 1) not in (1, None):
        v.add("n", "only n=1 is supported")


def _tool_choice(body: Mapping[str, Any], v: Violations) -> pb.ToolChoice | None:
    """tool_choice (+ parallel_tool_calls) in the gRPC API's terms; None: not given."""
    choice = body.get("tool_choice")
    serial = body.get("parallel_tool_calls") is False and bool(body.get("tools"))
    if choice is None:
        return (
            pb.ToolChoice(mode=pb.TOOL_CHOICE_MODE_AUTO, disable_parallel_tool_calls=True)
            if serial
            else None
        )
    modes = {
        "auto": pb.TOOL_CHOICE_MODE_AUTO,
        "none": pb.TOOL_CHOICE_MODE_NONE,
        "required": pb.TOOL_CHOICE_MODE_REQUIRED,
    }
    if isinstance(choice, str) and choice in modes:
        return pb.ToolChoice(mode=modes[choice], disable_parallel_tool_calls=serial)
    fn = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
        return pb.ToolChoice(
            mode=pb.TOOL_CHOICE_MODE_TOOL, name=fn["name"], disable_parallel_tool_calls=serial
        )
    v.add("tool_choice", 'must be "auto", "none", "required" or {type: function, function: {name}}')
    return None


def _response_format(value: Any, v: Violations) -> pb.ResponseFormat | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return pb.ResponseFormat(type=pb.RESPONSE_FORMAT_TYPE_TEXT)
    if kind == "json_object":
        return pb.ResponseFormat(type=pb.RESPONSE_FORMAT_TYPE_JSON_OBJECT)
    spec = value.get("json_schema") if kind == "json_schema" and isinstance(value, dict) else None
    if isinstance(spec, dict) and isinstance(spec.get("schema"), dict):
        name = spec.get("name")
        return pb.ResponseFormat(
            type=pb.RESPONSE_FORMAT_TYPE_JSON_SCHEMA,
            name=name if isinstance(name, str) else "",
            schema_json=json.dumps(spec["schema"], separators=(",", ":")),
            strict=spec.get("strict") is True,
        )
    v.add(
        "response_format",
        "must be {type: text}, {type: json_object} or {type: json_schema, json_schema: {name, schema}}",
    )
    return None


def parse_chat_request(body: Mapping[str, Any]) -> WireRequest:
    """The request in promptpress's terms; InvalidInput listing every bad field."""
    v = Violations()
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        v.add("messages", "must be a non-empty array of messages")
        raw = []
    messages = [_message(m, f"messages[{i}]", v) for i, m in enumerate(raw)]
    max_key = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    sampling = wire.sampling(
        v,
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        max_tokens=body.get(max_key),
        max_tokens_path=max_key,
        seed=body.get("seed"),
        stop=body.get("stop"),
    )
    tools = _tools(body.get("tools"), v)
    tool_choice = _tool_choice(body, v)
    response_format = _response_format(body.get("response_format"), v)
    _unsupported(body, v)
    stream = body.get("stream", False)
    if not isinstance(stream, bool | None):
        v.add("stream", "must be a boolean")
    options = body.get("stream_options") or {}
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    v.raise_if_any()
    kept = [(i, m) for i, m in enumerate(messages) if m is not None]
    request = pb.PreprocessRequest(messages=[m for _, m in kept], tools=tools, sampling=sampling)
    if tool_choice is not None:
        request.tool_choice.CopyFrom(tool_choice)
    if response_format is not None:
        request.response_format.CopyFrom(response_format)
    return WireRequest(
        model=body.get("model"),
        request=request,
        stream=bool(stream),
        include_usage=include_usage,
        message_paths=[f"messages[{i}]" for i, _ in kept],
        field_paths={
            "sampling.max_output_tokens": max_key,
            "sampling.temperature": "temperature",
            "sampling.top_p": "top_p",
            "tools": "tools",
            "tool_choice": "tool_choice",
            "response_format.schema_json": "response_format.json_schema.schema",
            "response_format": "response_format",
        },
    )


# --- response ------------------------------------------------------------------------


def usage_json(usage: Usage | None) -> dict[str, Any]:
    """OpenAI's usage: prompt_tokens counts every input token, cached ones included."""
    u = usage or Usage()
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
    }


def finish_reason(done: Completion) -> str:
    return FINISH_REASONS.get(done.finish_reason, "stop")


def tool_calls_json(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "type": "function",
            "function": {"name": c.name, "arguments": c.arguments_json or "{}"},
        }
        for c in calls
    ]


def chat_completion(
    done: Completion, *, model: str, request_id: str, created: int, report: dict[str, Any]
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": done.text if done.text or not done.tool_calls else None,
        "refusal": None,
    }
    if done.tool_calls:
        message["tool_calls"] = tool_calls_json(done.tool_calls)
    return {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": created,
        "model": done.model or model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason(done),
                "logprobs": None,
            }
        ],
        "usage": usage_json(done.usage),
        "system_fingerprint": None,
        "promptpress": report,
    }


def model_json(e: ModelEntry) -> dict[str, Any]:
    return {"id": e.id, "object": "model", "created": 0, "owned_by": e.owned_by}


def models_json(entries: Sequence[ModelEntry]) -> dict[str, Any]:
    return {"object": "list", "data": [model_json(e) for e in entries]}


class ChunkStream:
    """``chat.completion.chunk`` events for one streamed answer, in order, as SSE bytes.

    Every chunk names the model as asked (the upstream's model is known only at the
    end; the report on the last chunk has it)."""

    def __init__(self, *, model: str, request_id: str, created: int, include_usage: bool) -> None:
        self.model = model
        self.id = f"chatcmpl-{request_id}"
        self.created = created
        self.include_usage = include_usage

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": choices,
        }
        if self.include_usage:
            chunk["usage"] = None
        return {**chunk, **extra}

    def start(self) -> bytes:
        return sse.frame(
            self._chunk(
                [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
            )
        )

    def text(self, text: str) -> bytes:
        return sse.frame(
            self._chunk([{"index": 0, "delta": {"content": text}, "finish_reason": None}])
        )

    def tool_call(self, d: ToolCallDelta) -> bytes:
        """A piece of a tool call: id, type and name come with a call's first piece."""
        call: dict[str, Any] = {"index": d.index}
        if d.id:
            call["id"] = d.id
            call["type"] = "function"
        function = {"arguments": d.arguments}
        if d.name:
            function["name"] = d.name
        call["function"] = function
        delta = {"tool_calls": [call]}
        return sse.frame(self._chunk([{"index": 0, "delta": delta, "finish_reason": None}]))

    def finish(self, done: Completion, report: dict[str, Any]) -> bytes:
        """The finishing chunk, the usage chunk when asked for, then [DONE].

        The promptpress report rides on the last chunk before [DONE]."""
        last = self._chunk([{"index": 0, "delta": {}, "finish_reason": finish_reason(done)}])
        if not self.include_usage:
            chunks = [{**last, "promptpress": report}]
        else:
            chunks = [last, self._chunk([], usage=usage_json(done.usage), promptpress=report)]
        return b"".join(sse.frame(c) for c in chunks) + sse.frame(sse.DONE)

    def error(self, failure: HttpFailure, request_id: str) -> bytes:
        """A failure after the stream started: OpenAI's SDK raises on an `error` chunk."""
        return sse.frame(openai_error(failure))
