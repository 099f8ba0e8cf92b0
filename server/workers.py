"""The worker pool: blocking work off the event loop, shared fairly between tenants.

`FairExecutor` is a concurrent.futures.Executor (so `loop.run_in_executor` and the
code that already uses it keep working) in front of a fixed set of threads:

- a tenant runs at most `max_per_tenant` jobs at once; its other jobs wait in its
  own queue, not in a thread, so one tenant's big requests cannot take every worker;
- when a thread frees up, the next job comes from the tenants round-robin;
- each job runs in a copy of the submitting context, so the call's CancelToken
  (promptpress.cancel) reaches the worker thread;
- a job whose future was cancelled while queued (its caller gave up) never runs.

The tenant is read from a contextvar set by the servicer (`tenant_scope`), because
`run_in_executor` calls `submit` synchronously in the caller's context.
"""

from __future__ import annotations

import contextvars
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from promptpress.contextvar_scope import ContextVarScope

T = TypeVar("T")
_tenant: contextvars.ContextVar[str] = contextvars.ContextVar("promptpress_tenant", default="")


def tenant_scope(tenant: str) -> ContextVarScope[str]:
    """`with tenant_scope(tenant): ...` sets the tenant the pool queues work under."""
    return ContextVarScope(_tenant, tenant)


@dataclass
class _Job:
    future: Future[Any]
    context: contextvars.Context
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class FairExecutor(Executor):
    def __init__(
        self, max_workers: int, *, max_per_tenant: int = 0, thread_name_prefix: str = ""
    ) -> None:
        self.max_workers = max(1, max_workers)
        # Default: every tenant may use all but one worker (all of one worker).
        self.max_per_tenant = max_per_tenant or max(1, self.max_workers - 1)
        self._threads = ThreadPoolExecutor(self.max_workers, thread_name_prefix=thread_name_prefix)
        self._lock = threading.Lock()
        self._queues: OrderedDict[str, deque[_Job]] = OrderedDict()
        self._running: dict[str, int] = {}
        self._busy = 0
        self._shutdown = False
        self._idle = threading.Condition(self._lock)

    # --- Executor ------------------------------------------------------------------

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        job = _Job(future, contextvars.copy_context(), fn, args, kwargs)
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new work after shutdown")
            self._queues.setdefault(_tenant.get(), deque()).append(job)
            self._dispatch_locked()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Queued jobs are always cancelled (the server stops calling before this);
        `wait` waits for the running ones."""
        with self._lock:
            self._shutdown = True
            for queue in self._queues.values():
                for job in queue:
                    job.future.cancel()
            self._queues.clear()
        self._threads.shutdown(wait=wait, cancel_futures=cancel_futures)

    # --- state -------------------------------------------------------------------------

    @property
    def busy(self) -> int:
        return self._busy

    def queued(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._queues.values())

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job runs (queued ones are not waited for). True if idle."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    # --- scheduling --------------------------------------------------------------------

    def _dispatch_locked(self) -> None:
        while self._busy < self.max_workers:
            job = self._next_job_locked()
            if job is None:
                return
            tenant, item = job
            self._busy += 1
            self._running[tenant] = self._running.get(tenant, 0) + 1
            self._threads.submit(self._run, tenant, item)

    def _next_job_locked(self) -> tuple[str, _Job] | None:
        """Round-robin over tenants below their share; skips cancelled jobs."""
        for tenant in list(self._queues):
            queue = self._queues[tenant]
            if self._running.get(tenant, 0) >= self.max_per_tenant:
                continue
            while queue:
                job = queue.popleft()
                if job.future.set_running_or_notify_cancel():
                    # Served: move this tenant to the back of the rotation.
                    if queue:
                        self._queues.move_to_end(tenant)
                    else:
                        del self._queues[tenant]
                    return tenant, job
            del self._queues[tenant]
        return None

    def _run(self, tenant: str, job: _Job) -> None:
        try:
            result = job.context.run(job.fn, *job.args, **job.kwargs)
        except BaseException as exc:
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)
        finally:
            with self._lock:
                self._busy -= 1
                left = self._running[tenant] - 1
                if left:
                    self._running[tenant] = left
                else:
                    del self._running[tenant]
                if not self._shutdown:
                    self._dispatch_locked()
                self._idle.notify_all()
