"""Anthropic Messages on the wire <-> promptpress, as pure functions.

`parse_messages_request` reads a ``POST /v1/messages`` body into a WireRequest:
``system`` becomes a system message; a user turn's ``tool_result`` blocks become
tool messages (ahead of its text, as the API orders them); an assistant turn's
``tool_use`` blocks become its tool calls. ``cache_control`` marks are dropped:
promptpress places the provider's breakpoints itself. Images, documents and
extended thinking are refused with their path. `message_json` and `EventStream`
render a Completion as the JSON response or as the SSE event sequence
(message_start, content_block_start/delta/stop, message_delta, message_stop).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from promptpress.server.completion import Completion
from promptpress.server.convert import Violations
from promptpress.server.http import sse, wire
from promptpress.server.http.errors import HttpFailure, anthropic_error
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
    choice = body.get("tool_choice")
    if choice is not None and (not isinstance(choice, dict) or choice.get("type") != "auto"):
        v.add("tool_choice", "only {type: auto} is supported")


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
    _unsupported(body, v)
    stream = body.get("stream", False)
    if not isinstance(stream, bool | None):
        v.add("stream", "must be a boolean")
    v.raise_if_any()
    return WireRequest(
        model=body.get("model"),
        request=pb.PreprocessRequest(messages=messages, tools=tools, sampling=sampling),
        stream=bool(stream),
        message_paths=paths,
        field_paths={
            "sampling.max_output_tokens": "max_tokens",
            "sampling.temperature": "temperature",
            "sampling.top_p": "top_p",
            "tools": "tools",
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


def message_json(
    done: Completion, *, model: str, request_id: str, report: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": f"msg_{request_id}",
        "type": "message",
        "role": "assistant",
        "model": done.model or model,
        "content": [{"type": "text", "text": done.text}],
        "stop_reason": stop_reason(done),
        "stop_sequence": None,
        "usage": usage_json(done.usage),
        "promptpress": report,
    }


def models_json(entries: Sequence[ModelEntry]) -> dict[str, Any]:
    data = [
        {"id": e.id, "type": "model", "display_name": e.id, "created_at": "1970-01-01T00:00:00Z"}
        for e in entries
    ]
    return {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


class EventStream:
    """The Messages API's stream for one answer, in order, as SSE bytes."""

    def __init__(self, *, model: str, request_id: str) -> None:
        self.model = model
        self.id = f"msg_{request_id}"
        self.open_block: int | None = None
        self.blocks = 0

    @staticmethod
    def _event(name: str, **data: Any) -> bytes:
        return sse.frame({"type": name, **data}, event=name)

    def start(self) -> bytes:
        # Input tokens are known only once the upstream answers: message_delta has them.
        message: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_json(None),
        }
        return self._event("message_start", message=message)

    def _close_block(self) -> bytes:
        if self.open_block is None:
            return b""
        index, self.open_block = self.open_block, None
        return self._event("content_block_stop", index=index)

    def text(self, text: str) -> bytes:
        out = b""
        if self.open_block is None:
            self.open_block = self.blocks
            self.blocks += 1
            block = {"type": "text", "text": ""}
            out += self._event("content_block_start", index=self.open_block, content_block=block)
        delta = {"type": "text_delta", "text": text}
        return out + self._event("content_block_delta", index=self.open_block, delta=delta)

    def finish(self, done: Completion, report: dict[str, Any]) -> bytes:
        """Closes the open block, then message_delta (usage, the report) and message_stop."""
        out = b"" if self.blocks else self.text("")
        out += self._close_block()
        delta = {"stop_reason": stop_reason(done), "stop_sequence": None}
        usage = usage_json(done.usage)
        out += self._event("message_delta", delta=delta, usage=usage, promptpress=report)
        return out + self._event("message_stop")

    def error(self, failure: HttpFailure, request_id: str) -> bytes:
        """A failure after the stream started, as the API's `error` event."""
        return sse.frame(anthropic_error(failure, request_id), event="error")
