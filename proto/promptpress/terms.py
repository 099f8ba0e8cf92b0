"""Words and stems: the one term extractor every stage matches text with.

Retrieval's BM25 (retrieval/ranking.py), the compressor's question relevance
(compressor/relevance.py) and the semantic cache's guards
(cachekeys/semantic_cache/guards.py) all compare texts by their stemmed words.
They share the tokenisation and the stemmer here; each keeps its own stop-word
list, because each list was tuned on its own stage's data (what BM25 should
ignore is not what a cache guard should ignore).

The stemmer is NLTK's Porter stemmer, which is rule-based and needs no
downloaded data; it is imported on first use so that the core types (and the
client) load without NLTK.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nltk.stem.porter import PorterStemmer

_WORD = re.compile(r"\w+")


@functools.cache
def _stemmer() -> PorterStemmer:
    from nltk.stem.porter import PorterStemmer

    return PorterStemmer()


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Porter stem of a lower-cased word ("increased", "increases" -> "increas")."""
    return str(_stemmer().stem(word))


def words(text: str) -> list[str]:
    """The lower-cased words of text (runs of letters, digits and underscores)."""
    return _WORD.findall(text.lower())


def terms(text: str, stopwords: Collection[str] = frozenset()) -> list[str]:
    """The stemmed words of text, in order, leaving out `stopwords` (matched before stemming)."""
    return [stem(w) for w in words(text) if w not in stopwords]
