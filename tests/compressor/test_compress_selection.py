"""Units, reassembly and the budget search: pure functions, property-tested."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptpress.compressor.protect import Protection, find_regions
from promptpress.compressor.selection import assemble, select_within_budget, split_units
from promptpress.tokens import counter_for

COUNT = counter_for("gpt-4o").count

PIECES = st.sampled_from(
    [
        "alpha",
        "beta,",
        "gamma.",
        "ord_8f3a2c91",
        "$1,299.00",
        "2024-03-05",
        "https://example.com/x?y=1",
        "a@b.io",
        "(see",
        "this)",
        "\n",
        "\n\n",
        "User:",
        "`code`",
        '{"k": [1, 2]}',
        "émigré",
        "数据",
    ]
)
TEXTS = st.lists(PIECES, max_size=40).map(" ".join)


@given(TEXTS)
def test_keeping_every_unit_reproduces_the_text(text: str) -> None:
    units, trailing = split_units(text, find_regions(text))
    assert assemble(text, units, [True] * len(units), trailing) == text


@given(TEXTS)
def test_keeping_nothing_gives_empty_text(text: str) -> None:
    units, trailing = split_units(text, find_regions(text))
    assert assemble(text, units, [False] * len(units), trailing) == ("" if units else text)


def test_line_breaks_of_dropped_words_are_carried() -> None:
    text = "first line words\nsecond line\n\nthird para"
    units, trailing = split_units(text, [])
    bodies = [text[u.body : u.end] for u in units]
    keep = [b in {"first", "third", "para"} for b in bodies]
    assert assemble(text, units, keep, trailing) == "first\n\nthird para"


def test_dropped_run_does_not_glue_neighbours() -> None:
    text = "Paris (France), the capital"
    units, trailing = split_units(text, [])
    keep = [text[u.body : u.end] not in {"(", "France", ")"} for u in units]
    assert assemble(text, units, keep, trailing) == "Paris, the capital"


def _select(text: str, scores: list[float], budget: int):
    units, trailing = split_units(text, find_regions(text))
    return select_within_budget(
        units,
        scores,
        budget,
        render=lambda keep: assemble(text, units, keep, trailing),
        count=COUNT,
    ), units


@settings(max_examples=60, deadline=None)
@given(TEXTS, st.floats(0.05, 1.0), st.randoms(use_true_random=False))
def test_selection_fits_budget_and_keeps_keep_regions(
    text: str, rate: float, rnd: random.Random
) -> None:
    regions = find_regions(text)
    units, _ = split_units(text, regions)
    budget = int(rate * COUNT(text))
    sel, _ = _select(text, [rnd.random() for _ in units], budget)
    must = [text[r.start : r.end] for r in regions if r.tier == Protection.KEEP]
    for piece in must:
        assert piece in sel.text
    assert sel.tokens == COUNT(sel.text)
    if sel.kept_units > 0:  # anything optional kept means the budget was respected
        assert sel.tokens <= budget


@settings(max_examples=40, deadline=None)
@given(TEXTS, st.floats(0.05, 1.0))
def test_selection_is_deterministic(text: str, rate: float) -> None:
    units, _ = split_units(text, find_regions(text))
    scores = [float(len(text[u.body : u.end]) % 3) for u in units]  # many ties
    budget = int(rate * COUNT(text))
    assert _select(text, scores, budget)[0] == _select(text, scores, budget)[0]


def test_atomic_units_win_over_words_and_are_never_cut() -> None:
    text = "We shipped order ord_8f3a2c91 on 2024-03-05 via https://ex.com/t/42 to the customer quickly"
    units, _ = split_units(text, find_regions(text))
    scores = [
        0.0 if u.tier == Protection.ATOMIC else 10.0 for u in units
    ]  # words look far more informative
    sel, _ = _select(text, scores, 30)
    for atom in ("ord_8f3a2c91", "2024-03-05", "https://ex.com/t/42"):
        assert atom in sel.text


@pytest.mark.parametrize("rate", [0.5, 0.33, 0.2])
def test_budget_is_met_closely_on_long_text(rate: float) -> None:
    rnd = random.Random(3)
    words = [
        "the",
        "of",
        "river",
        "castle",
        "norman",
        "duke",
        "army",
        "king",
        "church",
        "france",
        "england",
        "battle",
    ]
    text = " ".join(rnd.choice(words) for _ in range(900))
    units, _ = split_units(text, find_regions(text))
    budget = int(rate * COUNT(text))
    sel, _ = _select(text, [rnd.random() for _ in units], budget)
    assert 0.9 * budget <= sel.tokens <= budget
