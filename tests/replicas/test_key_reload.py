"""A key added to the keys file reaches a running `promptpress serve` without a restart:
on change (polling) and on SIGHUP; a malformed file keeps the previous keys."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.procs import Server, start_server, stop_all, temp_log_dir


def replace(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def count_status(server: Server, key: str) -> grpc.StatusCode:
    from promptpress import Client, PromptPressRpcError
    from promptpress.v1 import promptpress_pb2 as pb

    with Client(server.address, api_key=key, timeout=5) as client:
        try:
            client.count_tokens(pb.CountTokensRequest(texts=["hi"]))
        except PromptPressRpcError as err:
            return err.code
    return grpc.StatusCode.OK


def eventually_status(server: Server, key: str, want: grpc.StatusCode, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if count_status(server, key) == want:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Server, Path, Server, Path]]:
    """Two servers: one polling its keys file every 0.2 s, one reloading on SIGHUP only."""
    with temp_log_dir() as log_dir:
        polled_keys, hup_keys = log_dir / "polled.keys", log_dir / "hup.keys"
        polled_keys.write_text("key-a tenant-a\n")
        hup_keys.write_text("key-a tenant-a\n")
        base = {"load_models": False}
        polled = start_server(
            log_dir,
            settings={**base, "api_keys": str(polled_keys), "api_keys_reload_s": 0.2},
            name="polled",
            wait=False,
        )
        hup = start_server(
            log_dir,
            settings={**base, "api_keys": str(hup_keys), "api_keys_reload_s": 0},
            name="hup",
            wait=False,
        )
        try:
            yield polled.wait_serving(), polled_keys, hup.wait_serving(), hup_keys
        finally:
            stop_all(polled, hup)


def test_changed_file_is_picked_up_and_bad_file_keeps_old_keys(servers) -> None:  # type: ignore[no-untyped-def]
    polled, keys, _, _ = servers
    assert count_status(polled, "key-b") == grpc.StatusCode.UNAUTHENTICATED
    replace(keys, "key-a tenant-a\nkey-b tenant-b\n")
    assert eventually_status(polled, "key-b", grpc.StatusCode.OK, within=10), polled.log_tail()
    replace(keys, "key-a tenant-a\nkey-b\n")  # malformed: a key without a tenant
    deadline = time.monotonic() + 10
    while "api keys file rejected" not in polled.log_tail() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "api keys file rejected" in polled.log_tail()
    assert count_status(polled, "key-b") == grpc.StatusCode.OK
    assert count_status(polled, "key-a") == grpc.StatusCode.OK


def test_sighup_reloads_at_once(servers) -> None:  # type: ignore[no-untyped-def]
    _, _, hup, keys = servers
    replace(keys, "key-c tenant-c\n")
    time.sleep(0.5)  # no polling on this server: nothing changes without the signal
    assert count_status(hup, "key-c") == grpc.StatusCode.UNAUTHENTICATED
    hup.signal(signal.SIGHUP)
    assert eventually_status(hup, "key-c", grpc.StatusCode.OK, within=10), hup.log_tail()
    assert count_status(hup, "key-a") == grpc.StatusCode.UNAUTHENTICATED
    assert hup.alive()
