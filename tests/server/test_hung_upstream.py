"""A hung upstream must not defeat failover (issue 14, item 1): with a hung upstream and
a healthy one in the same tier, every Complete within a 5 s deadline is answered by
the healthy one, and the hung one is cooled down (tried last)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from promptpress import AsyncClient
from promptpress.server.app import App, build_app
from promptpress.server.config import ServerConfig
from promptpress.v1 import promptpress_pb2 as pb
from tests.routing.fake_upstream import FakeUpstream, Hang, JSONReply, openai_completion


def _upstream(name: str, up: FakeUpstream, weight: float) -> dict:
    return {
        "name": name,
        "kind": "openai",
        "base_url": up.openai_base_url,
        "model": "gpt-4o-mini",
        "weight": weight,
    }


@pytest.fixture
async def hung_and_healthy(tmp_path: Path, resources) -> AsyncIterator[tuple[App, FakeUpstream]]:  # type: ignore[no-untyped-def]
    hung = FakeUpstream(default=Hang()).start()
    healthy = FakeUpstream(default=JSONReply(openai_completion("from b"))).start()
    extra = {
        "routing": {"tier_order": ["small"], "threshold": 0.5},
        "tiers": {
            "small": {
                "prices": {"input": 0.15, "cached_input": 0.075, "output": 0.6},
                # a weighs far more: affinity order tries it first whenever it is healthy.
                "upstreams": [_upstream("a", hung, 1000.0), _upstream("b", healthy, 0.001)],
            }
        },
    }
    config = ServerConfig(address="127.0.0.1:0", data_dir=str(tmp_path), extra=extra)
    app = await build_app(config, resources=resources)
    await app.start()
    try:
        yield app, hung
    finally:
        await app.stop(grace=0.1)
        hung.stop()
        healthy.stop()


def ask(i: int) -> pb.CompleteRequest:
    return pb.CompleteRequest(
        request=pb.PreprocessRequest(
            messages=[pb.Message(role=pb.ROLE_USER, content=f"Question number {i}?")]
        ),
        tier="small",
        skip_cache=True,
    )


async def test_hung_upstream_fails_over_within_the_deadline(hung_and_healthy) -> None:  # type: ignore[no-untyped-def]
    app, hung = hung_and_healthy
    forwarder = app.servicer.completer.router.forwarder
    async with AsyncClient(f"127.0.0.1:{app.port}") as client:
        for i in range(3):
            forwarder.cooldowns.reset("small/a")  # a is preferred again each time
            done = await client.complete(ask(i), timeout=5)
            assert done.message.content == "from b" and done.upstream.endswith("b")
            assert forwarder.cooldowns.is_cooling("small/a")
        # While a cools down, b is asked first: no more waiting on a.
        tried = len(hung.requests)
        done = await client.complete(ask(99), timeout=5)
        assert done.upstream.endswith("b") and len(hung.requests) == tried
    assert tried == 3
