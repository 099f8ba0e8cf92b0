"""Token-aware chunking on paragraph and sentence boundaries.

A document is cut into sentence-sized units (paragraphs split at sentence ends,
over-long sentences at word boundaries), then the units are packed greedily into
chunks of at most `size` tokens. A paragraph that fits in a fresh chunk is not
split across two; when a paragraph must be split, the next chunk repeats the
previous chunk's last sentences (up to `overlap` tokens) so that an answer at the
seam is whole in at least one chunk. Overlap is not carried across paragraph
boundaries: those are topic boundaries, and repeating text there only costs budget.

Chunk text is an exact slice of the document text, and chunk ids are derived
from the document id and the chunk's content hash: the same document always
yields the same chunks with the same ids.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from promptpress.tokens import TokenCounter
from promptpress.types import Document

DEFAULT_CHUNK_TOKENS = 256
DEFAULT_OVERLAP_TOKENS = 32

# A paragraph ends at a blank line (possibly holding spaces).
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# A sentence ends at . ! ? (or a CJK full stop), optionally followed by one
# closing quote/bracket, then whitespace; single newlines inside a paragraph end a
# sentence too (lists, headings).
_SENTENCE_END = re.compile(r"(?:(?<=[.!?。！？])|(?<=[.!?。！？][\"'”’)\]]))\s+|\n+")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class ChunkingConfig:
    """How documents are cut; part of a stored document's fingerprint."""

    size: int = DEFAULT_CHUNK_TOKENS
    overlap: int = DEFAULT_OVERLAP_TOKENS

    def __post_init__(self) -> None:
        if self.size < 8:
            raise ValueError(f"chunk size must be at least 8 tokens, got {self.size}")
        if not 0 <= self.overlap < self.size // 2:
            raise ValueError(f"overlap must be in [0, size/2), got {self.overlap}")


DEFAULT_CHUNKING = ChunkingConfig()


@dataclass(frozen=True, slots=True)
class Chunk:
    """A contiguous slice [start, end) of a document's text."""

    document_id: str
    chunk_id: str
    # Position among the document's chunks (source order); a sub-chunk cut for a
    # small budget (refine.py) carries its parent chunk's index.
    index: int
    start: int  # character offsets into the document text
    end: int
    text: str
    tokens: int  # counted in `encoding`
    encoding: str  # TokenCounter identity the count was made with
    content_hash: str  # sha256 hex of text: the embedding cache key


@dataclass(frozen=True, slots=True)
class _Unit:
    start: int
    end: int
    tokens: int
    paragraph: int


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def counter_identity(counter: TokenCounter) -> str:
    """Names what a token count was measured with, so counts are reused only when valid."""
    if counter.multiplier == 1.0:
        return counter.encoding_name
    return f"{counter.encoding_name}*{counter.multiplier:g}"


def chunk_document(
    doc: Document,
    counter: TokenCounter,
    *,
    size: int = DEFAULT_CHUNK_TOKENS,
    overlap: int = DEFAULT_OVERLAP_TOKENS,
) -> list[Chunk]:
    """Cut `doc` into chunks of at most `size` tokens (see the module docstring)."""
    config = ChunkingConfig(size, overlap)
    units = _units(doc.text, counter, config.size)
    return _make_chunks(doc, units, _pack(units, config), counter, config.size)


def _units(text: str, counter: TokenCounter, size: int) -> list[_Unit]:
    """Sentence units with their paragraph number; none longer than `size` tokens."""
    pieces: list[tuple[int, int, int]] = []  # start, end, paragraph
    for paragraph, (p_start, p_end) in enumerate(_split(text, 0, len(text), _PARAGRAPH_BREAK)):
        for s_start, s_end in _split(text, p_start, p_end, _SENTENCE_END):
            pieces.append((s_start, s_end, paragraph))
    # Counting each piece together with the whitespace before it makes the counts
    # additive: tiktoken's pre-tokeniser attaches a leading space to the next word.
    leads = [pieces[i - 1][1] if i else start for i, (start, _, _) in enumerate(pieces)]
    # count() per piece, not count_many(): tiktoken's encode_batch starts a thread
    # pool per call, which costs more than encoding a sentence.
    counts = [
        counter.count(text[lead:end]) for lead, (_, end, _) in zip(leads, pieces, strict=True)
    ]
    # Alone (first in a chunk) a sentence can cost a token more: " Word" is often one
    # token where "Word" is two. Units must fit a chunk either way.
    alone = [counter.count(text[start:end]) for start, end, _ in pieces]
    units: list[_Unit] = []
    for (start, end, paragraph), n, n_alone in zip(pieces, counts, alone, strict=True):
        if max(n, n_alone) <= size:
            units.append(_Unit(start, end, n, paragraph))
        else:
            units.extend(_split_long(text, start, end, paragraph, counter, size))
    return units


def _split(text: str, start: int, end: int, separator: re.Pattern[str]) -> list[tuple[int, int]]:
    """Non-blank [start, end) spans of text[start:end] between separator matches, stripped."""
    spans = []
    cursor = start
    for match in separator.finditer(text, start, end):
        spans.append((cursor, match.start()))
        cursor = match.end()
    spans.append((cursor, end))
    stripped = []
    for s, e in spans:
        piece = text[s:e]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece) - len(piece.rstrip())
        if e - trail > s + lead:
            stripped.append((s + lead, e - trail))
    return stripped


def _split_long(
    text: str, start: int, end: int, paragraph: int, counter: TokenCounter, size: int
) -> list[_Unit]:
    """A sentence over `size` tokens, cut at word boundaries (or inside an over-long word)."""
    words = [(m.start(), m.end()) for m in _WORD.finditer(text, start, end)]
    # Each word counted with the whitespace before it, as in _units.
    leads = [words[i - 1][1] if i else ws for i, (ws, _) in enumerate(words)]
    counts = [counter.count(text[lead:we]) for lead, (_, we) in zip(leads, words, strict=True)]
    units: list[_Unit] = []
    i = 0
    while i < len(words):
        if counts[i] > size:  # a blob with no spaces: cut it by characters
            units.extend(_split_blob(text, words[i][0], words[i][1], paragraph, counter, size))
            i += 1
            continue
        j, estimate = i, 0
        while j < len(words) and counts[j] <= size and estimate + counts[j] <= size:
            estimate += counts[j]
            j += 1
        # The estimate can be a token off at a seam: back off a word until exact.
        while (tokens := counter.count(text[words[i][0] : words[j - 1][1]])) > size and j - 1 > i:
            j -= 1
        units.append(_Unit(words[i][0], words[j - 1][1], tokens, paragraph))
        i = j
    return units


def _split_blob(
    text: str, start: int, end: int, paragraph: int, counter: TokenCounter, size: int
) -> list[_Unit]:
    units = []
    cursor = start
    while cursor < end:
        # No tokeniser packs more than ~8 characters per token on ordinary text, so
        # start from a window that size; counting the whole blob each time is quadratic.
        step = min(end - cursor, size * 8)
        while (tokens := counter.count(text[cursor : cursor + step])) > size and step > 1:
            step = max(1, step * 3 // 4)
        units.append(_Unit(cursor, cursor + step, tokens, paragraph))
        cursor += step
    return units


def _pack(units: list[_Unit], config: ChunkingConfig) -> list[tuple[int, int]]:
    """Group units into chunks; returns [first, last) unit index ranges."""
    spans: list[tuple[int, int]] = []
    first, used = 0, 0
    for i, unit in enumerate(units):
        if i == first:
            used = unit.tokens
            continue
        new_paragraph = unit.paragraph != units[i - 1].paragraph
        if used + unit.tokens <= config.size and not (
            new_paragraph and _paragraph_better_whole(units, i, used, config.size)
        ):
            used += unit.tokens
            continue
        spans.append((first, i))
        first = i if new_paragraph else _overlap_start(units, first, i, config)
        used = sum(u.tokens for u in units[first : i + 1])
    if units:
        spans.append((first, len(units)))
    return spans


def _paragraph_better_whole(units: list[_Unit], i: int, used: int, size: int) -> bool:
    """Start a new chunk at paragraph `i` when that keeps the paragraph whole.

    Only worth it when the current chunk is already at least half full; otherwise
    splitting the paragraph wastes less than leaving a chunk mostly empty.
    """
    if used < size // 2:
        return False
    paragraph_tokens = 0
    for unit in units[i:]:
        if unit.paragraph != units[i].paragraph:
            break
        paragraph_tokens += unit.tokens
    return used + paragraph_tokens > size >= paragraph_tokens


def _overlap_start(units: list[_Unit], first: int, i: int, config: ChunkingConfig) -> int:
    """First unit of the next chunk: trailing sentences of this one, within `overlap`."""
    start, carried = i, 0
    while start - 1 > first:
        candidate = units[start - 1]
        if candidate.paragraph != units[i].paragraph:
            break
        if carried + candidate.tokens > config.overlap:
            break
        if carried + candidate.tokens + units[i].tokens > config.size:
            break
        carried += candidate.tokens
        start -= 1
    return start


def _make_chunks(
    doc: Document,
    units: list[_Unit],
    ranges: list[tuple[int, int]],
    counter: TokenCounter,
    size: int,
) -> list[Chunk]:
    identity = counter_identity(counter)
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for first, last in ranges:
        for start, end, tokens in _exact_spans(doc.text, units, first, last, counter, size):
            text = doc.text[start:end]
            digest = content_hash(text)
            # Identical text twice in one document: keep both, with distinct stable ids.
            repeat = seen.get(digest, 0)
            seen[digest] = repeat + 1
            chunk_id = f"{doc.id}#{digest[:16]}" + (f".{repeat}" if repeat else "")
            chunks.append(
                Chunk(doc.id, chunk_id, len(chunks), start, end, text, tokens, identity, digest)
            )
    return chunks


def _exact_spans(
    text: str, units: list[_Unit], first: int, last: int, counter: TokenCounter, size: int
) -> list[tuple[int, int, int]]:
    """The character span and exact count of units[first:last].

    Packing adds per-unit counts; tokenisation across a seam can differ by a token,
    so a range that turns out over `size` is halved (rare).
    """
    start, end = units[first].start, units[last - 1].end
    tokens = counter.count(text[start:end])
    if tokens <= size or last - first == 1:
        return [(start, end, tokens)]
    middle = (first + last) // 2
    return _exact_spans(text, units, first, middle, counter, size) + _exact_spans(
        text, units, middle, last, counter, size
    )
