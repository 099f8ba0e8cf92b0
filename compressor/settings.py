"""The compression stage's plain settings, results and limits.

Kept apart from compress.py (which loads torch through the scorers) so that the
protobuf edge and anything else that only builds settings or reads results stays
light: importing this module imports no model code.
"""

from __future__ import annotations

from dataclasses import dataclass

from promptpress.types import CompressionMethod, Span


@dataclass(frozen=True, slots=True)
class CompressionSettings:
    """What to compress to, for whom. Tokens are the target model's tokens.

    rate: kept/original in (0, 1]; None means the compressor's default rate.
    target_tokens: absolute size; overrides rate when > 0.
    method: None picks the distilled method when its model is loaded, else
    LongLLMLingua when there is a question, else LLMLingua (LLMLingua-2 when
    only a token classifier is loaded).
    protected_spans: UTF-8 byte ranges of the text kept byte for byte.
    reorder: question-aware methods only; put the most question-relevant paragraphs first.
    """

    method: CompressionMethod | None = None
    rate: float | None = None
    target_tokens: int = 0
    question: str = ""
    target_model: str = ""
    protected_spans: tuple[Span, ...] = ()
    reorder: bool = False
    detect_structure: bool = True


@dataclass(frozen=True, slots=True)
class CompressionResult:
    text: str
    original_tokens: int
    compressed_tokens: int
    ratio: float  # original_tokens / compressed_tokens; 1.0 when nothing was removed
    method: CompressionMethod
    encoding: str
    cached: bool = False


@dataclass(frozen=True, slots=True)
class CompressionLimits:
    max_text_bytes: int = 2 * 1024 * 1024
    max_question_bytes: int = 64 * 1024
    max_protected_spans: int = 4096


def compression_ratio(original: int, compressed: int) -> float:
    """original / compressed as a float; 1.0 when nothing was removed (or nothing is left)."""
    return 1.0 if compressed <= 0 or compressed >= original else original / compressed
