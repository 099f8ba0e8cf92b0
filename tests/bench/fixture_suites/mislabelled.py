"""A suite that returns a result labelled with another suite's name."""

from promptpress.bench.frame import SuiteContext, SuiteResult

NAME = "mislabelled"


def run(ctx: SuiteContext) -> SuiteResult:
    return SuiteResult(suite="something-else")
