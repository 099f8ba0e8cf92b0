"""Find the parts of a text that compression must not mangle.

Two tiers, because a budget and a "keep everything" rule can conflict:

- KEEP: kept verbatim, always, whatever the budget says: caller-marked spans,
  fenced code blocks, JSON, role markers, markdown headings and table rows, the
  final question.
- ATOMIC: kept or dropped whole, never cut, and chosen before any ordinary
  word: URLs, e-mail addresses, numbers, dates, identifiers (`ord_8f3a2c91`,
  `getUserName`, `os.path.join`), inline code, markdown links.

Each detector is a small pure function from text to character ranges, listed in
one table, so each can be tested alone.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from promptpress.errors import InvalidInput
from promptpress.types import Span


class Protection(enum.IntEnum):
    """How a region is protected; the value is its tier (lower is stronger)."""

    KEEP = 0
    ATOMIC = 1


@dataclass(frozen=True, slots=True)
class Region:
    """A character range [start, end) of the text and how it is protected."""

    start: int
    end: int
    tier: Protection


Detector = Callable[[str], Iterator[tuple[int, int]]]

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n(?:.*?\n)??[ \t]*\1[ \t]*$", re.M | re.S)
_FENCE_OPEN = re.compile(r"^[ \t]*(`{3,}|~{3,})", re.M)
_ROLE = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]*)?(?:system|user|assistant|tool|function|developer|human|ai|bot|"
    r"instruction|response|input|output|question|answer|context)[ \t]*:",
    re.I | re.M,
)
_CHAT_TOKEN = re.compile(r"<\|[^|\n]{1,40}\|>[a-z_]*|\[/?INST\]|<</?SYS>>|</?s>", re.I)
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t][^\n]*", re.M)
_TABLE_ROW = re.compile(r"^[ \t]*\|[^\n]*\|[ \t]*$", re.M)
_LIST_MARKER = re.compile(r"^[ \t]*(?:[-*+]|\d{1,3}[.)])(?=[ \t])", re.M)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_MD_LINK = re.compile(r"!?\[[^\]\n]{0,200}\]\([^)\s]{1,2000}\)")
_URL = re.compile(r"\b(?:[a-z][a-z0-9+.-]{1,15}://|www\.)[^\s<>\"'`]+", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DATE = re.compile(
    rf"\b(?:{_MONTH}\.?[ \t]+\d{{1,2}}(?:st|nd|rd|th)?,?[ \t]+\d{{4}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?[ \t]+(?:of[ \t]+)?{_MONTH}\.?,?[ \t]+\d{{4}}"
    rf"|{_MONTH}[ \t]+\d{{4}})\b"
)
# Any run of word-ish characters that contains a digit: numbers, times, ISO
# dates, versions, hex ids, prices ("$1,299.00"), "10th", "1990s", "ord_8f3a2c91".
_WITH_DIGIT = re.compile(r"[$€£¥+\-]?[\w$€£¥%#@:/.,+\-]*\d[\w$€£¥%#@:/.,+\-]*")
_IDENTIFIER = re.compile(
    r"\b[A-Za-z_][\w.]*\(\)"  # call(), obj.method()
    r"|\b\w*_\w+\b"  # snake_case, ord_8f3a2c91
    r"|\b[a-z]+[A-Z]\w*\b"  # camelCase
    r"|\b[A-Z][a-z0-9]+[A-Z]\w*\b"  # PascalCase with an inner capital
    r"|\b\w+(?:\.\w+){2,}\b"  # dotted paths a.b.c
    r"|(?<![\w/])(?:~|\.{1,2})?/[\w.\-]+(?:/[\w.\-]+)+"  # /unix/paths
    r"|(?<!\w)--?[a-z][\w-]*=?"  # --flags
    r"|\w+::\w+"
)
_TRAILING_PUNCT = ".,;:!?'\")]}"


def _trim_trailing_punct(text: str, start: int, end: int) -> tuple[int, int]:
    # A sentence's final "." or a closing bracket is not part of a URL or number;
    # a bracket is kept when the match also opened it (wikipedia_(disambiguation)).
    while end > start and text[end - 1] in _TRAILING_PUNCT:
        ch = text[end - 1]
        opener = {")": "(", "]": "[", "}": "{"}.get(ch)
        if opener and text.count(opener, start, end) >= text.count(ch, start, end):
            break
        end -= 1
    return start, end


def fenced_code(text: str) -> Iterator[tuple[int, int]]:
    pos = 0
    while (m := _FENCE_OPEN.search(text, pos)) is not None:
        closed = _FENCE.match(text, m.start())
        if closed is None:  # an unclosed fence runs to the end of the text
            yield m.start(), len(text)
            return
        yield closed.start(), closed.end()
        pos = closed.end()


def json_values(text: str) -> Iterator[tuple[int, int]]:
    decoder = json.JSONDecoder()
    pos = 0
    n = len(text)
    while pos < n:
        candidates = [i for i in (text.find("{", pos), text.find("[", pos)) if i >= 0]
        if not candidates:
            return
        start = min(candidates)
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            pos = start + 1
            continue
        except RecursionError:  # brackets nested past Python's limit: not data we can keep whole
            pos = start + 1
            while pos < n and text[pos] in "[{":
                pos += 1
            continue
        if isinstance(value, (dict, list)) and end - start > 2:
            yield start, end
            pos = end
        else:
            pos = start + 1


def _regex_detector(pattern: re.Pattern[str], trim: bool = False) -> Detector:
    def detect(text: str) -> Iterator[tuple[int, int]]:
        for m in pattern.finditer(text):
            start, end = _trim_trailing_punct(text, *m.span()) if trim else m.span()
            if end > start:
                yield start, end

    return detect


def numbers_and_ids(text: str) -> Iterator[tuple[int, int]]:
    for m in _WITH_DIGIT.finditer(text):
        start, end = _trim_trailing_punct(text, *m.span())
        while end > start and text[end - 1] in "-/:+":
            end -= 1
        if end > start:
            yield start, end


# The detectors, by tier. Order does not matter: overlapping regions are merged
# and the stronger tier wins.
DETECTORS: dict[str, tuple[Protection, Detector]] = {
    "fenced_code": (Protection.KEEP, fenced_code),
    "json": (Protection.KEEP, json_values),
    "role_marker": (Protection.KEEP, _regex_detector(_ROLE)),
    "chat_token": (Protection.KEEP, _regex_detector(_CHAT_TOKEN)),
    "heading": (Protection.KEEP, _regex_detector(_HEADING)),
    "table_row": (Protection.KEEP, _regex_detector(_TABLE_ROW)),
    "list_marker": (Protection.KEEP, _regex_detector(_LIST_MARKER)),
    "inline_code": (Protection.ATOMIC, _regex_detector(_INLINE_CODE)),
    "markdown_link": (Protection.ATOMIC, _regex_detector(_MD_LINK)),
    "url": (Protection.ATOMIC, _regex_detector(_URL, trim=True)),
    "email": (Protection.ATOMIC, _regex_detector(_EMAIL, trim=True)),
    "date": (Protection.ATOMIC, _regex_detector(_DATE)),
    "number_or_id": (Protection.ATOMIC, numbers_and_ids),
    "identifier": (Protection.ATOMIC, _regex_detector(_IDENTIFIER, trim=True)),
}


def byte_spans_to_chars(text: str, spans: Sequence[Span], field: str) -> list[tuple[int, int]]:
    """Convert UTF-8 byte spans to character ranges; a bad span is an InvalidInput."""
    if not spans:
        return []
    data = text.encode("utf-8")
    # char_at[b] = index of the character that starts at byte b (-1 inside a character)
    char_at = [-1] * (len(data) + 1)
    b = 0
    for i, ch in enumerate(text):
        char_at[b] = i
        b += len(ch.encode("utf-8"))
    char_at[len(data)] = len(text)
    out = []
    for i, span in enumerate(spans):
        where = f"{field}[{i}]"
        if not 0 <= span.start <= span.end <= len(data):
            raise InvalidInput.single(
                where, f"span [{span.start}, {span.end}) is outside the text's {len(data)} bytes"
            )
        if char_at[span.start] < 0 or char_at[span.end] < 0:
            raise InvalidInput.single(where, "span boundary falls inside a UTF-8 character")
        if span.end > span.start:
            out.append((char_at[span.start], char_at[span.end]))
    return out


def find_regions(
    text: str,
    *,
    keep: Iterable[tuple[int, int]] = (),
    question: str = "",
    detect_structure: bool = True,
) -> list[Region]:
    """Protected regions of text, sorted and non-overlapping.

    `keep` are caller-marked character ranges; `question`, when it occurs in
    the text, protects its last occurrence.
    """
    found: list[Region] = [Region(s, e, Protection.KEEP) for s, e in keep if e > s]
    if question and (at := text.rfind(question)) >= 0:
        found.append(Region(at, at + len(question), Protection.KEEP))
    if detect_structure:
        for tier, detect in DETECTORS.values():
            found.extend(Region(s, e, tier) for s, e in detect(text))
    return merge_regions(found)


def merge_regions(regions: Iterable[Region]) -> list[Region]:
    """Union of overlapping regions; a merged region takes the strongest tier."""
    merged: list[Region] = []
    for r in sorted(regions, key=lambda r: (r.start, -r.end)):
        if merged and r.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = Region(last.start, max(last.end, r.end), min(last.tier, r.tier))
        else:
            merged.append(r)
    return merged
