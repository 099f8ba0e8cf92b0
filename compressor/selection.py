"""Cut a text into droppable units and choose which to keep within a token budget.

A unit is a word, a punctuation mark or a protected region, together with the
whitespace before it. Dropping a unit drops its whitespace too, except line
breaks, which are carried to the next kept unit so paragraphs and lists keep
their shape. The budget is met by a binary search on how many of the
best-scored optional units to keep, counting the assembled text exactly in the
target model's tokenizer, so the result never exceeds the budget unless the
protected content alone does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from promptpress.compressor.protect import Protection, Region

_WORD = r"\w+(?:['’\-]\w+)*"
_CAP = r"(?:[A-Z]\.|[A-Z][\w'’\-]*)"
_CONNECTOR = r"(?:of|the|de|du|da|del|der|di|van|von|la|le|al|bin)"
# A run of capitalised words ("Bank of America Tower", "G. H. Hardy") is one
# unit: compression keeps a name whole or drops it, never half of it.
_NAME = rf"{_CAP}(?:[ \t]+(?:{_CONNECTOR}[ \t]+){{0,2}}{_CAP}){{1,7}}"
_ATOM = re.compile(rf"{_NAME}|{_WORD}|[^\w\s]")
_CLOSERS = frozenset(",.;:!?)]}'\"…")

# Tier of an ordinary word: after the two Protection tiers (KEEP 0, ATOMIC 1).
WORD = 2


@dataclass(frozen=True, slots=True)
class Unit:
    """text[start:body] is the whitespace before the unit, text[body:end] the unit itself."""

    start: int
    body: int
    end: int
    tier: int


def split_units(text: str, regions: Sequence[Region]) -> tuple[list[Unit], str]:
    """The units of text, in order, and the trailing whitespace after the last one."""
    units: list[Unit] = []
    pos = 0

    def add_free(upto: int) -> None:
        nonlocal pos
        for m in _ATOM.finditer(text, pos, upto):
            units.append(Unit(pos, m.start(), m.end(), WORD))
            pos = m.end()

    for region in regions:
        add_free(region.start)
        units.append(Unit(pos, region.start, region.end, int(region.tier)))
        pos = region.end
    add_free(len(text))
    return units, text[pos:]


def assemble(text: str, units: Sequence[Unit], keep: Sequence[bool], trailing: str) -> str:
    """The text of the kept units, whitespace repaired where units were dropped.

    Consecutive kept units are copied as one slice of the original text; only
    the seams where a run of dropped units was cut out need repair.
    """
    if not units:
        return trailing  # whitespace only: nothing to drop
    out: list[str] = []
    run_start = -1  # text offset where the current run of kept units starts, -1 outside a run
    gap_start = gap_end = -1  # the strongest whitespace among the dropped units since the last run
    gap_breaks = 0
    last_char = ""
    for i, unit in enumerate(units):
        if not keep[i]:
            if run_start >= 0:  # close the run
                out.append(text[run_start : units[i - 1].end])
                last_char = text[units[i - 1].end - 1]
                run_start = -1
            breaks = text.count("\n", unit.start, unit.body)
            if (
                gap_start < 0
                or breaks > gap_breaks
                or (gap_end == gap_start and unit.body > unit.start)
            ):
                gap_start, gap_end, gap_breaks = unit.start, unit.body, breaks
            continue
        if run_start >= 0:
            continue  # extends the current run
        run_start = unit.body
        if not out:
            out.append(text[units[0].start : units[0].body])  # the text's own leading whitespace
        else:
            out.append(_seam(text, unit, gap_start, gap_end, gap_breaks, last_char))
        gap_start = gap_end = -1
        gap_breaks = 0
    if run_start >= 0:
        out.append(text[run_start : units[-1].end])
    if out:
        out.append(trailing)
    return "".join(out)


def _seam(
    text: str, unit: Unit, gap_start: int, gap_end: int, gap_breaks: int, last_char: str
) -> str:
    """Whitespace to put before a kept unit that follows a dropped run."""
    lead = text[unit.start : unit.body]
    if gap_breaks > lead.count("\n"):
        first_break = text.find("\n", gap_start, gap_end)
        return text[first_break:gap_end]  # keep the line structure the dropped run carried
    if not lead:
        first = text[unit.body : unit.body + 1]
        if gap_end > gap_start and first not in _CLOSERS:
            return " "  # the dropped run held a space; do not glue its neighbours
        if last_char.isalnum() and first.isalnum():
            return " "
    return lead


@dataclass(frozen=True, slots=True)
class UnitSelection:
    text: str
    tokens: int
    kept_units: int


def select_within_budget(
    units: Sequence[Unit],
    scores: Sequence[float] | np.ndarray,
    budget: int,
    *,
    render: Callable[[Sequence[bool]], str],
    count: Callable[[str], int],
    costs: Sequence[float] | None = None,
    atomic_first: bool = True,
) -> UnitSelection:
    """Keep all KEEP units and the best-ranked others whose rendering fits `budget` tokens.

    Optional units are ranked by score (ATOMIC units ahead of words when
    `atomic_first`); ties break on position and scores are rounded first, so
    float noise between machines cannot reorder near-ties: the result is
    deterministic. `render(keep)` turns a keep-mask into text and `count`
    measures it exactly. `costs`, estimates of each unit's tokens, only speed the
    search up: the largest fitting prefix of the ranking is found by
    interpolating on their running sum, then checked and corrected exactly.
    """
    optional = [i for i, u in enumerate(units) if u.tier != Protection.KEEP]
    optional.sort(
        key=lambda i: (units[i].tier if atomic_first else 0, -round(float(scores[i]), 4), i)
    )
    base = [u.tier == Protection.KEEP for u in units]

    def build(k: int) -> tuple[str, int]:
        keep = list(base)
        for i in optional[:k]:
            keep[i] = True
        out = render(keep)
        return out, count(out)

    best = build(0)
    if best[1] >= budget:
        return UnitSelection(best[0], best[1], 0)
    unit_costs = costs if costs is not None else [1] * len(units)
    estimate = np.concatenate([[0], np.cumsum([unit_costs[i] for i in optional])]) + best[1]
    lo, hi = 0, len(optional)  # invariant: build(lo) fits; the answer is in [lo, hi]
    guess = int(np.searchsorted(estimate, budget, side="right")) - 1 if costs is not None else hi
    close_enough = budget - max(1, budget // 200)  # within 0.5%: stop searching
    step = 0
    while lo < hi and best[1] < close_enough:
        mid = min(max(guess, lo + 1), hi)
        candidate = build(mid)
        if candidate[1] <= budget:
            lo, best = mid, candidate
        else:
            hi = mid - 1
        # Next: where the estimate, shifted by its error at mid, meets the budget;
        # every other step bisects, so a biased estimate cannot stall the search.
        step += 1
        error = candidate[1] - estimate[mid]
        guess = int(np.searchsorted(estimate + error, budget, side="right")) - 1
        if step % 2 == 0 or not lo < guess <= hi:
            guess = (lo + hi + 1) // 2
    return UnitSelection(best[0], best[1], lo)
