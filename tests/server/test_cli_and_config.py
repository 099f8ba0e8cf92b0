"""The promptpress command (as a user runs it) and config precedence."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from subprocess import PIPE

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from promptpress.errors import InvalidInput
from promptpress.server.config import load_config

BIN = Path(sys.executable).parent / "promptpress"


async def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    # Async: the test server runs on this event loop, which must keep serving.
    proc = await asyncio.create_subprocess_exec(
        str(BIN), *args, stdin=PIPE, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    return subprocess.CompletedProcess(args, proc.returncode or 0, out.decode(), err.decode())


async def test_call_count_tokens(address: str) -> None:
    out = await run_cli(
        "call",
        "CountTokens",
        "--address",
        address,
        stdin='{"texts": ["hello world"], "model": "gpt-4"}',
    )
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["counts"] == [2] and body["encoding"] == "cl100k_base"


async def test_call_error_goes_to_stderr_with_status(address: str) -> None:
    out = await run_cli("call", "Preprocess", "--address", address, stdin='{"messages": []}')
    assert out.returncode != 0
    assert "INVALID_ARGUMENT" in out.stderr and "messages" in out.stderr
    assert out.stdout == ""


async def test_call_rejects_malformed_json(address: str) -> None:
    out = await run_cli("call", "CountTokens", "--address", address, stdin='{"nope": 1}')
    assert out.returncode == 2 and "CountTokensRequest" in out.stderr


async def test_count_shortcut(address: str) -> None:
    out = await run_cli("count", "--address", address, "--model", "gpt-4o", "hello world")
    assert out.returncode == 0 and out.stdout.splitlines()[-1].startswith("total 2 (o200k_base")


def test_serve_then_sigterm_drains_and_exits(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PROMPTPRESS_DATA_DIR": str(tmp_path),
        "PROMPTPRESS_LOAD_MODELS": "false",
        # A short drain window (the default is 5 s): the events are what is checked.
        "PROMPTPRESS_DRAIN_PERIOD_S": "0.5",
    }
    proc = subprocess.Popen(
        [str(BIN), "serve", "--address", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        port = None
        deadline = time.monotonic() + 120
        assert proc.stderr is not None
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            entry = json.loads(line)
            if entry.get("event") == "serving":
                port = entry["port"]
                # What was alive at start-up is out of the cyclic collector's sight.
                assert entry["gc_frozen_objects"] > 10_000
        assert port, "server never reported serving"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            status = (
                health_pb2_grpc.HealthStub(ch)
                .Check(health_pb2.HealthCheckRequest(), timeout=10)
                .status
            )
        assert status == health_pb2.HealthCheckResponse.SERVING
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        events = [
            json.loads(line).get("event")
            for line in proc.stderr.read().splitlines()
            if line.startswith("{")
        ]
        assert events[-3:] == ["draining", "stopping", "stopped"]
    finally:
        if proc.poll() is None:
            proc.kill()


def test_config_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'address = "0.0.0.0:1"\nmax_documents = 7\nworker_threads = 3\n[tiers.small]\nmodel = "m"\n'
    )
    env = {"PROMPTPRESS_ADDRESS": "127.0.0.1:2", "PROMPTPRESS_MAX_DOCUMENTS": "9"}
    c = load_config({"address": "127.0.0.1:3"}, config_file=cfg, environ=env)
    assert c.address == "127.0.0.1:3"  # flag beats env and file
    assert c.max_documents == 9  # env beats file
    assert c.worker_threads == 3  # file beats default
    assert c.max_messages == 2000  # default
    assert c.extra["tiers"]["small"]["model"] == "m"


def test_config_bad_value_names_setting(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        load_config({}, environ={"PROMPTPRESS_MAX_DOCUMENTS": "lots"})
    assert err.value.violations[0].field == "max_documents"


def test_train_difficulty_command(tmp_path: Path) -> None:
    data = tmp_path / "labels.jsonl"
    rows = [{"text": f"hi there {i}", "label": "easy"} for i in range(6)] + [
        {
            "text": f"Prove step by step that n^{i} grows faster than log n, then write code.",
            "label": "hard",
        }
        for i in range(6)
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "model.json"
    result = subprocess.run(
        [str(BIN), "train-difficulty", str(data), "--out", str(out), "--no-embedding"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())
    assert json.loads(result.stdout.splitlines()[-1])


def test_config_unknown_table_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[semantic_cach]\nthreshold = 0.9\n")  # a typo must not be ignored
    with pytest.raises(InvalidInput) as err:
        load_config({}, config_file=cfg, environ={})
    assert err.value.violations[0].field == "semantic_cach"
    cfg.write_text('tiers = "small"\n')
    with pytest.raises(InvalidInput) as err:
        load_config({}, config_file=cfg, environ={})
    assert err.value.violations[0].field == "tiers"


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ('[semantic_cache]\nmax_false_hit_rate = "low"\n', "semantic_cache.max_false_hit_rate"),
        ("[semantic_cache]\nthreshhold = 0.9\n", "semantic_cache.threshhold"),
        ("[tenants.acme]\nrequests_per_second = -1\n", "tenants.acme.requests_per_second"),
    ],
)
def test_serve_rejects_a_bad_table_before_loading_models(
    tmp_path: Path, table: str, field: str
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(table)
    env = {**os.environ, "PROMPTPRESS_DATA_DIR": str(tmp_path)}
    out = subprocess.run(
        [str(BIN), "serve", "--address", "127.0.0.1:0", "--config", str(cfg)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 1
    assert f"bad configuration: {field}:" in out.stderr
    assert "Traceback" not in out.stderr and '"event": "serving"' not in out.stderr
