"""Folders made once in the data directory (a converted or extracted model).

A folder is complete when its marker file exists; the marker is written last,
into a staging folder that is then renamed into place. So a crash, a failed
build or a concurrent preparer never leaves a half-written folder where a
complete one is expected, and preparing again returns at once.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

MARKER_FILENAME = "promptpress-model.json"


def is_prepared(folder: Path) -> bool:
    return (Path(folder) / MARKER_FILENAME).is_file()


def prepare_once(target: Path, build: Callable[[Path], dict[str, Any]]) -> Path:
    """`target`, built by `build(staging)` unless already complete. `build` writes the
    folder's files into `staging` and returns what the marker records."""
    target = Path(target)
    if is_prepared(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        marker = build(staging)
        staging.chmod(0o755)  # mkdtemp makes it owner-only; a model is not a secret
        for file in staging.iterdir():
            file.chmod(0o644)
        (staging / MARKER_FILENAME).write_text(json.dumps(marker, indent=2) + "\n")
        if target.exists() and not is_prepared(target):
            shutil.rmtree(target)  # a leftover of an interrupted or older layout
        try:
            os.rename(staging, target)
        except OSError:
            if not is_prepared(target):  # lost a race to another preparer: theirs is complete
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
