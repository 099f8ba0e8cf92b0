"""Micro-batching: concurrent callers' inputs run through a model as one batch.

A model call has a fixed cost (Python dispatch, per-layer kernel launches,
small matrix shapes) that a batch shares. `MicroBatcher(fn)` turns a batch
function `fn(list[I]) -> list[O]` into a per-item call that many threads may
make at once: the first caller to arrive becomes the leader, waits up to
`window_s` for others (or until `max_batch` items are queued), runs `fn` once
on everything gathered and hands each caller its own output. A caller that
finds no one else in flight runs at once: a lone request is never delayed.

`fn` must return outputs in input order and must not depend on what else is
in the batch; the models wrapped here pad each input to the batch and mask
the padding. Exceptions raised by `fn` reach every caller of that batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

I = TypeVar("I")  # noqa: E741
O = TypeVar("O")  # noqa: E741


@dataclass
class _Slot(Generic[I, O]):
    item: I
    done: threading.Event = field(default_factory=threading.Event)
    output: O | None = None
    error: BaseException | None = None


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0

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
    ) -> None:
        if max_batch < 1 or window_s < 0:
            raise ValueError("max_batch must be >= 1 and window_s >= 0")
        self.fn = fn
        self.max_batch = max_batch
        self.window_s = window_s
        self.enabled = enabled
        self.stats = BatchStats()
        self._cond = threading.Condition()
        self._queue: list[_Slot[I, O]] = []
        self._in_flight = 0  # callers inside __call__
        self._running = False  # a leader is running fn
        self._run_lock = threading.Lock()  # one fn call at a time (one model)

    def __call__(self, item: I) -> O:
        if not self.enabled:
            with self._run_lock:
                self.stats.batches += 1
                self.stats.items += 1
                return self.fn([item])[0]
        slot: _Slot[I, O] = _Slot(item)
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
                if self._running or not self._queue:
                    self._cond.wait()
                    continue
                self._running = True
                deadline = time.monotonic() + self.window_s
                # Wait only while others are in flight but not queued yet: a lone
                # caller (or a full queue) runs at once.
                while len(self._queue) < min(self.max_batch, self._in_flight):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch = self._queue[: self.max_batch]
                del self._queue[: len(batch)]
                return batch
            return []

    def _run(self, batch: list[_Slot[I, O]]) -> None:
        try:
            with self._run_lock:
                outputs = self.fn([s.item for s in batch])
            if len(outputs) != len(batch):
                raise RuntimeError(f"batch function returned {len(outputs)} for {len(batch)}")
            for s, out in zip(batch, outputs, strict=True):
                s.output = out
        except BaseException as exc:  # every caller of the batch sees the failure
            for s in batch:
                s.error = exc
        finally:
            with self._cond:
                self.stats.batches += 1
                self.stats.items += len(batch)
                for s in batch:
                    s.done.set()
                self._running = False
                self._cond.notify_all()
