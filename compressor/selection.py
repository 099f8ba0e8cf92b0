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

from promptpress.compressor.protect import Region, Tier

_ATOM = re.compile(r"\w+(?:['’\-]\w+)*|[^\w\s]")
_CLOSERS = frozenset(",.;:!?)]}'\"…")

# Tier of an ordinary word, after the protected tiers.
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


def _line_breaks(ws: str) -> int:
    return ws.count("\n")


def assemble(text: str, units: Sequence[Unit], keep: Sequence[bool], trailing: str) -> str:
    """The text of the kept units, whitespace repaired where units were dropped."""
    out: list[str] = []
    gap: str | None = None  # strongest whitespace of the dropped run since the last kept unit
    last_char = ""
    for unit, kept in zip(units, keep, strict=True):
        lead = text[unit.start : unit.body]
        if not kept:
            if gap is None or _line_breaks(lead) > _line_breaks(gap) or (not gap and lead):
                gap = lead
            continue
        body = text[unit.body : unit.end]
        if not out:
            lead = text[units[0].start : units[0].body]  # the text's own leading whitespace
        elif gap is not None:
            if _line_breaks(gap) > _line_breaks(lead):
                lead = gap[gap.find("\n") :] if "\n" in gap else gap
            elif not lead and gap and body[:1] not in _CLOSERS:
                lead = " "  # the dropped run held a space; do not glue its neighbours
            elif not lead and last_char.isalnum() and body[:1].isalnum():
                lead = " "
        out.append(lead)
        out.append(body)
        last_char = body[-1:]
        gap = None
    if out:
        out.append(trailing)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Selection:
    text: str
    tokens: int
    kept_units: int


def select_within_budget(
    units: Sequence[Unit],
    scores: Sequence[float],
    budget: int,
    *,
    render: Callable[[Sequence[bool]], str],
    count: Callable[[str], int],
) -> Selection:
    """Keep all KEEP units and the best-ranked others whose rendering fits `budget` tokens.

    Optional units are ranked by (tier, -score, position): ATOMIC before
    ordinary words, then by score; ties break on position, so the result is
    deterministic. Scores are rounded first so float noise between machines
    cannot reorder near-ties. `render(keep)` turns a keep-mask into text.
    """
    optional = [i for i, u in enumerate(units) if u.tier != Tier.KEEP]
    optional.sort(key=lambda i: (units[i].tier, -round(float(scores[i]), 4), i))
    base = [u.tier == Tier.KEEP for u in units]

    def build(k: int) -> tuple[str, int]:
        keep = list(base)
        for i in optional[:k]:
            keep[i] = True
        out = render(keep)
        return out, count(out)

    best = build(0)
    if best[1] >= budget:
        return Selection(best[0], best[1], 0)
    lo, hi = 0, len(optional)  # invariant: build(lo) fits; the answer is in [lo, hi]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        candidate = build(mid)
        if candidate[1] <= budget:
            lo, best = mid, candidate
        else:
            hi = mid - 1
    return Selection(best[0], best[1], lo)
