"""Micro-batching: concurrent callers' inputs run through a model as one batch.

A model call has a fixed cost (Python dispatch, per-layer kernel launches,
small matrix shapes) that a batch shares. `MicroBatcher(fn)` turns a batch
function `fn(list[I]) -> list[O]` into a per-item call that many threads may
make at once: a caller that finds a free pass slot becomes a leader, waits up
to `window_s` for others (or until `max_batch` items are queued), runs `fn`
once on everything gathered and hands each caller its own output. A caller
that finds no one else in flight runs at once: a lone request is never delayed.

`max_concurrent` passes may run at once (one per CPU core is the server's
default): with one torch thread per pass, one pass at a time leaves every
other core idle while requests queue for the model. With `enabled=False`
each call runs alone, still at most `max_concurrent` at once.

`fn` must return outputs in input order and must not depend on what else is
in the batch; the models wrapped here pad each input to a width fixed by its
own length. A failing batch does not fail its callers together: it is run
again one item at a time, so only the caller whose input fails gets the
error. A caller whose work was cancelled (promptpress.cancel) before its
batch starts is dropped from it and gets `Cancelled`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from promptpress.cancel import CancelToken, current

I = TypeVar("I")  # noqa: E741
O = TypeVar("O")  # noqa: E741


@dataclass(eq=False)
class _Slot(Generic[I, O]):
    item: I
    token: CancelToken | None = None
    done: threading.Event = field(default_factory=threading.Event)
    output: O | None = None
    error: BaseException | None = None


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    retried: int = 0  # failed batches run again item by item
    dropped: int = 0  # items whose caller was cancelled before their batch ran

    @property
    def mean_batch(self) -> float:
        return self.items / self.batches if self.batches else 0.0


class MicroBatcher(Generic[I, O]):
    def __init__(
        self,
        fn: Callable[[Sequence[I]], Sequence[O]],
        *,
        max_batch: int = 16,
        window_s: float = 0.002,
        enabled: bool = True,
        max_concurrent: int = 1,
    ) -> None:
        if max_batch < 1 or window_s < 0 or max_concurrent < 1:
            raise ValueError("max_batch and max_concurrent must be >= 1 and window_s >= 0")
        self.fn = fn
        self.max_batch = max_batch
        self.window_s = window_s
        self.enabled = enabled
        self.max_concurrent = max_concurrent
        self.stats = BatchStats()
        self._cond = threading.Condition()
        self._queue: list[_Slot[I, O]] = []
        self._in_flight = 0  # callers inside __call__
        self._running = 0  # leaders gathering or running a batch
        self._in_batches = 0  # callers whose items a running batch holds
        self._passes = threading.BoundedSemaphore(max_concurrent)  # the unbatched path

    def __call__(self, item: I) -> O:
        if not self.enabled:
            with self._passes:
                with self._cond:
                    self.stats.batches += 1
                    self.stats.items += 1
                return self.fn([item])[0]
        slot: _Slot[I, O] = _Slot(item, current())
        with self._cond:
            self._in_flight += 1
            self._queue.append(slot)
            self._cond.notify_all()
        try:
            while True:
                batch = self._next(slot)
                if not batch:
                    break
                self._run(batch)
        finally:
            with self._cond:
                self._in_flight -= 1
        if slot.error is not None:
            raise slot.error
        return slot.output  # type: ignore[return-value]

    def _next(self, slot: _Slot[I, O]) -> list[_Slot[I, O]]:
        """A batch this caller must run as leader, or [] once its own result is in."""
        with self._cond:
            while not slot.done.is_set():
                if self._running >= self.max_concurrent or not self._queue:
                    self._cond.wait()
                    continue
                self._running += 1
                deadline = time.monotonic() + self.window_s
                # Wait only while others are in flight but neither queued nor in a
                # running batch: a lone caller (or a full queue) runs at once.
                while len(self._queue) < min(self.max_batch, self._waiting()):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                if not self._queue:  # another leader took everything while this one waited
                    self._running -= 1
                    self._cond.notify_all()
                    continue
                batch = self._queue[: self.max_batch]
                del self._queue[: len(batch)]
                self._in_batches += len(batch)
                return batch
            return []

    def _waiting(self) -> int:
        """Callers that may still join the queue: in flight and not in a running batch."""
        return self._in_flight - self._in_batches

    def _run(self, batch: list[_Slot[I, O]]) -> None:
        live = []
        for s in batch:
            if s.token is not None and s.token.cancelled:
                s.error = _cancelled(s.token)
            else:
                live.append(s)
        try:
            if live:
                self._compute(live)
        except BaseException as exc:  # e.g. SystemExit in the leader: no caller gets None
            for s in live:
                if s.error is None and s.output is None:
                    s.error = exc
            raise
        finally:
            with self._cond:
                self._in_batches -= len(batch)
                self.stats.batches += bool(live)
                self.stats.items += len(live)
                self.stats.dropped += len(batch) - len(live)
                for s in batch:
                    s.done.set()
                self._running -= 1
                self._cond.notify_all()

    def _compute(self, batch: list[_Slot[I, O]]) -> None:
        """Outputs into the slots; on failure, each item alone, so one bad input fails one caller."""
        try:
            self._fill(batch, self.fn([s.item for s in batch]))
            return
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
                return
        with self._cond:
            self.stats.retried += 1
        for s in batch:
            try:
                self._fill([s], self.fn([s.item]))
            except Exception as exc:
                s.error = exc

    @staticmethod
    def _fill(batch: list[_Slot[I, O]], outputs: Sequence[O]) -> None:
        if len(outputs) != len(batch):
            raise RuntimeError(f"batch function returned {len(outputs)} for {len(batch)}")
        for s, out in zip(batch, outputs, strict=True):
            s.output = out


def _cancelled(token: CancelToken) -> BaseException:
    try:
        token.check()
    except BaseException as exc:  # Cancelled, with the token's reason
        return exc
    raise AssertionError("token was cancelled")  # pragma: no cover
