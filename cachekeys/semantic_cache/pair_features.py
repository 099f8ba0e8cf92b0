"""What differs between two questions, as a fixed-length feature vector.

The verifier (verifier.py) does not ask "how close are the two embeddings?"
but "what is left over once the words of one question are aligned with the
words of the other, and does the leftover change the answer?". Steps:

1. Tokenise both questions (contractions expanded, "9pm" split into "9" "pm").
2. Align words: identical words and words with the same crude stem align with
   similarity 1; a one-edit typo of a long word aligns at 0.9; two content
   words align softly at the cosine of their single-word MiniLM embeddings
   ("author" ~ "writer" 0.70, "kids" ~ "children" 0.88, but also "Paris" ~
   "London" 0.58, "maximum" ~ "minimum" 0.65: the soft similarity alone cannot
   tell a synonym from a swap, so it is one feature among many). Function
   words align only when identical. Greedy, best pairs first.
3. Describe the leftovers: how many content words are unaligned on each side
   (an insertion narrows the scope, a substitution changes the subject), how
   rare they are (inverse document frequency: "please" or "tell" are common,
   "diabetic" is not), whether they look like names, whether numbers, times
   or dates differ, whether negation differs, whether a preposition or
   particle was swapped (on/off, in/out, from/to), whether two aligned
   arguments swapped roles around their prepositions ("from A to B" vs "from
   B to A") or order, whether the question word changed (who/when/how many),
   and whether a softly aligned pair shares a long stem with a different
   prefix ("upload"/"download", "able"/"unable": opposites, not synonyms).

The small closed classes below (function words, negators, number and time
words) are grammar, not tuned lists: which leftovers matter is learned by the
pair classifier from data (bench/train_matcher.py).
"""

from __future__ import annotations

import gzip
import json
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

IDF_PATH = Path(__file__).with_name("word_idf.json.gz")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


FEATURES = (
    "cosine",
    "unaligned_content",
    "substituted_content",
    "unaligned_idf_max",
    "inserted_idf_max",
    "soft_pairs",
    "soft_sim_min",
    "entity_changed",
    "opposite_morphology",
    "numbers_differ",
    "negation_differs",
    "particle_swapped",
    "unaligned_function",
    "quantifier_changed",
    "roles_swapped",
    "order_discordant",
    "question_word_differs",
    "content_length_ratio",
    "typos",
)

_STOP = _words(
    """
    a an the this that these those there here is are was were be been being am do does
    did done doing have has had having will would shall should can could may might must
    i me my mine we us our you your yours he him his she her it its they them their what
    which who whom whose when where why how and or but if then so than as of at by for
    with without about against between into through during before after above below to
    from up down in out on off over under again further once all any both each few more
    most other some such only own same too very just also not no nor never none s t
    anyone someone something
    """
)
_PARTICLES = _words(
    """
    in out on off up down over under from to into onto before after above below with
    without between against through across during since until for of at by about around
    inside outside within than
    """
)
# Words that change how much or how many is asked about: "the most" / "the least".
_QUANTIFIERS = _words(
    """
    more most less least fewer fewest few many much all any some only each every both
    none several enough
    """
)
_NEGATORS = frozenset(
    ["not", "no", "never", "none", "nothing", "nobody", "nowhere", "neither", "nor", "without"]
)
_WH = {"who": "who", "whom": "who", "whose": "who", "when": "when", "where": "where",
       "why": "why", "how": "how", "what": "what", "which": "what"}  # fmt: skip
_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "hundred": "100",
    "thousand": "1000", "million": "1e6", "billion": "1e9", "first": "#1", "second": "#2",
    "third": "#3", "fourth": "#4", "fifth": "#5", "last": "#-1", "half": "0.5",
    "dozen": "12", "once": "x1", "twice": "x2", "thrice": "x3",
    "thirteen": "13", "fourteen": "14", "fifteen": "15", "sixteen": "16", "seventeen": "17",
    "eighteen": "18", "nineteen": "19", "sixty": "60", "seventy": "70", "eighty": "80",
    "ninety": "90", "sixth": "#6", "seventh": "#7", "eighth": "#8", "ninth": "#9",
    "tenth": "#10", "eleventh": "#11", "twelfth": "#12", "twentieth": "#20",
    "hundredth": "#100",
}  # fmt: skip
_TIME_WORDS = _words(
    """
    am pm noon midnight morning afternoon evening night tonight today tomorrow yesterday
    weekend weekday monday tuesday wednesday thursday friday saturday sunday january
    february march april may june july august september october november december spring
    summer autumn fall winter daily weekly monthly yearly annually hourly
    """
)
_CONTRACTIONS = (
    (re.compile(r"\b(can)['’]t\b", re.I), r"\1 not"),
    (re.compile(r"\bwon['’]t\b", re.I), "will not"),
    (re.compile(r"n['’]t\b", re.I), " not"),
    (re.compile(r"['’]re\b", re.I), " are"),
    (re.compile(r"['’]ll\b", re.I), " will"),
    (re.compile(r"['’]ve\b", re.I), " have"),
    (re.compile(r"['’]m\b", re.I), " am"),
    (re.compile(r"\b(what|who|where|when|how|why|that|there|it|he|she)['’]s\b", re.I), r"\1 is"),
    (re.compile(r"\b([ap])\.m\.?", re.I), r"\1m"),
    (re.compile(r"\bcannot\b", re.I), "can not"),
    # Typed without the apostrophe ("wont show up", "doesnt work"), and "w/o".
    (re.compile(r"\bwont\b", re.I), "will not"),
    (
        re.compile(r"\b(ca|do|does|did|is|are|was|were|has|have|had|could|would|should)nt\b", re.I),
        r"\1 not",
    ),
    (re.compile(r"\bw/o\b", re.I), "without"),
    # "3rd" is "third": an ordinal, not the number 3.
    (re.compile(r"\b(\d+)(?:st|nd|rd|th)\b", re.I), r"#\1"),
)
_TOKEN = re.compile(r"#?\d+(?:[.,:]\d+)*|[^\W\d_]+(?:['’][^\W\d_]+)*")


class WordEmbedder(Protocol):
    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class Token:
    text: str  # as written
    low: str  # case-folded
    stem: str
    content: bool
    position: int
    entity: bool  # capitalised inside the sentence, an acronym, or letters with digits


def stem(word: str) -> str:
    for suffix, repl in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("ly", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + repl
    return word


def _number_key(low: str) -> str | None:
    if low[0].isdigit() or low[0] == "#":
        return low.replace(",", "")
    return _NUMBER_WORDS.get(low)


def tokenize(text: str) -> list[Token]:
    for pattern, repl in _CONTRACTIONS:
        text = pattern.sub(repl, text)
    out: list[Token] = []
    for m in _TOKEN.finditer(text):
        raw = m.group()
        low = raw.casefold().replace("’", "'")
        if low.endswith("'s"):
            low = low[:-2]
        if not low:
            continue
        sentence_start = not out or text[: m.start()].rstrip()[-1:] in '.!?:"“('
        entity = (
            (raw[0].isupper() and not sentence_start and low not in _STOP)
            or (len(raw) > 1 and raw.isupper())
            or (any(c.isdigit() for c in raw) and any(c.isalpha() for c in raw))
        )
        out.append(Token(raw, low, stem(low), low not in _STOP, len(out), entity))
    return out


@lru_cache(maxsize=1)
def idf_table() -> tuple[dict[str, float], float]:
    """word -> inverse document frequency (scaled to [0, 1]), and the value for unseen words."""
    with gzip.open(IDF_PATH, "rt", encoding="utf-8") as f:
        data = json.load(f)
    return data["idf"], float(data["unseen"])


class WordVectors:
    """Single-word embeddings from the sentence model, memoised (LRU, bounded)."""

    def __init__(self, embedder: WordEmbedder, capacity: int = 50_000) -> None:
        self.embedder, self.capacity = embedder, capacity
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, words: Sequence[str]) -> dict[str, np.ndarray]:
        with self._lock:
            found = {w: self._memo[w] for w in words if w in self._memo}
            for w in found:
                self._memo.move_to_end(w)
        missing = sorted({w for w in words if w not in found})
        if missing:
            vecs = np.asarray(self.embedder.embed(missing), dtype=np.float32)
            vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)
            with self._lock:
                for w, v in zip(missing, vecs, strict=True):
                    self._memo[w] = found[w] = v
                while len(self._memo) > self.capacity:
                    self._memo.popitem(last=False)
        return found

    def warm(self, texts: Sequence[str]) -> None:
        self.get([t.low for text in texts for t in tokenize(text) if _soft(t)])


def _soft(t: Token) -> bool:
    return t.content and _number_key(t.low) is None and t.low not in _TIME_WORDS


def _one_edit(a: str, b: str) -> bool:
    """One insertion, deletion, substitution or adjacent transposition apart."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
        )
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k in range(len(short)) if short[k] != long[k]), len(short))
    return short[i:] == long[i + 1 :]


def _pair_sim(x: Token, y: Token, vecs: dict[str, np.ndarray]) -> tuple[float, str]:
    if x.low == y.low:
        return 1.0, "same"
    if not (x.content and y.content):
        return 0.0, ""
    if _number_key(x.low) or _number_key(y.low):
        return 0.0, ""
    if x.stem == y.stem:
        return 1.0, "same"
    if min(len(x.low), len(y.low)) >= 4 and _one_edit(x.low, y.low):
        return 0.9, "typo"
    if x.low in vecs and y.low in vecs:
        return float(vecs[x.low] @ vecs[y.low]), "soft"
    return 0.0, ""


def align(a: list[Token], b: list[Token], vecs: dict[str, np.ndarray], min_soft: float = 0.45):
    """Greedy one-to-one alignment: [(i, j, similarity, kind)], best pairs first."""
    scored = []
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            sim, kind = _pair_sim(x, y, vecs)
            if sim >= (min_soft if kind == "soft" else 0.5):
                scored.append((sim, -abs(i / max(1, len(a)) - j / max(1, len(b))), i, j, kind))
    scored.sort(reverse=True)
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs = []
    for sim, _, i, j, kind in scored:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j, sim, kind))
    return pairs


def _opposite_morphology(x: str, y: str) -> float:
    """Shared tail, different head: upload/download, able/unable, maximum/minimum."""
    n = 0
    while n < min(len(x), len(y)) and x[-1 - n] == y[-1 - n]:
        n += 1
    if n < 3 or x[: len(x) - n] == y[: len(y) - n]:
        return 0.0
    return n / max(len(x), len(y))


def _role(tokens: list[Token], i: int) -> str:
    """The preposition governing token i (nearest particle before it, over at most two
    modifier words), or "" when none."""
    for k in range(i - 1, max(-1, i - 4), -1):
        if tokens[k].low in _PARTICLES:
            return tokens[k].low
        if not tokens[k].content:
            return ""
    return ""


def _wh(tokens: list[Token]) -> str:
    for k, t in enumerate(tokens):
        if t.low in _WH:
            nxt = tokens[k + 1].low if k + 1 < len(tokens) else ""
            if t.low == "how" and nxt in ("many", "much", "long", "old", "far", "often"):
                return "how-" + nxt
            return _WH[t.low]
    return ""


def _numbers(tokens: list[Token]) -> Counter[str]:
    return Counter(
        k for t in tokens if (k := _number_key(t.low) or (t.low if t.low in _TIME_WORDS else None))
    )


def numbers_conflict(a_text: str, b_text: str) -> bool:
    """Each question names a number, time or date the other does not: a value changed
    ("6 am" / "6 pm", "the fifth" / "the eighth"). One that only adds some ("How do I
    cook rice?" / "... 2 cups of rice?", "how 2 cook rice", "the first telephone") is
    a narrowing or a rewording, for the encoder to judge."""
    ta, tb = tokenize(a_text), tokenize(b_text)
    a, b = _numbers(ta), _numbers(tb)
    return bool(_unwritten(a - b, ta, tb)) and bool(_unwritten(b - a, tb, ta))


# Digits that stand for words in texting ("how 2 fix", "4 a week"), and those words.
_TEXTING = {"2": frozenset({"to", "too"}), "4": frozenset({"for"})}


def _unwritten(only: Counter[str], own: list[Token], other: list[Token]) -> Counter[str]:
    """The numbers, times and dates only one question names, without those the other
    writes another way: a month or day it abbreviates ("February" / "feb", "Thursday"
    / "thurs": a word of three letters or more that begins the name), or a digit
    that stands for a word in texting ("ok 2 eat" / "OK to eat": the digit "2", not
    the word "two", where the other question has "to" and this one has none)."""
    others = {t.low for t in other}
    mine = {t.low for t in own}
    out = Counter(only)
    for key in only:
        abbreviated = key.isalpha() and any(
            3 <= len(w) < len(key) and key.startswith(w) for w in others
        )
        words = _TEXTING.get(key, frozenset())
        texted = key in mine and bool(words & others) and not words & mine
        if abbreviated or texted:
            del out[key]
    return out


def _negations(tokens: list[Token]) -> int:
    n = sum(t.low in _NEGATORS for t in tokens)
    return n + sum(t.low.startswith("non") and len(t.low) > 5 for t in tokens)


def pair_features(
    a_text: str, b_text: str, cosine: float, vectors: WordVectors | None
) -> np.ndarray:
    """The FEATURES of one pair, symmetric in a and b."""
    a, b = tokenize(a_text), tokenize(b_text)
    words = [t.low for t in a + b if _soft(t)]
    vecs = vectors.get(words) if vectors is not None and words else {}
    pairs = align(a, b, vecs)
    aligned_a = {i for i, _, _, _ in pairs}
    aligned_b = {j for _, j, _, _ in pairs}
    ua = [t for t in a if t.position not in aligned_a]
    ub = [t for t in b if t.position not in aligned_b]
    ca, cb = [t for t in ua if t.content], [t for t in ub if t.content]
    idf, unseen = idf_table()

    def rarity(ts: list[Token]) -> float:
        return max((idf.get(t.low, unseen) for t in ts), default=0.0)

    soft = [(a[i], b[j], s) for i, j, s, kind in pairs if kind == "soft" and s < 0.999]
    inserted = ca if not cb else cb if not ca else []
    content_pairs = sorted((i, j) for i, j, _, _ in pairs if a[i].content and b[j].content)
    discordant = sum(
        1 for k, (_, j1) in enumerate(content_pairs) for _, j2 in content_pairs[k + 1 :] if j2 < j1
    )
    n_cp = len(content_pairs)
    roles_swapped = 0
    for k, (i1, j1) in enumerate(content_pairs):
        for i2, j2 in content_pairs[k + 1 :]:
            ra1, ra2, rb1, rb2 = _role(a, i1), _role(a, i2), _role(b, j1), _role(b, j2)
            if ra1 != ra2 and (ra1, ra2) == (rb2, rb1):
                roles_swapped = 1
    n_content = (sum(t.content for t in a), sum(t.content for t in b))
    values = {
        "cosine": cosine,
        "unaligned_content": np.log1p(len(ca) + len(cb)),
        "substituted_content": np.log1p(min(len(ca), len(cb))),
        "unaligned_idf_max": rarity(ca + cb),
        "inserted_idf_max": rarity(inserted),
        "soft_pairs": np.log1p(len(soft)),
        "soft_sim_min": min((s for _, _, s in soft), default=1.0),
        "entity_changed": float(
            any(t.entity for t in ca + cb) or any(x.entity or y.entity for x, y, _ in soft)
        ),
        "opposite_morphology": max(
            (_opposite_morphology(x.low, y.low) for x, y, _ in soft), default=0.0
        ),
        "numbers_differ": float(_numbers(a) != _numbers(b)),
        "negation_differs": float(_negations(a) % 2 != _negations(b) % 2),
        "particle_swapped": float(
            any(t.low in _PARTICLES for t in ua) and any(t.low in _PARTICLES for t in ub)
        ),
        "unaligned_function": np.log1p(
            sum(not t.content and t.low not in _PARTICLES | _QUANTIFIERS for t in ua + ub)
        ),
        "quantifier_changed": float(any(t.low in _QUANTIFIERS for t in ua + ub)),
        "roles_swapped": float(roles_swapped),
        "order_discordant": discordant / (n_cp * (n_cp - 1) / 2) if n_cp > 1 else 0.0,
        "question_word_differs": float(_wh(a) != _wh(b)),
        "content_length_ratio": min(n_content) / max(1, max(n_content)),
        "typos": np.log1p(sum(kind == "typo" for _, _, _, kind in pairs)),
    }
    return np.array([values[name] for name in FEATURES], dtype=np.float32)
