"""The two wire protocols the forwarder speaks, as pure functions over bytes and dicts.

- OpenAI-compatible Chat Completions: ``POST {base_url}/chat/completions`` (base_url
  ends in ``/v1`` as with the OpenAI SDK); streaming is SSE ``data: {chunk}`` lines
  ending with ``data: [DONE]``, usage in a last chunk when
  ``stream_options.include_usage`` is set.
- Anthropic Messages: ``POST {base_url}/v1/messages`` (base_url as with the Anthropic
  SDK); streaming is SSE events ``message_start``, ``content_block_delta``,
  ``message_delta``, ``message_stop`` (plus ``ping`` and ``error``).

Nothing here does I/O, so every malformed shape can be tested directly. Anything an
upstream sends that is not what the protocol promises raises `ProtocolError` with a
short summary fit for an error message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from promptpress.server.routing.bodies import UpstreamRequest
from promptpress.server.routing.tiers import UpstreamConfig, UpstreamKind
from promptpress.server.routing.usage import (
    Usage,
    UsageError,
    merge_anthropic_stream_usage,
    usage_from_anthropic,
    usage_from_openai,
)

ANTHROPIC_VERSION = "2023-06-01"
_SNIPPET = 160


class ProtocolError(Exception):
    """The upstream answered, but not in its protocol's shape (or with an in-band error)."""


@dataclass(frozen=True, slots=True)
class UpstreamReply:
    """One upstream's whole answer, parsed from its wire protocol."""

    text: str
    finish_reason: str  # OpenAI vocabulary: stop, length, tool_calls, content_filter
    usage: Usage
    usage_reported: bool  # False: the upstream sent no usage (counts are zero)
    model: str


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


def snippet(payload: bytes | str) -> str:
    """A short, printable excerpt of what the upstream sent, for error messages."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "…"


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
    return f"HTTP {status}: {snippet(message or payload) or '(empty body)'}"


def parse_completion(kind: UpstreamKind, payload: bytes) -> UpstreamReply:
    data = _json_object(payload)
    try:
        if kind is UpstreamKind.ANTHROPIC:
            return _parse_anthropic(data)
        return _parse_openai(data)
    except (KeyError, IndexError, TypeError, AttributeError, UsageError) as exc:
        raise ProtocolError(
            f"malformed {kind.value} response ({exc!r}): {snippet(payload)}"
        ) from None


def _json_object(payload: bytes | str) -> dict[str, Any]:
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
    content = choice["message"].get("content")
    if content is not None and not isinstance(content, str):
        raise TypeError("message.content is not a string")
    usage = data.get("usage")
    return UpstreamReply(
        text=content or "",
        finish_reason=str(choice.get("finish_reason") or ""),
        usage=usage_from_openai(usage) if usage else Usage(),
        usage_reported=bool(usage),
        model=str(data.get("model", "")),
    )


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
    usage = data.get("usage")
    return UpstreamReply(
        text=text,
        finish_reason=_anthropic_stop(data.get("stop_reason")),
        usage=usage_from_anthropic(usage) if usage else Usage(),
        usage_reported=bool(usage),
        model=str(data.get("model", "")),
    )


def _anthropic_stop(reason: Any) -> str:
    return _ANTHROPIC_STOP.get(str(reason), str(reason or ""))


# --- server-sent events ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str
    data: str


@dataclass(slots=True)
class SSEDecoder:
    """Turns SSE lines (as httpx's aiter_lines yields them) into events."""

    _event: str = ""
    _data: list[str] = field(default_factory=list)

    def feed_line(self, line: str) -> SSEEvent | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # comment / keep-alive
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None

    def flush(self) -> SSEEvent | None:
        """The last event when the stream ended without a blank line after it."""
        return self._dispatch()

    def _dispatch(self) -> SSEEvent | None:
        if not self._data and not self._event:
            return None
        event = SSEEvent(self._event or "message", "\n".join(self._data))
        self._event, self._data = "", []
        return event


class StreamParser(Protocol):
    """Per-protocol stream state: feed events, get text deltas, then the result."""

    done: bool

    def feed(self, event: SSEEvent) -> list[str]: ...

    def result(self, text: str) -> UpstreamReply: ...


class OpenAIStreamParser:
    def __init__(self) -> None:
        self.done = False
        self._finish = ""
        self._usage: Usage | None = None
        self._model = ""

    def feed(self, event: SSEEvent) -> list[str]:
        if self.done:
            raise ProtocolError("data after [DONE]")
        if event.data.strip() == "[DONE]":
            self.done = True
            return []
        chunk = _json_object(event.data)
        try:
            self._model = str(chunk.get("model") or self._model)
            if chunk.get("usage"):
                self._usage = usage_from_openai(chunk["usage"])
            deltas = []
            for choice in chunk.get("choices") or []:
                if choice.get("index", 0) != 0:
                    continue
                content = (choice.get("delta") or {}).get("content")
                if content:
                    if not isinstance(content, str):
                        raise TypeError("delta.content is not a string")
                    deltas.append(content)
                if choice.get("finish_reason"):
                    self._finish = str(choice["finish_reason"])
            return deltas
        except (AttributeError, TypeError, UsageError) as exc:
            raise ProtocolError(
                f"malformed stream chunk ({exc!r}): {snippet(event.data)}"
            ) from None

    def result(self, text: str) -> UpstreamReply:
        return UpstreamReply(
            text, self._finish, self._usage or Usage(), self._usage is not None, self._model
        )


class AnthropicStreamParser:
    def __init__(self) -> None:
        self.done = False
        self._stop = ""
        self._start_usage: dict[str, Any] = {}
        self._delta_usage: dict[str, Any] = {}
        self._model = ""

    def feed(self, event: SSEEvent) -> list[str]:
        if self.done:
            raise ProtocolError("event after message_stop")
        if event.event == "ping":
            return []
        if event.event == "error":
            raise ProtocolError(f"upstream stream error: {snippet(event.data)}")
        data = _json_object(event.data)
        kind = data.get("type", event.event)
        try:
            if kind == "message_start":
                message = data["message"]
                self._model = str(message.get("model", ""))
                self._start_usage = dict(message.get("usage") or {})
            elif kind == "content_block_delta":
                delta = data["delta"]
                if delta.get("type") == "text_delta":
                    return [str(delta["text"])]
            elif kind == "message_delta":
                self._stop = _anthropic_stop((data.get("delta") or {}).get("stop_reason"))
                self._delta_usage.update(data.get("usage") or {})
            elif kind == "message_stop":
                self.done = True
        except (KeyError, TypeError, AttributeError) as exc:
            raise ProtocolError(
                f"malformed stream event ({exc!r}): {snippet(event.data)}"
            ) from None
        return []

    def result(self, text: str) -> UpstreamReply:
        reported = bool(self._start_usage or self._delta_usage)
        try:
            usage = merge_anthropic_stream_usage(self._start_usage, self._delta_usage)
        except UsageError as exc:
            raise ProtocolError(f"malformed stream usage: {exc}") from None
        return UpstreamReply(text, self._stop, usage, reported, self._model)


def stream_parser_for(kind: UpstreamKind) -> StreamParser:
    return AnthropicStreamParser() if kind is UpstreamKind.ANTHROPIC else OpenAIStreamParser()
