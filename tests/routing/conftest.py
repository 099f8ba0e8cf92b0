"""Fixtures for routing tests: scripted fake upstreams, forwarders, tier builders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence

import pytest

from promptpress.cachekeys.layout import build_layout, split_messages
from promptpress.cachekeys.plan import plan_request
from promptpress.cachekeys.profiles import load_profiles
from promptpress.server.routing.bodies import UpstreamRequest, upstream_request
from promptpress.server.routing.forwarder import Forwarder
from promptpress.server.routing.tiers import (
    PriceOverrides,
    RetryPolicy,
    Tier,
    UpstreamConfig,
    UpstreamKind,
)
from promptpress.tokens import counter_for
from promptpress.types import Message, ResponseFormat, Sampling, Target, Tool, ToolChoice
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

NO_PRICES = PriceOverrides()
NO_SAMPLING = Sampling()
DEFAULT_TARGET = Target()


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


def tier(name: str, *upstreams: UpstreamConfig, prices: PriceOverrides = NO_PRICES) -> Tier:
    return Tier(name, tuple(upstreams), prices)


# A plan that speaks both protocols, so a request carries a body for each.
BOTH_KINDS = (
    Tier(
        "any",
        (
            UpstreamConfig("o", UpstreamKind.OPENAI, "http://127.0.0.1:9/v1", "gpt-4o-mini"),
            UpstreamConfig("a", UpstreamKind.ANTHROPIC, "http://127.0.0.1:9", "claude-sonnet-4-5"),
        ),
    ),
)


def request_for(
    messages: Sequence[Message],
    plan: Sequence[Tier] = BOTH_KINDS,
    *,
    tools: Sequence[Tool] = (),
    sampling: Sampling = NO_SAMPLING,
    tool_choice: ToolChoice | None = None,
    response_format: ResponseFormat | None = None,
    target: Target = DEFAULT_TARGET,
) -> UpstreamRequest:
    """Upstream bodies through the production path: the pipeline's layout and cache plan,
    then the routing's renderer (what Complete sends)."""
    system, history, last_user, tail = split_messages(messages)
    layout = build_layout(
        system=system, history=history, last_user=last_user, tail=tail, tools=tools
    )
    profiles = load_profiles()
    cache_plan = plan_request(
        "acme",
        layout,
        profiles.resolve(target),
        counter_for(target.model),
        sampling=sampling,
        tool_choice=tool_choice,
        response_format=response_format,
    )
    return upstream_request(
        cache_plan,
        plan,
        profiles,
        sampling=sampling,
        tool_choice=tool_choice,
        response_format=response_format,
    )


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
