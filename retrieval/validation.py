"""Request limits and the checks made before any retrieval work or write starts.

Every problem found is reported at once, each with its proto-style field path
(`documents[2].text`), so a caller can fix a request in one round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from promptpress.errors import FieldViolation, InvalidInput
from promptpress.types import Document

# Document ids are part of LMDB keys, which are at most 511 bytes long.
MAX_ID_BYTES = 300


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """Sizes the server accepts; the server config fills this in."""

    max_documents: int = 256  # documents[] in one request (inline or to index)
    max_document_ids: int = 1024  # document_ids[] in one request
    max_document_bytes: int = 1 << 20  # UTF-8 size of one document's text
    max_metadata_bytes: int = 16 << 10  # keys plus values of one document's metadata
    max_id_bytes: int = 256  # UTF-8 size of a document id

    def __post_init__(self) -> None:
        if not 0 < self.max_id_bytes <= MAX_ID_BYTES:
            raise ValueError(f"max_id_bytes must be in 1..{MAX_ID_BYTES} (LMDB key size)")
        for name in (
            "max_documents",
            "max_document_ids",
            "max_document_bytes",
            "max_metadata_bytes",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


DEFAULT_LIMITS = DocumentLimits()


def document_violations(
    documents: Sequence[Document], limits: DocumentLimits, *, field: str = "documents"
) -> list[FieldViolation]:
    """What is wrong with a list of documents; empty when nothing is."""
    violations: list[FieldViolation] = []
    if len(documents) > limits.max_documents:
        violations.append(
            FieldViolation(
                field, f"{len(documents)} documents; the limit is {limits.max_documents}"
            )
        )
        return violations  # don't list a violation per document of an oversized request
    first_seen: dict[str, int] = {}
    for i, doc in enumerate(documents):
        path = f"{field}[{i}]"
        violations.extend(_id_violations(doc.id, f"{path}.id", limits))
        if doc.id in first_seen:
            violations.append(
                FieldViolation(
                    f"{path}.id", f"duplicate id {doc.id!r}, also {field}[{first_seen[doc.id]}]"
                )
            )
        first_seen.setdefault(doc.id, i)
        size = len(doc.text.encode("utf-8"))
        if not doc.text.strip():
            violations.append(FieldViolation(f"{path}.text", "document is empty"))
        elif size > limits.max_document_bytes:
            violations.append(
                FieldViolation(
                    f"{path}.text", f"{size} bytes; the limit is {limits.max_document_bytes}"
                )
            )
        meta = sum(len(k.encode("utf-8")) + len(v.encode("utf-8")) for k, v in doc.metadata.items())
        if meta > limits.max_metadata_bytes:
            violations.append(
                FieldViolation(
                    f"{path}.metadata", f"{meta} bytes; the limit is {limits.max_metadata_bytes}"
                )
            )
    return violations


def document_id_violations(
    document_ids: Sequence[str],
    limits: DocumentLimits,
    *,
    field: str = "document_ids",
    inline: Sequence[Document] = (),
    inline_field: str = "documents",
) -> list[FieldViolation]:
    """What is wrong with a list of stored-document ids (existence is checked later).

    An id also given inline is ambiguous (which text wins?), so it is rejected.
    """
    if len(document_ids) > limits.max_document_ids:
        return [
            FieldViolation(
                field, f"{len(document_ids)} ids; the limit is {limits.max_document_ids}"
            )
        ]
    violations: list[FieldViolation] = []
    inline_index = {doc.id: i for i, doc in reversed(list(enumerate(inline)))}
    first_seen: dict[str, int] = {}
    for i, doc_id in enumerate(document_ids):
        path = f"{field}[{i}]"
        violations.extend(_id_violations(doc_id, path, limits))
        if doc_id in first_seen:
            violations.append(
                FieldViolation(path, f"duplicate id {doc_id!r}, also {field}[{first_seen[doc_id]}]")
            )
        elif doc_id in inline_index:
            violations.append(
                FieldViolation(
                    path,
                    f"id {doc_id!r} is also given inline as {inline_field}[{inline_index[doc_id]}]",
                )
            )
        first_seen.setdefault(doc_id, i)
    return violations


def _id_violations(doc_id: str, path: str, limits: DocumentLimits) -> list[FieldViolation]:
    if not doc_id:
        return [FieldViolation(path, "id must not be empty")]
    size = len(doc_id.encode("utf-8"))
    if size > limits.max_id_bytes:
        return [FieldViolation(path, f"id is {size} bytes; the limit is {limits.max_id_bytes}")]
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in doc_id):
        return [FieldViolation(path, "id must not contain control characters")]
    return []


def raise_if(violations: Sequence[FieldViolation]) -> None:
    if violations:
        raise InvalidInput(violations)
