"""MicroBatcher: concurrent calls share one batch call, results go back to their callers."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from promptpress.batching import MicroBatcher


class Doubler:
    """A batch function that records its batch sizes and can be held open."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, items: Sequence[int]) -> list[int]:
        self.gate.wait(5)
        self.sizes.append(len(items))
        if any(i < 0 for i in items):
            raise ValueError("negative")
        return [2 * i for i in items]


def test_lone_call_runs_alone() -> None:
    fn = Doubler()
    batcher = MicroBatcher(fn, window_s=10.0)  # a huge window must not delay a lone caller
    assert batcher(21) == 42
    assert fn.sizes == [1]


def test_concurrent_calls_are_batched_and_answered_in_order() -> None:
    fn = Doubler()
    batcher = MicroBatcher(fn, max_batch=8, window_s=0.05)
    fn.gate.clear()  # hold the first batch so the others queue behind it
    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(batcher, i) for i in range(16)]
        while batcher.stats.batches == 0 and len(batcher._queue) < 15:
            threading.Event().wait(0.01)
        fn.gate.set()
        results = [f.result(timeout=10) for f in futures]
    assert results == [2 * i for i in range(16)]
    assert sum(fn.sizes) == 16 and max(fn.sizes) > 1 and max(fn.sizes) <= 8


def test_an_error_reaches_every_caller_of_its_batch_only() -> None:
    fn = Doubler()
    batcher = MicroBatcher(fn, max_batch=4, window_s=0.05)
    with pytest.raises(ValueError, match="negative"):
        batcher(-1)
    assert batcher(3) == 6  # the batcher still works afterwards


def test_disabled_runs_one_by_one() -> None:
    fn = Doubler()
    batcher = MicroBatcher(fn, enabled=False)
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(batcher, range(8))) == [2 * i for i in range(8)]
    assert fn.sizes == [1] * 8
