"""The two wire protocols the forwarder speaks, as pure functions over bytes and dicts.

- OpenAI-compatible Chat Completions: ``POST {base_url}/chat/completions`` (base_url
  ends in ``/v1`` as with the OpenAI SDK); streaming is SSE ``data: {chunk}`` lines
  ending with ``data: [DONE]``, usage in a last chunk when
  ``stream_options.include_usage`` is set.
- Anthropic Messages: ``POST {base_url}/v1/messages`` (base_url as with the Anthropic
  SDK); streaming is SSE events ``message_start``, ``content_block_delta``,
  ``message_delta``, ``message_stop`` (plus ``ping`` and ``error``).

Tool calls come back as OpenAI ``message.tool_calls`` (arguments: the JSON text the
model produced) and Anthropic ``tool_use`` blocks (``input``: an object, serialised
here). Finish reasons use OpenAI's vocabulary (stop, length, tool_calls,
content_filter). Streaming lives in stream_parsers.py.

Nothing here does I/O, so every malformed shape can be tested directly. Anything an
upstream sends that is not what the protocol promises raises `ProtocolError` with a
short summary fit for an error message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promptpress.server.routing.bodies import UpstreamRequest
from promptpress.server.routing.tiers import UpstreamConfig, UpstreamKind
from promptpress.server.routing.usage import (
    Usage,
    UsageError,
    usage_from_anthropic,
    usage_from_openai,
)
from promptpress.types import FinishReason, ToolCall

ANTHROPIC_VERSION = "2023-06-01"
_SNIPPET = 160
_MESSAGE = 400


class ProtocolError(Exception):
    """The upstream answered, but not in its protocol's shape (or with an in-band error)."""


@dataclass(frozen=True, slots=True)
class UpstreamReply:
    text: str
    finish_reason: str  # OpenAI vocabulary: stop, length, tool_calls, content_filter
    usage: Usage
    usage_reported: bool  # False: the upstream sent no usage (counts are zero)
    model: str
    tool_calls: tuple[ToolCall, ...] = ()


def endpoint(upstream: UpstreamConfig) -> str:
    if upstream.kind is UpstreamKind.ANTHROPIC:
        return f"{upstream.base_url}/v1/messages"
    return f"{upstream.base_url}/chat/completions"


def request_headers(upstream: UpstreamConfig, api_key: str, *, stream: bool) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if stream:
        headers["accept"] = "text/event-stream"
    if upstream.kind is UpstreamKind.ANTHROPIC:
        headers["anthropic-version"] = ANTHROPIC_VERSION
        if api_key:
            headers["x-api-key"] = api_key
    elif api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return headers


def request_body(upstream: UpstreamConfig, request: UpstreamRequest, *, stream: bool) -> dict:
    """The body for this upstream: its kind's body with its own model, stream flags and
    (OpenAI-compatible) options: which max-tokens field, prompt_cache_key or not,
    stream_options or not."""
    body = dict(request.body_for(upstream.kind))
    body["model"] = upstream.model
    body["stream"] = stream
    body.pop("stream_options", None)
    if upstream.kind is UpstreamKind.OPENAI:
        if stream and upstream.send_stream_options:
            body["stream_options"] = {"include_usage": True}
        if not upstream.send_prompt_cache_key:
            body.pop("prompt_cache_key", None)
        for name in ("max_completion_tokens", "max_tokens"):
            if name in body and name != upstream.max_tokens_field:
                body[upstream.max_tokens_field] = body.pop(name)
    return body


# --- whole responses -----------------------------------------------------------


def snippet(payload: bytes | str, limit: int = _SNIPPET) -> str:
    """A short, printable excerpt of what the upstream sent, for error messages."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def error_summary(status: int, payload: bytes) -> str:
    """``HTTP 429: rate limited`` from either provider's error JSON, else a snippet."""
    message = ""
    try:
        data = json.loads(payload)
        err = data.get("error") if isinstance(data, dict) else None
        if isinstance(err, dict):
            message = str(err.get("message") or err.get("type") or "")
        elif isinstance(err, str):
            message = err
    except ValueError:
        pass
    # The provider's own message is what a caller needs to fix a rejected request.
    text = snippet(message, _MESSAGE) if message else snippet(payload)
    return f"HTTP {status}: {text or '(empty body)'}"


def parse_completion(kind: UpstreamKind, payload: bytes) -> UpstreamReply:
    data = json_object(payload)
    try:
        if kind is UpstreamKind.ANTHROPIC:
            return _parse_anthropic(data)
        return _parse_openai(data)
    except (KeyError, IndexError, TypeError, AttributeError, UsageError) as exc:
        raise ProtocolError(
            f"malformed {kind.value} response ({exc!r}): {snippet(payload)}"
        ) from None


def json_object(payload: bytes | str) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except ValueError:
        raise ProtocolError(f"response is not JSON: {snippet(payload) or '(empty body)'}") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"response is not a JSON object: {snippet(payload)}")
    if data.get("error"):
        raise ProtocolError(f"upstream error in body: {snippet(json.dumps(data['error']))}")
    return data


def _parse_openai(data: Mapping[str, Any]) -> UpstreamReply:
    choice = data["choices"][0]
    message = choice["message"]
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise TypeError("message.content is not a string")
    calls = tuple(_openai_call(c) for c in message.get("tool_calls") or ())
    usage = data.get("usage")
    return UpstreamReply(
        text=content or "",
        finish_reason=finish_reason(choice.get("finish_reason"), bool(calls)),
        usage=usage_from_openai(usage) if usage else Usage(),
        usage_reported=bool(usage),
        model=str(data.get("model", "")),
        tool_calls=calls,
    )


def _openai_call(raw: Mapping[str, Any]) -> ToolCall:
    function = raw["function"]
    arguments = function.get("arguments") or ""
    if not isinstance(arguments, str):  # some compatible servers send an object
        arguments = json.dumps(arguments, ensure_ascii=False)
    return ToolCall(id=str(raw["id"]), name=str(function["name"]), arguments_json=arguments)


def finish_reason(raw: Any, has_tool_calls: bool) -> str:
    """The OpenAI-vocabulary reason; answers with tool calls say tool_calls even when
    a compatible server says "stop" (vLLM, Ollama) or the legacy "function_call"."""
    reason = str(raw or "")
    if has_tool_calls and reason in ("", "stop", "function_call"):
        return FinishReason.TOOL_CALLS.value
    return reason


_ANTHROPIC_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _parse_anthropic(data: Mapping[str, Any]) -> UpstreamReply:
    if data.get("type") != "message":
        raise TypeError(f"type is {data.get('type')!r}, not 'message'")
    blocks = data["content"]
    text = "".join(b["text"] for b in blocks if b.get("type") == "text")
    calls = tuple(
        ToolCall(id=str(b["id"]), name=str(b["name"]), arguments_json=_json_text(b.get("input")))
        for b in blocks
        if b.get("type") == "tool_use"
    )
    usage = data.get("usage")
    return UpstreamReply(
        text=text,
        finish_reason=finish_reason(anthropic_stop(data.get("stop_reason")), bool(calls)),
        usage=usage_from_anthropic(usage) if usage else Usage(),
        usage_reported=bool(usage),
        model=str(data.get("model", "")),
        tool_calls=calls,
    )


def _json_text(value: Any) -> str:
    return json.dumps({} if value is None else value, ensure_ascii=False)


def anthropic_stop(reason: Any) -> str:
    return _ANTHROPIC_STOP.get(str(reason), str(reason or ""))
