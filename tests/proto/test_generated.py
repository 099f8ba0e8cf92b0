"""The checked-in generated code and the proto lint."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto"


def test_generated_code_matches_proto(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(PROTO / "generate.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    generated = sorted(tmp_path.rglob("*_pb2*.py*"))
    assert generated, "protoc produced nothing"
    for path in generated:
        checked_in = PROTO / path.relative_to(tmp_path)
        assert checked_in.exists(), f"{checked_in} is not checked in"
        assert checked_in.read_text() == path.read_text(), (
            f"{checked_in} is stale: run `make proto`"
        )


def _buf() -> str:
    local = Path(sys.executable).parent.parent / "buf" / "node_modules" / ".bin" / "buf"
    found = shutil.which("buf") or (str(local) if local.exists() else None)
    if found is None:
        pytest.fail("buf is not installed; `make install` installs it from npm")
    return found


def test_buf_lint_standard_is_clean() -> None:
    result = subprocess.run(
        [_buf(), "lint"], cwd=PROTO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_client_import_does_not_load_models() -> None:
    code = (
        "import sys, promptpress; promptpress.Client; promptpress.AsyncClient; "
        "bad = [m for m in ('torch', 'transformers', 'llmlingua', 'sentence_transformers', 'numpy', 'lmdb') "
        "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
