"""Cancellation that reaches the work: a token checked between chunks and batches.

The edge (one gRPC call) creates a CancelToken with the caller's deadline and
binds it for the work it runs (`bound(token)`); a worker thread inherits it
through contextvars. Long loops in the stages (tokenising a big text, model
batches, embedding batches) call `checkpoint()` between steps, which raises
`Cancelled` once the caller has gone (cancelled, deadline passed, server
shutting down), so abandoned work stops within one step instead of running to
the end while the caller's slot stays busy.

Outside a bound token `checkpoint()` is a no-op, so stages stay callable alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar

from promptpress.contextvar_scope import ContextVarScope
from promptpress.errors import PromptPressError


class Cancelled(PromptPressError):
    """The caller is gone (cancelled, past its deadline, or the server is stopping)."""


class CancelToken:
    """Set once, read from any thread. `deadline` is on the `clock` (monotonic) scale.

    The flag is a plain attribute: under the GIL a bool is written and read whole,
    and nothing waits on it (checkpoints poll), so a threading.Event's lock and
    condition (created and notified on every call) buy nothing here."""

    __slots__ = ("_clock", "_reason", "_set", "deadline")

    def __init__(
        self, deadline: float | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.deadline = deadline
        self._clock = clock
        self._set = False
        self._reason = ""

    @classmethod
    def after(cls, seconds: float | None) -> CancelToken:
        return cls(None if seconds is None else time.monotonic() + max(0.0, seconds))

    def cancel(self, reason: str = "cancelled") -> None:
        if not self._set:
            self._reason = reason  # before the flag: a reader that sees it set sees why
            self._set = True

    @property
    def cancelled(self) -> bool:
        if self._set:
            return True
        if self.deadline is not None and self._clock() >= self.deadline:
            self.cancel("deadline exceeded")
            return True
        return False

    def check(self) -> None:
        if self.cancelled:
            raise Cancelled(self._reason)


_current: ContextVar[CancelToken | None] = ContextVar("promptpress_cancel", default=None)


def current() -> CancelToken | None:
    return _current.get()


def checkpoint() -> None:
    """Raise Cancelled if the work bound to this context has been abandoned."""
    token = _current.get()
    if token is not None:
        token.check()


def bound(token: CancelToken) -> ContextVarScope[CancelToken | None]:
    """Bind `token` for this context (and the worker threads it hands work to):
    `with bound(token): ...`."""
    return ContextVarScope(_current, token)
