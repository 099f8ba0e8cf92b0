"""Which arm a request belongs to, and what the arm changes.

Assignment is a pure function of (experiment, tenant, conversation): every turn
of a conversation lands in the same arm, so its prompt prefix (and the
provider's prompt cache) stays stable, and no server state is needed. The
conversation is the caller's `conversation_id` when given; otherwise a hash of
what does not change across turns: the system messages and the first user
message. (A caller that trims its own history should send a conversation_id.)
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Collection, Sequence

from promptpress.server.experiments.config import Arm, Experiment
from promptpress.types import Budget, Message, PreprocessInput, Role


def conversation_key(messages: Sequence[Message], conversation_id: str = "") -> str:
    """The caller's conversation id, else a stable hash of the conversation's opening."""
    if conversation_id:
        return conversation_id
    opening: list[str] = [f"system:{m.content}" for m in messages if m.role is Role.SYSTEM]
    first_user = next((m for m in messages if m.role is Role.USER), None)
    opening.append(f"user:{first_user.content if first_user else ''}")
    digest = hashlib.sha256("\x1e".join(opening).encode()).hexdigest()
    return f"conv_{digest[:24]}"


def _unit(*parts: str) -> float:
    """A uniform number in [0, 1) from the parts; stable across processes and runs."""
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose_arm(
    experiment: Experiment, tenant: str, conversation: str, stopped: Collection[str] = ()
) -> Arm:
    """The arm for this conversation, by weight; a stopped arm's share goes to control."""
    total = sum(a.weight for a in experiment.arms)
    point = _unit(experiment.name, tenant, conversation) * total
    for arm in experiment.arms:
        point -= arm.weight
        if point < 0:
            break
    if arm.name in stopped:
        return experiment.arm(experiment.control)
    return arm


def apply_arm(inp: PreprocessInput, arm: Arm) -> PreprocessInput:
    """The request with the arm's preprocessing settings in place of its own."""
    s = arm.settings
    budget = Budget(
        max_prompt_tokens=inp.budget.max_prompt_tokens
        if s.max_prompt_tokens is None
        else s.max_prompt_tokens,
        max_history_tokens=inp.budget.max_history_tokens
        if s.max_history_tokens is None
        else s.max_history_tokens,
        max_context_tokens=inp.budget.max_context_tokens
        if s.max_context_tokens is None
        else s.max_context_tokens,
        compression_rate=inp.budget.compression_rate
        if s.compression_rate is None
        else s.compression_rate,
    )
    return dataclasses.replace(
        inp,
        budget=budget,
        compression_method=s.compression_method or inp.compression_method,
        placement=s.placement or inp.placement,
    )
