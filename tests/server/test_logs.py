"""JSON log lines are written by a writer thread, in order, with every field."""

from __future__ import annotations

import collections
import json
import logging
from collections.abc import Iterator

import pytest

from promptpress.server import logs


@pytest.fixture
def root_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    names = ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")
    settings = {name: getattr(logging, name) for name in names}
    try:
        yield
    finally:
        logs.stop_logging()
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, value in settings.items():
            setattr(logging, name, value)


def test_lines_are_json_in_order_with_their_fields(
    root_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure_logging("INFO")
    log = logging.getLogger("promptpress.server")
    for i in range(50):
        logs.log_event(log, "rpc", rpc="Preprocess", request_id=f"id{i}", code="OK")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed %s", "here")
    logs.log_event(log, "hidden", logging.DEBUG)  # below the level
    logs.stop_logging()  # writes out what is queued
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [e["request_id"] for e in lines[:50]] == [f"id{i}" for i in range(50)]
    assert lines[0]["event"] == "rpc" and lines[0]["rpc"] == "Preprocess"
    assert lines[0]["level"] == "info" and lines[0]["logger"] == "promptpress.server"
    assert isinstance(lines[0]["ts"], float)
    assert lines[50]["event"] == "failed here" and "ValueError: boom" in lines[50]["exception"]
    assert len(lines) == 51


def test_after_stop_records_are_written_directly(
    root_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure_logging("INFO")
    logs.stop_logging()
    logs.log_event(logging.getLogger("promptpress.server"), "late", x=1)
    (line,) = capsys.readouterr().err.splitlines()
    assert json.loads(line)["x"] == 1


def test_a_full_queue_drops_and_then_reports_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "QUEUE_SIZE", 2)
    records: collections.deque[logging.LogRecord] = collections.deque()
    handler = logs._Enqueue(records)  # no writer: nothing drains the queue
    log = logging.getLogger("test_logs.full")
    log.propagate = False
    log.addHandler(handler)
    try:
        for i in range(5):
            log.warning("event %d", i)
        assert handler.dropped == 3
        assert [records.popleft().getMessage() for _ in range(2)] == ["event 0", "event 1"]
        log.warning("event 5")  # room again
        dropped, last = records.popleft(), records.popleft()
    finally:
        log.removeHandler(handler)
    assert dropped.getMessage() == "log records dropped" and dropped.__dict__["dropped"] == 3
    assert last.getMessage() == "event 5" and handler.dropped == 0


def test_events_skip_logging_only_when_nothing_else_listens(
    root_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """log_event queues a bare Event when only the writer would see the record, and
    the writer turns it into the same line a LogRecord gives; with another handler
    anywhere up the chain (caplog, a user's), that handler gets a real record."""
    logs.configure_logging("INFO")
    log = logging.getLogger("promptpress.server")
    fields = {"rpc": "Preprocess", "tenant": "t", "request_id": "ab12", "code": "OK", "n": 3}
    assert logs._only_listener(log, logging.INFO, fields) is not None
    assert logs._only_listener(log, logging.DEBUG, fields) is None  # below the level
    assert logs._only_listener(log, logging.INFO, {"msg": 1}) is None  # reserved: logging's error
    logs.log_event(log, "rpc", **fields)  # the fast path
    seen: list[logging.LogRecord] = []
    other = logging.Handler()
    other.emit = seen.append  # type: ignore[method-assign]
    log.addHandler(other)
    try:
        assert logs._only_listener(log, logging.INFO, fields) is None
        logs.log_event(log, "rpc", **fields)  # through logging: both handlers see it
    finally:
        log.removeHandler(other)
    logs.stop_logging()
    fast, slow = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert fast.pop("ts") <= slow.pop("ts")
    assert (
        fast == slow == {"level": "info", "logger": "promptpress.server", "event": "rpc", **fields}
    )
    assert [r.__dict__["request_id"] for r in seen] == ["ab12"]
