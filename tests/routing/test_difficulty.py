"""The difficulty classifier: heuristic, trained model, and the tier decision."""

from __future__ import annotations

import json

import numpy as np
import pytest

from promptpress.errors import FailedPrecondition, InvalidInput
from promptpress.server.routing.difficulty import (
    DifficultyClassifier,
    TrainedDifficultyModel,
    extract_features,
    heuristic_score,
)
from promptpress.server.routing.difficulty_train import (
    load_labelled,
    train_difficulty_model,
    train_from_file,
)
from promptpress.types import Message, Role

EASY = [
    "What is the capital of Australia?",
    "Who wrote Pride and Prejudice?",
    "Write a short, friendly email inviting my team to a picnic on Friday.",
    "Describe a sunset over the sea in three sentences.",
    "Translate 'good morning' into Spanish.",
    "Suggest a name for a golden retriever puppy.",
]
HARD = [
    "Implement a function in Python that returns the longest palindromic substring in O(n^2) time.",
    "Find all integers $n$ such that $n^2 + 3n + 5$ is divisible by 121. Prove your answer.",
    "A train leaves at 3 pm going 60 mph; another leaves at 4 pm going 80 mph. How many miles "
    "from the station does the second train catch up? Think step by step.",
    "Which of the following best explains the reaction's stereochemistry?\n"
    "A) SN1 racemisation\nB) SN2 inversion\nC) E2 elimination\nD) radical halogenation",
    "```\ndef f(x):\n    return x * f(x - 1)\n```\nWhy does this recursion never terminate? Fix it.",
]


def user(text: str) -> list[Message]:
    return [Message(Role.USER, text)]


@pytest.mark.parametrize("text", EASY)
def test_heuristic_scores_plain_requests_easy(text):
    assert heuristic_score(extract_features(user(text))) < 0.5


@pytest.mark.parametrize("text", HARD)
def test_heuristic_scores_code_maths_and_reasoning_hard(text):
    assert heuristic_score(extract_features(user(text))) >= 0.5


def test_features_read_the_last_user_message_and_conversation_depth():
    messages = [
        Message(Role.SYSTEM, "You are helpful."),
        Message(Role.USER, "Solve $x^2 = 4$."),
        Message(Role.ASSISTANT, "x = 2 or x = -2"),
        Message(Role.USER, "Thanks! Now say hi."),
    ]
    features = extract_features(messages)
    assert features.depth == 2
    assert features.math == 0  # the maths was in an earlier turn
    assert features.prompt_tokens > features.query_tokens


@pytest.mark.parametrize(
    ("score", "thresholds", "tiers", "expected"),
    [
        (0.2, (0.5,), ("small", "frontier"), "small"),
        (0.5, (0.5,), ("small", "frontier"), "frontier"),
        (0.6, (0.4, 0.7), ("small", "mid", "frontier"), "mid"),
        (0.9, (0.4, 0.7), ("small", "mid", "frontier"), "frontier"),
        # One threshold, three tiers: clearing it goes to the top.
        (0.9, (0.5,), ("small", "mid", "frontier"), "frontier"),
        (0.9, (0.5,), ("only",), "only"),
    ],
)
def test_threshold_picks_the_tier(score, thresholds, tiers, expected):
    assert DifficultyClassifier(tiers, thresholds).tier_for(score) == expected


def test_decision_explains_itself_and_forced_tier_wins():
    classifier = DifficultyClassifier(("small", "frontier"), (0.5,))
    hard = classifier.decide(user(HARD[0]))
    assert (hard.tier, hard.forced) == ("frontier", False)
    assert "heuristic score" in hard.reason and "code" in hard.reason

    forced = classifier.decide(user(HARD[0]), forced_tier="small")
    assert (forced.tier, forced.forced) == ("small", True)
    assert forced.score == hard.score


def test_unknown_forced_tier_and_no_tiers_are_failed_precondition():
    with pytest.raises(FailedPrecondition, match="unknown tier 'huge'"):
        DifficultyClassifier(("small", "frontier")).decide(user("hi"), forced_tier="huge")
    with pytest.raises(FailedPrecondition, match="no tiers"):
        DifficultyClassifier(()).decide(user("hi"))


# --- trained model ----------------------------------------------------------------

TRAIN_EASY = [
    "What year did the Berlin Wall fall?", "Write a haiku about autumn leaves.",
    "Recommend three novels for a long flight.", "What is the tallest mountain in Africa?",
    "Give me a catchy slogan for a bakery.", "Summarise the plot of Cinderella in two lines.",
    "What's a good name for a coffee shop?", "Who painted the Mona Lisa?",
    "Write a thank-you note to my neighbour for watering my plants.",
    "What is the boiling point of water in Fahrenheit?", "Tell me a fun fact about octopuses.",
    "Describe the smell of rain.",
]  # fmt: skip
TRAIN_HARD = [
    "Write a Rust function that parses an HTTP/1.1 request line and handles malformed input.",
    "Prove that there are infinitely many primes of the form 4k+3.",
    "Implement Dijkstra's algorithm with a binary heap and analyse its complexity.",
    "Compute the integral of x^2 e^x from 0 to 1 and show each step.",
    "Design a lock-free queue in C++ and argue why it is linearisable.",
    "How many positive integers below 1000 are divisible by 7 but not by 11?",
    "Derive the Black-Scholes PDE from a delta-hedged portfolio.",
    "Debug this SQL query that double-counts rows after a LEFT JOIN on orders.",
    "Find the eigenvalues of the 3x3 matrix [[2,1,0],[1,2,1],[0,1,2]].",
    "Explain why the halting problem is undecidable using a diagonal argument.",
    "Optimise this Python loop over a 10^7 element list to run under one second.",
    "Solve the recurrence T(n) = 2T(n/2) + n log n.",
]  # fmt: skip


def write_jsonl(path, easy, hard):  # type: ignore[no-untyped-def]
    rows = [{"text": t, "label": "easy"} for t in easy] + [
        {"text": t, "label": "hard"} for t in hard
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_trained_model_round_trips_as_json_and_classifies_held_out_requests(tmp_path, embedder):
    data = write_jsonl(tmp_path / "train.jsonl", TRAIN_EASY, TRAIN_HARD)
    out = tmp_path / "model.json"

    report = train_from_file(data, out, embedder, embedding_model=embedder.model_id)

    assert (report.examples, report.hard) == (24, 12)
    saved = json.loads(out.read_text())
    assert saved["format"] == "promptpress.difficulty/1" and saved["embedding_dim"] == 384
    model = TrainedDifficultyModel.load(out)
    classifier = DifficultyClassifier(("small", "frontier"), (0.5,), model=model, embedder=embedder)
    easy = [classifier.decide(user(t)) for t in EASY]
    hard = [classifier.decide(user(t)) for t in HARD]
    correct = sum(d.tier == "small" for d in easy) + sum(d.tier == "frontier" for d in hard)
    assert correct >= len(EASY) + len(HARD) - 2  # 11 held-out requests, at most 2 wrong
    assert all(d.reason.startswith("model score") for d in easy + hard)


def test_features_only_model_needs_no_embedder(tmp_path):
    examples = load_labelled(write_jsonl(tmp_path / "t.jsonl", TRAIN_EASY, TRAIN_HARD))
    model, report = train_difficulty_model(examples, None)
    assert model.embedding_dim == 0 and report.train_accuracy > 0.8
    restored = TrainedDifficultyModel.from_json(model.to_json())
    assert np.allclose(restored.coef, model.coef)
    classifier = DifficultyClassifier(("small", "frontier"), model=restored)
    assert classifier.decide(user(HARD[1])).tier == "frontier"


def test_model_needs_the_embedding_model_it_was_trained_on(tmp_path, embedder):
    examples = load_labelled(write_jsonl(tmp_path / "t.jsonl", TRAIN_EASY, TRAIN_HARD))
    model, _ = train_difficulty_model(examples, embedder, embedding_model="some/other-model")
    with pytest.raises(ValueError, match="other-model"):
        DifficultyClassifier(("small", "frontier"), model=model, embedder=embedder)
    with pytest.raises(ValueError, match="needs an embedder"):
        DifficultyClassifier(("small", "frontier"), model=model)


@pytest.mark.parametrize(
    ("lines", "where"),
    [
        (['{"text": "hi", "label": "medium"}', '{"text": "x", "label": "hard"}'], "line 1"),
        (['{"text": "hi", "label": "easy"}', "not json"], "line 2"),
        (['{"text": "", "label": "easy"}', '{"text": "x", "label": "hard"}'], "line 1"),
        (['{"text": "a", "label": "easy"}', '{"text": "b", "label": "easy"}'], "both labels"),
    ],
)
def test_bad_training_files_are_rejected_with_the_line(tmp_path, lines, where):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines))
    with pytest.raises(InvalidInput, match=where):
        load_labelled(path)


def test_model_file_of_another_format_is_refused():
    with pytest.raises(ValueError, match="not a difficulty model"):
        TrainedDifficultyModel.from_json(json.dumps({"format": "pickle?"}))
