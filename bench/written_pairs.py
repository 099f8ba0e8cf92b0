"""The written pairs the pair encoder learns from and is calibrated on.

Every labelled pair written by hand for this repository, except the dev half of
bench/data/semantic_pairs_eval.jsonl (only scored) and the held-out file (run
once, never read here), is pooled (`SOURCES`), deduplicated and split by a fixed
hash of its group into:

- ``train`` (~80%): stage 2 of the pair encoder's training;
- ``calibration`` (~20%): never trained on; its near-misses set the threshold
  for an error bound (bench/train_pair_encoder.py), its same-answer pairs show
  the recall that threshold leaves.

A group is the anchor a pair was written from: the writer's ``group`` id where
the file has one (contrast sets: a question, its rewordings and its near-misses
share one), else the stored question itself. Splitting by group keeps an anchor's
rewordings and near-misses on one side, so calibration never scores a near-miss
whose anchor was trained on.

Two filters run before the split, so neither side holds a copy of the other or
of the dev half: a pair already seen (same two questions after lowercasing and
dropping punctuation, in either order) is dropped, and so is a pair with a
question whose word-set Jaccard similarity to any dev-half question exceeds
`DEV_JACCARD` (everyday questions recur across writers).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from promptpress.bench.frame import DatasetInfo
from promptpress.bench.semantic_pairs import EVAL_PATH, LabelledPair, hand_split, load_pairs

DATA = EVAL_PATH.parent
# (source name, file, keep only the eval file's train half). Order matters: of two
# duplicate pairs the first one's source keeps it.
SOURCES: tuple[tuple[str, Path, bool], ...] = (
    ("eval-train-half", EVAL_PATH, True),
    ("train", DATA / "semantic_pairs_train.jsonl", False),
    ("round1", DATA / "semantic_pairs_round1.jsonl", False),
    ("written-a", DATA / "semantic_pairs_written_a.jsonl", False),
    ("written-b", DATA / "semantic_pairs_written_b.jsonl", False),
    ("round2", DATA / "semantic_pairs_round2.jsonl", False),
    ("written-c", DATA / "semantic_pairs_written_c.jsonl", False),
    ("written-d", DATA / "semantic_pairs_written_d.jsonl", False),
    ("round3", DATA / "semantic_pairs_round3.jsonl", False),
    ("round4", DATA / "semantic_pairs_round4.jsonl", False),
    ("round5", DATA / "semantic_pairs_round5.jsonl", False),
    ("round6", DATA / "semantic_pairs_round6.jsonl", False),
    ("round7", DATA / "semantic_pairs_round7.jsonl", False),
    ("round8", DATA / "semantic_pairs_round8.jsonl", False),
    ("round9", DATA / "semantic_pairs_round9.jsonl", False),
    ("round10", DATA / "semantic_pairs_round10.jsonl", False),
    ("round11", DATA / "semantic_pairs_round11.jsonl", False),
    ("round12", DATA / "semantic_pairs_round12.jsonl", False),
    ("round13", DATA / "semantic_pairs_round13.jsonl", False),
    ("round14", DATA / "semantic_pairs_round14.jsonl", False),
    ("round15", DATA / "semantic_pairs_round15.jsonl", False),
    ("round16", DATA / "semantic_pairs_round16.jsonl", False),
    ("round17", DATA / "semantic_pairs_round17.jsonl", False),
    ("round18", DATA / "semantic_pairs_round18.jsonl", False),
    ("round19", DATA / "semantic_pairs_round19.jsonl", False),
    ("round20", DATA / "semantic_pairs_round20.jsonl", False),
    ("round21", DATA / "semantic_pairs_round21.jsonl", False),
    ("round22", DATA / "semantic_pairs_round22.jsonl", False),
    ("round23", DATA / "semantic_pairs_round23.jsonl", False),
    ("perspective", DATA / "semantic_pairs_perspective.jsonl", False),
    ("synonyms", DATA / "semantic_pairs_synonyms.jsonl", False),
    ("round24", DATA / "semantic_pairs_round24.jsonl", False),
    ("round25", DATA / "semantic_pairs_round25.jsonl", False),
    ("round26", DATA / "semantic_pairs_round26.jsonl", False),
    ("round27", DATA / "semantic_pairs_round27.jsonl", False),
    ("round28", DATA / "semantic_pairs_round28.jsonl", False),
    ("round29", DATA / "semantic_pairs_round29.jsonl", False),
    ("round30", DATA / "semantic_pairs_round30.jsonl", False),
    ("round31", DATA / "semantic_pairs_round31.jsonl", False),
    ("round32", DATA / "semantic_pairs_round32.jsonl", False),
)
CALIBRATION_SHARE = 0.2
CALIBRATION_INFO = DatasetInfo(
    name="promptpress semantic-cache pairs (written calibration split)",
    version="~20% of the written pairs by a hash of the group (bench/written_pairs.py)",
    licence="Apache-2.0 (written for this repository)",
    # Every source, from SOURCES, so the list cannot fall behind it.
    source="bench/data/semantic_pairs_{"
    + ",".join(
        path.stem.removeprefix("semantic_pairs_") + (" (train half)" if half else "")
        for _, path, half in SOURCES
    )
    + "}.jsonl; "
    "see bench/data/README.md",
)
DEV_JACCARD = 0.5
P = TypeVar("P", bound=LabelledPair)
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class WrittenPair(LabelledPair):
    group: str  # "<source>:<writer's group id>", or "<source>:a=<stored question>"
    source: str


def words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def normalised(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def written_split(group: str, share: float = CALIBRATION_SHARE) -> str:
    """The split of a group: "train" or "calibration", by a fixed hash (sha256)."""
    h = int.from_bytes(hashlib.sha256(group.encode()).digest()[:8], "big")
    return "calibration" if h / 2**64 < share else "train"


def read_source(name: str, path: Path, train_half_only: bool) -> list[WrittenPair]:
    if train_half_only:
        return [WrittenPair(p.a, p.b, p.label, p.category, f"{name}:a={normalised(p.a)}", name)
                for p in load_pairs(path) if hand_split(p) == "train"]  # fmt: skip
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        group = str(r["group"]) if r.get("group") else f"a={normalised(r['a'])}"
        out.append(WrittenPair(r["a"], r["b"], int(r["label"]), r["category"],
                               f"{name}:{group}", name))  # fmt: skip
    return out


def near_copies(
    pairs: Sequence[WrittenPair], questions: Iterable[str], limit: float = DEV_JACCARD
) -> set[int]:
    """Indices of pairs with a question whose word-set Jaccard similarity to one of
    `questions` exceeds `limit`."""
    others = [w for w in {words(q) for q in questions} if w]
    out = set()
    for k, p in enumerate(pairs):
        for mine in (words(p.a), words(p.b)):
            if any(len(mine & o) / len(mine | o) > limit for o in others if mine & o):
                out.add(k)
                break
    return out


def dedupe(pairs: Sequence[P], *, keep_repeats: bool = True) -> list[P]:
    """The first of pairs that are the same two questions (normalised, either order).
    A pair whose two questions normalise to one text is dropped when it is a
    near-miss (it no longer is one), and with `keep_repeats=False` in any case."""
    seen: set[tuple[str, ...]] = set()
    out = []
    for p in pairs:
        key = tuple(sorted((normalised(p.a), normalised(p.b))))
        if key[0] == key[1] and (p.label == 0 or not keep_repeats):
            continue
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


@lru_cache(maxsize=1)
def written_pairs() -> tuple[WrittenPair, ...]:
    """Every usable written pair of the sources present, deduplicated, without
    near-copies of dev-half questions, in source order."""
    pooled = [p for name, path, half in SOURCES if path.exists()
              for p in read_source(name, path, half)]  # fmt: skip
    pooled = dedupe(pooled)
    dev = [q for p in load_pairs(EVAL_PATH) if hand_split(p) == "dev" for q in (p.a, p.b)]
    drop = near_copies(pooled, dev)
    return tuple(p for k, p in enumerate(pooled) if k not in drop)


def contrast_pairs(pairs: Sequence[WrittenPair]) -> list[LabelledPair]:
    """Pairs implied by the writers' contrast sets, between the questions written from
    one anchor (groups with ids only): two same-answer rewordings of the anchor answer
    each other ("derived-paraphrase", 1), and a near-miss of the anchor is one of each
    rewording too ("derived-<its category>", 0): the reworded question and the near-miss
    differ both in wording and in the decisive span, which no written pair shows. No
    text is made up: both questions are written ones."""
    sets: dict[str, tuple[list[str], list[tuple[str, str]]]] = {}
    for p in pairs:
        if ":a=" in p.group:
            continue  # no anchor id: one pair per anchor question
        same, other = sets.setdefault(p.group, ([], []))
        if p.label:
            same.append(p.b)
        else:
            other.append((p.b, p.category))
    out = []
    for same, other in sets.values():
        out += [LabelledPair(x, y, 1, "derived-paraphrase")
                for k, x in enumerate(same) for y in same[k + 1 :]]  # fmt: skip
        out += [LabelledPair(x, y, 0, f"derived-{c}") for x in same for y, c in other]
    return dedupe(out, keep_repeats=False)


# Same-answer rewordings whose replaced spans are each taken to keep the answer.
SUBSTITUTED = ("paraphrase-lexical", "paraphrase-noise")
SUBSTITUTION_WORDS = 2  # the longest span replaced, in words, on either side
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?")


def substitution_pairs(pairs: Sequence[WrittenPair]) -> list[LabelledPair]:
    """Single substitutions taken from written rewordings: where a same-answer lexical or
    noisy rewording replaces several spans ("How do I fix a dripping faucet?" / "How do I
    repair a leaky tap?"), each span replaced alone is a same-answer pair too ("How do I
    repair a dripping faucet?"; label 1, "substituted-<category>"). Written pairs where
    exactly one word differs are near-misses 30 times out of 31 (entity, date, time,
    on/off ...), so an encoder trained on them alone reads any one-word change as one;
    these show it one-word synonyms ("buy" / "purchase"), in the writers' own words. Only
    spans of at most SUBSTITUTION_WORDS words without digits, from rewordings with
    two or more."""
    out = []
    for p in pairs:
        if not p.label or p.category not in SUBSTITUTED:
            continue
        ta, tb = list(_TOKEN.finditer(p.a)), list(_TOKEN.finditer(p.b))
        ops = difflib.SequenceMatcher(
            None, [t.group().lower() for t in ta], [t.group().lower() for t in tb], autojunk=False
        ).get_opcodes()
        edits = [op for op in ops if op[0] != "equal"]
        if len(edits) < 2:
            continue  # the pair is a single substitution already
        for tag, i1, i2, j1, j2 in edits:
            if tag != "replace" or max(i2 - i1, j2 - j1) > SUBSTITUTION_WORDS:
                continue
            if any(t.group().isdigit() for t in ta[i1:i2] + tb[j1:j2]):
                continue  # "6%" / "six percent": the symbols around a number differ
            text = (
                p.a[: ta[i1].start()]
                + p.b[tb[j1].start() : tb[j2 - 1].end()]
                + p.a[ta[i2 - 1].end() :]
            )
            out.append(LabelledPair(p.a, text, 1, f"substituted-{p.category}"))
    return dedupe(out, keep_repeats=False)


def linked_groups(pairs: Sequence[WrittenPair]) -> dict[str, str]:
    """group -> the first (sorted) group of the groups it shares a question with,
    directly or through others (normalised text). Two writers, or two files, may
    write the same question from different anchors: splitting by the linked group
    keeps every copy of a question on one side."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        for q in (p.a, p.b):
            a, b = root(p.group), root("q:" + normalised(q))
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups = sorted({p.group for p in pairs})
    first: dict[str, str] = {}
    for g in groups:  # sorted: the first group of a component names it
        first.setdefault(root(g), g)
    return {g: first[root(g)] for g in groups}


def split(
    pairs: Sequence[WrittenPair] | None = None,
) -> dict[str, list[LabelledPair]]:
    """{"train": [...], "calibration": [...]} of the written pairs, and
    "train_derived": the contrast pairs implied by the train split's groups, and
    "train_substituted": the single substitutions of its rewordings."""
    pairs = written_pairs() if pairs is None else pairs
    linked = linked_groups(pairs)
    out: dict[str, list[LabelledPair]] = {"train": [], "calibration": []}
    train = []
    for p in pairs:
        side = written_split(linked[p.group])
        out[side].append(LabelledPair(p.a, p.b, p.label, p.category))
        if side == "train":
            train.append(p)
    out["train_derived"] = contrast_pairs(train)
    # A made-up question can be one the calibration side holds ("boss" -> "manager").
    held = {normalised(q) for p in out["calibration"] for q in (p.a, p.b)}
    out["train_substituted"] = [p for p in substitution_pairs(train)
                                if normalised(p.b) not in held]  # fmt: skip
    return out
