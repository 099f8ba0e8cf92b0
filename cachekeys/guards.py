"""Guards that veto a semantic-cache hit between two similar-looking queries.

Sentence embeddings put "is X allowed?" and "is X not allowed?" (or "the 2019
results" and "the 2021 results") very close together; serving one's answer for
the other is the most reported failure of semantic caches. Each guard compares
one cheap lexical feature of the two queries and rejects the pair when it
differs:

- negation: the count of negation words (not, never, n't, without, ...) or a
  word negated by prefix on one side only (allowed / disallowed);
- numbers: the multiset of numbers, number words and ordinals;
- dates: months, weekdays and relative dates (today, next week, ...);
- entities: capitalised words (not at a sentence start), acronyms and
  alphanumeric names, each of which must appear in the other query too;
- antonyms: one query has "before", "maximum", "buy", ... where the other has
  "after", "minimum", "sell", ....

They are deliberately strict: a guard that rejects a true paraphrase costs
one model call; one that lets a near-miss through serves a wrong answer.
Entities written in lower case are not detected (no NER model here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+(?:[.,'’][^\W_]+)*", re.UNICODE)
# A number, optionally glued to a suffix: 1,000  3.5  5th  1990s  10km
_NUMBER = re.compile(r"^(\d+(?:[.,]\d+)*)([^\W\d_]*)$")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\"“(\n]\s*)$")

NEGATIONS = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nobody",
        "nothing",
        "nowhere",
        "neither",
        "nor",
        "without",
        "cannot",
        "cant",
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "wont",
        "wouldnt",
        "shouldnt",
        "couldnt",
        "mustnt",
        "hasnt",
        "havent",
        "hadnt",
        "aint",
        "except",
        "excluding",
    ]
)
_NEG_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non")
_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
    "million": 10**6, "billion": 10**9, "dozen": 12, "half": 0.5, "twice": 2, "once": 1,
    "single": 1, "double": 2, "triple": 3, "pair": 2, "couple": 2,
}  # fmt: skip
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
    "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "hundredth": 100,
}  # fmt: skip
_MONTHS = {
    "january", "february", "march", "april", "may", "june", "july", "august",
    "september", "october", "november", "december", "jan", "feb", "mar", "apr", "jun",
    "jul", "aug", "sep", "sept", "oct", "nov", "dec",
}  # fmt: skip
_AMBIGUOUS_MONTHS = {
    "may",
    "march",
    "mar",
    "jan",
    "dec",
    "sep",
    "oct",
    "nov",
    "aug",
    "jun",
    "jul",
    "apr",
    "feb",
}
_WEEKDAYS = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
_RELATIVE = {"today", "tomorrow", "yesterday", "tonight", "weekend", "ago", "currently", "now"}
_RELATIVE_LEAD = {"next", "last", "this", "previous", "coming", "past"}
_PERIODS = {"week", "month", "year", "quarter", "weekend", "decade", "century", "day", "night"}
_PAIRS = """before after|more less|more fewer|most least|above below|over under|increase decrease
increases decreases|increasing decreasing|maximum minimum|max min|largest smallest
biggest smallest|highest lowest|higher lower|longest shortest|best worst|better worse
first last|earliest latest|buy sell|buying selling|import export|enable disable
add remove|allow deny|accept reject|true false|start stop|open close|win lose|input output
upload download|north south|east west|left right|positive negative|inside outside
include exclude|male female|hot cold|early late|cheap expensive|cheapest priciest
fast slow|fastest slowest|pros cons|advantages disadvantages|benefits drawbacks
love hate|like dislike|same different|plus minus|encrypt decrypt|push pull|send receive
login logout|success failure|always never|all none|with without|men women|boys girls
older younger|oldest youngest|rise fall|gain loss|profit loss|asc desc|ascending descending"""
ANTONYMS = tuple(tuple(p.split()) for p in _PAIRS.replace("\n", "|").split("|"))


@dataclass(frozen=True, slots=True)
class Features:
    words: frozenset[str]  # case-folded, possessive stripped
    negations: int
    numbers: tuple[str, ...]  # sorted multiset
    dates: frozenset[str]
    entities: frozenset[str]


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    ok: bool
    reason: str = ""  # "negation" | "number" | "date" | "entity" | "antonym"


def _fold(token: str) -> str:
    t = token.casefold().replace("’", "'")
    return t[:-2] if t.endswith("'s") else t


def _number(text: str) -> str:
    value = float(text.replace(",", "")) if "," in text and "." not in text else None
    if value is None:
        try:
            value = float(text.replace(",", "."))
        except ValueError:
            return text
    return f"{value:g}"


def features(text: str) -> Features:
    words: set[str] = set()
    numbers: list[str] = []
    dates: set[str] = set()
    entities: set[str] = set()
    negations = 0
    tokens = list(_WORD.finditer(text))
    for k, match in enumerate(tokens):
        raw = match.group()
        word = _fold(raw)
        bare = word.replace("'", "")
        words.add(word)
        if bare in NEGATIONS or word.endswith("n't"):
            negations += 1
        if num := _NUMBER.match(word):
            value, suffix = num.groups()
            ordinal = suffix in ("st", "nd", "rd", "th")
            numbers.append(f"#{_number(value)}" if ordinal else _number(value))
            continue  # a number is never a month, a date word or an entity
        if word in _ORDINALS:
            numbers.append(f"#{_ORDINALS[word]}")
        elif word in _UNITS:
            numbers.append(f"{_UNITS[word]:g}")
        next_word = _fold(tokens[k + 1].group()) if k + 1 < len(tokens) else ""
        prev_raw = tokens[k - 1].group() if k else ""
        if word in _MONTHS and (
            word not in _AMBIGUOUS_MONTHS
            or (raw[0].isupper() and not _SENTENCE_START.search(text[: match.start()]))
            or _NUMBER.match(prev_raw.casefold())
            or _NUMBER.match(next_word)
        ):
            dates.add(word[:3])
        elif word in _WEEKDAYS or word in _RELATIVE:
            dates.add(word)
        elif word in _RELATIVE_LEAD and next_word in _PERIODS | _WEEKDAYS:
            dates.add(f"{word} {next_word}")
        if _is_entity(raw, text, match.start()) and word not in _MONTHS | _WEEKDAYS:
            entities.add(word)
    return Features(
        words=frozenset(words),
        negations=negations,
        numbers=tuple(sorted(numbers)),
        dates=frozenset(dates),
        entities=frozenset(entities),
    )


def _is_entity(raw: str, text: str, start: int) -> bool:
    if raw == "I":
        return False
    letters = [c for c in raw if c.isalpha()]
    if len(letters) >= 2 and all(c.isupper() for c in letters):
        return True  # acronym: NASA, EU, GPT4
    if any(c.isdigit() for c in raw) and letters:
        return True  # alphanumeric name: B2B, iPhone15, COVID-19's parts
    if any(c.isupper() for c in raw[1:]):
        return True  # camel case: iPhone, PayPal
    return raw[0].isupper() and not _SENTENCE_START.search(text[:start])


def _negated_by_prefix(only_a: set[str], only_b: set[str]) -> bool:
    for w in only_a:
        for p in _NEG_PREFIXES:
            if len(w) >= 4 and p + w in only_b:
                return True
            if w.startswith(p) and len(w) - len(p) >= 4 and w[len(p) :] in only_b:
                return True
    return False


def _has_antonym_swap(a: frozenset[str], b: frozenset[str]) -> bool:
    for x, y in ANTONYMS:
        if (x in a and x not in b and y in b and y not in a) or (
            y in a and y not in b and x in b and x not in a
        ):
            return True
    return False


def compare(a: Features, b: Features) -> GuardVerdict:
    """Whether two queries may share an answer, by their lexical features."""
    only_a, only_b = set(a.words - b.words), set(b.words - a.words)
    if a.negations != b.negations or _negated_by_prefix(only_a, only_b):
        return GuardVerdict(False, "negation")
    if a.numbers != b.numbers:
        return GuardVerdict(False, "number")
    if a.dates != b.dates:
        return GuardVerdict(False, "date")
    if not a.entities <= b.words or not b.entities <= a.words:
        return GuardVerdict(False, "entity")
    if _has_antonym_swap(a.words, b.words):
        return GuardVerdict(False, "antonym")
    return GuardVerdict(True)


def check_pair(a: str, b: str) -> GuardVerdict:
    return compare(features(a), features(b))
