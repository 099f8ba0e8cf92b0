"""Structure detection: each detector alone, tiers, merging, byte spans."""

from __future__ import annotations

import pytest

from promptpress.compressor.protect import (
    DETECTORS,
    Protection,
    Region,
    byte_spans_to_chars,
    find_regions,
    merge_regions,
)
from promptpress.errors import InvalidInput
from promptpress.types import Span


def protected_texts(text: str, tier: Protection | None = None) -> list[str]:
    return [text[r.start : r.end] for r in find_regions(text) if tier is None or r.tier == tier]


@pytest.mark.parametrize(
    ("text", "expected", "tier"),
    [
        ("See ord_8f3a2c91 now", "ord_8f3a2c91", Protection.ATOMIC),
        ("Call getUserName() here", "getUserName()", Protection.ATOMIC),
        ("use os.path.join to", "os.path.join", Protection.ATOMIC),
        ("edit /etc/nginx/nginx.conf first", "/etc/nginx/nginx.conf", Protection.ATOMIC),
        ("pass --dry-run to it", "--dry-run", Protection.ATOMIC),
        ("It cost $1,299.00 total.", "$1,299.00", Protection.ATOMIC),
        ("Growth was 12.5% last year", "12.5%", Protection.ATOMIC),
        ("in the 1990s and 10th", "1990s", Protection.ATOMIC),
        ("Due 2024-03-05T10:30:00Z, ok", "2024-03-05T10:30:00Z", Protection.ATOMIC),
        ("Signed on March 5, 2024 in Paris", "March 5, 2024", Protection.ATOMIC),
        ("Signed on 5 March 2024 in Paris", "5 March 2024", Protection.ATOMIC),
        ("Visit https://example.com/a?b=1. Then", "https://example.com/a?b=1", Protection.ATOMIC),
        (
            "(see https://en.wikipedia.org/wiki/Foo_(bar))",
            "https://en.wikipedia.org/wiki/Foo_(bar)",
            Protection.ATOMIC,
        ),
        ("Mail jane.doe+x@example.co.uk, please", "jane.doe+x@example.co.uk", Protection.ATOMIC),
        ("Run `pip install x` first", "`pip install x`", Protection.ATOMIC),
        (
            "Read [the docs](https://x.io/docs) now",
            "[the docs](https://x.io/docs)",
            Protection.ATOMIC,
        ),
        (
            'Body {"id": 7, "tags": ["a", "b"]} sent',
            '{"id": 7, "tags": ["a", "b"]}',
            Protection.KEEP,
        ),
        ("List [1, 2, 3] here", "[1, 2, 3]", Protection.KEEP),
        ("User: hello there", "User:", Protection.KEEP),
        ("<|im_start|>assistant\nHi", "<|im_start|>assistant", Protection.KEEP),
        ("intro\n## Setup steps\nbody", "## Setup steps", Protection.KEEP),
        ("x\n| a | b |\n", "| a | b |", Protection.KEEP),
    ],
)
def test_detects_structure(text: str, expected: str, tier: Protection) -> None:
    regions = [r for r in find_regions(text) if text[r.start : r.end] == expected]
    assert regions, f"{expected!r} not protected in {protected_texts(text)}"
    assert regions[0].tier == tier


def test_fenced_code_block_is_one_keep_region() -> None:
    text = "Before\n```python\ndef f(x):\n    return x  # keep me\n```\nAfter words"
    block = "```python\ndef f(x):\n    return x  # keep me\n```"
    assert block in protected_texts(text, Protection.KEEP)


def test_unclosed_fence_protects_to_the_end() -> None:
    text = "Intro\n~~~\ncode that never closes\nmore"
    assert protected_texts(text, Protection.KEEP) == ["~~~\ncode that never closes\nmore"]


@pytest.mark.parametrize(
    "text",
    [
        "The quick brown fox jumps over the lazy dog.",
        "Normans gave their name to Normandy, a region in France.",
        "user said hello",  # not a line-initial role marker
        "[not json] and {neither}",
    ],
)
def test_plain_prose_is_not_protected(text: str) -> None:
    assert protected_texts(text) == []


def test_every_detector_is_listed_once() -> None:
    assert len(DETECTORS) == len(set(DETECTORS))
    assert {tier for tier, _ in DETECTORS.values()} == {Protection.KEEP, Protection.ATOMIC}


def test_question_is_protected_at_its_last_occurrence() -> None:
    q = "Who was the Norse leader?"
    text = f"{q} Some context about Rollo. {q}"
    regions = find_regions(text, question=q, detect_structure=False)
    assert [(r.start, r.end, r.tier) for r in regions] == [
        (text.rfind(q), len(text), Protection.KEEP)
    ]


def test_merge_takes_union_and_strongest_tier() -> None:
    merged = merge_regions(
        [
            Region(0, 5, Protection.ATOMIC),
            Region(3, 9, Protection.KEEP),
            Region(12, 14, Protection.ATOMIC),
        ]
    )
    assert merged == [Region(0, 9, Protection.KEEP), Region(12, 14, Protection.ATOMIC)]


def test_byte_spans_map_to_characters_in_multibyte_text() -> None:
    text = "héllo wörld ✓ done"
    data = text.encode()
    start = data.index("wörld".encode())
    span = Span(start, start + len("wörld".encode()))
    [(s, e)] = byte_spans_to_chars(text, [span], "protected_spans")
    assert text[s:e] == "wörld"


@pytest.mark.parametrize(
    ("span", "field"),
    [
        (Span(0, 999), "protected_spans[1]"),
        (Span(5, 2), "protected_spans[1]"),
        (Span(2, 3), "protected_spans[1]"),  # inside the two bytes of "é"
    ],
)
def test_bad_byte_spans_name_the_field(span: Span, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        byte_spans_to_chars("héllo", [Span(0, 1), span], "protected_spans")
    assert err.value.violations[0].field == field


def test_json_detection_is_linear_on_bracket_heavy_prose() -> None:
    text = "[" * 2000 + " words " + "{" * 2000
    assert protected_texts(text, Protection.KEEP) == []
