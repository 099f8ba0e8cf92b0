"""The retrieval suite's first-request table: what a small budget costs the first time.

A small budget (under three stored chunks) is served from sub-chunks of the
best stored chunks (retrieval/refine.py). Their embeddings used to be computed
by the first request that needed them: ~1 s on this machine, against ~30 ms for
a request at a large budget. The corpus now embeds them when it indexes a
document (`Corpus(fine_at_index=None)`, the default); `fine_at_index=()` is the
old behaviour, and also what a corpus indexed before the change looks like.

Per article, in one run and on one store, the article is indexed twice under
fresh tenants (nothing cached): once as before, once with the service's
defaults. On each, the same question is asked at a large budget
(`LARGE_BUDGET`, no refining), then at 128 (the first request that needs
64-token sub-chunks), then at 512 (the first that needs 128-token ones). The
order of the two corpora alternates between articles so that drift in the
machine's load does not favour one. Reported: p50 ms of each request and of
indexing, the first-small / large ratio on each corpus, and after / before.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from promptpress.bench.frame import markdown_table, ratio
from promptpress.retrieval import Corpus, retrieve
from promptpress.tokens import TokenCounter
from promptpress.types import Document

LARGE_BUDGET = 1024
SMALL_BUDGETS = (128, 512)
VARIANTS = ("before", "after")  # sub-chunks embedded by the first request / at indexing


class FirstRequests:
    """Seconds per (variant, what) over articles; what is "index", "large", "first_<b>"."""

    def __init__(self) -> None:
        self.seconds: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.selected: dict[str, list[tuple[str, ...]]] = defaultdict(list)

    def measure(
        self,
        service: Corpus,
        tenant: str,
        docs: Sequence[Document],
        question: str,
        counter: TokenCounter,
        *,
        turn: int,
    ) -> None:
        """Index `docs` under fresh tenants, before and after, and time the first requests."""
        before = Corpus(service.store, service.embedder, fine_at_index=())
        corpora = {"before": before, "after": service}
        order = VARIANTS if turn % 2 == 0 else VARIANTS[::-1]
        ids = [d.id for d in docs]
        for variant in order:
            corpus, fresh = corpora[variant], f"{tenant}:first-{variant}"
            started = time.perf_counter()
            corpus.index_documents(fresh, docs)
            self.seconds[variant, "index"].append(time.perf_counter() - started)
            for budget in (LARGE_BUDGET, *SMALL_BUDGETS):
                started = time.perf_counter()
                result = retrieve(
                    corpus,
                    fresh,
                    query=question,
                    counter=counter,
                    max_tokens=budget,
                    document_ids=ids,
                )
                elapsed = time.perf_counter() - started
                what = "large" if budget == LARGE_BUDGET else f"first_{budget}"
                self.seconds[variant, what].append(elapsed)
                chosen = tuple(s.chunk.chunk_id for s in result.selection.chunks)
                self.selected[f"{variant}:{budget}"].append(chosen)

    def figures(self) -> dict[str, Any]:
        p50 = {
            variant: {
                what: 1000 * statistics.median(self.seconds[variant, what])
                for what in ("index", "large", *(f"first_{b}" for b in SMALL_BUDGETS))
            }
            for variant in VARIANTS
        }
        same = all(
            self.selected[f"before:{b}"] == self.selected[f"after:{b}"]
            for b in (LARGE_BUDGET, *SMALL_BUDGETS)
        )
        return {
            "articles": len(self.seconds["after", "index"]),
            "large_budget": LARGE_BUDGET,
            "p50_ms": p50,
            "first_vs_large": {
                v: {str(b): ratio(p50[v][f"first_{b}"], p50[v]["large"]) for b in SMALL_BUDGETS}
                for v in VARIANTS
            },
            "after_vs_before": {
                what: ratio(p50["after"][what], p50["before"][what]) for what in p50["after"]
            },
            "same_selection": same,
        }


def table(f: dict[str, Any]) -> str:
    whats = ("index", "large", *(f"first_{b}" for b in SMALL_BUDGETS))
    labels = {
        "index": "index the article",
        "large": f"first request @{f['large_budget']} (no refining)",
        **{f"first_{b}": f"first request @{b}" for b in SMALL_BUDGETS},
    }
    rows = [
        [
            labels[w],
            f["p50_ms"]["before"][w],
            f["p50_ms"]["after"][w],
            f["after_vs_before"][w],
        ]
        for w in whats
    ]
    rows += [
        [
            f"first @{b} / first @{f['large_budget']}",
            f["first_vs_large"]["before"][str(b)],
            f["first_vs_large"]["after"][str(b)],
            None,
        ]
        for b in SMALL_BUDGETS
    ]
    return "\n\n".join(
        [
            f"First request at a small budget, before/after ({f['articles']} articles, each "
            "indexed under fresh tenants; p50 ms; before = sub-chunks embedded by the first "
            "request that needs them, after = embedded at indexing, the default). Same "
            f"chunks selected before and after: {'yes' if f['same_selection'] else 'NO'}.",
            markdown_table(["p50", "before ms", "after ms", "after / before"], rows),
        ]
    )
