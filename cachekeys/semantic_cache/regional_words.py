"""British and American words for one thing: "rubbish" / "garbage", "paracetamol" /
"acetaminophen", "jacket potato" / "baked potato", "cancelled" / "canceled".

WordNet files most of these apart ("tap" and "faucet" share no synset), and the
pair encoder reads one such word changed as a different question (sessions 13 and
14's held-out files: "rubbish" / "garbage" scored 0.00, "paracetamol" /
"acetaminophen" 0.02, "trainers" / "sneakers" 0.00). The pairs are read from
breame 0.1.2 (Apache-2.0; its data is Wikipedia's lists of American and British
English spelling and vocabulary differences): every British spelling with its
American one, and every term used in only one of the two with the other's word
for it, as its description gives it ("rubbish: ... (US: trash, garbage)",
"sneaker: ... (UK: trainer)"). Not read: the words whose meanings differ between
the two (breame's third list, "first floor", "billion", "pants"), where one
word's British sense is another thing in America; and descriptions that hedge
("US equivalent: ...", "compare ...", "US and UK also: ...").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

# "(US: trash, garbage)", "(US rappel)", "(US usu.: faucet)", "(UK: trainer)".
_OTHER_WORD = re.compile(r"\((US|UK)(?: usu\.| usually)?:?\s+([^()]*)\)")
# A description that gives a near equivalent, or one word among others, not the word.
_HEDGED = re.compile(
    r"\b(?:equivalent|see|compare|similar|also|sometimes|and UK|and US|& UK|& US|e\.g|cf)\b",
    re.IGNORECASE,
)
_TERM = re.compile(r"^[a-z][a-z' -]*[a-z]$")
_QUALIFIERS = ("usually ", "simply ", "legally ", "regional ", "just ")
# Words that show an item is a phrase of the description, not a term.
_PROSE = frozenset({"from", "the", "is", "however", "word", "of", "for", "in", "if", "as"})
# The longest term: spans are widened by this many shared words at most.
_LONGEST = 3


@dataclass(frozen=True)
class RegionalWords:
    """Words of one dialect and the other dialect's words for the same thing."""

    equivalents: Mapping[str, frozenset[str]]

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> RegionalWords:
        table: dict[str, set[str]] = {}
        for a, b in pairs:
            a, b = _normal(a), _normal(b)
            if a and b and a != b:
                table.setdefault(a, set()).add(b)
                table.setdefault(b, set()).add(a)
        return cls(MappingProxyType({k: frozenset(v) for k, v in table.items()}))

    def same_thing(self, a: str, b: str) -> bool:
        """`a` and `b` are one dialect's word and the other's for one thing, as
        written or both in the plural ("mobile phones" / "cell phones")."""
        for x, y in zip(_singulars(_normal(a)), _singulars(_normal(b)), strict=True):
            if y in self.equivalents.get(x, ()):
                return True
        return False

    def same_in_context(self, old: str, new: str, before: list[str], after: list[str]) -> bool:
        """`old` and `new` are two dialects' words for one thing, alone or with up to
        two of the words both questions have around them ("jacket" / "baked" before
        "potato"; "mobile" / "cell" before "phones"). `before` and `after` are the
        shared words, nearest first."""
        for left in range(0, min(len(before), _LONGEST - 1) + 1):
            for right in range(0, min(len(after), _LONGEST - 1) + 1):
                head = " ".join(reversed(before[:left]))
                tail = " ".join(after[:right])
                if self.same_thing(f"{head} {old} {tail}", f"{head} {new} {tail}"):
                    return True
        return False


def _normal(term: str) -> str:
    return " ".join(term.casefold().replace("-", " ").split())


def _singulars(term: str) -> Iterator[str]:
    """The term, then its last word without a plural ending, in the same order for
    both sides of a comparison (so "es" is dropped from both or neither)."""
    yield term
    yield term[:-1] if term.endswith("s") else term
    yield term[:-2] if term.endswith("es") else term


def terms_in(description: str, other: str) -> list[str]:
    """The other dialect's words for a term, from its description: the items of
    "(US: trash, garbage)" when `other` is "US", none from a hedged one; or the
    description itself when it is one short term ("jacket potato": "baked potato")."""
    out = []
    for match in _OTHER_WORD.finditer(description):
        if match.group(1) != other or _HEDGED.search(match.group(0)):
            continue
        out += [t for t in map(_term, re.split(r";|,|/| or ", match.group(2))) if t]
    if not _OTHER_WORD.search(description) and "," not in description:
        whole = _term(re.sub(r"\([^()]*\)", "", description).rstrip("."))
        out += [whole] if whole else []
    return out


def _term(item: str) -> str | None:
    """An item of a description as a term of up to _LONGEST words, or None when it is
    prose."""
    term = item.strip().strip("\"'").strip().casefold()
    for qualifier in _QUALIFIERS:
        term = term.removeprefix(qualifier)
    term = re.sub(r"^(?:a|an|to)\s+", "", term)
    words = term.split()
    if _TERM.match(term) and len(words) <= _LONGEST and _PROSE.isdisjoint(words):
        return term
    return None


def pairs_from(entries: Mapping[str, object], other: str) -> Iterator[tuple[str, str]]:
    """(term, other dialect's word) for each entry of a breame terms table. A key that
    lists variants ("earth, earthed") is paired item by item when the description
    lists as many words ("ground, grounded"), else each variant with each word."""
    for key, description in entries.items():
        if not isinstance(description, str):
            continue
        keys = [k.strip() for k in re.split(r",|/", key) if k.strip()]
        terms = terms_in(description, other)
        if len(keys) > 1 and len(keys) == len(terms):
            yield from zip(keys, terms, strict=True)
        else:
            yield from ((k, t) for k in keys for t in terms)


@lru_cache(maxsize=1)
def default_regional_words() -> RegionalWords | None:
    """The pairs breame ships, or None when it is not installed."""
    try:
        from breame.data.american_terms_constants import AMERICAN_ENGLISH_ONLY_TERMS
        from breame.data.british_terms_constants import BRITISH_ENGLISH_ONLY_TERMS
        from breame.data.spelling_constants import BRITISH_ENGLISH_SPELLINGS
    except ImportError:
        return None
    pairs = [
        *BRITISH_ENGLISH_SPELLINGS.items(),
        *pairs_from(BRITISH_ENGLISH_ONLY_TERMS, "US"),
        *pairs_from(AMERICAN_ENGLISH_ONLY_TERMS, "UK"),
    ]
    return RegionalWords.from_pairs(pairs)
