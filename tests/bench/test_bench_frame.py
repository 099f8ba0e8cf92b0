"""The frame: result files, the registry, the CLI and README regeneration."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from promptpress.bench import cli, report, suites
from promptpress.bench.frame import (
    DatasetInfo,
    SuiteContext,
    SuiteResult,
    markdown_table,
    ratio,
    run_suite,
)

FIXTURES = {
    "ok": "tests.bench.fixture_suites.ok",
    "broken": "tests.bench.fixture_suites.broken",
    "mislabelled": "tests.bench.fixture_suites.mislabelled",
    "absent": "tests.bench.fixture_suites.does_not_exist",
}


@pytest.fixture
def fixture_registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setattr(suites, "SUITES", dict(FIXTURES))
    return FIXTURES


def ctx_for(tmp_path: Path, profile: str = "tiny") -> SuiteContext:
    return SuiteContext(profile=profile, seed=7, out_dir=tmp_path / "results", show_progress=False)  # type: ignore[arg-type]


def test_tiny_run_writes_json_with_provenance_and_markdown(
    tmp_path: Path, fixture_registry
) -> None:
    ctx = ctx_for(tmp_path)
    json_path = run_suite("ok", suites.load("ok").run, ctx)
    doc = json.loads(json_path.read_text())
    assert doc["suite"] == "ok" and doc["profile"] == "tiny" and doc["seed"] == 7
    assert doc["figures"]["n"] == 3
    assert doc["datasets"] == [
        {
            "name": "fixture",
            "version": "1",
            "licence": "CC0-1.0",
            "source": "tests/bench/fixture_suites/ok.py",
        }
    ]
    env = doc["environment"]
    assert env["cpu_model"] and env["cpu_cores"] >= 1
    assert env["packages"]["grpcio"] and env["packages"]["promptpress"]
    assert (
        env["source_revision"] is None or len(env["source_revision"].removesuffix("-dirty")) == 40
    )
    assert doc["date"][:2] == "20" and doc["plots"] == ["ok_plot.png"]
    assert all(v is None or len(v) == 3 for v in doc["load_average"].values())
    md = (ctx.out_dir / "ok.md").read_text()
    assert "| n | mean |" in md and "![ok_plot](ok_plot.png)" in md and "CC0-1.0" in md
    assert "load average" in md


def test_same_seed_same_figures_different_seed_different(tmp_path: Path, fixture_registry) -> None:
    run = suites.load("ok").run
    a = run(ctx_for(tmp_path / "a")).figures["mean"]
    b = run(ctx_for(tmp_path / "b")).figures["mean"]
    c = run(SuiteContext("tiny", 8, tmp_path / "c", show_progress=False)).figures["mean"]
    assert a == b != c


def test_non_finite_figures_become_null(tmp_path: Path) -> None:
    ctx = ctx_for(tmp_path)
    result = SuiteResult(suite="x", figures={"nan": math.nan, "nested": [1.0, math.inf]})
    doc = json.loads(run_suite("x", lambda _: result, ctx).read_text())
    assert doc["figures"] == {"nan": None, "nested": [1.0, None]}


def test_unserialisable_figure_fails_before_any_file_is_written(tmp_path: Path) -> None:
    ctx = ctx_for(tmp_path)
    result = SuiteResult(suite="x", figures={"bad": object()})
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        run_suite("x", lambda _: result, ctx)
    assert list(ctx.out_dir.iterdir()) == []


def test_mislabelled_result_is_rejected(tmp_path: Path, fixture_registry) -> None:
    with pytest.raises(ValueError, match="labelled"):
        run_suite("mislabelled", suites.load("mislabelled").run, ctx_for(tmp_path))


@pytest.mark.parametrize(("profile", "expected"), [("tiny", 1), ("quick", 10), ("full", 100)])
def test_sample_size_follows_profile(tmp_path: Path, profile: str, expected: int) -> None:
    assert ctx_for(tmp_path, profile).sample_size(tiny=1, quick=10, full=100) == expected


def test_unknown_profile_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="profile"):
        ctx_for(tmp_path, "huge")


@pytest.mark.parametrize(
    ("value", "baseline", "expected"),
    [(3.0, 1.5, 2.0), (1, 4, 0.25), (5.0, 0.0, None), (None, 1.0, None), (1.0, None, None)],
)
def test_ratio(value, baseline, expected) -> None:
    assert ratio(value, baseline) == expected


@pytest.mark.parametrize(
    ("cell", "text"), [(0.123456, "0.123"), (12345.6, "12,346"), (None, "–"), (3, "3"), ("a", "a")]
)
def test_markdown_table_cells(cell, text) -> None:
    table = markdown_table(["h"], [[cell]])
    assert table.splitlines() == ["| h |", "|---|", f"| {text} |"]


def test_registry_lists_every_planned_suite_and_loads_service() -> None:
    assert suites.names()[0] == "service"
    assert {"retrieval", "compression", "caching", "semantic_cache", "routing"} <= set(
        suites.names()
    )
    module = suites.load("service")
    assert module.NAME == "service" and callable(module.run)


def test_registry_errors(fixture_registry) -> None:
    with pytest.raises(suites.SuiteNotFound, match="unknown"):
        suites.load("nope")
    with pytest.raises(suites.SuiteNotFound, match="not installed"):
        suites.load("absent")
    with pytest.raises(ImportError):
        suites.load("broken")


def test_cli_all_continues_after_a_failure_and_exits_non_zero(
    tmp_path: Path, fixture_registry, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results"
    code = cli.main(["--all", "--profile", "tiny", "--out", str(out), "--no-progress"])
    assert code == 1
    assert (out / "ok.json").is_file()  # ran despite "broken" failing
    err = capsys.readouterr().err
    assert "ok: ok" in err and "broken: failed" in err and "mislabelled: failed" in err
    assert "absent: skipped" in err


def test_cli_single_good_suite_exits_zero(tmp_path: Path, fixture_registry) -> None:
    out = tmp_path / "results"
    assert cli.main(["--suite", "ok", "--profile", "tiny", "--out", str(out), "--no-progress"]) == 0
    assert cli.main(["--suite", "nope", "--out", str(out)]) == 2


README = """# Benchmarks
intro stays
<!-- bench:results:ok:start -->
old numbers
<!-- bench:results:ok:end -->
between stays
<!-- bench:results:missing:start -->
<!-- bench:results:missing:end -->
"""


def test_readme_tables_are_regenerated_from_results(tmp_path: Path, fixture_registry) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(README)
    out = tmp_path / "results"
    assert cli.main(["--suite", "ok", "--profile", "tiny", "--out", str(out), "--no-progress"]) == 0
    text = readme.read_text()
    assert "old numbers" not in text
    assert "intro stays" in text and "between stays" in text
    assert "| n | mean |" in text and "![ok_plot](results/ok_plot.png)" in text
    assert "_No results yet: run `promptpress-bench --suite missing`._" in text
    assert report.update_readme(readme, out) is False  # idempotent


def test_dataset_info_is_frozen() -> None:
    info = DatasetInfo("n", "v", "l", "s")
    with pytest.raises(AttributeError):
        info.name = "other"  # type: ignore[misc]
