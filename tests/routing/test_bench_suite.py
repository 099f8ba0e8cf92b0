"""The routing bench suite's arithmetic (the suite itself runs under promptpress-bench)."""

from __future__ import annotations

import pytest

from promptpress.bench.suites.routing import Example, evaluate, split_by_source
from promptpress.server.routing.tiers import Prices

PRICES = {"small": Prices(input=1.0, output=2.0), "frontier": Prices(input=10.0, output=20.0)}


def test_evaluate_counts_routing_outcomes_and_cost_against_always_frontier():
    examples = [Example("e", "a", False), Example("e", "b", False), Example("h", "c", True),
                Example("h", "d", True)]  # fmt: skip
    scores = [0.1, 0.9, 0.8, 0.2]  # one easy and one hard request misrouted
    result = evaluate(scores, examples, [1_000_000] * 4, PRICES)

    assert result["accuracy"] == 0.5
    assert result["cheap_share"] == 0.5
    assert result["hard_to_frontier"] == 0.5 and result["easy_to_cheap"] == 0.5
    # Output: 250 tokens (easy), 700 (hard). Frontier always: 4 M input tokens at $10.
    frontier = 40 + (2 * 250 + 2 * 700) * 20 / 1e6
    assert result["always_frontier_cost_usd"] == pytest.approx(frontier)
    routed = (
        (1 + 250 * 2 / 1e6) + (10 + 250 * 20 / 1e6) + (10 + 700 * 20 / 1e6) + (1 + 700 * 2 / 1e6)
    )
    assert result["cost_ratio"] == pytest.approx(routed / frontier)


def test_split_keeps_every_source_on_both_sides_without_overlap():
    examples = [Example(src, f"{src}{i}", src == "h") for src in ("e", "h") for i in range(7)]
    train, test = split_by_source(examples, seed=1)
    assert {e.source for e in train} == {e.source for e in test} == {"e", "h"}
    assert not {e.text for e in train} & {e.text for e in test}
    assert len(train) + len(test) == len(examples)


def test_replays_count_downward_changes_per_conversation():
    from promptpress.bench.suites.routing_replay import Replay, downward_changes, evaluate_rule
    from promptpress.types import Message, Role

    assert downward_changes([0, 1, 0, 1, 1, 0]) == 2 and downward_changes([0, 0, 1, 1]) == 0
    turn = (Message(Role.USER, "q"),)
    replays = [Replay("a", (turn, turn, turn)), Replay("b", (turn, turn))]
    tiers = iter(["frontier", "small", "small", "small", "small"])
    result = evaluate_rule(
        replays, lambda _: next(tiers), ("small", "frontier"), lambda _: 100, PRICES
    )
    assert result["downward_changes_per_conversation"] == 0.5
    assert result["conversations_with_a_downward_change"] == 0.5
    assert result["turns"] == 5 and result["frontier_share"] == 0.2
    # 100 prompt + 250 output tokens a turn; one turn at frontier prices, four at small ones
    expected = (100 * 10 + 250 * 20 + 4 * (100 * 1 + 250 * 2)) / (5 * (100 * 10 + 250 * 20))
    assert result["cost_ratio"] == pytest.approx(expected, rel=1e-3)
