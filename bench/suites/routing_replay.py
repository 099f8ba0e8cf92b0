"""Multi-turn replays for the `routing` suite: does a conversation keep its tier?

Real conversations (ShareGPT V3, the first records with at least two user turns, the
assistant's own answers kept as history) are replayed turn by turn, each turn a
request carrying the whole conversation so far, as a client sends it. Two rules pick
the tier of each turn with the same scorer:

- "last message": the score of the request as it stands, judged by its last
  question (the rule before issue 11);
- "hardest turn so far": the shipped `DifficultyClassifier.decide`, the hardest
  point of the conversation so far.

Measured: downward tier changes per conversation (each one throws the provider's
prompt cache away and changes the model mid-conversation; goal 0), the share of
conversations with any, and the cost of each rule against always-frontier (prompt
tokens counted; output assumed REPLAY_OUTPUT_TOKENS per turn on either tier).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from promptpress.bench import datasets
from promptpress.bench.frame import DatasetInfo, SuiteContext, ratio
from promptpress.server.routing.difficulty import DifficultyClassifier
from promptpress.server.routing.tiers import Prices
from promptpress.server.routing.usage import Usage, cost_usd
from promptpress.types import Message, Role

MAX_TURNS = 8  # user turns replayed per conversation (bounds the run time)
MAX_CHARS = 6000  # per message: ShareGPT holds pasted documents of 100k characters
REPLAY_OUTPUT_TOKENS = 250
_ROLES = {"user": Role.USER, "assistant": Role.ASSISTANT, "system": Role.SYSTEM}


@dataclass(frozen=True)
class Replay:
    id: str
    requests: tuple[tuple[Message, ...], ...]  # one per user turn: the conversation so far


def load_replays(ctx: SuiteContext) -> tuple[list[Replay], DatasetInfo]:
    n = ctx.by_profile(tiny=20, quick=150, full=600)
    loaded, info = datasets.sharegpt_conversations(limit=n * 3, min_turns=4)
    out = []
    for conv in loaded:
        history: list[Message] = []
        requests = []
        for turn in conv.turns:
            history.append(Message(_ROLES[turn.role], turn.content[:MAX_CHARS]))
            if turn.role == "user":
                requests.append(tuple(history))
            if len(requests) == MAX_TURNS:
                break
        if len(requests) >= 2:
            out.append(Replay(conv.id, tuple(requests)))
        if len(out) == n:
            break
    return out, info


def replay_questions(replays: Sequence[Replay]) -> list[str]:
    """Every user question (what an embedding scorer needs embedded)."""
    return [m.content for r in replays for m in r.requests[-1] if m.role is Role.USER]


def downward_changes(ranks: Sequence[int]) -> int:
    return sum(b < a for a, b in itertools.pairwise(ranks))


def evaluate_rule(
    replays: Sequence[Replay],
    tier_of: Callable[[Sequence[Message]], str],
    tiers: Sequence[str],
    tokens: Callable[[Sequence[Message]], int],
    prices: dict[str, Prices],
) -> dict[str, Any]:
    downs, routed, frontier_cost, turns, to_top = [], 0.0, 0.0, 0, 0
    top = tiers[-1]
    for replay in replays:
        ranks = []
        for request in replay.requests:
            tier = tier_of(request)
            ranks.append(tiers.index(tier))
            usage = Usage(prompt_tokens=tokens(request), completion_tokens=REPLAY_OUTPUT_TOKENS)
            routed += cost_usd(usage, prices[tier])
            frontier_cost += cost_usd(usage, prices[top])
            turns += 1
            to_top += tier == top
        downs.append(downward_changes(ranks))
    return {
        "conversations": len(replays),
        "turns": turns,
        "downward_changes_per_conversation": sum(downs) / max(1, len(downs)),
        "conversations_with_a_downward_change": sum(d > 0 for d in downs) / max(1, len(downs)),
        "frontier_share": to_top / max(1, turns),
        "cost_ratio": ratio(routed, frontier_cost),
    }


def evaluate_replays(
    replays: Sequence[Replay],
    classifier: DifficultyClassifier,
    tokens: Callable[[Sequence[Message]], int],
    prices: dict[str, Prices],
) -> dict[str, dict[str, Any]]:
    tiers = classifier.tier_names

    def last_message(request: Sequence[Message]) -> str:
        return classifier.tier_for(classifier.score(request)[0])

    def hardest_so_far(request: Sequence[Message]) -> str:
        return classifier.decide(request).tier

    return {
        "last message": evaluate_rule(replays, last_message, tiers, tokens, prices),
        "hardest turn so far": evaluate_rule(replays, hardest_so_far, tiers, tokens, prices),
    }
