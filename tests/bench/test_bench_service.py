"""The `service` suite: its workloads, and a tiny run against a real server on port 0."""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

import pytest

from promptpress.bench import datasets
from promptpress.bench.frame import SuiteContext, run_suite
from promptpress.bench.service_workloads import COUNT_MODEL, build_workloads
from promptpress.bench.suites import service
from promptpress.compressor.model_prep import default_model_dir
from promptpress.tokens import counter_for
from promptpress.v1 import promptpress_pb2 as pb
from tests.procs import compressor_model_dir


@pytest.fixture(scope="module")
def workloads():  # type: ignore[no-untyped-def]
    conversations, _ = datasets.sharegpt_conversations(600)
    articles, _ = datasets.squad_v2_dev()
    return build_workloads(
        ["small", "medium", "large"],
        variants=2,
        conversations=conversations,
        articles=articles,
        counter=counter_for(COUNT_MODEL),
        rng=random.Random(1),
    )


@pytest.mark.parametrize(
    ("size", "tokens", "messages", "documents"),
    [("small", 500, 6, 0), ("medium", 8000, 40, 0), ("large", 32000, 40, 6)],
)
def test_workload_sizes_are_what_the_suite_reports(
    workloads, size, tokens, messages, documents
) -> None:
    w = workloads[size]
    assert w.mean_tokens == pytest.approx(tokens, rel=0.05)
    for variant in w.variants:
        request = pb.PreprocessRequest.FromString(variant.preprocess)
        assert len(request.messages) == messages and len(request.documents) == documents
        assert (
            request.messages[0].role == pb.ROLE_SYSTEM and request.messages[-1].role == pb.ROLE_USER
        )
        assert 0 < request.budget.max_prompt_tokens < variant.tokens
        count = pb.CountTokensRequest.FromString(variant.count_tokens)
        assert list(count.messages) == list(request.messages)
    assert w.variants[0].preprocess != w.variants[1].preprocess


def test_workloads_are_reproducible_from_the_seed(workloads) -> None:
    conversations, _ = datasets.sharegpt_conversations(600)
    again = build_workloads(
        ["small"],
        variants=2,
        conversations=conversations,
        articles=(),
        counter=counter_for(COUNT_MODEL),
        rng=random.Random(1),
    )
    assert again["small"].variants == workloads["small"].variants


def test_tiny_profile_against_a_real_server(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench_data = data_dir / "bench-service"
    # As after `make prepare`: the converted SmolLM2 is in the data directory (the
    # test session's copy, linked), so the suite's servers do not convert it again.
    default_model_dir(bench_data).parent.mkdir(parents=True, exist_ok=True)
    default_model_dir(bench_data).symlink_to(compressor_model_dir(), target_is_directory=True)
    monkeypatch.setenv("PROMPTPRESS_DATA_DIR", str(bench_data))
    ctx = SuiteContext(profile="tiny", seed=0, out_dir=tmp_path, show_progress=False)
    doc = json.loads(run_suite("service", service.run, ctx).read_text())
    figures = doc["figures"]
    cfg = service.settings(ctx)
    assert len(figures["cells"]) == len(cfg.sizes) * len(service.RPCS) * len(cfg.concurrency)
    for cell in figures["cells"]:
        for target in ("promptpress", "echo"):
            assert cell[target]["completed"] == cfg.max_requests, (cell, target)
            assert (
                cell[target]["errors"] == 0 and cell[target]["p99_ms"] >= cell[target]["p50_ms"] > 0
            )
        assert cell["share_of_ceiling"] > 0
        # The median of the rounds' own shares; the pooled ratio is kept beside it.
        assert len(cell["share_of_ceiling_rounds"]) == cfg.rounds
        assert cell["share_of_ceiling"] == statistics.median(cell["share_of_ceiling_rounds"])
        assert cell["share_of_ceiling_pooled"] > 0
    memory = figures["memory"]
    assert memory["promptpress"]["peak_rss_mb"] >= memory["promptpress"]["idle_rss_mb"] > 10
    assert memory["peak_rss_vs_echo"] > 0
    assert figures["workloads"]["small"]["response_bytes_mean"]["Preprocess"] > 0
    assert [d["name"] for d in doc["datasets"]] == ["ShareGPT V3 unfiltered cleaned split"]
    for plot in doc["plots"]:
        assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| RPC | size | clients |" in (tmp_path / "service.md").read_text()
    overload = figures["overload"]
    assert overload["goodput_rps"] > 0 and overload["other_errors"] == 0
    # Whether tiny Preprocess calls are shed depends on the host's speed; that the row is
    # measured and sane is what is checked here (tests/server/test_overload.py sheds).
    assert 0 <= overload["shed_share"] <= 1 and overload["late_share"] == 0
    assert overload["rss_peak_mb"] >= overload["rss_before_mb"] > 10
    assert "goodput / capacity" in (tmp_path / "service.md").read_text()
