"""Cache-stable history trimming.

A provider's prompt cache only hits on a byte-identical prefix. Naive "keep the
last N turns that fit" moves the start of the history on every request, so the
prefix changes and every request misses. Here older turns are dropped in
blocks: once the history overflows, it is cut back to `low_watermark` of the
budget, and the same cut point is then kept until the budget overflows again.

The cut point is derived from the conversation alone (no server state): the
trimmer replays the conversation's growth turn by turn with the same rule, so
consecutive requests of one conversation land on the same cut.

Invariants: system and pinned messages are kept; the last user message and
everything after it are kept; an assistant message with tool calls is never
separated from the tool results answering it (a turn is dropped whole).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from promptpress.errors import InvalidInput
from promptpress.tokens import TokenCounter
from promptpress.types import Message, Role


@dataclass(frozen=True, slots=True)
class TrimResult:
    messages: tuple[Message, ...]
    dropped: int
    tokens: int
    # True when the messages that must be kept alone exceed the budget.
    over_budget: bool = False


def _is_kept_always(message: Message) -> bool:
    return message.role is Role.SYSTEM or message.pinned


def split_turns(messages: Sequence[Message]) -> tuple[list[int], int]:
    """Start index of each turn, and the index of the last user message.

    A turn starts at a user message and runs until the next one; messages before
    the first user message form turn 0. Tool calls and their results always sit
    inside one turn, so dropping whole turns never orphans a tool result.
    """
    last_user = max((i for i, m in enumerate(messages) if m.role is Role.USER), default=-1)
    starts = [0] if messages else []
    starts += [i for i, m in enumerate(messages) if m.role is Role.USER and i > 0]
    return starts, last_user


@dataclass(frozen=True, slots=True)
class _Turn:
    start: int
    droppable: int  # tokens of its messages that trimming may drop
    kept: int  # tokens of its system/pinned messages (never dropped)
    head: int  # tokens it had when it was the newest turn: its opening user message


def _stable_cut(
    turns: list[_Turn], tail: int, priming: int, budget: int, low_watermark: float
) -> int:
    """How many leading turns to drop, replaying every earlier request of the conversation.

    At request j the conversation ended with turn j's opening user message. The
    replay applies the same rule at each of those requests: keep the previous cut
    while the prompt fits; on overflow, drop whole turns from the front down to
    `low_watermark` of the budget. Consecutive requests therefore share their cut
    (and their cached prefix) until the budget overflows again.
    """
    cut = 0
    running = 0  # droppable tokens of turns[cut:j]
    kept = priming  # system/pinned tokens of turns[:j]
    for j, turn in enumerate([*turns, None]):
        newest = tail if turn is None else turn.head
        if kept + running + newest > budget:
            target = budget * low_watermark - kept - newest
            while cut < j and running > target:
                running -= turns[cut].droppable
                cut += 1
        if turn is not None:
            running += turn.droppable
            kept += turn.kept
    return cut


def trim_history(
    messages: Sequence[Message],
    max_tokens: int,
    counter: TokenCounter,
    *,
    low_watermark: float = 0.7,
) -> TrimResult:
    """Fit `messages` into `max_tokens` (0: no limit), dropping old turns in blocks."""
    if max_tokens < 0:
        raise InvalidInput.single("budget.max_history_tokens", "must not be negative")
    if not 0.0 < low_watermark <= 1.0:
        raise ValueError("low_watermark must be in (0, 1]")
    messages = tuple(messages)
    costs = [counter.count_message(m) for m in messages]
    priming = counter.table.reply_priming if messages else 0
    total = sum(costs) + priming
    if max_tokens == 0 or total <= max_tokens:
        return TrimResult(messages, 0, total)

    starts, last_user = split_turns(messages)
    bounds = [*starts[1:], len(messages)]
    # The turn holding the last user message, and all after it, always stay.
    protected_from = last_user if last_user >= 0 else starts[-1]
    turns: list[_Turn] = []
    for s, e in zip(starts, bounds, strict=True):
        if e > protected_from:
            break
        always = sum(costs[i] for i in range(s, e) if _is_kept_always(messages[i]))
        opens_with_user = messages[s].role is Role.USER and not _is_kept_always(messages[s])
        turns.append(_Turn(s, sum(costs[s:e]) - always, always, costs[s] if opens_with_user else 0))
    tail = sum(costs[protected_from:])

    cut = _stable_cut(turns, tail, priming, max_tokens, low_watermark)
    drop_before = turns[cut].start if cut < len(turns) else protected_from
    keep = [i for i, m in enumerate(messages) if i >= drop_before or _is_kept_always(m)]
    tokens = sum(costs[i] for i in keep) + priming
    return TrimResult(
        tuple(messages[i] for i in keep),
        len(messages) - len(keep),
        tokens,
        over_budget=tokens > max_tokens,
    )
