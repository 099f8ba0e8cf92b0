"""Server-sent events on an aiohttp response: one helper to open, one to frame."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

DONE = "[DONE]"  # OpenAI's end-of-stream sentinel


def frame(data: Mapping[str, Any] | str, *, event: str | None = None) -> bytes:
    """One event: an optional ``event:`` line and one ``data:`` line (compact JSON)."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n".encode()


async def open_stream(request: web.Request, headers: Mapping[str, str]) -> web.StreamResponse:
    """A started text/event-stream response; proxies are asked not to buffer it."""
    response = web.StreamResponse(
        status=200,
        headers={
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "x-accel-buffering": "no",
            **headers,
        },
    )
    await response.prepare(request)
    return response
