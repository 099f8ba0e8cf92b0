"""promptpress.retrieval: chunking, BM25 + embeddings, fusion, budgeted selection, the corpus.

Typical server use (all calls block; run them in a worker thread):

    embedder = SentenceTransformerEmbedder()    # once, before serving
    corpus = Corpus(store, embedder, limits=DocumentLimits(...), quotas=Quotas(...))
    # store: a promptpress.storage.Store (LMDB or Valkey/Redis); a path opens LMDB there
    corpus.index_documents(tenant, docs)        # IndexDocuments
    corpus.delete_documents(tenant, ids)        # DeleteDocuments
    result = retrieve(corpus, tenant, query=..., counter=..., max_tokens=...,
                      documents=inline, document_ids=ids, placement=...)  # Preprocess

Documents are chunked and indexed at the corpus's chunk size (256 tokens by
default). When a request's budget holds fewer than three such chunks, selection
cuts the best of them into sub-chunks of about a quarter of the budget (at least
64 tokens) and selects among those (refine.py); their embeddings are cached by
content hash like any chunk's.
"""

from promptpress.retrieval.chunking import (
    DEFAULT_CHUNK_TOKENS,
    DEFAULT_OVERLAP_TOKENS,
    Chunk,
    ChunkingConfig,
    chunk_document,
)
from promptpress.retrieval.corpus import (
    Corpus,
    DeleteResult,
    IndexResult,
    IndexStatus,
    PreparedDocument,
    Quotas,
)
from promptpress.retrieval.embedder import DEFAULT_MODEL_ID, SentenceTransformerEmbedder
from promptpress.retrieval.ranking import FusionWeights
from promptpress.retrieval.refine import fine_chunking
from promptpress.retrieval.retrieve import Retrieval, retrieve
from promptpress.retrieval.selection import (
    CandidatePool,
    Ranking,
    ScoredChunk,
    Selection,
    SelectionOptions,
    SelectionStats,
    rank_chunks,
    select_chunks,
    select_ranked,
)
from promptpress.retrieval.validation import DocumentLimits

__all__ = [
    "DEFAULT_CHUNK_TOKENS",
    "DEFAULT_MODEL_ID",
    "DEFAULT_OVERLAP_TOKENS",
    "CandidatePool",
    "Chunk",
    "ChunkingConfig",
    "Corpus",
    "DeleteResult",
    "DocumentLimits",
    "FusionWeights",
    "IndexResult",
    "IndexStatus",
    "PreparedDocument",
    "Quotas",
    "Ranking",
    "Retrieval",
    "ScoredChunk",
    "Selection",
    "SelectionOptions",
    "SelectionStats",
    "SentenceTransformerEmbedder",
    "chunk_document",
    "fine_chunking",
    "rank_chunks",
    "retrieve",
    "select_chunks",
    "select_ranked",
]
