"""The written pairs: pooled from the repository's files, deduplicated, kept apart
from the dev half, and split by group into train and calibration (fixed)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from promptpress.bench import semantic_pairs as sp
from promptpress.bench import written_pairs as wp


def wpair(a: str, b: str, label: int = 1, group: str = "g") -> wp.WrittenPair:
    return wp.WrittenPair(a, b, label, "paraphrase-lexical" if label else "negation", group, "t")


def test_split_is_fixed_and_keeps_every_group_on_one_side() -> None:
    pairs = wp.written_pairs()
    split = wp.split()
    side_of = {}
    for side in ("train", "calibration"):
        for p in split[side]:
            side_of[(p.a, p.b)] = side
    sides: dict[str, set[str]] = {}
    for p in pairs:
        sides.setdefault(p.group, set()).add(side_of[(p.a, p.b)])
    assert all(len(s) == 1 for s in sides.values())  # an anchor never leaks across
    # Nor does a question written twice (by two writers, from two anchors).
    questions = {
        side: {wp.normalised(q) for p in split[side] for q in (p.a, p.b)}
        for side in ("train", "calibration")
    }
    assert not questions["train"] & questions["calibration"]
    share = Counter(next(iter(s)) for s in sides.values())["calibration"] / len(sides)
    assert 0.15 < share < 0.25
    assert [wp.written_split(p.group) for p in pairs] == [
        wp.written_split(g) for g in (p.group for p in pairs)
    ]
    assert wp.written_split("written-a:A-0001") == wp.written_split("written-a:A-0001")
    assert len(split["train"]) + len(split["calibration"]) == len(pairs)
    # Both sides hold both labels of every category (calibration needs near-misses).
    for side in (split["train"], split["calibration"]):
        assert {(p.category, p.label) for p in side} == {(p.category, p.label) for p in pairs}


def test_a_writers_group_is_namespaced_by_its_file(tmp_path: Path) -> None:
    path = tmp_path / "w.jsonl"
    rows = [{"a": "How do I boil an egg?", "b": "how to boil eggs", "label": 1,
             "category": "paraphrase-noise", "group": "A-0001"},
            {"a": "Who wrote Emma?", "b": "Who is the author of Emma?", "label": 1,
             "category": "paraphrase-lexical"}]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    first, second = wp.read_source("written-x", path, False)
    assert first.group == "written-x:A-0001"
    assert second.group == "written-x:a=who wrote emma"  # no group: the anchor question


def test_duplicates_in_either_order_and_collapsed_near_misses_are_dropped() -> None:
    pairs = [
        wpair("Who wrote Emma?", "Who is the author of Emma?"),
        wpair("who is the author of emma", "WHO WROTE EMMA"),  # the same pair, reversed
        wpair("Is it safe?", "is it safe", label=0),  # not a near-miss once normalised
        wpair("What is 2+2?", "what is 2+2"),  # a near-repeat: kept
    ]
    kept = wp.dedupe(pairs)
    assert kept == [pairs[0], pairs[3]]


def test_no_written_pair_near_copies_a_dev_half_question() -> None:
    dev = [q for p in sp.load_pairs() if sp.hand_split(p) == "dev" for q in (p.a, p.b)]
    pairs = list(wp.written_pairs())
    assert pairs and not wp.near_copies(pairs, dev)
    dev_keys = {tuple(sorted((wp.normalised(q.a), wp.normalised(q.b)))) for q in sp.load_pairs()
                if sp.hand_split(q) == "dev"}  # fmt: skip
    assert not dev_keys & {tuple(sorted((wp.normalised(p.a), wp.normalised(p.b)))) for p in pairs}


@pytest.mark.parametrize(
    ("question", "copy"),
    [("How do I reset my router?", True), ("Who painted the Mona Lisa?", False)],
)
def test_near_copies_by_word_jaccard(question: str, copy: bool) -> None:
    pairs = [wpair(question, "something else entirely")]
    assert bool(wp.near_copies(pairs, ["how can I reset my router"])) is copy


def test_contrast_sets_imply_pairs_between_their_rewordings_and_near_misses() -> None:
    anchor = "How do I turn on dark mode?"
    group = [
        wpair(anchor, "how can i enable dark mode", group="w:A-1"),
        wpair(anchor, "Switch on the dark theme: how?", group="w:A-1"),
        wpair(anchor, "How do I turn off dark mode?", label=0, group="w:A-1"),
        wpair("Who wrote Emma?", "Who is the author of Emma?", group="w:a=who wrote emma"),
    ]
    derived = {(p.a, p.b, p.label) for p in wp.contrast_pairs(group)}
    assert derived == {
        ("how can i enable dark mode", "Switch on the dark theme: how?", 1),
        ("how can i enable dark mode", "How do I turn off dark mode?", 0),
        ("Switch on the dark theme: how?", "How do I turn off dark mode?", 0),
    }  # groups without an id (one pair per anchor) imply nothing


def test_rewordings_give_one_same_answer_pair_per_replaced_span() -> None:
    pairs = [
        wpair("How do I fix a dripping faucet?", "How do I repair a leaky tap?"),
        wpair("Can I buy tickets at the station?", "Can I purchase tickets at the station?"),
        wpair("How do I fix a dripping faucet?", "How do I fix a dripping tap?", label=0),
        wpair("What is a 6% raise on $50k?", "What is a six percent raise on $50 thousand?"),
    ]
    made = {(p.a, p.b, p.label, p.category) for p in wp.substitution_pairs(pairs)}
    assert made == {
        (
            "How do I fix a dripping faucet?",
            "How do I repair a dripping faucet?",
            1,
            "substituted-paraphrase-lexical",
        ),
        (
            "How do I fix a dripping faucet?",
            "How do I fix a leaky tap?",
            1,
            "substituted-paraphrase-lexical",
        ),
    }  # one substitution already, a near-miss, and spans with digits give none


def test_substitutions_come_from_train_groups_only() -> None:
    split = wp.split()
    calibration = {wp.normalised(q) for p in split["calibration"] for q in (p.a, p.b)}
    made = split["train_substituted"]
    assert made and all(p.label == 1 for p in made)
    assert not any(wp.normalised(p.a) in calibration or wp.normalised(p.b) in calibration
                   for p in made)  # fmt: skip


def test_derived_pairs_come_from_train_groups_only() -> None:
    split = wp.split()
    calibration = {q for p in split["calibration"] for q in (p.a, p.b)}
    assert not any(p.a in calibration or p.b in calibration for p in split["train_derived"])


def test_groups_that_share_a_question_are_linked() -> None:
    pairs = [
        wpair("Is tap water safe?", "is faucet water ok to drink", group="x:A-2"),
        wpair("Is tap water safe to drink?", "IS TAP WATER SAFE", group="y:B-9"),
        wpair("Who wrote Emma?", "who wrote emma", group="x:A-3"),
    ]
    linked = wp.linked_groups(pairs)
    assert linked == {"x:A-2": "x:A-2", "y:B-9": "x:A-2", "x:A-3": "x:A-3"}
