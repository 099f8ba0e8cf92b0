"""kill -9 during IndexDocuments (issue 14): after a restart every acknowledged write is
there, whole. A real server process, a few rounds on the same data directory."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import grpc
import pytest

from promptpress import Client, PromptPressRpcError
from promptpress.v1 import promptpress_pb2 as pb
from tests.procs import compressor_model_dir, start_server, temp_log_dir

ROUNDS = 2  # each round starts a real server with its models: ~10 s on an idle host


@pytest.fixture
def log_dir():  # type: ignore[no-untyped-def]
    with temp_log_dir() as path:
        yield path


def _doc(round_: int, n: int, rng: random.Random) -> pb.Document:
    words = " ".join(rng.choice(["alpha", "beta", "gamma", "delta", "omega"]) for _ in range(60))
    return pb.Document(id=f"r{round_}-d{n}", text=f"Document {n} of round {round_}. {words}")


def _write_until_killed(
    address: str, round_: int, acked: dict[str, str], stop: threading.Event
) -> None:
    rng = random.Random(round_)
    n = 0
    with Client(address, timeout=30) as client:
        while not stop.is_set():
            batch = [_doc(round_, n + i, rng) for i in range(3)]
            n += 3
            try:
                client.index_documents(pb.IndexDocumentsRequest(documents=batch))
            except PromptPressRpcError:
                return  # the server is gone
            for doc in batch:  # acknowledged: must survive anything from now on
                acked[doc.id] = doc.text


@pytest.mark.slow
def test_kill9_during_index_writes_loses_nothing_acknowledged(log_dir: Path) -> None:
    settings = {
        "data_dir": str(log_dir / "data"),
        "compressor_model": str(compressor_model_dir()),
        "grace_period_s": 1.0,
    }
    acked: dict[str, str] = {}
    rng = random.Random(0)
    for round_ in range(ROUNDS):
        server = start_server(log_dir, settings=settings, name=f"crash{round_}")
        try:
            with Client(server.address, timeout=60) as client:
                if acked:
                    # Everything acknowledged before the last kill is stored, and unchanged.
                    again = client.index_documents(
                        pb.IndexDocumentsRequest(
                            documents=[pb.Document(id=i, text=t) for i, t in acked.items()]
                        )
                    )
                    statuses = {d.document_id: d.status for d in again.documents}
                    lost = [i for i, s in statuses.items() if s != pb.INDEX_STATUS_UNCHANGED]
                    assert not lost, f"round {round_}: acknowledged but lost: {lost}"
            before = len(acked)
            stop = threading.Event()
            writer = threading.Thread(
                target=_write_until_killed, args=(server.address, round_, acked, stop)
            )
            writer.start()
            deadline = time.monotonic() + 30
            while len(acked) < before + 6 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 0.5))  # somewhere in the middle of a write
            server.popen.kill()  # SIGKILL: no shutdown, no flush
            server.popen.wait(10)
            stop.set()
            writer.join(30)
            assert len(acked) > before, server.log_tail()
        finally:
            server.stop(timeout=5)
    # The last round's writes too.
    server = start_server(log_dir, settings=settings, name="crash-final")
    try:
        with Client(server.address, timeout=60) as client:
            resp = client.preprocess(
                pb.PreprocessRequest(
                    messages=[pb.Message(role=pb.ROLE_USER, content="alpha omega?")],
                    document_ids=sorted(acked),
                )
            )
            assert resp.stats.original_tokens > 0
    except PromptPressRpcError as err:
        assert err.code is not grpc.StatusCode.INVALID_ARGUMENT, f"lost documents: {err}"
        raise
    finally:
        server.stop(timeout=5)
