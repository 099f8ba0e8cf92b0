"""A real server with two scripted tiers, shared by the Complete tests.

"small" is OpenAI-compatible (gpt-4o-mini), "frontier" Anthropic (claude-sonnet-4-5),
both tests/routing/fake_upstream.py servers on loopback; the `routed` fixture in
tests/server/conftest.py starts one server per test from `routed_app`.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from promptpress.server.app import App, build_app
from promptpress.server.config import ServerConfig
from promptpress.server.resources import load_resources
from promptpress.v1 import promptpress_pb2 as pb
from tests.routing.fake_upstream import FakeUpstream

FAST = {"max_attempts": 1, "backoff_base_s": 0.01, "backoff_max_s": 0.02}


def tiers_config(small: FakeUpstream, frontier: FakeUpstream) -> dict:
    return {
        "routing": {"tier_order": ["small", "frontier"], "threshold": 0.5, **FAST},
        "tiers": {
            "small": {
                "prices": {"input": 0.15, "cached_input": 0.075, "output": 0.6},
                "upstreams": [
                    {
                        "name": "mini",
                        "kind": "openai",
                        "base_url": small.openai_base_url,
                        "model": "gpt-4o-mini",
                    }
                ],
            },
            "frontier": {
                "prices": {"input": 3.0, "cached_input": 0.3, "cache_write": 3.75, "output": 15.0},
                "upstreams": [
                    {
                        "name": "claude",
                        "kind": "anthropic",
                        "base_url": frontier.url,
                        "model": "claude-sonnet-4-5",
                    }
                ],
            },
        },
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ask(text: str, **kw) -> pb.CompleteRequest:  # type: ignore[no-untyped-def]
    return pb.CompleteRequest(
        request=pb.PreprocessRequest(
            messages=[
                pb.Message(role=pb.ROLE_SYSTEM, content="Answer briefly."),
                pb.Message(role=pb.ROLE_USER, content=text),
            ],
            target=pb.Target(provider="openai", model="gpt-4o-mini"),
        ),
        **kw,
    )


@contextlib.asynccontextmanager
async def routed_app(
    data_dir: Path, embedder: Any, compressor: Any
) -> AsyncIterator[tuple[App, FakeUpstream, FakeUpstream]]:
    small, frontier = FakeUpstream().start(), FakeUpstream().start()
    config = ServerConfig(
        address="127.0.0.1:0",
        data_dir=str(data_dir),
        metrics_port=free_port(),
        extra=tiers_config(small, frontier),
    )
    resources = load_resources(config, embedder=embedder, compressor=compressor)
    app = await build_app(config, resources=resources)
    await app.start()
    try:
        yield app, small, frontier
    finally:
        await app.stop(grace=0.1)
        resources.close()
        small.stop()
        frontier.stop()
