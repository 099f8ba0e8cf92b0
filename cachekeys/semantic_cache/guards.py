"""Guards that veto a semantic-cache hit between two similar-looking queries.

Sentence embeddings put "is X allowed?" and "is X not allowed?" (or "the 2019
results" and "the 2021 results") very close together; serving one's answer for
the other is the most reported failure of semantic caches. Each guard compares
one cheap lexical feature of the two queries and rejects the pair when it
differs:

- negation: the count of negation words (not, never, n't, non-, without, ...)
  or a word negated by prefix on one side only (allowed / disallowed);
- numbers: the multiset of numbers, number words and ordinals;
- dates: months, weekdays and relative dates (today, next week, ...);
- entities: capitalised words (not at a sentence start), acronyms and
  alphanumeric names, each of which must appear in the other query too;
- question: both ask, but for different things (who / when / where / why /
  how / what; "what year" counts as when);
- antonyms: one query has "before", "maximum", "overpay", ... where the other
  has "after", "minimum", "underpay", ...;
- substitution: each query has a content word the other lacks (not a typo of
  it, not a listed synonym): "what did the companies employ" against "what did
  the researchers employ"; modifier: one query adds a word that changes what
  is asked about ("outside", "former", "only", ...). Other added words (a
  polite wrapper, "capital city" for "capital") pass.

They are deliberately strict: a guard that rejects a true paraphrase costs
one model call; one that lets a near-miss through serves a wrong answer.
The substitution guard in particular trades recall on freely reworded
questions for precision. Entities written in lower case are not detected (no
NER model here). Word lists are data: guard_words.toml.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from promptpress.terms import stem

_WORD = re.compile(r"[^\W_]+(?:[.,'’][^\W_]+)*", re.UNICODE)
# A number, optionally glued to a suffix: 1,000  3.5  5th  1990s  10km
_NUMBER = re.compile(r"^(\d+(?:[.,]\d+)*)([^\W\d_]*)$")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\"“(\n]\s*)$")
_LEXICON_PATH = Path(__file__).with_name("guard_words.toml")

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
_NOT_NAMES = _MONTHS | _WEEKDAYS
_WH = {w: w for w in ("when", "who", "where", "why", "how", "what")} | {
    "which": "what",
    "whom": "who",
    "whose": "who",
}


_QUANTITY_NOUNS = {"number", "amount", "quantity", "percentage", "proportion", "share", "count"}
_TIME_NOUNS = {"year", "years", "date", "time", "day", "month", "century", "decade", "era"}
_PERIODS = {"week", "month", "year", "quarter", "weekend", "decade", "century", "day", "night"}


def _asks(wh: str, next_word: str) -> str:
    """What a question word asks for: "what year" asks when, "how many" and "what
    number" ask how much, "which" is "what"."""
    if wh in ("what", "which") and next_word in _TIME_NOUNS:
        return "when"
    if (wh == "how" and next_word in ("many", "much")) or (
        wh in ("what", "which") and next_word in _QUANTITY_NOUNS
    ):
        return "quantity"
    return _WH[wh]


@dataclass(frozen=True, slots=True)
class Lexicon:
    negations: frozenset[str]
    negating_prefixes: tuple[str, ...]
    opposite_prefixes: tuple[tuple[str, str], ...]
    antonyms: tuple[tuple[str, str], ...]  # stemmed
    synonyms: frozenset[frozenset[str]]  # stemmed pairs
    stopwords: frozenset[str]
    antonym_set: frozenset[tuple[str, str]]  # both orders
    modifiers: frozenset[str]  # stems of words whose mere addition changes the meaning


def _pairs(text: str) -> list[tuple[str, str]]:
    out = []
    for p in text.replace("\n", "|").split("|"):
        a, b = p.split()
        out.append((stem(a), stem(b)))
    return out


@functools.cache
def lexicon(path: Path = _LEXICON_PATH) -> Lexicon:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    antonyms = tuple(_pairs(data["antonyms"]))
    return Lexicon(
        negations=frozenset(data["negations"].split()),
        negating_prefixes=tuple(data["negating_prefixes"]),
        opposite_prefixes=tuple((a, b) for a, b in data["opposite_prefixes"]),
        antonyms=antonyms,
        synonyms=frozenset(frozenset(p) for p in _pairs(data["synonyms"])),
        stopwords=frozenset(data["stopwords"].split()),
        antonym_set=frozenset(antonyms) | frozenset((b, a) for a, b in antonyms),
        modifiers=frozenset(stem(w) for w in data["modifiers"].split()),
    )


@dataclass(frozen=True, slots=True)
class Features:
    words: frozenset[str]  # case-folded, possessive stripped
    counts: tuple[tuple[str, int], ...]  # word -> occurrences, sorted
    stems: tuple[tuple[str, int], ...]  # stem -> occurrences, sorted
    asks: frozenset[str]  # what the question asks for: who, when, where, ...
    negations: int
    numbers: tuple[str, ...]  # sorted multiset
    dates: frozenset[str]
    entities: frozenset[str]


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    ok: bool
    # negation | number | date | entity | question | antonym | substitution | modifier
    reason: str = ""


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


@functools.lru_cache(maxsize=8192)
def features(text: str) -> Features:
    """The guard features of a query (cached: stored queries are compared again and again)."""
    words: set[str] = set()
    counts: Counter[str] = Counter()
    stems: Counter[str] = Counter()
    asks: set[str] = set()
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
        counts[word] += 1
        stems[stem(word)] += 1
        next_word = _fold(tokens[k + 1].group()) if k + 1 < len(tokens) else ""
        if word in _WH:
            asks.add(_asks(word, next_word))
        if bare in lexicon().negations or word.endswith("n't"):
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
        if (
            _is_entity(raw, text, match.start())
            and word not in _NOT_NAMES
            and word not in lexicon().stopwords
        ):
            entities.add(word)
    return Features(
        words=frozenset(words),
        counts=tuple(sorted(counts.items())),
        stems=tuple(sorted(stems.items())),
        asks=frozenset(asks),
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
        for p in lexicon().negating_prefixes:
            rest = 5 if p == "a" else 4  # "a" (typical / atypical) needs a longer stem
            if len(w) >= rest and p + w in only_b:
                return True
            if w.startswith(p) and len(w) - len(p) >= rest and w[len(p) :] in only_b:
                return True
    return False


def _has_antonym_swap(a: Features, b: Features) -> bool:
    """One side has more of x and the other more of its antonym y (counts, so "low
    income and low unions" against "low income and high unions" is a swap)."""
    ca, cb = dict(a.stems), dict(b.stems)
    for x, y in lexicon().antonyms:
        more_x_a = ca.get(x, 0) > cb.get(x, 0) and cb.get(y, 0) > ca.get(y, 0)
        more_x_b = cb.get(x, 0) > ca.get(x, 0) and ca.get(y, 0) > cb.get(y, 0)
        if more_x_a or more_x_b:
            return True
    sa, sb = set(ca), set(cb)
    only_a, only_b = sa - sb, sb - sa
    for p, q in lexicon().opposite_prefixes:
        for w in only_a:
            for x, y in ((p, q), (q, p)):
                if w.startswith(x) and len(w) - len(x) >= 3 and y + w[len(x) :] in only_b:
                    return True
    return False


def _close(a: str, b: str) -> bool:
    """A typo apart: one edit (two for long words), adjacent swaps counting as one."""
    if abs(len(a) - len(b)) > 2 or min(len(a), len(b)) < 4:
        return False
    limit = 2 if min(len(a), len(b)) >= 10 else 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1] <= limit


def _judged_elsewhere(word: str, lex: Lexicon) -> bool:
    """Function words, and words the negation, number and date guards already compare."""
    bare = word.replace("'", "")
    return (
        word in lex.stopwords
        or bare in lex.negations
        or word.endswith("n't")
        or bool(_NUMBER.match(word))
        or word in _UNITS
        or word in _ORDINALS
        or word in _MONTHS
        or word in _WEEKDAYS
        or word in _RELATIVE
    )


def _same_word(w: str, v: str, lex: Lexicon) -> bool:
    """The same word inflected, misspelt or replaced by a listed synonym."""
    sw, sv = stem(w), stem(v)
    if sw == sv or frozenset((sw, sv)) in lex.synonyms:
        return True
    if (sw, sv) in lex.antonym_set:  # increase / decrease are one edit apart
        return False
    return _close(w, v) or _close(sw, sv)


def _extra(a: Features, b: Features) -> list[str]:
    """Words a has more often than b ("to the pistons" twice against once: pistons)."""
    cb = dict(b.counts)
    return [w for w, n in a.counts if n > cb.get(w, 0)]


def _content_change(a: Features, b: Features) -> str:
    """ "substitution" when each side has a content word the other lacks, "modifier"
    when one side adds a word that changes what is asked (outside, former, ...)."""
    lex = lexicon()
    only_a = [w for w in _extra(a, b) if not _judged_elsewhere(w, lex)]
    only_b = [w for w in _extra(b, a) if not _judged_elsewhere(w, lex)]
    unmatched_a = [w for w in only_a if not any(_same_word(w, v, lex) for v in only_b)]
    unmatched_b = [v for v in only_b if not any(_same_word(w, v, lex) for w in only_a)]
    if unmatched_a and unmatched_b:
        return "substitution"
    if any(stem(w) in lex.modifiers for w in unmatched_a + unmatched_b):
        return "modifier"
    return ""


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
    if a.asks and b.asks and a.asks != b.asks:
        return GuardVerdict(False, "question")
    if _has_antonym_swap(a, b):
        return GuardVerdict(False, "antonym")
    change = _content_change(a, b)
    return GuardVerdict(False, change) if change else GuardVerdict(True)
