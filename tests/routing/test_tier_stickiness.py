"""A conversation keeps its tier: the decision is the conversation's hardest point so
far, never its last message alone; and bare numbers are not maths."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptpress.server.routing.difficulty import DifficultyClassifier, extract_features
from promptpress.server.routing.difficulty_features import prefix_features
from promptpress.types import Message, Role
from tests.routing.test_difficulty import EASY, HARD

TIERS = ("small", "frontier")
HARD_TURN = (
    "Prove that for every integer n > 1 the sum 1/1^2 + ... + 1/n^2 < 2 - 1/n, then derive "
    "a bound for the tail step by step."
)


def classifier() -> DifficultyClassifier:
    return DifficultyClassifier(TIERS, (0.5,))


def test_the_issue_conversation_stays_on_the_frontier():
    turn1 = [Message(Role.USER, HARD_TURN)]
    turn2 = [
        *turn1,
        Message(Role.ASSISTANT, "Here is the proof: ..."),
        Message(Role.USER, "Thanks! How many seats does team 9 have?"),
    ]
    c = classifier()
    assert c.decide(turn1).tier == "frontier"
    assert c.score(turn2)[0] < 0.5  # judged by its last message alone it would drop...
    second = c.decide(turn2)
    assert second.tier == "frontier"  # ...but the conversation keeps its tier
    assert "hardest at turn 1 of 2" in second.reason


def test_an_easy_conversation_moves_up_when_it_turns_hard():
    turn1 = [Message(Role.USER, EASY[0])]
    turn2 = [*turn1, Message(Role.ASSISTANT, "Canberra."), Message(Role.USER, HARD[0])]
    c = classifier()
    assert (c.decide(turn1).tier, c.decide(turn2).tier) == ("small", "frontier")


def test_the_last_prefix_is_the_request_as_it_stands():
    messages = [
        Message(Role.SYSTEM, "Be brief."),
        Message(Role.USER, EASY[1]),
        Message(Role.ASSISTANT, "Jane Austen."),
        Message(Role.USER, HARD[1]),
        Message(Role.ASSISTANT, "Let me look that up.", tool_calls=()),
    ]
    points = prefix_features(messages)
    assert [q for q, _ in points] == [EASY[1], EASY[1], HARD[1], HARD[1]]
    assert points[-1][1] == extract_features(messages)


POOL = [*EASY, *HARD, "Thanks!", "And in 2024-11-05 terms?", "Call 555-1234 at 10:30."]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(POOL), st.sampled_from(["OK.", "Sure: " + "word " * 80])),
        min_size=2,
        max_size=6,
    )
)
def test_a_conversation_never_moves_down_a_tier(turns):
    c = classifier()
    history: list[Message] = []
    rank = []
    for question, answer in turns:
        history.append(Message(Role.USER, question))
        rank.append(TIERS.index(c.decide(history).tier))
        history.append(Message(Role.ASSISTANT, answer))
    assert rank == sorted(rank)


@pytest.mark.parametrize(
    ("question", "maths"),
    [
        ("How many seats does team 9 have?", False),
        ("Call me at 555-1234 on 2024-11-05.", False),
        ("Is Python 3.11 faster than 3.10?", False),
        ("Room 101, floor 3: where is it?", False),
        ("What is 12 * 7?", True),
        ("A box holds 12 eggs. How many eggs are in 5 boxes?", True),
        ("Solve x = 3 + y for y.", True),
    ],
)
def test_bare_numbers_are_not_maths(question, maths):
    assert (extract_features([Message(Role.USER, question)]).math > 0) is maths
