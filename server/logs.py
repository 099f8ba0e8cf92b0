"""Structured (JSON lines) logging on stderr.

The server logs one line per call. Formatting it as JSON and writing it to stderr
on the event loop put both on every call's latency path (~10% of a small
Preprocess's server time); handing each record to a listener thread through a
queue cost nearly as much again, because every put woke the listener and the two
threads traded the GIL per record. So `configure_logging` installs a handler that
only appends the record to a deque (no lock, no wake-up), and one writer thread
drains it every `FLUSH_S` (50 ms): it formats the records, in order, and writes
them to stderr in one write. Lines carry the time the event happened
(`record.created`), at most FLUSH_S before they appear.

The deque is bounded (`QUEUE_SIZE`): if stderr stops draining, records are
dropped and counted, and a "log records dropped" warning follows once there is
room, rather than stalling the server or growing without limit. `stop_logging`
(run at exit) writes out what is queued; later records are written directly.

`log_event` (the per-call line) skips the logging machinery when nothing but
this deque would see the record -- no other handler anywhere up the logger
chain, no filter on the logger, the level enabled: it queues the event's fields
(an `Event`) and the writer formats them into the same JSON line a LogRecord
would have given. A LogRecord and the handler walk cost ~7 us per call on the
event loop; anything else listening (pytest's caplog, a user's handler) still
gets real records.
"""

from __future__ import annotations

import atexit
import collections
import json
import logging
import sys
import threading
import time
from typing import Any, NamedTuple

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
QUEUE_SIZE = 10_000
FLUSH_S = 0.05


def json_line(created: float, levelno: int, logger: str, event: str, fields: dict[str, Any]) -> str:
    """One log line: time, level, logger and event first, then the event's fields."""
    entry: dict[str, Any] = {
        "ts": round(created, 3),
        "level": logging.getLevelName(levelno).lower(),
        "logger": logger,
        "event": event,
    }
    entry.update(fields)
    return json.dumps(entry, default=str, ensure_ascii=False)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in record.__dict__.items() if k not in _RESERVED}
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return json_line(record.created, record.levelno, record.name, record.getMessage(), fields)


class Event(NamedTuple):
    """What `log_event` queues instead of a LogRecord when only the writer listens."""

    created: float
    levelno: int
    name: str
    event: str
    fields: dict[str, Any]

    def json_line(self) -> str:
        """The line JsonFormatter writes for the same record."""
        return json_line(self.created, self.levelno, self.name, self.event, self.fields)

    def as_record(self) -> logging.LogRecord:
        """The LogRecord logging would have made (for logging's own error report)."""
        record = logging.LogRecord(self.name, self.levelno, "", 0, self.event, None, None)
        record.created = self.created
        record.__dict__.update(self.fields)
        return record


def _record(item: logging.LogRecord | Event) -> logging.LogRecord:
    return item.as_record() if isinstance(item, Event) else item


class _Enqueue(logging.Handler):
    """Appends records to a bounded deque (the writer formats them), dropping and
    counting what does not fit. deque.append is atomic: no lock, no wake-up."""

    def __init__(self, records: collections.deque[logging.LogRecord | Event]) -> None:
        super().__init__()
        self.records = records
        self.dropped = 0

    def handle(self, record: logging.LogRecord) -> bool:  # no handler lock: see above
        if self.level > record.levelno:
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        if self._room():
            # The message is fixed now; extra fields and exc_info travel as they are.
            record.msg, record.args = record.getMessage(), None
            self.records.append(record)

    def emit_event(self, event: Event) -> None:
        if self._room():
            self.records.append(event)

    def _room(self) -> bool:
        if len(self.records) >= QUEUE_SIZE:
            self.dropped += 1
            return False
        if self.dropped:
            self.records.append(self._dropped_record())
            self.dropped = 0
        return True

    def _dropped_record(self) -> logging.LogRecord:
        record = logging.LogRecord(
            "promptpress.server", logging.WARNING, __file__, 0, "log records dropped", None, None
        )
        record.dropped = self.dropped
        return record


class _Writer:
    """A daemon thread that formats and writes the queued records every `interval_s`."""

    def __init__(self, handler: logging.StreamHandler[Any], interval_s: float = FLUSH_S) -> None:
        self.handler = handler
        self.records: collections.deque[logging.LogRecord | Event] = collections.deque()
        self.enqueue = _Enqueue(self.records)
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="promptpress-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.drain()
        self.drain()

    def drain(self) -> None:
        lines = []
        while self.records:
            record = self.records.popleft()
            try:
                if isinstance(record, Event):
                    lines.append(record.json_line() + "\n")
                    continue
                lines.append(self.handler.format(record) + "\n")
            except Exception:  # as logging does: report on stderr, keep going
                self.handler.handleError(_record(record))
        if lines:
            try:
                self.handler.stream.write("".join(lines))
                self.handler.flush()
            except Exception:
                self.handler.handleError(_record(record))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


_writer: _Writer | None = None


def configure_logging(level: str = "INFO") -> None:
    global _writer
    stop_logging()
    # The JSON lines never show a record's caller, thread or process: do not collect
    # them per record (the logging HOWTO's "Optimization" settings).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    _writer = _Writer(handler)
    root = logging.getLogger()
    root.handlers[:] = [_writer.enqueue]
    root.setLevel(level.upper())


def stop_logging() -> None:
    """Write out the queued records and stop the writer thread (idempotent); later
    records are written directly."""
    global _writer
    if _writer is None:
        return
    writer, _writer = _writer, None
    writer.stop()
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _Enqueue)] or [writer.handler]


atexit.register(stop_logging)


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    enqueue = _only_listener(logger, level, fields)
    if enqueue is None:
        logger.log(level, event, extra=fields)
    else:
        enqueue.emit_event(Event(time.time(), level, logger.name, event, fields))


def _only_listener(logger: logging.Logger, level: int, fields: dict[str, Any]) -> _Enqueue | None:
    """The writer's handler, when a record from `logger` at `level` would reach it and
    nothing else (see the module docstring); None otherwise."""
    writer = _writer
    if writer is None or logger.filters or not logger.isEnabledFor(level):
        return None
    if not _RESERVED.isdisjoint(fields):
        return None  # logging refuses such extras: let it say so
    node: logging.Logger | None = logger
    while node is not None:
        if node.handlers:
            only = node.handlers == [writer.enqueue] and node is logging.getLogger()
            return writer.enqueue if only and writer.enqueue.level <= level else None
        if not node.propagate:
            return None
        node = node.parent
    return None
