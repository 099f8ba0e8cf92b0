"""Structured (JSON lines) logging on stderr.

The server logs one line per call. Formatting it as JSON and writing it to stderr
on the event loop put both on every call's latency path (~10% of a small
Preprocess's server time), so `configure_logging` hands records to a queue and
one listener thread formats and writes them, in order. Lines still carry the
time the event happened (`record.created`). The queue is bounded: if stderr
stops draining, records are dropped and counted (reported once it drains again)
rather than stalling the server or growing without limit. `stop_logging` (run at
exit) writes out what is queued.
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import sys
from logging.handlers import QueueHandler, QueueListener
from typing import Any

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
QUEUE_SIZE = 10_000


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class _Enqueue(QueueHandler):
    """Puts records on a bounded queue whole (the listener formats them), dropping
    and counting what does not fit."""

    def __init__(self, q: queue.SimpleQueue[logging.LogRecord]) -> None:
        super().__init__(q)
        self.records = q
        self.dropped = 0

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # The message is fixed now; extra fields and exc_info travel as they are.
        record.msg, record.args = record.getMessage(), None
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        # SimpleQueue (C): a put never waits on a lock the listener may hold, where
        # queue.Queue's Condition made the two threads convoy; the bound is checked here.
        if self.records.qsize() >= QUEUE_SIZE:
            self.dropped += 1
            return
        if self.dropped:
            self.records.put_nowait(self._dropped_record())
            self.dropped = 0
        self.records.put_nowait(record)

    def _dropped_record(self) -> logging.LogRecord:
        record = logging.LogRecord(
            "promptpress.server", logging.WARNING, __file__, 0, "log records dropped", None, None
        )
        record.dropped = self.dropped
        return record


_listener: QueueListener | None = None


def configure_logging(level: str = "INFO") -> None:
    global _listener
    stop_logging()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _listener = QueueListener(records, handler)
    _listener.start()
    root = logging.getLogger()
    root.handlers[:] = [_Enqueue(records)]
    root.setLevel(level.upper())


def stop_logging() -> None:
    """Write out the queued records and stop the listener thread (idempotent); later
    records are written directly."""
    global _listener
    if _listener is None:
        return
    listener, _listener = _listener, None
    listener.stop()
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _Enqueue)] or list(
        listener.handlers
    )


atexit.register(stop_logging)


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, event, extra=fields)
