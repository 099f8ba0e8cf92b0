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
"""

from __future__ import annotations

import atexit
import collections
import json
import logging
import sys
import threading
from typing import Any

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
QUEUE_SIZE = 10_000
FLUSH_S = 0.05


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


class _Enqueue(logging.Handler):
    """Appends records to a bounded deque (the writer formats them), dropping and
    counting what does not fit. deque.append is atomic: no lock, no wake-up."""

    def __init__(self, records: collections.deque[logging.LogRecord]) -> None:
        super().__init__()
        self.records = records
        self.dropped = 0

    def handle(self, record: logging.LogRecord) -> bool:  # no handler lock: see above
        if self.level > record.levelno:
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.records) >= QUEUE_SIZE:
            self.dropped += 1
            return
        if self.dropped:
            self.records.append(self._dropped_record())
            self.dropped = 0
        # The message is fixed now; extra fields and exc_info travel as they are.
        record.msg, record.args = record.getMessage(), None
        self.records.append(record)

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
        self.records: collections.deque[logging.LogRecord] = collections.deque()
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
                lines.append(self.handler.format(record) + "\n")
            except Exception:  # as logging does: report on stderr, keep going
                self.handler.handleError(record)
        if lines:
            try:
                self.handler.stream.write("".join(lines))
                self.handler.flush()
            except Exception:
                self.handler.handleError(record)

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
    root.handlers[:] = [_Enqueue(_writer.records)]
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
    logger.log(level, event, extra=fields)
