"""Where to put cache breakpoints so a request saves the most under its provider's rules.

Candidate boundaries, most valuable first:

1. the end of the static block (tools, system, static documents): every request
   of the application repeats it;
2. the conversation boundary (`PromptLayout.conversation_end`): the next turn of
   this conversation starts with everything up to here;
3. for providers that look back a limited number of blocks from a breakpoint
   (Anthropic, Bedrock: about 20), extra breakpoints every `lookback_blocks`
   blocks before the conversation boundary, so that an entry an earlier turn
   wrote further back is still found;
4. the end of the prompt when it differs from 2 (retrieved chunks + query),
   only if its expected reuse pays for the write premium.

A boundary qualifies when its prefix reaches the provider's minimum (for
Bedrock, each breakpoint must add the minimum beyond the previous one) and
its expected saving is positive: reuse probability x (1 - read price) x prefix
tokens against (write price - 1) x tokens written for it. At most
`max_breakpoints` are placed. For implicit-caching providers the same points
are reported (they are where the provider's automatic cache will hit) but not
written into the body.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from promptpress.cachekeys.layout import PromptLayout, Section
from promptpress.cachekeys.profiles import CacheRules
from promptpress.tokens import TokenCounter


@dataclass(frozen=True, slots=True)
class Breakpoint:
    message_index: int
    prefix_tokens: int
    prefix_hash: str
    kind: str  # "static" | "conversation" | "lookback" | "query"


@dataclass(frozen=True, slots=True)
class PlacementPolicy:
    """Expected reuse of each kind of prefix by a later request."""

    static_reuse: float = 1.0
    conversation_reuse: float = 0.9
    query_reuse: float = 0.05


_DEFAULT_POLICY = PlacementPolicy()


@dataclass(frozen=True, slots=True)
class PrefixStats:
    """Cumulative size of the prompt through each layout message (tools first)."""

    tools_tokens: int
    tools_blocks: int
    tokens: tuple[int, ...]
    blocks: tuple[int, ...]
    total_tokens: int  # the whole prompt, reply priming included


def message_blocks(layout: PromptLayout, index: int) -> int:
    """Content blocks a provider sees for one message (text + one per tool call)."""
    m = layout.messages[index]
    return max(1, (1 if m.content else 0) + len(m.tool_calls))


def prefix_stats(layout: PromptLayout, counter: TokenCounter) -> PrefixStats:
    tools_tokens = counter.count(layout.tools_json()) if layout.tools else 0
    tokens, blocks = [], []
    t, b = tools_tokens, len(layout.tools)
    for i, m in enumerate(layout.messages):
        t += counter.count_message(m)
        b += message_blocks(layout, i)
        tokens.append(t)
        blocks.append(b)
    priming = counter.table.reply_priming if layout.messages else 0
    return PrefixStats(tools_tokens, len(layout.tools), tuple(tokens), tuple(blocks), t + priming)


def _steady_read_end(layout: PromptLayout) -> int:
    """The deepest message a previous turn of this conversation (laid out the same
    way) left in the provider's cache: its last user message, which is the last
    user message in this request's history; else the end of the static block."""
    history_users = [
        i for i in layout.indices(Section.HISTORY) if layout.messages[i].role.value == "user"
    ]
    return max([layout.static_end, *history_users[-1:]])


def _plan_value(
    rules: CacheRules, stats: PrefixStats, plan: Sequence[tuple[int, float]], read: int
) -> float:
    """Expected saving (input-price token units) of breakpoints at these (index, reuse)
    pairs: each prefix's new part is read back with its reuse probability, and what
    is not already cached is written at the write premium."""
    value, below = 0.0, 0
    for i, reuse in plan:
        tokens = stats.tokens[i]
        value += reuse * (1.0 - rules.read_multiplier) * (tokens - below)
        value -= (rules.write_multiplier - 1.0) * max(0, tokens - max(read, below))
        below = tokens
    return value


def _feasible(rules: CacheRules, stats: PrefixStats, indices: Sequence[int]) -> bool:
    if len(indices) > rules.max_breakpoints:
        return False
    below = 0
    for i in indices:
        if stats.tokens[i] < rules.min_tokens:
            return False
        if rules.min_tokens_per_breakpoint and stats.tokens[i] - below < rules.min_tokens:
            return False
        below = stats.tokens[i]
    return True


def _lookback_points(
    stats: PrefixStats, lookback: int, start: int, end: int, slots: int
) -> list[int]:
    """Message indices every `lookback` blocks before `end`, after `start`."""
    points: list[int] = []
    anchor = end
    while len(points) < slots:
        target = stats.blocks[anchor] - lookback
        j = max((i for i in range(start + 1, anchor) if stats.blocks[i] <= target), default=None)
        # Nothing farther back than `lookback` blocks from the anchor: the window covers it.
        if j is None:
            break
        points.append(j)
        anchor = j
    return points


def place_breakpoints(
    layout: PromptLayout,
    rules: CacheRules,
    stats: PrefixStats,
    hashes: Sequence[str],
    *,
    policy: PlacementPolicy = _DEFAULT_POLICY,
) -> tuple[Breakpoint, ...]:
    """Breakpoints in message order (see the module docstring for the rules)."""
    if not layout.messages or rules.max_breakpoints <= 0:
        return ()
    static_end, conv_end = layout.static_end, layout.conversation_end
    last = len(layout.messages) - 1
    candidates: list[tuple[int, str, float]] = []
    if static_end >= 0:
        candidates.append((static_end, "static", policy.static_reuse))
    if conv_end > static_end:
        candidates.append((conv_end, "conversation", policy.conversation_reuse))
    if last > max(conv_end, static_end):
        candidates.append((last, "query", policy.query_reuse))
    read_end = _steady_read_end(layout)
    read = stats.tokens[read_end] if read_end >= 0 else 0
    # At most three candidates: try every subset, keep the most valuable feasible one.
    best: list[tuple[int, str, float]] = []
    best_value = 0.0
    for subset in itertools.chain.from_iterable(
        itertools.combinations(candidates, k) for k in range(1, len(candidates) + 1)
    ):
        indices = [c[0] for c in subset]
        if not _feasible(rules, stats, indices):
            continue
        value = _plan_value(rules, stats, [(c[0], c[2]) for c in subset], read)
        if value > best_value + 1e-9:
            best, best_value = list(subset), value
    chosen = {i: kind for i, kind, _ in best}
    if rules.lookback_blocks > 0 and rules.explicit and conv_end in chosen:
        slots = rules.max_breakpoints - len(chosen)
        for j in _lookback_points(stats, rules.lookback_blocks, static_end, conv_end, slots):
            if _feasible(rules, stats, sorted([*chosen, j])):
                chosen[j] = "lookback"
    return tuple(
        Breakpoint(i, stats.tokens[i], hashes[i], kind) for i, kind in sorted(chosen.items())
    )


def expected_cache_tokens(
    layout: PromptLayout, rules: CacheRules, stats: PrefixStats, breakpoints: Sequence[Breakpoint]
) -> tuple[int, int]:
    """(tokens read from cache, tokens written to it) in the steady state of a conversation.

    Assumes the previous turn was laid out the same way: the provider then holds
    the static block and the conversation up to the previous turn's last user
    message (the last user message inside this request's history). Explicit
    providers only hold prefixes ending at a breakpoint the previous turn placed,
    which is that same message. Writes (explicit providers) are the tokens from
    there to the deepest breakpoint of this request.
    """
    if not layout.messages:
        return 0, 0
    read_end = _steady_read_end(layout)
    if rules.explicit:
        # Only prefixes that ended at a breakpoint exist: the previous turn's
        # conversation boundary, or the static block if it carried one.
        marked = {b.message_index for b in breakpoints}
        if read_end != layout.static_end and stats.tokens[read_end] < rules.min_tokens:
            read_end = layout.static_end
        if read_end == layout.static_end and read_end not in marked:
            read_end = -1
    read = rules.cacheable(stats.tokens[read_end]) if read_end >= 0 else 0
    written = 0
    if rules.explicit and breakpoints:
        written = max(0, max(b.prefix_tokens for b in breakpoints) - read)
    return read, written
