"""The semantic_cache suite's labelled lookups, built from SQuAD v2.0 dev.

A paraphrase must hit the stored question it rewrites; a near-miss must hit
nothing. The rewrites are rule-based and seeded (see semantic_cache.py's
docstring for what each category means); this module only generates them, the
suite measures them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from promptpress.bench.matcher_data import casual, typo

WRAPPERS = ("Can you tell me {q}", "Quick question: {Q}", "{Q} Thanks!", "I'd like to know: {Q}",
            "Please answer this: {Q}", "Do you know {q}", "{Q} Please keep it short.")  # fmt: skip
REWRITES = ((r"^In what year\b", "What year"), (r"^What year\b", "In which year"),
            (r"\bWhat type of\b", "What kind of"), (r"\bWhat kind of\b", "What type of"),
            (r"^What is\b", "What's"), (r"^Who is\b", "Who's"), (r"^Where is\b", "Where's"),
            (r"\bdid not\b", "didn't"), (r"^How many\b", "What number of"))  # fmt: skip
LOWER_STARTS = {"what", "when", "who", "whom", "whose", "which", "where", "why", "how", "in", "on",
                "at", "during", "after", "before", "by", "for", "from", "to", "the", "a", "an", "is",
                "are", "was", "were", "did", "does", "do", "can", "could", "name"}  # fmt: skip
NEGATE = {"is": "isn't", "are": "aren't", "was": "wasn't", "were": "weren't", "does": "doesn't",
          "do": "don't", "did": "didn't", "can": "can't", "could": "couldn't", "should": "shouldn't",
          "would": "wouldn't", "will": "won't", "has": "hasn't", "have": "haven't", "had": "hadn't"}  # fmt: skip
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_AUX = re.compile(r"\b(" + "|".join(NEGATE) + r")\b")
_NAME = re.compile(r"(?<=\s)[A-Z][a-z]{2,}\b")
_NUM = re.compile(r"\b\d{1,4}\b")
_TOKENS = re.compile(r"\w+")


@dataclass(frozen=True)
class Probe:
    text: str
    context: str
    expect: str | None  # the stored entry a correct hit returns; None: must not hit
    category: str
    paragraph: int = -1  # index into the chosen paragraphs


def paraphrase(q: str, rng: random.Random) -> str:
    def wrap(s: str) -> str:
        first = s.split(" ", 1)[0].lower()
        lower = s[0].lower() + s[1:] if first in LOWER_STARTS else s
        return rng.choice(WRAPPERS).format(q=lower, Q=s)

    def rewrite(s: str) -> str:
        options = [(p, r) for p, r in REWRITES if re.search(p, s)]
        return re.sub(*rng.choice(options), s, count=1) if options else s

    def misspell(s: str) -> str:
        return typo(s, rng)

    steps = rng.sample([wrap, rewrite, misspell, casual], rng.choice((1, 2)))
    out = q
    for step in steps:
        out = step(out)
    return out if out != q else wrap(q)


def near_misses(q: str, rng: random.Random, names: Sequence[str]) -> list[tuple[str, str]]:
    out = []
    if m := _AUX.search(q):
        out.append(("negation", q[: m.start()] + NEGATE[m.group(1)] + q[m.end() :]))
    found = [n for n in _NAME.findall(q) if n not in MONTHS and n.lower() not in LOWER_STARTS]
    if found and names:
        old = rng.choice(found)
        new = rng.choice([n for n in names if n != old] or [old])
        if new != old:
            out.append(("entity", q.replace(old, new, 1)))
    if m := _NUM.search(q):
        n = int(m.group())
        new_n = (
            n + rng.choice((-1, 1)) * rng.randint(1, 12)
            if 1000 <= n <= 2100
            else n + rng.randint(1, 9)
        )
        out.append(("number", q[: m.start()] + str(new_n) + q[m.end() :]))
    elif month := next((mo for mo in MONTHS if mo in q.split()), None):
        out.append(("number", q.replace(month, rng.choice([x for x in MONTHS if x != month]), 1)))
    return out


def _jaccard(a: str, b: str) -> float:
    x, y = set(_TOKENS.findall(a.lower())), set(_TOKENS.findall(b.lower()))
    return len(x & y) / max(1, len(x | y))


def build_probes(
    paragraphs: Sequence[Any], rng: random.Random
) -> tuple[list[tuple[str, str, str]], list[Probe]]:
    """(stored entries as (context, id, question), probes)."""
    stored: list[tuple[str, str, str]] = []
    probes: list[Probe] = []
    names = sorted({n for p in paragraphs for q in p.questions for n in _NAME.findall(q.question)})
    contexts = [f"squad-paragraph-{i}" for i in range(len(paragraphs))]
    for i, para in enumerate(paragraphs):
        ctx = contexts[i]
        answerable = list(
            {q.question.strip(): q for q in para.questions if not q.is_impossible}.values()
        )
        for q in answerable:
            stored.append((ctx, q.id, q.question.strip()))
        for q in rng.sample(answerable, min(3, len(answerable))):
            text = q.question.strip()
            probes.append(Probe(paraphrase(text, rng), ctx, q.id, "paraphrase", i))
            probes += [Probe(t, ctx, None, cat, i) for cat, t in near_misses(text, rng, names)]
            if len(contexts) > 1:
                other = rng.choice([c for c in contexts if c != ctx])
                probes.append(Probe(text, other, None, "context", i))
        for q in para.questions:
            if q.is_impossible and answerable:
                best = max(_jaccard(q.question, a.question) for a in answerable)
                if 0.6 <= best < 1.0:
                    probes.append(Probe(q.question.strip(), ctx, None, "squad-adversarial", i))
    return stored, probes
