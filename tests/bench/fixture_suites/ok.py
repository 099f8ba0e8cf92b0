"""A minimal suite honouring the frame contract, for the frame's own tests."""

from promptpress.bench.frame import DatasetInfo, SuiteContext, SuiteResult, markdown_table, ratio

NAME = "ok"


def run(ctx: SuiteContext) -> SuiteResult:
    n = ctx.sample_size(tiny=3, quick=30, full=300)
    values = [ctx.rng("values").random() for _ in ctx.progress(range(n), desc="ok", total=n)]
    baseline = 1.0
    figures = {
        "n": n,
        "mean": sum(values) / n,
        "mean_vs_baseline": ratio(sum(values) / n, baseline),
    }
    plot = ctx.out_dir / "ok_plot.png"
    plot.write_bytes(b"\x89PNG\r\n\x1a\n")  # a placeholder file: the frame only links it
    return SuiteResult(
        suite=NAME,
        datasets=[DatasetInfo("fixture", "1", "CC0-1.0", "tests/bench/fixture_suites/ok.py")],
        figures=figures,
        table_md=markdown_table(["n", "mean"], [[n, figures["mean"]]]),
        plots=[plot],
    )
