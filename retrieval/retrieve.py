"""The retrieval stage as the Preprocess pipeline calls it.

`retrieve` takes a request's inline documents and stored document ids, sets the
static documents aside whole (they belong in the cacheable prefix), and selects
chunks of the others for the query within the context budget.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from promptpress.retrieval.corpus import Corpus
from promptpress.retrieval.refine import fine_chunking, select_refined
from promptpress.retrieval.selection import (
    DEFAULT_OPTIONS,
    Selection,
    SelectionOptions,
    select_chunks,
)
from promptpress.retrieval.validation import document_id_violations, document_violations, raise_if
from promptpress.tokens import TokenCounter
from promptpress.types import Document, Placement


@dataclass(frozen=True, slots=True)
class Retrieval:
    """What the pipeline places: static documents whole, selected chunks."""

    # Inline static documents in request order, then stored static ones in
    # document_ids order; they go whole into the cacheable prefix.
    static_documents: tuple[Document, ...] = ()
    selection: Selection = field(default_factory=Selection)
    # Every candidate document (inline, then stored), whole: what the request
    # would have sent without selection, so callers need not read the corpus again.
    documents: tuple[Document, ...] = ()


def retrieve(
    corpus: Corpus,
    tenant: str,
    *,
    query: str,
    counter: TokenCounter,
    max_tokens: int,
    documents: Sequence[Document] = (),
    document_ids: Sequence[str] = (),
    placement: Placement = Placement.EDGES,
    options: SelectionOptions = DEFAULT_OPTIONS,
) -> Retrieval:
    """Validate, load, rank and select; blocking (run it in a worker thread).

    Candidate (request) order is the inline documents, then the stored ones in
    `document_ids` order. `max_tokens` 0 means no limit. Raises InvalidInput
    with every bad field (`documents[i].text`, `document_ids[i]`, ...).
    """
    raise_if(
        document_violations(documents, corpus.limits)
        + document_id_violations(document_ids, corpus.limits, inline=documents)
    )
    stored = corpus.get_documents(tenant, document_ids)
    static = [d for d in documents if d.static] + [p.document for p in stored if p.document.static]
    dynamic = [corpus.prepare(d) for d in documents if not d.static]
    dynamic += [p for p in stored if not p.document.static]
    candidates = (*documents, *(p.document for p in stored))
    if not dynamic:
        return Retrieval(tuple(static), Selection(), candidates)
    # Finer candidates only when the budget holds fewer than three stored chunks
    # and cannot simply take them all.
    fine = fine_chunking(corpus.chunking, max_tokens) if options.refine else None
    if fine is not None and sum(d.tokens for d in dynamic) > max_tokens:
        selection = select_refined(
            corpus,
            tenant,
            query,
            dynamic,
            fine=fine,
            counter=counter,
            max_tokens=max_tokens,
            placement=placement,
            options=options,
        )
    else:
        selection = select_chunks(
            query,
            corpus.candidate_pool(tenant, dynamic),
            embedder=corpus.embedder,
            counter=counter,
            max_tokens=max_tokens,
            placement=placement,
            options=options,
        )
        stats = dataclasses.replace(selection.stats, granularity=corpus.chunking.size)
        selection = dataclasses.replace(selection, stats=stats)
    return Retrieval(tuple(static), selection, candidates)
