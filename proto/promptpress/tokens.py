"""Token counting in the target model's tokenizer, offline.

`counter_for(model)` returns a TokenCounter for a model name, chosen by the
data table in encodings.toml. OpenAI models are counted exactly with tiktoken;
other providers' models with a documented approximation (a tiktoken encoding
times a multiplier), flagged `approximate`.
"""

from __future__ import annotations

import functools
import math
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import tiktoken

from promptpress.cancel import checkpoint
from promptpress.tiktoken_offline import ensure_offline_encodings
from promptpress.types import Message

_TABLE_PATH = Path(__file__).with_name("encodings.toml")


@dataclass(frozen=True, slots=True)
class EncodingRule:
    prefix: str
    encoding: str
    exact: bool
    multiplier: float = 1.0


@dataclass(frozen=True, slots=True)
class EncodingTable:
    rules: tuple[EncodingRule, ...]
    default_model: str
    fallback_encoding: str
    fallback_multiplier: float
    tokens_per_message: int
    tokens_per_name: int
    reply_priming: int
    checked_on: str

    def rule_for(self, model: str) -> EncodingRule:
        name = (model or self.default_model).strip().lower()
        # Provider-qualified names ("openai/gpt-4o", "us.anthropic.claude-...") match on
        # their last path segment as well as whole.
        candidates = [name, name.rsplit("/", 1)[-1]]
        best: EncodingRule | None = None
        for rule in self.rules:
            if any(c.startswith(rule.prefix) for c in candidates) and (
                best is None or len(rule.prefix) > len(best.prefix)
            ):
                best = rule
        if best is None:
            best = next(
                (r for r in self.rules if "anthropic." in r.prefix and r.prefix in name), None
            )
        return best or EncodingRule("", self.fallback_encoding, False, self.fallback_multiplier)


@functools.cache
def load_encoding_table(path: Path = _TABLE_PATH) -> EncodingTable:
    data = tomllib.loads(path.read_text())
    overhead = data["chat_overhead"]
    rules = tuple(
        EncodingRule(
            r["prefix"].lower(), r["encoding"], bool(r["exact"]), float(r.get("multiplier", 1.0))
        )
        for r in data["rule"]
    )
    return EncodingTable(
        rules=rules,
        default_model=data["default_model"],
        fallback_encoding=data["fallback_encoding"],
        fallback_multiplier=float(data["fallback_multiplier"]),
        tokens_per_message=int(overhead["tokens_per_message"]),
        tokens_per_name=int(overhead["tokens_per_name"]),
        reply_priming=int(overhead["reply_priming"]),
        checked_on=str(data["checked_on"]),
    )


@functools.cache
def get_encoding(name: str) -> tiktoken.Encoding:
    """A tiktoken encoding by name, loaded from the offline files."""
    ensure_offline_encodings()
    return tiktoken.get_encoding(name)


# A conversation's history comes back on every turn, and one request counts the
# same messages in several stages (trimming, budgets, stats): remembering the
# length of short texts makes that free. Long texts would pin memory; they are
# encoded each time. Worst case held: 4,096 x 8,192 characters.
_MEMO_MAX_CHARS = 8_192


@functools.lru_cache(maxsize=4_096)
def _token_length(encoding_name: str, text: str) -> int:
    return len(get_encoding(encoding_name).encode(text, disallowed_special=()))


_MESSAGE_MEMO: dict[tuple[str, float, int, int, str, str, str, str], int] = {}
_MESSAGE_MEMO_MAX = 4_096


# Long texts are encoded in pieces of about this many characters, with a cancellation
# checkpoint between pieces (an abandoned 8 MiB count stops within one piece).
_PIECE_CHARS = 65_536
_BATCH_CHARS = 4 * _PIECE_CHARS


def _cut_after(text: str, pos: int) -> int:
    """The first index >= pos where cutting cannot change the token count, or -1.

    tiktoken's encodings (r50k..o200k) split text into pieces with a regex before
    BPE, and no piece contains a space except as its first character. So cutting
    right before a single space that follows a non-space and precedes a letter
    (" word" is one piece either way) leaves every piece, hence every token, intact.
    """
    while True:
        i = text.find(" ", pos)
        if i < 0 or i + 1 >= len(text):
            return -1
        if i > 0 and not text[i - 1].isspace() and text[i + 1].isalpha():
            return i
        pos = i + 1


def split_for_counting(text: str, piece_chars: int = _PIECE_CHARS) -> list[str]:
    """`text` in pieces of about piece_chars whose token counts sum to the whole's."""
    pieces: list[str] = []
    start = 0
    while len(text) - start > piece_chars:
        cut = _cut_after(text, start + piece_chars)
        if cut < 0:
            break
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


@dataclass(frozen=True, slots=True)
class TokenCounter:
    """Counts, encodes and decodes text for one model."""

    encoding_name: str
    approximate: bool
    multiplier: float
    table: EncodingTable = field(repr=False)
    # The model name asked for, and whether the table knows it (False: the
    # fallback encoding is a guess, and responses say so in a warning).
    model: str = ""
    known_model: bool = True

    @property
    def warning(self) -> str | None:
        """A sentence for the response's warnings when the model is unknown, else None."""
        if self.known_model:
            return None
        return (
            f"unknown model {self.model!r}: tokens counted with {self.encoding_name}"
            f" x{self.multiplier:g} as an approximation (see encodings.toml)"
        )

    @property
    def encoding(self) -> tiktoken.Encoding:
        return get_encoding(self.encoding_name)

    def encode(self, text: str) -> list[int]:
        # Special-token strings in user text are ordinary text, never control tokens.
        return self.encoding.encode(text, disallowed_special=())

    def decode(self, ids: Sequence[int]) -> str:
        return self.encoding.decode(list(ids))

    def _scaled(self, n: int) -> int:
        return n if self.multiplier == 1.0 else math.ceil(n * self.multiplier)

    def count(self, text: str) -> int:
        if not text:
            return 0
        if len(text) <= _MEMO_MAX_CHARS:
            return self._scaled(_token_length(self.encoding_name, text))
        return self.count_many([text])[0]

    def count_many(self, texts: Iterable[str]) -> list[int]:
        """Counts of many texts, in batches of pieces with cancellation checkpoints between."""
        texts = list(texts)
        totals = [0] * len(texts)
        batch: list[str] = []
        owners: list[int] = []
        size = 0

        def flush() -> None:
            nonlocal size
            checkpoint()
            for owner, ids in zip(
                owners, self.encoding.encode_batch(batch, disallowed_special=()), strict=True
            ):
                totals[owner] += len(ids)
            batch.clear()
            owners.clear()
            size = 0

        for i, text in enumerate(texts):
            for piece in split_for_counting(text) if len(text) > _PIECE_CHARS else [text]:
                batch.append(piece)
                owners.append(i)
                size += len(piece)
                if size >= _BATCH_CHARS:
                    flush()
        if batch:
            flush()
        return [self._scaled(n) for n in totals]

    def count_message(self, message: Message) -> int:
        """One message in chat format: overhead + role + content (+ name, tool calls)."""
        if len(message.content) > _MEMO_MAX_CHARS or message.tool_calls:
            return self._count_message(message)
        # One request counts the same messages in several stages (trimming, budgets,
        # naive total, breakpoints): remembered per message, like short texts, by
        # everything the count depends on.
        # The key is a flat tuple of the strings and numbers the count depends on,
        # not the Message itself: a frozen dataclass hashes and compares field by
        # field in Python (its Role through Enum.__hash__), several times the cost
        # of a tuple whose strings hash once and compare with memcmp.
        t = self.table
        key = (
            self.encoding_name, self.multiplier, t.tokens_per_message, t.tokens_per_name,
            message.role._value_, message.content, message.name, message.tool_call_id,
        )  # fmt: skip
        found = _MESSAGE_MEMO.get(key)
        if found is None:
            found = self._count_message(message)
            if len(_MESSAGE_MEMO) >= _MESSAGE_MEMO_MAX:
                _MESSAGE_MEMO.clear()  # crude but atomic: threads share the memo
            _MESSAGE_MEMO[key] = found
        return found

    def _count_message(self, message: Message) -> int:
        t = self.table
        n = t.tokens_per_message + self.count(message.role.value) + self.count(message.content)
        if message.name:
            n += t.tokens_per_name + self.count(message.name)
        for call in message.tool_calls:
            n += self.count(call.id) + self.count(call.name) + self.count(call.arguments_json)
        if message.tool_call_id:
            n += self.count(message.tool_call_id)
        return n

    def count_messages(self, messages: Sequence[Message]) -> int:
        """A whole chat prompt, including the tokens that prime the reply."""
        if not messages:
            return 0
        return sum(self.count_message(m) for m in messages) + self.table.reply_priming


@functools.cache
def counter_for(model: str = "") -> TokenCounter:
    """The TokenCounter for a model name (default: the table's default model)."""
    table = load_encoding_table()
    rule = table.rule_for(model)
    return TokenCounter(
        encoding_name=rule.encoding,
        approximate=not rule.exact,
        multiplier=1.0 if rule.exact else rule.multiplier,
        table=table,
        model=model,
        known_model=bool(rule.prefix),
    )
