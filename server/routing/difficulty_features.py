"""The features a difficulty score is computed from, for one request or for every
point of a conversation (see `prefix_features`).

Each feature is the capped sum of the weights of the cues present in the question
(the last user message), so one unmistakable cue (a code fence) counts fully and
weak ones only together; sizes and depth come from the whole conversation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from promptpress.types import Message, Role, question_of

_I = re.IGNORECASE | re.MULTILINE

# (pattern, weight): a feature is the capped sum of the weights of the cues present,
# so one unmistakable cue (a code fence) counts fully and weak ones only together.
_CODE = [
    (re.compile(p, _I), w)
    for p, w in (
        (r"```", 1.0),
        (r"^\s*(def|class|import|from \S+ import|#include|public static|fn|func|SELECT)\b", 1.0),
        (
            r"\b(python|javascript|typescript|java|c\+\+|c#|golang|rust|sql|bash|regex|html|css)\b",
            0.6,
        ),
        (
            r"\b(function|algorithm|implement (a|an|the)|program|debug|refactor|compiler?|recursion"
            r"|(time|space) complexity|data structure|linked list|binary (search|tree)|arrays?"
            r"|sorted list)\b",
            0.6,
        ),
        (r"[{};]\s*$", 0.4),
    )
]
_MATH = [
    (re.compile(p, _I), w)
    for p, w in (
        (r"\$[^$\n]+\$|\\\(|\\\[", 1.0),
        (
            r"\\(frac|sqrt|sum|prod|int|binom|cdot|times|le|ge|neq|pi|angle|triangle|overline)\b",
            1.0,
        ),
        # An operation between two numbers ("12 * 7", "3/4", "5 - 2"), not a number that
        # merely has a dash or slash in it (dates, phone numbers, ids, versions, times).
        (
            r"(?<![\w.,:/-])\d+(?:\.\d+)?\s*(?:[+*/^=<>×÷]|\s-\s)\s*\d+(?:\.\d+)?(?![\w.:/-])"
            r"|\b[a-z]\s*[\^=]\s*\d",
            0.5,
        ),
        (
            r"\b(calculate|compute|solve|equation|probability|integer|prime|remainder|divisible"
            r"|derivative|integral|polynomial|expected value|modulo|perimeter|area of)\b",
            0.6,
        ),
    )
]
# Quantity words are maths only about numbers the question gives: "how many seats does
# team 9 have?" is a lookup, "5 boxes of 12 eggs, how many eggs?" is arithmetic.
_QUANTITY = re.compile(
    r"\b(how (many|much|long|old|far)|twice|times (as|more)|half|average|total|per|each"
    r"|percent(age)?|ratio|sum of|product of|more than|less than)\b",
    _I,
)
_QUANTITY_WEIGHT = 0.3
_QUANTITY_MIN_NUMBERS = 2  # digits and number words ("four more", "two thirds", "half")
_NUMBER_WORD = re.compile(
    r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty"
    r"|thirty|forty|fifty|hundred|thousand|million|dozen|half|third|thirds|quarter"
    r"|quarters|fourths?|fifths?|twice|thrice|double|triple)\b",
    _I,
)
_REASONING = re.compile(
    r"\b(step[- ]by[- ]step|prove|proof|derive|why|justify|deduce|infer|reason(ing)?"
    r"|analy[sz]e|trade-?offs?|implications?|determine|which of the following|most likely"
    r"|explain how|think|relationship between|true, false,? or uncertain|does not belong)\b",
    _I,
)
# Tasks that transform or produce text: well within a small model's reach.
_EASY_TASK = re.compile(
    r"\b(extract|summari[sz]e|rewrite|rephrase|paraphrase|translate|proofread|edit|"
    r"json|csv|email|letter|poem|story|blog|essay|tweet|slogan|describe|imagine|pretend|"
    r"role-?play|act as|draft|compose|brainstorm|list)\b",
    _I,
)
_OPTIONS = re.compile(r"^\s*\(?[A-D][).:]\s+\S", re.MULTILINE)
_CONSTRAINT = re.compile(
    r"\b(must|should|at least|at most|no more than|exactly|without|do not|don't|ensure"
    r"|make sure|limit(ed)? to|within|only|in \d+ (words|sentences|lines))\b",
    _I,
)
_LIST_ITEM = re.compile(r"^\s*(\d+[.)]|[-*•])\s+\S", re.MULTILINE)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?")

FEATURE_NAMES = (
    "log_prompt_tokens",
    "log_query_tokens",
    "code",
    "math",
    "numbers",
    "reasoning",
    "options",
    "constraints",
    "easy_task",
    "depth",
)


@dataclass(frozen=True, slots=True)
class DifficultyFeatures:
    prompt_tokens: int  # the whole conversation
    query_tokens: int  # the last user message
    code: float  # share of code cues present, 0..1
    math: float  # share of maths cues present, 0..1
    numbers: int  # numbers in the query
    reasoning: int  # reasoning cue words in the query
    options: int  # multiple-choice option lines (A) ... D))
    constraints: int  # constraint words and list items in the query
    easy_task: int  # cues of writing/transforming tasks (extract, rewrite, email, ...)
    depth: int  # user turns in the conversation

    def vector(self) -> np.ndarray:
        """Numeric form, in FEATURE_NAMES order, squashed so no feature dominates by scale."""
        return np.array(
            [
                math.log1p(self.prompt_tokens),
                math.log1p(self.query_tokens),
                self.code,
                self.math,
                math.log1p(min(self.numbers, 8)),
                math.log1p(self.reasoning),
                min(self.options, 4) / 4,
                math.log1p(self.constraints),
                math.log1p(self.easy_task),
                math.log1p(max(0, self.depth - 1)),
            ],
            dtype=np.float64,
        )


def question_features(question: str, count_tokens: Callable[[str], int]) -> DifficultyFeatures:
    """The features of the question alone (prompt_tokens and depth left at 0)."""
    numbers = len(_NUMBER.findall(question))
    maths = _cue_strength(_MATH, question)
    quantities = numbers + len(_NUMBER_WORD.findall(question))
    if quantities >= _QUANTITY_MIN_NUMBERS and _QUANTITY.search(question):
        maths = min(1.0, maths + _QUANTITY_WEIGHT)
    return DifficultyFeatures(
        prompt_tokens=0,
        query_tokens=count_tokens(question),
        code=_cue_strength(_CODE, question),
        math=maths,
        numbers=numbers,
        reasoning=len(_REASONING.findall(question)),
        options=len(_OPTIONS.findall(question)),
        constraints=len(_CONSTRAINT.findall(question)) + len(_LIST_ITEM.findall(question)),
        easy_task=len(_EASY_TASK.findall(question)),
        depth=0,
    )


def extract_features(
    messages: Sequence[Message], count_tokens: Callable[[str], int] | None = None
) -> DifficultyFeatures:
    """The request as it stands: its last question, the whole conversation's size."""
    count = count_tokens or _approx_tokens
    return replace(
        question_features(question_of(messages), count),
        prompt_tokens=sum(count(m.content) for m in messages),
        depth=sum(m.role is Role.USER for m in messages),
    )


def prefix_features(
    messages: Sequence[Message], count_tokens: Callable[[str], int] | None = None
) -> list[tuple[str, DifficultyFeatures]]:
    """(question, features) of the conversation as it stood after each of its messages,
    from the first user message on; the last entry is the request as it stands.

    A later turn of the same conversation resends these messages, so its prefixes
    include all of these: the hardest of them can only stay or rise (the rule that
    keeps a conversation from moving down a tier, see DifficultyClassifier.decide).
    Each question is scored once; sizes accumulate.
    """
    count = count_tokens or _approx_tokens
    out: list[tuple[str, DifficultyFeatures]] = []
    tokens = depth = 0
    current: tuple[str, DifficultyFeatures] | None = None
    for m in messages:
        tokens += count(m.content)
        if m.role is Role.USER:
            depth += 1
            current = (m.content, question_features(m.content, count))
        if current is not None:
            out.append((current[0], replace(current[1], prompt_tokens=tokens, depth=depth)))
    if not out:  # no user message at all: the request as it stands
        out.append((question_of(messages), extract_features(messages, count)))
    return out


def _cue_strength(cues: Sequence[tuple[re.Pattern[str], float]], text: str) -> float:
    return min(1.0, sum(weight for pattern, weight in cues if pattern.search(text)))


def _approx_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)  # the usual English chars-per-token rule
