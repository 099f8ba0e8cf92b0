"""The CLI as a user meets it: one-line errors, help everywhere, --version, fast
config errors; unknown-model warnings; reflection v1 for current tools."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path
from subprocess import PIPE

import pytest

from promptpress import AsyncClient, __version__
from promptpress.server.cli import build_parser
from promptpress.v1 import promptpress_pb2 as pb

BIN = Path(sys.executable).parent / "promptpress"
BUF = Path(sys.executable).parent.parent / "buf" / "node_modules" / ".bin" / "buf"  # make install


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=timeout,
                          env=env, check=False)  # fmt: skip


def assert_one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.stdout == ""
    return lines[0]


def test_missing_request_file_is_one_line(tmp_path: Path) -> None:
    result = run("call", "Preprocess", str(tmp_path / "missing.json"))
    line = assert_one_line_error(result)
    assert result.returncode == 2 and "missing.json" in line and "No such file" in line


def test_unreachable_server_is_one_line() -> None:
    result = run("count", "--address", "127.0.0.1:1", "--timeout", "2", "hi")
    line = assert_one_line_error(result)
    assert "UNAVAILABLE" in line or "DEADLINE_EXCEEDED" in line


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"promptpress {__version__}"


def _parsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    out = [(parser.prog, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out.extend(_parsers(sub))
    return out


def test_every_command_and_option_has_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helped = {c.dest for c in sub._choices_actions if c.help}
    assert helped == set(sub.choices), f"commands without help: {set(sub.choices) - helped}"
    for prog, p in _parsers(parser):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"{prog} {action.option_strings or action.dest} has no help"


def test_serve_exposes_every_setting_as_a_flag() -> None:
    from promptpress.server.config import ServerConfig

    args = build_parser().parse_args(
        ["serve", "--grace-period-s", "3", "--no-load-models", "--worker-threads", "2"]
    )
    assert (args.grace_period_s, args.load_models, args.worker_threads) == ("3", False, "2")
    serve = dict(_parsers(build_parser()))["promptpress serve"]
    flags = {s for a in serve._actions for s in a.option_strings}
    for name in ServerConfig.__dataclass_fields__:
        if name != "extra":
            assert "--" + name.replace("_", "-") in flags, name


def test_bad_config_fails_before_models_load(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[routing]\ntier_order = ["small"]\n'
        '[[tiers.small.upstreams]]\nname = "a"\nkind = "opnai"\n'
        'base_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n'
    )
    env = {**os.environ, "PROMPTPRESS_DATA_DIR": str(tmp_path / "data")}
    result = run("serve", "--config", str(config), "--address", "127.0.0.1:0", env=env)
    line = assert_one_line_error(result)  # no JSON log line: nothing started, nothing loaded
    assert "tiers.small.upstreams[0].kind" in line and "bad configuration" in line
    assert not (tmp_path / "data" / "compressor").exists()


async def test_unknown_model_gets_a_warning(client: AsyncClient) -> None:
    counted = await client.count_tokens(pb.CountTokensRequest(texts=["hi"], model="mystery-9"))
    assert counted.approximate and any("mystery-9" in w for w in counted.warnings)
    known = await client.count_tokens(pb.CountTokensRequest(texts=["hi"], model="gpt-4o"))
    assert not known.warnings
    pre = await client.preprocess(
        pb.PreprocessRequest(
            messages=[pb.Message(role=pb.ROLE_USER, content="hello")],
            target=pb.Target(provider="openai", model="mystery-9"),
        )
    )
    assert any("unknown model 'mystery-9'" in w for w in pre.warnings)


@pytest.mark.parametrize("protocol", ["grpc-v1", "grpc-v1alpha"])
async def test_reflection_v1_and_v1alpha_with_buf_curl(address: str, protocol: str) -> None:
    assert BUF.exists(), "buf is installed by `make install`"
    base = [str(BUF), "curl", "--http2-prior-knowledge", "--protocol", "grpc",
            "--reflect-protocol", protocol]  # fmt: skip
    listed = await asyncio.create_subprocess_exec(
        *base, "--list-services", f"http://{address}", stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(listed.communicate(), 60)
    assert listed.returncode == 0, err.decode()
    assert "promptpress.v1.PromptPressService" in out.decode().split()
    called = await asyncio.create_subprocess_exec(
        *base, "--data", '{"texts": ["hello world"], "model": "gpt-4"}',
        f"http://{address}/promptpress.v1.PromptPressService/CountTokens",
        stdout=PIPE, stderr=PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(called.communicate(), 60)
    assert called.returncode == 0, err.decode()
    assert '"counts": [\n    2\n  ]' in out.decode() or '"counts":[2]' in out.decode().replace(
        " ", ""
    )
