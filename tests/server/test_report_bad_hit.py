"""ReportBadHit end to end: a real server, the real client, a scripted upstream.

Complete -> hit -> report the hit's matched_key -> the same query misses (and
goes upstream again)."""

from __future__ import annotations

import json

import grpc
import pytest

from promptpress import AsyncClient, PromptPressRpcError
from promptpress.v1 import promptpress_pb2 as pb
from tests.routing.fake_upstream import JSONReply, openai_completion
from tests.server.routed import ask


async def test_reported_semantic_hit_is_removed_and_tightens_the_tenant(routed) -> None:  # type: ignore[no-untyped-def]
    app, small, _ = routed
    small.script(JSONReply(openai_completion("Jane Austen.")))
    async with AsyncClient(f"127.0.0.1:{app.port}") as c:
        first = await c.complete(ask("Who wrote Pride and Prejudice?"))
        assert first.cache_status == pb.CACHE_STATUS_NONE
        para = await c.complete(ask("Who is the author of Pride and Prejudice?"))
        assert para.cache_status == pb.CACHE_STATUS_SEMANTIC
        assert para.message.content == "Jane Austen." and len(small.requests) == 1

        report = await c.report_bad_hit(pb.ReportBadHitRequest(key=para.matched_key))
        assert report.removed == 1 and report.cache_status == pb.CACHE_STATUS_SEMANTIC
        cache = app.servicer.completer.cache
        assert cache is not None and cache.verifier is not None
        assert report.tenant_threshold > cache.verifier.threshold  # the tenant got stricter

        small.script(JSONReply(openai_completion("Still Jane Austen.")))
        again = await c.complete(ask("Who is the author of Pride and Prejudice?"))
        assert again.cache_status == pb.CACHE_STATUS_NONE
        assert again.message.content == "Still Jane Austen." and len(small.requests) == 2

        gone = await c.report_bad_hit(pb.ReportBadHitRequest(key=para.matched_key))
        assert gone.removed == 0 and gone.cache_status == pb.CACHE_STATUS_UNSPECIFIED


async def test_reported_exact_hit_is_removed(routed) -> None:  # type: ignore[no-untyped-def]
    app, small, _ = routed
    small.script(JSONReply(openai_completion("Wrong answer.")))
    async with AsyncClient(f"127.0.0.1:{app.port}") as c:
        await c.complete(ask("How many moons does Mars have?"))
        hit = await c.complete(ask("How many moons does Mars have?"))
        assert hit.cache_status == pb.CACHE_STATUS_EXACT
        report = await c.report_bad_hit(pb.ReportBadHitRequest(key=hit.matched_key))
        assert report.removed == 1 and report.cache_status == pb.CACHE_STATUS_EXACT
        small.script(JSONReply(openai_completion("Two.")))
        again = await c.complete(ask("How many moons does Mars have?"))
        assert again.cache_status == pb.CACHE_STATUS_NONE and again.message.content == "Two."


async def test_empty_key_is_invalid(routed) -> None:  # type: ignore[no-untyped-def]
    app, _, _ = routed
    async with AsyncClient(f"127.0.0.1:{app.port}") as c:
        with pytest.raises(PromptPressRpcError) as err:
            await c.report_bad_hit(pb.ReportBadHitRequest(key="  "))
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in err.value.violations] == ["key"]


async def test_cli_reports_a_bad_hit(routed) -> None:  # type: ignore[no-untyped-def]
    from tests.server.test_cli_and_config import run_cli

    app, small, _ = routed
    small.script(JSONReply(openai_completion("Canberra.")))
    address = f"127.0.0.1:{app.port}"
    async with AsyncClient(address) as c:
        await c.complete(ask("What is the capital of Australia?"))
        hit = await c.complete(ask("What is the capital of Australia?"))
        assert hit.cache_status == pb.CACHE_STATUS_EXACT
        out = await run_cli("report-bad-hit", hit.matched_key, "--address", address)
        assert out.returncode == 0, out.stderr
        body = json.loads(out.stdout)
        assert body["removed"] == 1 and body["cacheStatus"] == "CACHE_STATUS_EXACT"
        small.script(JSONReply(openai_completion("Canberra, still.")))
        again = await c.complete(ask("What is the capital of Australia?"))
        assert again.cache_status == pb.CACHE_STATUS_NONE


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ({"matcher": "nope"}, "semantic_cache.matcher"),
        ({"max_false_hit_rate": 0.0}, "semantic_cache.max_false_hit_rate"),
        ({"max_false_hit_rate": 1.5}, "semantic_cache.max_false_hit_rate"),
    ],
)
def test_semantic_cache_settings_are_checked(table: dict, field: str) -> None:
    from promptpress.errors import InvalidInput
    from promptpress.server.resources import semantic_cache_options

    with pytest.raises(InvalidInput) as err:
        semantic_cache_options(table)
    assert [v.field for v in err.value.violations] == [field]
