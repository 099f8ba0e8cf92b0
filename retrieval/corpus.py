"""A tenant's stored documents in LMDB: text, chunks, BM25 terms, embeddings.

Layout (one environment, three named databases; every key starts with the
length-prefixed tenant, so tenants can neither read nor overwrite each other):

- documents:  tenant | doc id            -> JSON: text, metadata, static, fingerprint, counts
- chunks:     tenant | doc id | ordinal  -> JSON: id, span, tokens, content hash, BM25 terms
- embeddings: tenant | model | content hash -> float32 vector (the embedding cache)

BM25 statistics depend on which documents a request names, so they are rebuilt
per request from the stored terms (no text is re-tokenised). Embeddings are kept
by (model, content hash): a chunk is embedded once, whichever document holds it.

Each public call validates everything, does the slow work (chunking, embedding)
outside any write transaction, then writes in exactly one transaction: an error
at any point leaves the corpus as it was. The class is safe to share between
threads (LMDB serialises writers; the embedder serialises inference).
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import lmdb
import numpy as np

from promptpress.errors import FieldViolation, InvalidInput
from promptpress.retrieval.chunking import (
    DEFAULT_CHUNKING,
    Chunk,
    ChunkingConfig,
    chunk_document,
    counter_identity,
)
from promptpress.retrieval.ranking import bm25_terms
from promptpress.retrieval.selection import CandidatePool
from promptpress.retrieval.validation import (
    DEFAULT_LIMITS,
    DocumentLimits,
    document_id_violations,
    document_violations,
    raise_if,
)
from promptpress.tokens import TokenCounter, counter_for
from promptpress.types import Document, TextEmbedder

# Bump when chunk records or BM25 term extraction change: stored documents then
# re-index as REPLACED instead of silently mixing old and new terms.
FORMAT_VERSION = 1
DEFAULT_MAP_SIZE = 4 << 30
# LMDB keys are at most 511 bytes: 1 + tenant + 2 + id (DocumentLimits caps it at 300) + 4.
_MAX_TENANT_BYTES = 200


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
    """Documents of every tenant in one LMDB environment at `path` (a directory)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        embedder: TextEmbedder,
        *,
        limits: DocumentLimits = DEFAULT_LIMITS,
        chunking: ChunkingConfig = DEFAULT_CHUNKING,
        counter: TokenCounter | None = None,
        map_size: int = DEFAULT_MAP_SIZE,
    ) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        self.embedder = embedder
        self.limits = limits
        self.chunking = chunking
        # Chunk sizes are measured in one tokenizer for the whole corpus; selection
        # recounts in the target's tokenizer when it differs.
        self.counter = counter or counter_for()
        self._env = lmdb.open(str(path), map_size=map_size, max_dbs=3, subdir=True)
        self._documents = self._env.open_db(b"documents")
        self._chunks = self._env.open_db(b"chunks")
        self._embeddings = self._env.open_db(b"embeddings")
        self._model_key = hashlib.sha256(embedder.model_id.encode()).digest()[:16]

    # -- public API ---------------------------------------------------------

    def index_documents(self, tenant: str, documents: Sequence[Document]) -> list[IndexResult]:
        """Store documents; identical content is a no-op, changed content replaces."""
        raise_if(document_violations(documents, self.limits))
        with self._env.begin(buffers=False) as txn:
            stored = [self._read_record(txn, tenant, doc.id) for doc in documents]
        fingerprints = [self.fingerprint(doc) for doc in documents]
        changed = {
            doc.id: self.prepare(doc, fingerprint=fp)
            for doc, fp, rec in zip(documents, fingerprints, stored, strict=True)
            if rec is None or rec["fingerprint"] != fp
        }
        new_vectors = self._embed_missing(tenant, [c for p in changed.values() for c in p.chunks])
        statuses: dict[str, IndexStatus] = {}
        if changed:
            with self._env.begin(write=True) as txn:
                for doc_id, prepared in changed.items():
                    statuses[doc_id] = self._write_document(txn, tenant, prepared)
                self._write_vectors(txn, tenant, new_vectors)
        results = []
        for doc, rec in zip(documents, stored, strict=True):
            if doc.id in changed:
                prepared = changed[doc.id]
                results.append(
                    IndexResult(doc.id, statuses[doc.id], len(prepared.chunks), prepared.tokens)
                )
            else:
                assert rec is not None
                results.append(
                    IndexResult(doc.id, IndexStatus.UNCHANGED, rec["chunks"], rec["tokens"])
                )
        return results

    def delete_documents(self, tenant: str, document_ids: Sequence[str]) -> DeleteResult:
        """Remove documents and their chunks; ids not stored are reported, not errors."""
        raise_if(document_id_violations(document_ids, self.limits))
        deleted = 0
        not_found = []
        with self._env.begin(write=True) as txn:
            for doc_id in document_ids:
                if txn.delete(_doc_key(tenant, doc_id), db=self._documents):
                    self._delete_chunks(txn, tenant, doc_id)
                    deleted += 1
                else:
                    not_found.append(doc_id)
        return DeleteResult(deleted, tuple(not_found))

    def get_documents(
        self, tenant: str, document_ids: Sequence[str], *, field: str = "document_ids"
    ) -> list[PreparedDocument]:
        """Stored documents with their chunks, in the order asked for.

        Raises InvalidInput naming `field[i]` for every id the tenant has not stored.
        """
        found: list[PreparedDocument] = []
        missing: list[FieldViolation] = []
        with self._env.begin(buffers=False) as txn:
            for i, doc_id in enumerate(document_ids):
                record = self._read_record(txn, tenant, doc_id)
                if record is None:
                    missing.append(
                        FieldViolation(f"{field}[{i}]", f"unknown document id {doc_id!r}")
                    )
                elif not missing:
                    found.append(self._read_document(txn, tenant, record))
        if missing:
            raise InvalidInput(missing)
        return found

    def list_document_ids(self, tenant: str) -> list[str]:
        prefix = _tenant_prefix(tenant)
        ids = []
        with self._env.begin(buffers=False) as txn:
            cursor = txn.cursor(db=self._documents)
            if cursor.set_range(prefix):
                for key in cursor.iternext(keys=True, values=False):
                    if not key.startswith(prefix):
                        break
                    ids.append(key[len(prefix) + 2 :].decode("utf-8"))
        return ids

    def prepare(self, doc: Document, *, fingerprint: str | None = None) -> PreparedDocument:
        """Chunk a document and extract BM25 terms, without storing anything."""
        chunks = chunk_document(
            doc, self.counter, size=self.chunking.size, overlap=self.chunking.overlap
        )
        terms = tuple(bm25_terms(c.text) for c in chunks)
        return PreparedDocument(doc, fingerprint or self.fingerprint(doc), tuple(chunks), terms)

    def candidate_pool(self, tenant: str, documents: Sequence[PreparedDocument]) -> CandidatePool:
        """The chunks of `documents` with embeddings, from the cache or computed now.

        Newly computed embeddings are cached (one write transaction), so inline
        documents sent with every request are embedded only the first time.
        """
        chunks = tuple(c for d in documents for c in d.chunks)
        terms = tuple(t for d in documents for t in d.terms)
        return self.chunk_pool(tenant, chunks, terms)

    def chunk_pool(
        self, tenant: str, chunks: Sequence[Chunk], terms: Sequence[tuple[str, ...]]
    ) -> CandidatePool:
        """A pool of any chunks (e.g. sub-chunks), embeddings cached as in candidate_pool."""
        chunks, terms = tuple(chunks), tuple(terms)
        vectors = self._cached_vectors(tenant, chunks)
        new_vectors = self._embed_missing(tenant, chunks, cached=vectors)
        if new_vectors:
            with self._env.begin(write=True) as txn:
                self._write_vectors(txn, tenant, new_vectors)
            vectors.update(new_vectors)
        matrix = np.zeros((len(chunks), self.embedder.dim), dtype=np.float32)
        for row, chunk in enumerate(chunks):
            matrix[row] = vectors[chunk.content_hash]
        return CandidatePool(chunks, matrix, terms)

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
        self._env.close()

    def __enter__(self) -> Corpus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- storage helpers ----------------------------------------------------

    def _read_record(self, txn: lmdb.Transaction, tenant: str, doc_id: str) -> dict | None:
        raw = txn.get(_doc_key(tenant, doc_id), db=self._documents)
        return None if raw is None else json.loads(bytes(raw))

    def _read_document(self, txn: lmdb.Transaction, tenant: str, record: dict) -> PreparedDocument:
        doc = Document(record["id"], record["text"], dict(record["metadata"]), record["static"])
        chunks: list[Chunk] = []
        terms: list[tuple[str, ...]] = []
        prefix = _doc_key(tenant, doc.id)
        cursor = txn.cursor(db=self._chunks)
        if cursor.set_range(prefix):
            for key, raw in cursor:
                if not bytes(key).startswith(prefix) or len(key) != len(prefix) + 4:
                    break
                chunk_id, start, end, tokens, encoding, digest, chunk_terms = json.loads(bytes(raw))
                index = len(chunks)
                text = doc.text[start:end]
                chunks.append(
                    Chunk(doc.id, chunk_id, index, start, end, text, tokens, encoding, digest)
                )
                terms.append(tuple(chunk_terms))
        return PreparedDocument(doc, record["fingerprint"], tuple(chunks), tuple(terms))

    def _write_document(
        self, txn: lmdb.Transaction, tenant: str, prepared: PreparedDocument
    ) -> IndexStatus:
        doc = prepared.document
        key = _doc_key(tenant, doc.id)
        previous = txn.get(key, db=self._documents)
        if previous is not None:
            if json.loads(bytes(previous))["fingerprint"] == prepared.fingerprint:
                return IndexStatus.UNCHANGED  # a concurrent call stored it first
            self._delete_chunks(txn, tenant, doc.id)
        record = {
            "id": doc.id,
            "text": doc.text,
            "metadata": dict(doc.metadata),
            "static": doc.static,
            "fingerprint": prepared.fingerprint,
            "chunks": len(prepared.chunks),
            "tokens": prepared.tokens,
        }
        txn.put(key, _json(record), db=self._documents)
        for chunk, terms in zip(prepared.chunks, prepared.terms, strict=True):
            value = [
                chunk.chunk_id,
                chunk.start,
                chunk.end,
                chunk.tokens,
                chunk.encoding,
                chunk.content_hash,
                terms,
            ]
            txn.put(key + chunk.index.to_bytes(4, "big"), _json(value), db=self._chunks)
        return IndexStatus.CREATED if previous is None else IndexStatus.REPLACED

    def _delete_chunks(self, txn: lmdb.Transaction, tenant: str, doc_id: str) -> None:
        prefix = _doc_key(tenant, doc_id)
        cursor = txn.cursor(db=self._chunks)
        if not cursor.set_range(prefix):
            return
        while (key := bytes(cursor.key())).startswith(prefix) and len(key) == len(prefix) + 4:
            if not cursor.delete():  # delete() moves to the next record
                break

    def _cached_vectors(self, tenant: str, chunks: Iterable[Chunk]) -> dict[str, np.ndarray]:
        vectors: dict[str, np.ndarray] = {}
        with self._env.begin(buffers=False) as txn:
            for chunk in chunks:
                if chunk.content_hash in vectors:
                    continue
                raw = txn.get(self._vector_key(tenant, chunk.content_hash), db=self._embeddings)
                if raw is not None:
                    vectors[chunk.content_hash] = np.frombuffer(raw, dtype=np.float32)
        return vectors

    def _embed_missing(
        self, tenant: str, chunks: Sequence[Chunk], *, cached: dict[str, np.ndarray] | None = None
    ) -> dict[str, np.ndarray]:
        """Embeddings for chunks not in the cache, each distinct text embedded once."""
        if cached is None:
            cached = self._cached_vectors(tenant, chunks)
        todo = {c.content_hash: c.text for c in chunks if c.content_hash not in cached}
        if not todo:
            return {}
        matrix = self.embedder.embed(list(todo.values()))
        return dict(zip(todo, matrix, strict=True))

    def _write_vectors(
        self, txn: lmdb.Transaction, tenant: str, vectors: dict[str, np.ndarray]
    ) -> None:
        for digest, vector in vectors.items():
            txn.put(
                self._vector_key(tenant, digest),
                np.ascontiguousarray(vector, dtype=np.float32).tobytes(),
                db=self._embeddings,
            )

    def _vector_key(self, tenant: str, digest: str) -> bytes:
        return _tenant_prefix(tenant) + self._model_key + bytes.fromhex(digest)


def _tenant_prefix(tenant: str) -> bytes:
    raw = tenant.encode("utf-8")
    if len(raw) > _MAX_TENANT_BYTES:
        raise ValueError(f"tenant is {len(raw)} bytes; at most {_MAX_TENANT_BYTES}")
    return len(raw).to_bytes(1, "big") + raw


def _doc_key(tenant: str, doc_id: str) -> bytes:
    raw = doc_id.encode("utf-8")
    return _tenant_prefix(tenant) + len(raw).to_bytes(2, "big") + raw


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
