"""Per-tenant limits: the same behaviour from in-process counters and from a real Valkey."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from promptpress.errors import InvalidInput, ResourceExhausted
from promptpress.server.rate_limits import (
    DAY_S,
    Counters,
    LocalCounters,
    RateLimits,
    RedisCounters,
    TenantLimits,
    parse_tenant_limits,
    plan_for,
)
from promptpress.server.status import http_retry_after, status_for


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["local", "valkey"])
def counters(request: pytest.FixtureRequest) -> Iterator[Counters]:
    if request.param == "local":
        yield LocalCounters()
        return
    url = request.getfixturevalue("valkey_url")
    shared = RedisCounters(url)
    yield shared
    shared.close()


def unique_tenant(request: pytest.FixtureRequest) -> str:
    return "t-" + request.node.name.replace("[", "-").replace("]", "")


def test_requests_per_second_refuses_past_the_burst(
    counters: Counters, request: pytest.FixtureRequest
) -> None:
    tenant = unique_tenant(request)
    plan = plan_for(TenantLimits(requests_per_second=0.01))  # a burst of 1, refill in 100 s
    assert counters.admit(tenant, plan) == 0.0
    wait = counters.admit(tenant, plan)
    assert 90 < wait <= 100
    assert counters.admit("another-" + tenant, plan) == 0.0  # tenants never share a bucket


def test_tokens_go_into_debt_and_refuse_until_refilled(
    counters: Counters, request: pytest.FixtureRequest
) -> None:
    tenant = unique_tenant(request)
    plan = plan_for(TenantLimits(tokens_per_minute=60))  # 1 token per second, burst 60
    assert counters.admit(tenant, plan) == 0.0
    counters.charge(tenant, plan, tokens=50, spend_micro_usd=0)
    assert counters.admit(tenant, plan) == 0.0  # 10 left: still admitted
    counters.charge(tenant, plan, tokens=50, spend_micro_usd=0)  # 40 in debt
    wait = counters.admit(tenant, plan)
    assert 38 < wait <= 41


def test_spend_budget_refuses_until_the_next_utc_day(
    counters: Counters, request: pytest.FixtureRequest
) -> None:
    tenant = unique_tenant(request)
    plan = plan_for(TenantLimits(spend_usd_per_day=1.0))
    counters.charge(tenant, plan, tokens=0, spend_micro_usd=600_000)
    assert counters.admit(tenant, plan) == 0.0
    counters.charge(tenant, plan, tokens=0, spend_micro_usd=400_000)
    assert 0 < counters.admit(tenant, plan) <= DAY_S


def test_local_buckets_refill_and_days_roll_over() -> None:
    clock = Clock(now=10 * DAY_S + 100)
    counters = LocalCounters(clock)
    rps = plan_for(TenantLimits(requests_per_second=2))
    assert [counters.admit("t", rps) for _ in range(3)] == [0.0, 0.0, 0.5]
    clock.now += 0.5
    assert counters.admit("t", rps) == 0.0
    spend = plan_for(TenantLimits(spend_usd_per_day=1.0))
    counters.charge("t", spend, tokens=0, spend_micro_usd=1_000_000)
    assert counters.admit("t", spend) == pytest.approx(DAY_S - 100.5)
    clock.now = 11 * DAY_S
    assert counters.admit("t", spend) == 0.0


async def test_rate_limits_raise_resource_exhausted_with_retry_info() -> None:
    limits = RateLimits(
        parse_tenant_limits({"slow": {"requests_per_second": 0.5}, "*": {"tokens_per_minute": 6}}),
        LocalCounters(),
    )
    await limits.admit("slow")
    with pytest.raises(ResourceExhausted) as info:
        await limits.admit("slow")
    assert info.value.retry_after_s == pytest.approx(2.0, abs=0.1)
    code, _, trailer = status_for(info.value, "rid")
    assert code.name == "RESOURCE_EXHAUSTED"
    from google.rpc import error_details_pb2, status_pb2

    status = status_pb2.Status.FromString(trailer[0][1])
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry)
    assert 1.5 < retry.retry_delay.ToTimedelta().total_seconds() <= 2.0
    assert http_retry_after(info.value.retry_after_s) == (429, {"Retry-After": "2"})
    # "*" covers tenants without their own table.
    await limits.admit("anyone")
    await limits.charge("anyone", tokens=10)
    with pytest.raises(ResourceExhausted):
        await limits.admit("anyone")


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ({"a": {"requests_per_minute": 1}}, "tenants.a.requests_per_minute"),
        ({"a": {"tokens_per_minute": 0}}, "tenants.a.tokens_per_minute"),
        ({"a": {"spend_usd_per_day": "5"}}, "tenants.a.spend_usd_per_day"),
        ({"a": 3}, "tenants.a"),
    ],
)
def test_bad_tenant_tables_name_the_field(table: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidInput) as info:
        parse_tenant_limits(table)
    assert info.value.violations[0].field == field
