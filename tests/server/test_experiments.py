"""Experiments: config validation, sticky and weighted assignment, the statistics,
and end to end through a real server (LMDB store): arms applied, outcomes counted
once, stats surviving a restart, tenants kept apart, the guard, the CLI report."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from subprocess import PIPE

import grpc
import pytest

from promptpress import AsyncClient, PromptPressRpcError
from promptpress.errors import InvalidInput
from promptpress.server.app import App, build_app
from promptpress.server.config import ServerConfig
from promptpress.server.experiments import parse_experiments
from promptpress.server.experiments.assign import apply_arm, choose_arm, conversation_key
from promptpress.server.experiments.report import newcombe_difference, wilson
from promptpress.server.resources import load_resources
from promptpress.types import Budget, Message, PreprocessInput, Role
from promptpress.v1 import promptpress_pb2 as pb

CLI = Path(sys.executable).parent / "promptpress"


def experiments_table(**overrides: object) -> dict:
    exp = {
        "tenants": ["*"],
        "control": "moderate",
        "arms": {
            "moderate": {"weight": 1, "budget": {"max_history_tokens": 4000}},
            "aggressive": {"weight": 1, "budget": {"max_history_tokens": 60}},
        },
        **overrides,
    }
    return {"experiments": {"trim-depth": exp}}


# --- config ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"control": "nope"}, "experiments.trim-depth.control"),
        ({"arms": {"a": {}}}, "experiments.trim-depth.arms"),
        ({"tenants": []}, "experiments.trim-depth.tenants"),
        ({"colour": "red"}, "experiments.trim-depth.colour"),
        ({"start": "tomorrow"}, "experiments.trim-depth.start"),
        (
            {"arms": {"moderate": {}, "x": {"budget": {"compression_rate": 1.5}}}},
            "experiments.trim-depth.arms.x.budget.compression_rate",
        ),
        (
            {"arms": {"moderate": {}, "x": {"weight": 0}}},
            "experiments.trim-depth.arms.x.weight",
        ),
        (
            {"arms": {"moderate": {}, "x": {"placement": "middle"}}},
            "experiments.trim-depth.arms.x.placement",
        ),
        (
            {"arms": {"moderate": {}, "x": {"budget": {"max_tokens": 3}}}},
            "experiments.trim-depth.arms.x.budget.max_tokens",
        ),
        (
            {"arms": {"moderate": {}, "x": {"routing_threshold": [0.7, 0.2]}}},
            "experiments.trim-depth.arms.x.routing_threshold",
        ),
    ],
)
def test_bad_config_names_the_key(change: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_experiments(experiments_table(**change))
    assert field in [v.field for v in err.value.violations], err.value.violations


def test_config_parses_windows_and_settings() -> None:
    (exp,) = parse_experiments(
        experiments_table(
            start=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), stop="2027-01-01T00:00:00+00:00"
        )
    )
    assert exp.active(dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    assert not exp.active(dt.datetime(2027, 6, 1, tzinfo=dt.UTC))
    assert exp.arm("aggressive").settings.max_history_tokens == 60


# --- assignment -------------------------------------------------------------------------


def turns(first: str, n: int) -> tuple[Message, ...]:
    msgs = [Message(Role.SYSTEM, "Be brief."), Message(Role.USER, first)]
    for i in range(n):
        msgs += [Message(Role.ASSISTANT, f"answer {i}"), Message(Role.USER, f"follow-up {i}")]
    return tuple(msgs)


def test_assignment_is_sticky_across_turns_and_balanced_to_weights() -> None:
    (exp,) = parse_experiments(
        {
            "experiments": {
                "w": {
                    "control": "a",
                    "arms": {"a": {"weight": 1}, "b": {"weight": 3}},
                }
            }
        }
    )
    arms = []
    for c in range(2000):
        keys = {conversation_key(turns(f"question number {c}", n)) for n in range(4)}
        assert len(keys) == 1  # every turn of the conversation: the same key
        arms.append(choose_arm(exp, "t1", keys.pop()).name)
    share_b = arms.count("b") / len(arms)
    assert 0.72 < share_b < 0.78  # weight 3 of 4
    # A caller's conversation_id wins over the derived key; tenants hash apart.
    assert conversation_key(turns("x", 0), "conv-42") == "conv-42"
    other = [choose_arm(exp, "t2", f"conv-{c}").name for c in range(200)]
    same = [choose_arm(exp, "t1", f"conv-{c}").name for c in range(200)]
    assert other != same


def test_stopped_arm_sends_its_conversations_to_control() -> None:
    (exp,) = parse_experiments(experiments_table())
    convs = [f"c{i}" for i in range(100)]
    assert {choose_arm(exp, "t", c, stopped={"aggressive"}).name for c in convs} == {"moderate"}


def test_arm_overrides_only_what_it_sets() -> None:
    (exp,) = parse_experiments(experiments_table())
    inp = PreprocessInput(
        "t", turns("q", 1), budget=Budget(max_context_tokens=300, compression_rate=0.5)
    )
    out = apply_arm(inp, exp.arm("aggressive"))
    assert out.budget == Budget(max_history_tokens=60, max_context_tokens=300, compression_rate=0.5)


# --- statistics ------------------------------------------------------------------------


def test_wilson_and_newcombe_match_published_values() -> None:
    w = wilson(81, 263)  # Newcombe (1998) / Wilson: 81/263 -> 0.2553 to 0.3662
    assert (round(w.low, 4), round(w.high, 4)) == (0.2553, 0.3662)
    d = newcombe_difference(56, 70, 48, 80)  # Newcombe (1998) example: 0.0524 to 0.3339
    assert (round(d.low, 4), round(d.high, 4)) == (0.0524, 0.3339)
    assert (wilson(0, 10).low, round(wilson(0, 10).high, 4)) == (0.0, 0.2775)
    assert wilson(10, 10).high == pytest.approx(1.0)


# --- end to end -------------------------------------------------------------------------

KEYS = "key-a tenant-a\nkey-b tenant-b\n"


async def start(data_dir: Path, embedder, compressor, extra: dict) -> App:  # type: ignore[no-untyped-def]
    keys = data_dir / "keys.txt"
    keys.write_text(KEYS)
    config = ServerConfig(
        address="127.0.0.1:0", data_dir=str(data_dir), api_keys=str(keys), extra=extra
    )
    resources = load_resources(config, embedder=embedder, compressor=compressor)
    app = await build_app(config, resources=resources)
    app.owns_resources = True
    await app.start()
    return app


@pytest.fixture
async def exp_app(tmp_path: Path, shared_embedder, shared_compressor) -> AsyncIterator[App]:  # type: ignore[no-untyped-def]
    app = await start(tmp_path, shared_embedder, shared_compressor, experiments_table())
    try:
        yield app
    finally:
        await app.stop(grace=0.1)


def conversation(first: str, n: int) -> list[pb.Message]:
    return [
        pb.Message(role=pb.Role.Value(f"ROLE_{m.role.name}"), content=m.content)
        for m in turns(first, n)
    ]


LONG = " ".join(f"Background sentence {i} about the quarterly plan." for i in range(40))


def preprocess(first: str, n: int, conversation_id: str = "") -> pb.PreprocessRequest:
    msgs = conversation(first, n)
    msgs[1].content = f"{first} {LONG}"  # a long opening turn: trimming shows
    return pb.PreprocessRequest(
        messages=msgs,
        target=pb.Target(provider="openai", model="gpt-4o"),
        conversation_id=conversation_id,
    )


async def test_arms_apply_stick_and_count_outcomes_once(exp_app: App) -> None:
    address = f"127.0.0.1:{exp_app.port}"
    async with (
        AsyncClient(address, api_key="key-a") as a,
        AsyncClient(address, api_key="key-b") as b,
    ):
        seen: dict[str, set[str]] = {}
        final: dict[str, list[int]] = {"moderate": [], "aggressive": []}
        last: dict[str, pb.PreprocessResponse] = {}
        for c in range(12):
            for n in range(1, 4):
                resp = await a.preprocess(preprocess(f"conversation {c}", n))
                assert resp.experiment == "trim-depth" and resp.request_id
                seen.setdefault(resp.conversation_id, set()).add(resp.arm)
                final[resp.arm].append(resp.stats.final_tokens)
                last[resp.arm] = resp
        assert all(len(arms) == 1 for arms in seen.values())  # sticky per conversation
        assert final["moderate"] and final["aggressive"]
        assert max(final["aggressive"]) < min(final["moderate"])  # the arm's budget applied

        rid = last["aggressive"].request_id
        first = await a.record_outcome(pb.RecordOutcomeRequest(request_id=rid, success=True))
        again = await a.record_outcome(pb.RecordOutcomeRequest(request_id=rid, success=True))
        assert (first.recorded, first.arm) == (True, "aggressive")
        assert again.recorded is False
        by_conv = await a.record_outcome(
            pb.RecordOutcomeRequest(conversation_id=last["moderate"].conversation_id, success=False)
        )
        assert (by_conv.recorded, by_conv.arm) == (True, "moderate")

        report = await a.get_experiment_report(pb.GetExperimentReportRequest(name="trim-depth"))
        arms = {r.arm: r for r in report.arms}
        assert arms["aggressive"].requests + arms["moderate"].requests == 36
        assert arms["aggressive"].outcomes == 1 and arms["moderate"].outcomes == 1
        assert arms["aggressive"].mean_input_tokens_after < arms["moderate"].mean_input_tokens_after
        assert "cannot yet tell" in report.verdict

        # Tenant B sees none of it, and cannot touch tenant A's requests.
        other = await b.get_experiment_report(pb.GetExperimentReportRequest(name="trim-depth"))
        assert sum(r.requests for r in other.arms) == 0
        with pytest.raises(PromptPressRpcError) as err:
            await b.record_outcome(pb.RecordOutcomeRequest(request_id=rid, success=True))
        assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT  # as unknown document ids
        assert [v.field for v in err.value.violations] == ["request_id"]
        with pytest.raises(PromptPressRpcError) as err:
            await a.record_outcome(pb.RecordOutcomeRequest(success=True))
        assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT


async def test_stats_survive_a_restart(tmp_path: Path, shared_embedder, shared_compressor) -> None:  # type: ignore[no-untyped-def]
    app = await start(tmp_path, shared_embedder, shared_compressor, experiments_table())
    address = f"127.0.0.1:{app.port}"
    async with AsyncClient(address, api_key="key-a") as a:
        resp = await a.preprocess(preprocess("restart me", 1, conversation_id="conv-r"))
        await a.record_outcome(pb.RecordOutcomeRequest(request_id=resp.request_id, success=True))
    await app.stop(grace=0.1)
    app = await start(tmp_path, shared_embedder, shared_compressor, experiments_table())
    try:
        async with AsyncClient(f"127.0.0.1:{app.port}", api_key="key-a") as a:
            report = await a.get_experiment_report(pb.GetExperimentReportRequest(name="trim-depth"))
            arm = next(r for r in report.arms if r.arm == resp.arm)
            assert (arm.requests, arm.outcomes, arm.outcome_rate) == (1, 1, 1.0)
            again = await a.record_outcome(
                pb.RecordOutcomeRequest(request_id=resp.request_id, success=True)
            )
            assert again.recorded is False  # idempotent across the restart too
    finally:
        await app.stop(grace=0.1)


async def test_guard_stops_a_worse_arm_and_cli_reports(
    tmp_path: Path, shared_embedder, shared_compressor
) -> None:  # type: ignore[no-untyped-def]
    extra = experiments_table(auto_stop=True, min_outcomes=20)
    app = await start(tmp_path, shared_embedder, shared_compressor, extra)
    address = f"127.0.0.1:{app.port}"
    try:
        async with AsyncClient(address, api_key="key-a") as a:
            # Control always succeeds, the aggressive arm never: once both have 20
            # outcomes the guard stops aggressive (bounded: at most 200 conversations).
            outcomes = {"moderate": 0, "aggressive": 0}
            for c in range(200):
                resp = await a.preprocess(preprocess(f"guard {c}", 1))
                await a.record_outcome(
                    pb.RecordOutcomeRequest(
                        request_id=resp.request_id, success=resp.arm == "moderate"
                    )
                )
                outcomes[resp.arm] += 1
                if min(outcomes.values()) >= 20 and resp.arm == "aggressive":
                    break
            report = await a.get_experiment_report(pb.GetExperimentReportRequest(name="trim-depth"))
            stopped = {r.arm: r.stopped for r in report.arms}
            assert stopped == {"moderate": False, "aggressive": True}
            assert "worse" in next(r for r in report.arms if r.arm == "aggressive").stop_reason
            # New conversations go to control once the (5 s) stopped-flag cache expires;
            # on this replica the guard cleared it at once.
            arms = {(await a.preprocess(preprocess(f"after {i}", 1))).arm for i in range(10)}
            assert arms == {"moderate"}
        proc = await asyncio.create_subprocess_exec(
            str(CLI), "experiments", "report", "trim-depth", "--address", address,
            "--api-key", "key-a", stdout=PIPE, stderr=PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        text = out.decode()
        assert "aggressive (stopped)" in text and "verdict: keep moderate" in text
        proc = await asyncio.create_subprocess_exec(
            str(CLI), "experiments", "report", "trim-depth", "--json", "--address", address,
            "--api-key", "key-a", stdout=PIPE, stderr=PIPE,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert json.loads(out)["recommendedArm"] == "moderate"
    finally:
        await app.stop(grace=0.1)


async def test_http_callers_get_arms_and_their_outcomes_count(
    tmp_path: Path, shared_embedder, shared_compressor
) -> None:  # type: ignore[no-untyped-def]
    import anthropic
    import openai

    from tests.routing.fake_upstream import FakeUpstream, JSONReply, openai_completion
    from tests.server.routed import tiers_config

    small = FakeUpstream(default=JSONReply(openai_completion("Paris."))).start()
    frontier = FakeUpstream().start()
    keys = tmp_path / "keys.txt"
    keys.write_text(KEYS)
    extra = {**tiers_config(small, frontier), **experiments_table()}
    config = ServerConfig(address="127.0.0.1:0", http_address="127.0.0.1:0",
                          data_dir=str(tmp_path), api_keys=str(keys), extra=extra)  # fmt: skip
    resources = load_resources(config, embedder=shared_embedder, compressor=shared_compressor)
    app = await build_app(config, resources=resources)
    app.owns_resources = True
    await app.start()
    base = f"http://127.0.0.1:{app.http_port}"
    try:
        async with openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="key-a", max_retries=0) as oai:
            arms, request_ids = set(), []
            for turn in range(3):
                raw = await oai.chat.completions.with_raw_response.create(
                    model="auto",
                    messages=[
                        {"role": "user", "content": f"What is the capital of France? {turn}"}
                    ],
                    extra_headers={"x-promptpress-conversation-id": "http-conv-1"},
                )
                report = (raw.parse().model_extra or {})["promptpress"]
                assert raw.headers["x-promptpress-experiment"] == "trim-depth"
                assert report["arm"] == raw.headers["x-promptpress-arm"]
                assert report["conversation_id"] == "http-conv-1"
                arms.add(report["arm"])
                request_ids.append(report["request_id"])
            assert len(arms) == 1  # one conversation, one arm
        async with anthropic.AsyncAnthropic(
            base_url=base, api_key="key-a", max_retries=0
        ) as claude:
            small.default = JSONReply(openai_completion("Paris."))
            msg = await claude.messages.create(
                model="auto", max_tokens=50,
                messages=[{"role": "user", "content": "And of Italy?"}],
                extra_body={"promptpress": {"conversation_id": "http-conv-1"}},
            )  # fmt: skip
            assert (msg.model_extra or {})["promptpress"]["arm"] in arms
        async with AsyncClient(f"127.0.0.1:{app.port}", api_key="key-a") as client:
            got = await client.record_outcome(
                pb.RecordOutcomeRequest(request_id=request_ids[0], success=True)
            )
            assert got.recorded and got.arm in arms
            report = await client.get_experiment_report(
                pb.GetExperimentReportRequest(name="trim-depth")
            )
            assert sum(a.requests for a in report.arms) == 4
    finally:
        await app.stop(grace=0.1)
        small.stop()
        frontier.stop()


async def test_arm_routing_threshold_moves_the_tier(
    tmp_path: Path, shared_embedder, shared_compressor
) -> None:  # type: ignore[no-untyped-def]
    from tests.routing.fake_upstream import (
        FakeUpstream,
        JSONReply,
        anthropic_message,
        openai_completion,
    )
    from tests.server.routed import tiers_config

    small = FakeUpstream(default=JSONReply(openai_completion("small says hi"))).start()
    frontier = FakeUpstream(default=JSONReply(anthropic_message("frontier says hi"))).start()
    arms = {
        "cheap": {"routing_threshold": 0.99},  # almost nothing is hard enough for frontier
        "strong": {"routing_threshold": [0.01]},  # almost everything is
    }
    extra = {**tiers_config(small, frontier),
             "experiments": {"routing": {"control": "cheap", "arms": arms}}}  # fmt: skip
    app = await start(tmp_path, shared_embedder, shared_compressor, extra)
    try:
        async with AsyncClient(f"127.0.0.1:{app.port}", api_key="key-a") as a:
            tiers: dict[str, set[str]] = {"cheap": set(), "strong": set()}
            for c in range(12):
                msgs = [pb.Message(role=pb.ROLE_USER, content=f"Compare the two plans, case {c}.")]
                resp = await a.complete(pb.CompleteRequest(request=pb.PreprocessRequest(
                    messages=msgs, target=pb.Target(provider="openai", model="gpt-4o-mini"))))  # fmt: skip
                tiers[resp.arm].add(resp.routing.tier)
        assert tiers == {"cheap": {"small"}, "strong": {"frontier"}}
    finally:
        await app.stop(grace=0.1)
        small.stop()
        frontier.stop()
