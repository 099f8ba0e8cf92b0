"""The package as users install it. The wheel holds every module and data file of
the tree (the stage folders join through symlinks; nothing is listed by hand).
The client library as users install it: the wheel alone (grpcio, protobuf,
grpcio-status; no server extra) on the oldest and newest Pythons it supports,
calling a real server; `promptpress serve` there says what to install."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHONS = ("3.10", "3.13")  # the ends of requires-python's supported range

CALL = """
import sys
from promptpress import Client, PromptPressRpcError
from promptpress.v1 import promptpress_pb2 as pb
with Client(sys.argv[1], timeout=30) as client:
    print(client.count_tokens(pb.CountTokensRequest(texts=["hello world"], model="gpt-4")).counts[0])
    try:
        client.preprocess(pb.PreprocessRequest())
    except PromptPressRpcError as err:
        print(err.code.name, err.violations[0].field)
assert "torch" not in sys.modules and "numpy" not in sys.modules
"""


# The venv must see only what it installed (no PYTHONPATH from a developer's shell).
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}


def interpreter(version: str) -> str | None:
    """A working python<version>: PATH first, then pyenv's versions (its shims fail
    unless that version is selected)."""
    found = [shutil.which(f"python{version}")]
    found += sorted(
        str(p) for p in Path.home().glob(f".pyenv/versions/{version}*/bin/python{version}")
    )
    for path in filter(None, found):
        if subprocess.run([path, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            return path
    return None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a clean copy of the tree: setuptools' build/ would carry stale modules."""
    out, src = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("src") / "promptpress"
    skip = shutil.ignore_patterns(".git", ".venv", ".data", "build", "node_modules", "*.egg-info",
                                  "__pycache__", ".*_cache", "results")  # fmt: skip
    shutil.copytree(ROOT, src, symlinks=True, ignore=skip)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out),
                    str(src)], check=True, capture_output=True, timeout=300)  # fmt: skip
    return next(out.glob("promptpress-*.whl"))


def test_wheel_holds_every_module_and_data_file(wheel: Path) -> None:
    package = ROOT / "proto" / "promptpress"
    on_disk = set()
    for folder, dirs, files in os.walk(package, followlinks=True):  # into the stage folders
        dirs[:] = [d for d in dirs if d not in ("__pycache__", "results")]
        for name in files:
            if name.endswith((".py", ".toml", ".pyi")):
                on_disk.add("promptpress/" + str((Path(folder) / name).relative_to(package)))
    assert len(on_disk) > 100 and "promptpress/compressor/compress.py" in on_disk
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    assert on_disk - in_wheel == set()


@pytest.mark.slow
@pytest.mark.parametrize("version", PYTHONS)
async def test_client_only_install(version: str, wheel: Path, address: str, tmp_path: Path) -> None:
    python = interpreter(version)
    if python is None:
        pytest.skip(f"python{version} is not on this machine")
    venv = tmp_path / "venv"

    def install() -> None:
        subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120, env=CLEAN_ENV)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True,
                       capture_output=True, timeout=600, env=CLEAN_ENV)  # fmt: skip

    await asyncio.to_thread(install)
    proc = await asyncio.create_subprocess_exec(
        str(venv / "bin" / "python"), "-c", CALL, address,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=CLEAN_ENV,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    assert out.decode().split() == ["2", "INVALID_ARGUMENT", "messages"]
    serve = await asyncio.to_thread(
        subprocess.run, [str(venv / "bin" / "promptpress"), "serve"], capture_output=True,
        text=True, timeout=60, env=CLEAN_ENV,
    )  # fmt: skip
    assert serve.returncode == 1 and "Traceback" not in serve.stderr
    assert "pip install 'promptpress[server]'" in serve.stderr or "Python 3.11" in serve.stderr
