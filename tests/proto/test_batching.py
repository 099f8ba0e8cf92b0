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


def test_one_bad_input_fails_only_its_caller() -> None:
    fn = Doubler()
    batcher = MicroBatcher(fn, max_batch=8, window_s=0.05)
    fn.gate.clear()  # hold the first batch so the rest, with a bad input, queue together
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(batcher, 0)
        while not batcher._running:  # 0 is being run, held at the gate
            threading.Event().wait(0.01)
        futures = [pool.submit(batcher, i) for i in (1, -1, 2, 3)]
        while len(batcher._queue) < 4:
            threading.Event().wait(0.01)
        fn.gate.set()
        assert first.result(timeout=10) == 0
        assert futures[0].result(timeout=10) == 2
        with pytest.raises(ValueError, match="negative"):
            futures[1].result(timeout=10)
        assert [f.result(timeout=10) for f in futures[2:]] == [4, 6]
    assert 4 in fn.sizes  # the four ran as one batch first, then one by one
    assert batcher.stats.retried == 1


def test_a_cancelled_caller_is_dropped_from_its_batch() -> None:
    from promptpress.cancel import Cancelled, CancelToken, bound

    fn = Doubler()
    batcher = MicroBatcher(fn, max_batch=8, window_s=0.05)
    token = CancelToken()

    def cancelled_call() -> int:
        with bound(token):
            return batcher(100)

    fn.gate.clear()
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(batcher, 0)
        while not batcher._running:
            threading.Event().wait(0.01)
        gone = pool.submit(cancelled_call)
        kept = pool.submit(batcher, 5)
        while len(batcher._queue) < 2:
            threading.Event().wait(0.01)
        token.cancel()  # the caller gives up while its input waits for the next batch
        fn.gate.set()
        assert first.result(timeout=10) == 0
        assert kept.result(timeout=10) == 10
        with pytest.raises(Cancelled):
            gone.result(timeout=10)
    assert fn.sizes == [1, 1]  # the cancelled input never reached the model
    assert batcher.stats.dropped == 1


@pytest.mark.parametrize("enabled", [True, False])
def test_max_concurrent_passes_run_at_once(enabled: bool) -> None:
    """Two passes overlap when allowed (the second starts while the first is held), never three."""
    running, peak = [0], [0]
    lock = threading.Lock()
    release = threading.Event()

    def fn(items: Sequence[int]) -> list[int]:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait(5)
        with lock:
            running[0] -= 1
        return list(items)

    batcher = MicroBatcher(fn, max_batch=1, window_s=0.0, enabled=enabled, max_concurrent=2)
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(batcher, i) for i in range(3)]
        while running[0] < 2:
            threading.Event().wait(0.01)
        threading.Event().wait(0.05)  # a third pass, were it allowed, would start now
        assert running[0] == 2
        release.set()
        assert [f.result(timeout=10) for f in futures] == [0, 1, 2]
    assert peak[0] == 2


def test_many_callers_with_two_passes_each_get_their_own_answer() -> None:
    # Two leaders at once: one may take the queue (its own input included) while
    # the other waits out the window; every caller must still get its answer.
    def fn(items: Sequence[int]) -> list[int]:
        threading.Event().wait(0.001)  # a pass takes a moment, so callers overlap
        return [2 * i for i in items]

    batcher = MicroBatcher(fn, max_batch=4, window_s=0.02, max_concurrent=2)

    def caller(k: int) -> list[int]:
        return [batcher(100 * k + j) for j in range(40)]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(caller, range(8)))
    assert results == [[2 * (100 * k + j) for j in range(40)] for k in range(8)]
    assert batcher._running == 0 and not batcher._queue


class Halt(BaseException):
    """Not an Exception: what a batch function may raise when its thread must stop."""


def test_a_base_exception_in_a_batch_reaches_every_caller_never_none() -> None:
    gate = threading.Event()

    def halting(items: Sequence[int]) -> list[int]:
        gate.wait(5)
        raise Halt()

    batcher = MicroBatcher(halting, max_batch=8, window_s=5.0)
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(batcher, i) for i in range(3)]
        while len(batcher._queue) + batcher._in_batches < 3:
            threading.Event().wait(0.01)
        gate.set()
        outcomes = []
        for f in futures:
            try:
                outcomes.append(f.result(timeout=10))
            except Halt:
                outcomes.append("halted")
    assert outcomes == ["halted"] * 3
