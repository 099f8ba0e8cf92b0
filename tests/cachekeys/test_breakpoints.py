"""Breakpoint placement under each provider's rules, and the steady-state cache estimate."""

from __future__ import annotations

import itertools

import pytest

from promptpress.cachekeys import (
    ContextChunk,
    build_layout,
    expected_cache_tokens,
    place_breakpoints,
    prefix_stats,
)
from promptpress.cachekeys.keys import prefix_hashes
from promptpress.types import Message, Role, ToolCall

from .conftest import asst, user, words


def place(layout, target, counter):  # type: ignore[no-untyped-def]
    stats = prefix_stats(layout, counter)
    return place_breakpoints(layout, target.rules, stats, prefix_hashes("t", layout)), stats


def chat(n_turns: int, tokens_per_message: int) -> list[Message]:
    out: list[Message] = []
    for i in range(n_turns):
        out += [user(words(tokens_per_message, 2 * i)), asst(words(tokens_per_message, 2 * i + 1))]
    return out


def test_nothing_below_the_minimum(resolve, counter) -> None:
    layout = build_layout(system=["short"], history=chat(2, 50), last_user=user("q"))
    for provider, model in [
        ("anthropic", "claude-sonnet-4-5"),
        ("openai", "gpt-4o"),
        ("gemini", "gemini-2.5-pro"),
    ]:
        bps, _ = place(layout, resolve(provider, model), counter)
        assert bps == (), provider


def test_static_block_and_conversation_boundary(resolve, counter) -> None:
    layout = build_layout(system=[words(1500)], history=chat(3, 300), last_user=user("next?"))
    bps, stats = place(layout, resolve("anthropic", "claude-sonnet-4-5"), counter)
    assert [(b.message_index, b.kind) for b in bps] == [(0, "static"), (7, "conversation")]
    assert bps[1].prefix_tokens == stats.tokens[7]
    assert bps[1].prefix_hash == prefix_hashes("t", layout)[7]


def test_minimum_depends_on_the_model_family(resolve, counter) -> None:
    layout = build_layout(system=[words(2000)], last_user=user("q"))
    sonnet, _ = place(layout, resolve("anthropic", "claude-sonnet-4-5"), counter)
    haiku, _ = place(layout, resolve("anthropic", "claude-haiku-4-5"), counter)
    assert [b.kind for b in sonnet] == ["static", "conversation"] and haiku == ()


def test_with_retrieved_chunks_the_boundary_is_the_end_of_history(resolve, counter) -> None:
    layout = build_layout(
        system=[words(1200)],
        history=chat(2, 300),
        chunks=[ContextChunk("d", str(i), words(800, i)) for i in range(3)],
        last_user=user("q"),
    )
    bps, _ = place(layout, resolve("anthropic", "claude-sonnet-4-5"), counter)
    # The chunks and query are not worth the write premium: expected reuse is low.
    assert [(b.message_index, b.kind) for b in bps] == [(0, "static"), (4, "conversation")]


def test_anthropic_never_exceeds_four_and_covers_long_agent_turns_within_the_lookback(
    resolve, counter
) -> None:
    # One agent turn with 40 tool round trips: 80+ blocks after the previous turn.
    history = [user(words(1200, "task"))]
    for i in range(40):
        history += [
            asst("", tool_calls=(ToolCall(f"c{i}", "run", f'{{"step": {i}}}'),)),
            Message(Role.TOOL, words(30, i), tool_call_id=f"c{i}"),
        ]
    history.append(asst("done"))
    layout = build_layout(system=[words(1100)], history=history, last_user=user("and now?"))
    target = resolve("anthropic", "claude-sonnet-4-5")
    bps, stats = place(layout, target, counter)
    assert len(bps) == 4
    assert [b.kind for b in bps] == ["static", "lookback", "lookback", "conversation"]
    idx = [b.message_index for b in bps]
    for lower, upper in itertools.pairwise(idx[1:]):
        assert stats.blocks[upper] - stats.blocks[lower] <= target.rules.lookback_blocks


def test_bedrock_needs_the_minimum_between_breakpoints(resolve, counter) -> None:
    # Static block 1.2k, conversation +0.7k: both reach 1,024 alone, but the second
    # adds less than 1,024 beyond the first, so only one can be placed: the more valuable.
    layout = build_layout(system=[words(1200)], history=chat(1, 350), last_user=user("q"))
    target = resolve("bedrock", "anthropic.claude-3-7-sonnet-20250219-v1:0")
    bps, _ = place(layout, target, counter)
    assert [b.kind for b in bps] == ["conversation"]
    anthropic, _ = place(layout, resolve("anthropic", "claude-3-7-sonnet"), counter)
    assert [b.kind for b in anthropic] == ["static", "conversation"]


def test_implicit_providers_report_where_the_automatic_cache_hits(resolve, counter) -> None:
    layout = build_layout(system=[words(1500)], history=chat(2, 200), last_user=user("q"))
    bps, _ = place(layout, resolve("openai", "gpt-4o"), counter)
    assert [b.kind for b in bps] == ["static", "conversation"]


def test_steady_state_reads_follow_increments_and_writes_only_new_tokens(resolve, counter) -> None:
    layout = build_layout(
        system=[words(500)], history=chat(3, 300), last_user=user(words(200, "q"))
    )
    stats = prefix_stats(layout, counter)
    openai = resolve("openai", "gpt-4o")
    bps = place_breakpoints(layout, openai.rules, stats, prefix_hashes("t", layout))
    read, written = expected_cache_tokens(layout, openai.rules, stats, bps)
    prev_turn_end = stats.tokens[5]  # the last user message in the history
    assert read == 1024 + (prev_turn_end - 1024) // 128 * 128 and written == 0

    claude = resolve("anthropic", "claude-sonnet-4-5")
    bps = place_breakpoints(layout, claude.rules, stats, prefix_hashes("t", layout))
    read, written = expected_cache_tokens(layout, claude.rules, stats, bps)
    assert read == prev_turn_end
    assert written == stats.tokens[-1] - prev_turn_end


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_first_turn_reads_nothing_without_a_cacheable_static_block(
    resolve, counter, provider
) -> None:
    layout = build_layout(system=["tiny"], last_user=user(words(3000)))
    stats = prefix_stats(layout, counter)
    target = resolve(provider, "claude-sonnet-4-5" if provider == "anthropic" else "gpt-4o")
    bps = place_breakpoints(layout, target.rules, stats, prefix_hashes("t", layout))
    assert expected_cache_tokens(layout, target.rules, stats, bps)[0] == 0
