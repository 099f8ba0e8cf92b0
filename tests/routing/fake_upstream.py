"""A scripted OpenAI-compatible / Anthropic Messages server on 127.0.0.1, for tests.

It speaks real HTTP/1.1 (keep-alive, Content-Length bodies, chunked SSE streams) on
its own event loop in a daemon thread, so it serves sync and async tests alike and
the code under test talks to it exactly as to a provider.

    with FakeUpstream() as up:
        up.script(error_reply(429, "slow down", retry_after=0.2),
                  JSONReply(openai_completion("hi")))
        ... base_url=up.openai_base_url (…/v1) or up.url (Anthropic) ...
        assert len(up.requests) == 2

Each request takes the next scripted reply; when the script is empty, `default`
answers (a reply, or a function of the request), else 500 "unscripted request".
`aborted` counts responses the client walked away from (it closed the connection
before the response was complete): how a test sees cancellation reach upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 408: "Request Timeout", 409: "Conflict", 413: "Content Too Large",
            422: "Unprocessable Content", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable", 529: "Overloaded"}  # fmt: skip


# --- replies ---------------------------------------------------------------------


@dataclass(frozen=True)
class JSONReply:
    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True)
class RawReply:
    """Any bytes with any status: garbage, HTML error pages, empty bodies."""

    payload: bytes
    status: int = 200
    content_type: str = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SSEReply:
    """A chunked text/event-stream; ``complete=False`` drops the connection after the
    events, without the terminating chunk (a crash mid-stream)."""

    events: Sequence[str]
    delay_s: float = 0.0  # between events
    first_delay_s: float = 0.0
    complete: bool = True
    # Hold everything after the first `gate_after` events until the test sets `gate`.
    gate: threading.Event | None = None
    gate_after: int = 0


@dataclass(frozen=True)
class Hang:
    """Reads the request and never answers, until the client goes away."""


@dataclass(frozen=True)
class Drop:
    """Closes the connection without answering."""


Reply = JSONReply | RawReply | SSEReply | Hang | Drop


def openai_completion(
    text: str,
    *,
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    cached_tokens: int = 0,
    model: str = "fake-small",
    finish_reason: str = "stop",
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens},
        },
    }


def anthropic_message(
    text: str,
    *,
    input_tokens: int = 10,
    output_tokens: int = 5,
    cache_read: int = 0,
    cache_write: int = 0,
    model: str = "fake-claude",
    stop_reason: str = "end_turn",
) -> dict[str, Any]:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_read_input_tokens": cache_read,
            "cache_creation_input_tokens": cache_write,
        },
    }


def openai_stream(
    pieces: Sequence[str],
    *,
    usage: dict[str, Any] | None = None,
    done: bool = True,
    model: str = "fake-small",
) -> list[str]:
    def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
        body = {"id": "c", "object": "chat.completion.chunk", "model": model, "choices": choices}
        return f"data: {json.dumps({**body, **extra})}\n\n"

    events = [chunk([{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}])]
    events += [
        chunk([{"index": 0, "delta": {"content": p}, "finish_reason": None}]) for p in pieces
    ]
    events.append(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    if usage is not None:
        events.append(chunk([], usage=usage))
    if done:
        events.append("data: [DONE]\n\n")
    return events


def anthropic_stream(
    pieces: Sequence[str],
    *,
    input_tokens: int = 10,
    output_tokens: int = 5,
    cache_read: int = 0,
    cache_write: int = 0,
    stop: bool = True,
    model: str = "fake-claude",
) -> list[str]:
    def event(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

    start_usage = {
        "input_tokens": input_tokens,
        "output_tokens": 1,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_write,
    }
    message = {"id": "msg", "type": "message", "role": "assistant", "model": model,
               "content": [], "usage": start_usage}  # fmt: skip
    events = [
        event("message_start", {"message": message}),
        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        event("ping", {}),
    ]
    events += [
        event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": p}})
        for p in pieces
    ]
    events.append(event("content_block_stop", {"index": 0}))
    events.append(
        event(
            "message_delta",
            {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": output_tokens}},
        )
    )
    if stop:
        events.append(event("message_stop", {}))
    return events


# --- tool calls, as each provider sends them -----------------------------------------
#
# A call is (id, name, arguments JSON text). Streams split the arguments into
# `pieces` slices; OpenAI streams of several calls interleave their slices by index.


Call = tuple[str, str, str]


def _slices(text: str, pieces: int) -> list[str]:
    step = max(1, -(-len(text) // pieces))
    return [text[i : i + step] for i in range(0, len(text), step)] or [""]


def openai_tool_completion(
    calls: Sequence[Call], *, text: str | None = None, model: str = "fake-small"
) -> dict[str, Any]:
    body = openai_completion(text or "", model=model, finish_reason="tool_calls")
    message = body["choices"][0]["message"]
    message["content"] = text
    message["tool_calls"] = [
        {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls
    ]
    return body


def anthropic_tool_message(
    calls: Sequence[Call], *, text: str = "", model: str = "fake-claude"
) -> dict[str, Any]:
    body = anthropic_message(text, model=model, stop_reason="tool_use")
    blocks = [{"type": "text", "text": text}] if text else []
    blocks += [
        {"type": "tool_use", "id": i, "name": n, "input": json.loads(a)} for i, n, a in calls
    ]
    body["content"] = blocks
    return body


def openai_tool_stream(
    calls: Sequence[Call], *, pieces: int = 3, text: str = "", model: str = "fake-small"
) -> list[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        body = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None,
                             "finish_reason": finish}]}  # fmt: skip
        return f"data: {json.dumps(body)}\n\n"

    events = [chunk({"role": "assistant", "content": None})]
    if text:
        events.append(chunk({"content": text}))
    for index, (call_id, name, _) in enumerate(calls):
        head = {"index": index, "id": call_id, "type": "function",
                "function": {"name": name, "arguments": ""}}  # fmt: skip
        events.append(chunk({"tool_calls": [head]}))
    sliced = [_slices(a, pieces) for _, _, a in calls]
    for step in range(max(len(s) for s in sliced)):
        for index, parts in enumerate(sliced):  # interleaved: call 0, call 1, call 0, ...
            if step < len(parts):
                piece = {"index": index, "function": {"arguments": parts[step]}}
                events.append(chunk({"tool_calls": [piece]}))
    events.append(chunk({}, "tool_calls"))
    usage = {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42}
    events.append(
        f"data: {json.dumps({'id': 'c', 'object': 'chat.completion.chunk', 'model': model, 'choices': [], 'usage': usage})}\n\n"
    )
    events.append("data: [DONE]\n\n")
    return events


def anthropic_tool_stream(
    calls: Sequence[Call], *, pieces: int = 3, text: str = "", model: str = "fake-claude"
) -> list[str]:
    def event(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

    message = {"id": "msg", "type": "message", "role": "assistant", "model": model,
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": 30, "output_tokens": 1}}  # fmt: skip
    events = [event("message_start", {"message": message})]
    index = 0
    if text:
        events.append(event("content_block_start",
                            {"index": 0, "content_block": {"type": "text", "text": ""}}))  # fmt: skip
        events.append(event("content_block_delta",
                            {"index": 0, "delta": {"type": "text_delta", "text": text}}))  # fmt: skip
        events.append(event("content_block_stop", {"index": 0}))
        index = 1
    for call_id, name, arguments in calls:
        block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        events.append(event("content_block_start", {"index": index, "content_block": block}))
        for part in ["", *_slices(arguments, pieces)]:
            delta = {"type": "input_json_delta", "partial_json": part}
            events.append(event("content_block_delta", {"index": index, "delta": delta}))
        events.append(event("content_block_stop", {"index": index}))
        index += 1
    events.append(event("message_delta", {"delta": {"stop_reason": "tool_use", "stop_sequence": None},
                                          "usage": {"output_tokens": 12}}))  # fmt: skip
    events.append(event("message_stop", {}))
    return events


def error_reply(status: int, message: str, *, retry_after: float | str | None = None) -> JSONReply:
    headers = {} if retry_after is None else {"retry-after": str(retry_after)}
    return JSONReply({"error": {"message": message, "type": "fake_error"}}, status, headers)


# --- the server ------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float  # time.monotonic() when the request was read

    def json(self) -> Any:
        return json.loads(self.body)


class FakeUpstream:
    def __init__(self, default: Reply | Callable[[RecordedRequest], Reply] | None = None) -> None:
        self.default = default
        self._script: deque[Reply] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._aborted = 0
        self._abort_event = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0

    # lifecycle
    def start(self) -> FakeUpstream:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        fut.result(timeout=10)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def _stop() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # scripting and inspection
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    def script(self, *replies: Reply) -> FakeUpstream:
        with self._lock:
            self._script.extend(replies)
        return self

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._requests.clear()
            self._aborted = 0
            self._abort_event.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def aborted(self) -> int:
        with self._lock:
            return self._aborted

    def gate(self) -> threading.Event:
        """An event for SSEReply(gate=...): the stream pauses until the test sets it."""
        return threading.Event()

    def wait_for_abort(self, timeout: float = 5.0) -> bool:
        """True once the client has walked away from a response in progress."""
        return self._abort_event.wait(timeout)

    # serving
    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self._requests.append(request)
            if self._script:
                return self._script.popleft()
        if callable(self.default):
            return self.default(request)
        return self.default or error_reply(500, "unscripted request")

    def _record_abort(self) -> None:
        with self._lock:
            self._aborted += 1
        self._abort_event.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                if not await self._respond(self._next_reply(request), reader, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _respond(
        self, reply: Reply, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Sends one reply; False when the connection must close afterwards."""
        if isinstance(reply, Drop):
            return False
        if isinstance(reply, Hang):
            await reader.read(1)  # returns b"" when the client closes
            self._record_abort()
            return False
        if isinstance(reply, JSONReply):
            if reply.delay_s and await _client_gone(reader, reply.delay_s):
                self._record_abort()
                return False
            payload = json.dumps(reply.body).encode()
            writer.write(
                _head(reply.status, "application/json", reply.headers, len(payload)) + payload
            )
            await writer.drain()
            return True
        if isinstance(reply, RawReply):
            head = _head(reply.status, reply.content_type, reply.headers, len(reply.payload))
            writer.write(head + reply.payload)
            await writer.drain()
            return True
        return await self._stream(reply, reader, writer)

    async def _stream(
        self, reply: SSEReply, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        writer.write(_head(200, "text/event-stream", {"transfer-encoding": "chunked"}, None))
        await writer.drain()
        for i, event in enumerate(reply.events):
            if (
                reply.gate is not None
                and i == reply.gate_after
                and await _gate_or_gone(reader, reply.gate)
            ):
                self._record_abort()
                return False
            delay = reply.first_delay_s if i == 0 else reply.delay_s
            if delay and await _client_gone(reader, delay):
                self._record_abort()
                return False
            data = event.encode()
            try:
                writer.write(b"%x\r\n%s\r\n" % (len(data), data))
                await writer.drain()
            except ConnectionError:
                self._record_abort()
                return False
        if not reply.complete:
            return False
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


async def _client_gone(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Waits `seconds`; True if the client closed the connection meanwhile."""
    try:
        data = await asyncio.wait_for(reader.read(1), seconds)
    except TimeoutError:
        return False
    return data == b""


async def _gate_or_gone(reader: asyncio.StreamReader, gate: threading.Event) -> bool:
    """Waits for the gate; True if the client closed the connection first."""
    while not gate.is_set():
        if await _client_gone(reader, 0.01):
            return True
    return False


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return RecordedRequest(method, path, headers, body, time.monotonic())


def _head(status: int, content_type: str, headers: dict[str, str], length: int | None) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"content-type: {content_type}"]
    if length is not None:
        lines.append(f"content-length: {length}")
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
