"""kill -9 of a Valkey with an append-only file in the middle of corpus writes:
after a restart every acknowledged write is there, and every commit is whole
(the quota counters agree with the documents stored)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from promptpress.retrieval import Corpus
from promptpress.storage import StoreUnavailable
from promptpress.storage.redis_store import RedisStore
from promptpress.types import Document
from tests.procs import (
    Valkey,
    free_port,
    spawn,
    temp_log_dir,
    valkey_ping,
    valkey_server_binary,
    wait_until,
)
from tests.retrieval.conftest import HashingEmbedder


def start_durable_valkey(log_dir: Path, port: int) -> Valkey:
    argv = [
        str(valkey_server_binary()),
        "--port", str(port), "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "yes", "--appendfsync", "always", "--dir", str(log_dir),
    ]  # fmt: skip
    base = spawn("valkey-aof", argv, log_dir, port)
    proc = Valkey(base.name, base.popen, base.log_path, base.port)
    wait_until(proc, lambda: valkey_ping(port), 15, "answering PING")
    return proc


@pytest.mark.parametrize("round_", range(2))
def test_kill_9_mid_write_leaves_whole_commits(round_: int) -> None:
    with temp_log_dir("promptpress-crash-") as log_dir:
        port = free_port()
        valkey = start_durable_valkey(log_dir, port)
        acknowledged: list[str] = []
        stop = threading.Event()

        def writer() -> None:
            with Corpus(RedisStore(valkey.url), HashingEmbedder()) as corpus:
                for i in range(10_000):
                    if stop.is_set():
                        return
                    doc_id = f"r{round_}-d{i}"
                    text = f"Document {i} of round {round_}.\n\n" + "Some words here. " * (
                        i % 7 + 1
                    )
                    try:
                        corpus.index_documents("t", [Document(doc_id, text)])
                    except StoreUnavailable:
                        return
                    acknowledged.append(doc_id)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            while len(acknowledged) < 30 + 20 * round_ and thread.is_alive():
                stop.wait(0.01)
            valkey.popen.kill()  # SIGKILL while the writer is mid-stream
            valkey.popen.wait(10)
        finally:
            stop.set()
            thread.join(30)
        valkey = start_durable_valkey(log_dir, port)
        try:
            store = RedisStore(valkey.url)
            with Corpus(store, HashingEmbedder()) as corpus:
                stored = set(corpus.list_document_ids("t"))
                assert set(acknowledged) <= stored, "an acknowledged write was lost"
                assert len(stored) <= len(acknowledged) + 1  # at most the one in flight
                assert corpus.usage("t")[0] == len(stored), "a commit landed in part"
                for doc in corpus.get_documents("t", sorted(stored)):
                    assert doc.chunks and doc.document.text.startswith("Document ")
            store.close()
        finally:
            valkey.stop()
