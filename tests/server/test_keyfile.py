"""The keys file reloads on change and keeps the previous keys when a new version is bad."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from promptpress.server.auth import Unauthenticated
from promptpress.server.keyfile import KeyFile


def bearer(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


def replace(path: Path, text: str) -> None:
    """Write atomically, as the docs ask operators to (temp file + rename)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_reload_applies_a_changed_file(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("k1 alpha\n")
    keys = KeyFile(path)
    with pytest.raises(Unauthenticated):
        keys.tenant_for(bearer("k2"))
    assert keys.reload() is False  # unchanged: nothing re-read
    replace(path, "k1 alpha\nk2 beta\n")
    assert keys.reload() is True
    assert keys.tenant_for(bearer("k2")) == "beta"
    assert keys.tenant_for(bearer("k1")) == "alpha"
    replace(path, "k2 beta\n")  # a removed key stops working too
    assert keys.reload() is True
    with pytest.raises(Unauthenticated):
        keys.tenant_for(bearer("k1"))


def test_malformed_or_missing_file_keeps_previous_keys(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "keys"
    path.write_text("k1 alpha\n")
    keys = KeyFile(path)
    caplog.set_level(logging.ERROR, logger="promptpress.server")
    replace(path, "k1 alpha\nthis line has three fields\n")
    assert keys.reload() is False
    assert keys.tenant_for(bearer("k1")) == "alpha"
    assert any("keys" in r.getMessage() and ":2:" in r.__dict__["error"] for r in caplog.records)
    path.unlink()
    assert keys.reload(force=True) is False
    assert keys.tenant_for(bearer("k1")) == "alpha"
    replace(path, "k3 gamma\n")  # the next good version applies
    assert keys.reload() is True
    assert keys.tenant_for(bearer("k3")) == "gamma"


def test_malformed_file_at_start_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("only-one-field\n")
    with pytest.raises(ValueError, match=":1:"):
        KeyFile(path)
