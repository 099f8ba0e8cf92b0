"""The protobuf edge loads no model code: converting a request must not pull in torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "sentence_transformers", "llmlingua")


@pytest.mark.parametrize(
    "module", ["promptpress.server.convert", "promptpress.compressor.settings"]
)
def test_importing_the_edge_loads_no_model_library(module: str) -> None:
    # A fresh interpreter: this test session has long since imported torch.
    code = f"import sys, {module}\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "", f"{module} imported {out.stdout.strip()}"
