"""A tenant's stored documents: text, chunks, BM25 terms, embeddings, on a Store.

Layout (spaces of a promptpress.storage.Store, which namespaces them by tenant):

- ``corpus:docs``   map: doc id -> JSON: text, metadata, static, fingerprint,
                    counts, and the chunks (span, tokens, content hash, BM25 terms)
- ``corpus:usage``  map: counters ``documents`` and ``bytes`` (the tenant's quota)
- ``emb:<model>``   cache: content hash -> float32 vector (the embedding cache),
                    for chunks and, from indexing, for their sub-chunks

A document and its chunks are one value, so a reader never sees one without
the other. BM25 statistics depend on which documents a request names, so they
are rebuilt per request from the stored terms (no text is re-tokenised).
Embeddings are kept by (model, content hash): a chunk is embedded once,
whichever document holds it.

Each public call validates everything, does the slow work (chunking,
embedding) before writing, then writes the documents in exactly one atomic
commit, conditional on what it read (a concurrent writer makes it start
over): an error at any point leaves the corpus as it was. Per-tenant quotas
(documents, bytes) are counters checked inside that commit, so concurrent
requests (or replicas) cannot overshoot them together. The embedding cache
is best effort: when the store cannot be reached, inline documents are
embedded and not cached, so requests that name no stored document still work.

Indexing also embeds the sub-chunks that small budgets cut stored chunks into
(refine.py, subchunks.py: 64 and 128 tokens under the default 256-token chunks) and caches
them like any chunk's vector, so the first small-budget request over a stored
document does not embed them on the request path. They are derived data, found
by content hash: a corpus indexed before this (or with `fine_at_index=()`),
an evicted entry or an unreachable store only means refinement embeds them
when first needed, as it always could. They go into the cache before the
chunks' own vectors and in a separate write, so a cache at its entry cap
(which evicts the oldest insertions) loses sub-chunk vectors before chunk
vectors. They multiply the cache entries per chunk by about nine (1 + ~5 at
64 tokens + ~3 at 128), which `Quotas.max_cached_embeddings` and the store's
size must allow for (README, "Capacity").
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from promptpress.errors import FieldViolation, InvalidInput, ResourceExhausted
from promptpress.retrieval.chunking import (
    DEFAULT_CHUNKING,
    Chunk,
    ChunkingConfig,
    chunk_document,
    counter_identity,
)
from promptpress.retrieval.ranking import bm25_terms
from promptpress.retrieval.selection import CandidatePool
from promptpress.retrieval.subchunks import reachable_fine_chunkings, sub_chunks
from promptpress.retrieval.validation import (
    DEFAULT_LIMITS,
    DocumentLimits,
    document_id_violations,
    document_violations,
    raise_if,
)
from promptpress.storage import (
    Conflict,
    Delete,
    Expect,
    Incr,
    Op,
    Put,
    QuotaExceeded,
    Store,
    StoreUnavailable,
    warn_throttled,
)
from promptpress.tokens import TokenCounter, counter_for
from promptpress.types import Document, TextEmbedder

log = logging.getLogger(__name__)

# Bump when chunk records or BM25 term extraction change: stored documents then
# re-index as REPLACED instead of silently mixing old and new terms.
FORMAT_VERSION = 2
DEFAULT_MAP_SIZE = 4 << 30
DOCS = "corpus:docs"
USAGE = "corpus:usage"
EMBEDDING_TTL_S = 30 * 86400.0
_RETRIES = 8  # commits that lost a race to a concurrent writer start over this often


@dataclass(frozen=True, slots=True)
class Quotas:
    """Per-tenant caps on the stored corpus (0: unlimited)."""

    max_documents: int = 100_000
    max_bytes: int = 1 << 30  # UTF-8 bytes of document text
    max_cached_embeddings: int = 2_000_000


DEFAULT_QUOTAS = Quotas()


class IndexStatus(enum.Enum):
    CREATED = "created"
    UNCHANGED = "unchanged"  # same content as stored; nothing was written
    REPLACED = "replaced"


@dataclass(frozen=True, slots=True)
class IndexResult:
    document_id: str
    status: IndexStatus
    chunks: int
    tokens: int  # in the corpus's chunking tokenizer


@dataclass(frozen=True, slots=True)
class DeleteResult:
    deleted: int
    not_found: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """A document cut into chunks with their BM25 terms (stored or inline)."""

    document: Document
    fingerprint: str
    chunks: tuple[Chunk, ...]
    terms: tuple[tuple[str, ...], ...]

    @property
    def tokens(self) -> int:
        return sum(c.tokens for c in self.chunks)


class Corpus:
    """Documents of every tenant in a Store (or an LMDB store opened at a path)."""

    def __init__(
        self,
        store: Store | str | os.PathLike[str],
        embedder: TextEmbedder,
        *,
        limits: DocumentLimits = DEFAULT_LIMITS,
        chunking: ChunkingConfig = DEFAULT_CHUNKING,
        counter: TokenCounter | None = None,
        quotas: Quotas = DEFAULT_QUOTAS,
        map_size: int = DEFAULT_MAP_SIZE,
        fine_at_index: Sequence[ChunkingConfig] | None = None,
    ) -> None:
        """`fine_at_index`: the sub-chunk sizes indexing embeds ahead of requests;
        None (default) is every size a budget can ask for, () none (they are then
        embedded by the first request that needs them)."""
        self._owns_store = isinstance(store, (str, os.PathLike))
        if isinstance(store, (str, os.PathLike)):
            from promptpress.storage.lmdb_store import LmdbStore  # a path: embedded default

            store = LmdbStore(store, map_size=map_size)
        self.store: Store = store
        self.embedder = embedder
        self.limits = limits
        self.chunking = chunking
        self.quotas = quotas
        # Chunk sizes are measured in one tokenizer for the whole corpus; selection
        # recounts in the target's tokenizer when it differs.
        self.counter = counter or counter_for()
        self.fine_at_index = tuple(
            reachable_fine_chunkings(chunking) if fine_at_index is None else fine_at_index
        )
        model_key = hashlib.sha256(embedder.model_id.encode()).hexdigest()[:16]
        self._embeddings = f"emb:{model_key}"

    # -- public API ---------------------------------------------------------

    def index_documents(self, tenant: str, documents: Sequence[Document]) -> list[IndexResult]:
        """Store documents; identical content is a no-op, changed content replaces."""
        raise_if(document_violations(documents, self.limits))
        fingerprints = [self.fingerprint(doc) for doc in documents]
        prepared: dict[str, PreparedDocument] = {}
        for _ in range(_RETRIES):
            raw = self.store.get(tenant, [(DOCS, _id(doc.id)) for doc in documents])
            stored = [None if r is None else json.loads(r) for r in raw]
            changed = {
                doc.id: prepared.get(doc.id) or self.prepare(doc, fingerprint=fp)
                for doc, fp, rec in zip(documents, fingerprints, stored, strict=True)
                if rec is None or rec["fingerprint"] != fp
            }
            prepared.update(changed)
            if changed:
                chunks = [c for p in changed.values() for c in p.chunks]
                # Sub-chunks first: a cache at its entry cap evicts the oldest
                # insertions, and a chunk's own vector is the one every request needs.
                self._cache_vectors(tenant, self.fine_pieces(chunks))
                self._cache_vectors(tenant, chunks)
                try:
                    self.store.commit(tenant, self._index_ops(documents, raw, stored, changed))
                except Conflict:
                    continue  # a concurrent writer changed one of these documents: re-read
                except QuotaExceeded as exc:
                    raise self._quota_error(exc) from exc
            return [
                self._result(doc.id, rec, changed.get(doc.id))
                for doc, rec in zip(documents, stored, strict=True)
            ]
        raise StoreUnavailable(f"store {self.store.name}: too many concurrent writes; retry")

    def delete_documents(self, tenant: str, document_ids: Sequence[str]) -> DeleteResult:
        """Remove documents and their chunks; ids not stored are reported, not errors."""
        raise_if(document_id_violations(document_ids, self.limits))
        unique = list(dict.fromkeys(document_ids))
        for _ in range(_RETRIES):
            raw = dict(
                zip(unique, self.store.get(tenant, [(DOCS, _id(i)) for i in unique]), strict=True)
            )
            ops: list[Op] = []
            for doc_id, value in raw.items():
                if value is not None:
                    record = json.loads(value)
                    ops += [Expect(DOCS, _id(doc_id), value), Delete(DOCS, _id(doc_id))]
                    ops += [Incr(USAGE, b"documents", -1), Incr(USAGE, b"bytes", -record["bytes"])]
            try:
                if ops:
                    self.store.commit(tenant, ops)
            except Conflict:
                continue
            deleted = sum(1 for v in raw.values() if v is not None)
            return DeleteResult(deleted, tuple(i for i in document_ids if raw[i] is None))
        raise StoreUnavailable(f"store {self.store.name}: too many concurrent writes; retry")

    def get_documents(
        self, tenant: str, document_ids: Sequence[str], *, field: str = "document_ids"
    ) -> list[PreparedDocument]:
        """Stored documents with their chunks, in the order asked for (one store read).

        Raises InvalidInput naming `field[i]` for every id the tenant has not stored.
        """
        if not document_ids:
            return []
        raw = self.store.get(tenant, [(DOCS, _id(doc_id)) for doc_id in document_ids])
        missing = [
            FieldViolation(f"{field}[{i}]", f"unknown document id {doc_id!r}")
            for i, (doc_id, value) in enumerate(zip(document_ids, raw, strict=True))
            if value is None
        ]
        if missing:
            raise InvalidInput(missing)
        return [_read_document(json.loads(value)) for value in raw if value is not None]

    def list_document_ids(self, tenant: str) -> list[str]:
        return sorted(key.decode("utf-8") for key, _ in self.store.items(tenant, DOCS))

    def usage(self, tenant: str) -> tuple[int, int]:
        """(documents, bytes) the tenant has stored, as counted for its quota."""
        docs, size = self.store.get(tenant, [(USAGE, b"documents"), (USAGE, b"bytes")])
        return int(docs or 0), int(size or 0)

    def prepare(self, doc: Document, *, fingerprint: str | None = None) -> PreparedDocument:
        """Chunk a document and extract BM25 terms, without storing anything."""
        chunks = chunk_document(
            doc, self.counter, size=self.chunking.size, overlap=self.chunking.overlap
        )
        terms = tuple(bm25_terms(c.text) for c in chunks)
        return PreparedDocument(doc, fingerprint or self.fingerprint(doc), tuple(chunks), terms)

    def candidate_pool(self, tenant: str, documents: Sequence[PreparedDocument]) -> CandidatePool:
        """The chunks of `documents` with embeddings, from the cache or computed now.

        Newly computed embeddings are cached, so inline documents sent with every
        request are embedded only the first time.
        """
        chunks = tuple(c for d in documents for c in d.chunks)
        terms = tuple(t for d in documents for t in d.terms)
        return self.chunk_pool(tenant, chunks, terms)

    def chunk_pool(
        self, tenant: str, chunks: Sequence[Chunk], terms: Sequence[tuple[str, ...]]
    ) -> CandidatePool:
        """A pool of any chunks (e.g. sub-chunks), embeddings cached as in candidate_pool."""
        chunks, terms = tuple(chunks), tuple(terms)
        vectors = self._cache_vectors(tenant, chunks)
        matrix = np.zeros((len(chunks), self.embedder.dim), dtype=np.float32)
        for row, chunk in enumerate(chunks):
            matrix[row] = vectors[chunk.content_hash]
        return CandidatePool(chunks, matrix, terms)

    def fine_pieces(self, chunks: Sequence[Chunk]) -> list[Chunk]:
        """The sub-chunks of `chunks` at every `fine_at_index` size, as refine.py cuts them."""
        return [p for fine in self.fine_at_index for p in sub_chunks(chunks, self.counter, fine)]

    def fingerprint(self, doc: Document) -> str:
        """Everything that decides a stored document's chunks, terms and vectors."""
        identity = {
            "format": FORMAT_VERSION,
            "text": doc.text,
            "metadata": sorted(doc.metadata.items()),
            "static": doc.static,
            "chunking": [self.chunking.size, self.chunking.overlap, counter_identity(self.counter)],
            "model": self.embedder.model_id,
        }
        return hashlib.sha256(json.dumps(identity, ensure_ascii=False).encode("utf-8")).hexdigest()

    def close(self) -> None:
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Corpus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- storage helpers ----------------------------------------------------

    def _index_ops(
        self,
        documents: Sequence[Document],
        raw: Sequence[bytes | None],
        stored: Sequence[dict[str, Any] | None],
        changed: dict[str, PreparedDocument],
    ) -> list[Op]:
        """One commit for every changed document, conditional on what was read."""
        ops: list[Op] = []
        new_docs = new_bytes = 0
        seen: set[str] = set()
        for doc, value, rec in zip(documents, raw, stored, strict=True):
            if doc.id not in changed or doc.id in seen:
                continue
            seen.add(doc.id)
            record = _record(changed[doc.id])
            ops += [Expect(DOCS, _id(doc.id), value), Put(DOCS, _id(doc.id), _json(record))]
            new_docs += rec is None
            new_bytes += record["bytes"] - (0 if rec is None else rec["bytes"])
        q = self.quotas
        ops.append(Incr(USAGE, b"documents", new_docs, limit=q.max_documents or None))
        ops.append(Incr(USAGE, b"bytes", new_bytes, limit=q.max_bytes or None))
        return ops

    def _quota_error(self, exc: QuotaExceeded) -> ResourceExhausted:
        what = "documents" if exc.key == b"documents" else "bytes of document text"
        return ResourceExhausted(
            f"corpus quota exceeded: this tenant may store {exc.limit} {what}, "
            f"has {exc.current} and this request adds {exc.delta}; delete documents first"
        )

    @staticmethod
    def _result(
        doc_id: str, rec: dict[str, Any] | None, prepared: PreparedDocument | None
    ) -> IndexResult:
        if prepared is None:
            assert rec is not None
            return IndexResult(doc_id, IndexStatus.UNCHANGED, len(rec["chunks"]), rec["tokens"])
        status = IndexStatus.CREATED if rec is None else IndexStatus.REPLACED
        return IndexResult(doc_id, status, len(prepared.chunks), prepared.tokens)

    def _cache_vectors(self, tenant: str, chunks: Iterable[Chunk]) -> dict[str, np.ndarray]:
        """Vectors for chunks: cached ones read, the rest embedded (each text once) and cached.

        A store that cannot be reached counts as an empty cache: nothing is cached then.
        """
        todo = {c.content_hash: c.text for c in chunks}
        digests = list(todo)
        vectors: dict[str, np.ndarray] = {}
        reachable = True
        try:
            found = self.store.cache_get(
                tenant, self._embeddings, [bytes.fromhex(d) for d in digests]
            )
        except StoreUnavailable as exc:
            warn_throttled(log, "embedding cache not read: %s", exc)
            found, reachable = [None] * len(digests), False
        for digest, raw in zip(digests, found, strict=True):
            if raw is not None:
                vectors[digest] = np.frombuffer(raw, dtype=np.float32)
                del todo[digest]
        if not todo:
            return vectors
        matrix = self.embedder.embed(list(todo.values()))
        new = dict(zip(todo, matrix, strict=True))
        vectors.update(new)
        if reachable:
            entries = {
                bytes.fromhex(d): np.ascontiguousarray(v, dtype=np.float32).tobytes()
                for d, v in new.items()
            }
            try:
                self.store.cache_put(
                    tenant,
                    self._embeddings,
                    entries,
                    # A TTL makes them evictable under Redis' volatile-lru (see README);
                    # an expired vector is computed again when next needed.
                    ttl_s=EMBEDDING_TTL_S,
                    max_entries=self.quotas.max_cached_embeddings or 1 << 62,
                )
            except (StoreUnavailable, ResourceExhausted) as exc:
                warn_throttled(log, "embeddings not cached: %s", exc)
        return vectors


def _id(doc_id: str) -> bytes:
    return doc_id.encode("utf-8")


def _record(prepared: PreparedDocument) -> dict[str, Any]:
    doc = prepared.document
    return {
        "id": doc.id,
        "text": doc.text,
        "metadata": dict(doc.metadata),
        "static": doc.static,
        "fingerprint": prepared.fingerprint,
        "tokens": prepared.tokens,
        "bytes": len(doc.text.encode("utf-8", "surrogatepass")),
        "chunks": [
            [c.chunk_id, c.start, c.end, c.tokens, c.encoding, c.content_hash, terms]
            for c, terms in zip(prepared.chunks, prepared.terms, strict=True)
        ],
    }


def _read_document(record: dict[str, Any]) -> PreparedDocument:
    doc = Document(record["id"], record["text"], dict(record["metadata"]), record["static"])
    chunks: list[Chunk] = []
    terms: list[tuple[str, ...]] = []
    for index, row in enumerate(record["chunks"]):
        chunk_id, start, end, tokens, encoding, digest, chunk_terms = row
        text = doc.text[start:end]
        chunks.append(Chunk(doc.id, chunk_id, index, start, end, text, tokens, encoding, digest))
        terms.append(tuple(chunk_terms))
    return PreparedDocument(doc, record["fingerprint"], tuple(chunks), tuple(terms))


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
