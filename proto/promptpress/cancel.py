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

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar

from promptpress.errors import PromptPressError


class Cancelled(PromptPressError):
    """The caller is gone (cancelled, past its deadline, or the server is stopping)."""


class CancelToken:
    """Set once, read from any thread. `deadline` is on the `clock` (monotonic) scale."""

    __slots__ = ("_clock", "_event", "_reason", "deadline")

    def __init__(
        self, deadline: float | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.deadline = deadline
        self._clock = clock
        self._event = threading.Event()
        self._reason = ""

    @classmethod
    def after(cls, seconds: float | None) -> CancelToken:
        return cls(None if seconds is None else time.monotonic() + max(0.0, seconds))

    def cancel(self, reason: str = "cancelled") -> None:
        if not self._event.is_set():
            self._reason = reason
            self._event.set()

    @property
    def cancelled(self) -> bool:
        if self._event.is_set():
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


@contextlib.contextmanager
def bound(token: CancelToken) -> Iterator[CancelToken]:
    """Bind `token` for this context (and the worker threads it hands work to)."""
    reset = _current.set(token)
    try:
        yield token
    finally:
        _current.reset(reset)
