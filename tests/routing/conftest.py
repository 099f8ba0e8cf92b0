"""Fixtures for routing tests: scripted fake upstreams, forwarders, tier builders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from promptpress.server.routing.forwarder import Forwarder
from promptpress.server.routing.tiers import Prices, RetryPolicy, Tier, UpstreamConfig, UpstreamKind
from tests.routing.fake_upstream import FakeUpstream

# Small waits so retry and cooldown paths run in milliseconds; cooldown long enough
# to still be in force for the next request of the same test.
FAST_POLICY = RetryPolicy(
    max_attempts=2,
    backoff_base_s=0.01,
    backoff_max_s=0.05,
    max_retry_after_s=2.0,
    cooldown_s=60.0,
    connect_timeout_s=2.0,
    attempt_timeout_s=10.0,
    stream_idle_timeout_s=10.0,
)

NO_PRICES = Prices()


def upstream(
    name: str,
    fake: FakeUpstream,
    *,
    tier: str = "small",
    kind: UpstreamKind = UpstreamKind.OPENAI,
    weight: float = 1.0,
    api_key_env: str = "",
) -> UpstreamConfig:
    base = fake.openai_base_url if kind is UpstreamKind.OPENAI else fake.url
    return UpstreamConfig(name, kind, base, f"model-{name}", api_key_env, weight, tier)


def tier(name: str, *upstreams: UpstreamConfig, prices: Prices = NO_PRICES) -> Tier:
    return Tier(name, tuple(upstreams), prices)


@pytest.fixture
def make_fake() -> Iterator[Callable[[], FakeUpstream]]:
    started: list[FakeUpstream] = []

    def make() -> FakeUpstream:
        fake = FakeUpstream().start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()


@pytest.fixture
def fake(make_fake: Callable[[], FakeUpstream]) -> FakeUpstream:
    return make_fake()


@pytest.fixture
async def forwarder() -> AsyncIterator[Forwarder]:
    fwd = Forwarder(FAST_POLICY, environ={"FAKE_KEY": "sk-test-123"})
    yield fwd
    await fwd.aclose()


@pytest.fixture(scope="session")
def embedder(shared_embedder):  # type: ignore[no-untyped-def]
    """all-MiniLM-L6-v2 from its wheel: the session's one loaded copy."""
    return shared_embedder
