"""Start a server as a child process on a free loopback port, watch its memory, stop it.

Both the promptpress server and the echo server announce themselves with a JSON
log line on stderr carrying "event": "serving" and the bound "port". The child's
stderr is drained on a thread for its whole life (a full pipe would block the
server mid-benchmark); the last lines are kept for error messages.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil


class ServerStartError(RuntimeError):
    pass


def _serving_port(line: str) -> int | None:
    """The port from a structured "serving" log line, else None."""
    start = line.find("{")
    if start < 0 or '"serving"' not in line:
        return None
    try:
        record = json.loads(line[start:])
    except json.JSONDecodeError:
        return None
    if record.get("event") == "serving" and isinstance(record.get("port"), int):
        return int(record["port"])
    return None


@dataclass
class ServerProcess:
    """A running child server. Use `start_server` to create one."""

    name: str
    process: subprocess.Popen[str]
    port: int
    _tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=50))

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_bytes(self) -> int:
        """Current resident set size."""
        return int(psutil.Process(self.pid).memory_info().rss)

    def peak_rss_bytes(self) -> int:
        """The kernel's high-water mark of resident memory since the process started
        (VmHWM): exact, unlike sampling, which can miss a short spike."""
        try:
            with open(f"/proc/{self.pid}/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return self.rss_bytes()  # no /proc: the best available approximation

    def log_tail(self) -> str:
        return "\n".join(self._tail)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)


def start_server(
    name: str,
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    startup_timeout_s: float = 180.0,
    cwd: Path | None = None,
) -> ServerProcess:
    """Launches `argv` (with exactly `env` as its environment, when given) and waits
    for its "serving" line; raises ServerStartError otherwise."""
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ) if env is None else env,
        cwd=cwd,
    )
    tail: collections.deque[str] = collections.deque(maxlen=50)
    found: list[int] = []
    ready = threading.Event()

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            tail.append(line.rstrip("\n"))
            if not found and (port := _serving_port(line)) is not None:
                found.append(port)
                ready.set()
        ready.set()  # EOF: the process died before (or after) serving

    threading.Thread(target=drain, name=f"{name}-stderr", daemon=True).start()
    deadline = time.monotonic() + startup_timeout_s
    while not ready.wait(timeout=0.2):
        if time.monotonic() > deadline:
            break
    if not found:
        process.kill()
        process.wait()
        lines = "\n".join(tail)
        raise ServerStartError(
            f"{name} did not report a port (exit {process.returncode}):\n{lines}"
        )
    return ServerProcess(name=name, process=process, port=found[0], _tail=tail)


@contextlib.contextmanager
def running(name: str, argv: Sequence[str], **kwargs) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    server = start_server(name, argv, **kwargs)
    try:
        yield server
    finally:
        server.stop()


# Settings that say where the prepared models are (`make prepare`), not how to serve.
MODEL_LOCATIONS = ("PROMPTPRESS_DATA_DIR", "PROMPTPRESS_PAIR_ENCODER_BASE")


def default_env() -> dict[str, str]:
    """A server's environment at its default configuration: the caller's, without its
    PROMPTPRESS_* settings except those that locate the prepared models."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTPRESS_")}
    env.update({k: os.environ[k] for k in MODEL_LOCATIONS if k in os.environ})
    return env


def promptpress_argv(config: Path | None = None) -> list[str]:
    argv = [sys.executable, "-m", "promptpress.server.cli", "serve", "--address", "127.0.0.1:0"]
    return [*argv, "--config", str(config)] if config else argv


def echo_argv(responses: Path | None = None) -> list[str]:
    argv = [sys.executable, "-m", "promptpress.bench.echo_server", "--address", "127.0.0.1:0"]
    return [*argv, "--responses", str(responses)] if responses else argv
