"""The compression suite's inputs, its retention check and its two model-free baselines.

Inputs: SQuAD v2.0 dev paragraphs with one answerable question each (never one
of the pairs promptpress's weights were tuned on), ~1,500-token texts for the
speed runs, and support-ticket-like samples for structure survival. An answer
is retained when its SQuAD-normalised text is still a run of whole words of the
compressed text. Baselines: head truncation and random word drop at the same
budget. The suite itself (models, runs, report) is compression.py.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from promptpress.bench import datasets
from promptpress.bench.frame import SuiteContext
from promptpress.compressor.methods import sentence_starts
from promptpress.tokens import counter_for

TARGET_MODEL = "gpt-4o"
TUNING_PAIRS = (100, 11)  # (count, shuffle seed) of the pairs the weights were tuned on
COUNT = counter_for(TARGET_MODEL).count


@dataclass(frozen=True)
class Item:
    context: str
    question: str
    answers: tuple[str, ...]


def retained(text: str, answers: tuple[str, ...]) -> bool:
    """A gold answer, SQuAD-normalised, is still a run of whole words of the text."""
    padded = f" {datasets.squad_normalise(text)} "
    normalised = (datasets.squad_normalise(a) for a in answers)
    return any(f" {a} " in padded for a in normalised if a)


def _answerable_pairs() -> list[tuple[str, list[datasets.SquadQuestion]]]:
    pairs = [
        (p.context, [q for q in p.questions if not q.is_impossible])
        for a in datasets.squad_v2_dev().items
        for p in a.paragraphs
    ]
    return [(c, qs) for c, qs in pairs if qs]


def tuning_contexts() -> set[str]:
    """The paragraphs LongLLMLingua's weights were tuned on: never in an evaluation."""
    tuning = _answerable_pairs()
    random.Random(TUNING_PAIRS[1]).shuffle(tuning)
    return {c for c, _ in tuning[: TUNING_PAIRS[0]]}


def squad_items(ctx: SuiteContext) -> tuple[list[Item], datasets.DatasetInfo, int]:
    info = datasets.squad_v2_dev().info
    pairs = _answerable_pairs()
    excluded = tuning_contexts()
    pool = [(c, qs) for c, qs in pairs if c not in excluded]
    n = ctx.sample_size(tiny=2, quick=20, full=150)
    rng = ctx.rng("question")
    items = []
    for c, qs in datasets.sample(pool, n, seed=ctx.seed):
        q = rng.choice(qs)
        items.append(Item(c, q.question, q.answers))
    return items, info, len(excluded)


def sentences(text: str) -> list[str]:
    cuts = [*sentence_starts(text), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(cuts) if text[a:b].strip()]


def truncate(text: str, budget: int) -> str:
    enc = counter_for(TARGET_MODEL)
    return enc.decode(enc.encode(text)[:budget])


def random_drop(text: str, budget: int, rng: random.Random) -> str:
    words = text.split()
    order = rng.sample(range(len(words)), len(words))  # a random priority per word

    def kept(k: int) -> str:
        return " ".join(words[i] for i in sorted(order[:k]))

    lo, hi = 0, len(words)
    while lo < hi:  # the most words, in that random priority, that fit
        mid = (lo + hi + 1) // 2
        if COUNT(kept(mid)) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return kept(lo)


def long_texts(articles, n: int, min_tokens: int = 1500) -> list[Item]:
    out = []
    for article in articles:
        text, answers, question = "", (), ""
        for p in article.paragraphs:
            text = f"{text}\n\n{p.context}" if text else p.context
            answerable = [q for q in p.questions if not q.is_impossible]
            if answerable and not question:
                question, answers = answerable[0].question, answerable[0].answers
            if COUNT(text) >= min_tokens:
                break
        out.append(Item(text, question, answers))
        if len(out) == n:
            break
    return out


def structured_samples(rng: random.Random, prose: list[str], n: int) -> list[tuple[str, list[str]]]:
    """Support-ticket-like texts mixing SQuAD prose with things that must survive verbatim."""
    out = []
    for k in range(n):
        order = f"ord_{rng.getrandbits(32):08x}"
        url = f"https://shop.example.com/orders/{order}?ref=mail&page={rng.randint(2, 99)}"
        email = f"{rng.choice(['ana', 'li', 'sam'])}.{rng.choice(['ng', 'diaz', 'roth'])}{k}@example.org"
        amount = f"${rng.randint(10, 9999):,}.{rng.randint(0, 99):02d}"
        date = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        payload = f'{{"order": "{order}", "qty": {rng.randint(1, 9)}, "tags": ["gift", "express"]}}'
        code = f'```python\nrefund(order_id="{order}", amount={rng.randint(1, 500)})\n```'
        text = (
            f"User: {rng.choice(prose)}\nMy order {order} placed on {date} for {amount} has not arrived. "
            f"Details at {url} and please reply to {email}.\n\nPayload: {payload}\n\n{rng.choice(prose)}\n\n{code}"
        )
        out.append((text, [order, url, email, amount, date, payload, code, "User:"]))
    return out
