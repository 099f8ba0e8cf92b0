"""What forwarding produces (results and stream events) and the cooldown bookkeeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from promptpress.server.routing.failures import Attempt
from promptpress.server.routing.usage import Usage
from promptpress.types import ToolCall, ToolCallDelta


@dataclass(frozen=True, slots=True)
class UpstreamResult:
    text: str
    finish_reason: str
    usage: Usage
    usage_reported: bool
    upstream: str  # tier/name
    tier: str
    model: str  # as the upstream reported it (else the configured one)
    attempts: tuple[Attempt, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    upstream: str


@dataclass(frozen=True, slots=True)
class StreamDone:
    result: UpstreamResult


StreamEvent = TextDelta | ToolCallDelta | StreamDone


@dataclass
class CooldownTracker:
    """Upstreams that failed recently, until when (monotonic seconds)."""

    clock: Callable[[], float] = time.monotonic
    _until: dict[str, float] = field(default_factory=dict)

    def cool(self, name: str, seconds: float) -> None:
        self._until[name] = max(self._until.get(name, 0.0), self.clock() + seconds)

    def is_cooling(self, name: str) -> bool:
        until = self._until.get(name)
        if until is None:
            return False
        if until <= self.clock():
            del self._until[name]
            return False
        return True

    def reset(self, name: str) -> None:
        self._until.pop(name, None)

    def until(self, name: str) -> float:
        return self._until.get(name, 0.0)
