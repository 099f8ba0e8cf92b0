"""Server assembly: `create_server(config) -> (server, port)` and `serve(config)`.

create_server builds everything (loaded resources, servicer, health, reflection)
and binds, but does not start; tests bind port 0 and start it themselves.
serve() re-reads the API keys file on SIGHUP (see server/keyfile.py) and runs until
SIGTERM/SIGINT, then shuts down in order (App.stop):
1. health says NOT_SERVING, and the server keeps serving for `drain_period_s`, so a
   load balancer sees it and moves traffic away before anything is refused (a
   second signal skips the rest of this window);
2. the server stops accepting calls; those in flight get `grace_period_s`;
3. what is left is cancelled: the RPCs, and through their CancelTokens the work
   they started in worker threads (it stops at its next checkpoint);
4. the worker threads are waited for (a few seconds at most), then the stores
   close, last, so no thread writes to a closed store. If a worker is still stuck
   the stores are left for the OS to release (LMDB is crash-safe) and serve()
   reports it, so the process exits within grace + a few seconds regardless.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import ssl
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from promptpress.errors import InvalidInput
from promptpress.server import convert, tls
from promptpress.server.admission import Admission, AdmissionLimits
from promptpress.server.auth import KeyRing
from promptpress.server.completion import Completer
from promptpress.server.config import ServerConfig
from promptpress.server.decode import DecodeGuard
from promptpress.server.experiments import Experiments, parse_experiments
from promptpress.server.http.options import OptionDefaults
from promptpress.server.http.server import (
    HttpServer,
    check_http_address,
    create_http_server,
    ssl_context,
)
from promptpress.server.http.service import HttpService
from promptpress.server.keyfile import KeyFile
from promptpress.server.logs import log_event
from promptpress.server.metrics import Metrics, MetricsServer, start_metrics_http_server
from promptpress.server.pipeline import Pipeline
from promptpress.server.rate_limits import RateLimits, parse_tenant_limits
from promptpress.server.reflection import enable_reflection
from promptpress.server.resources import (
    Resources,
    check_store_settings,
    load_resources,
    semantic_cache_options,
)
from promptpress.server.routing.router import Router
from promptpress.server.routing.tiers import RoutingConfig, parse_routing_config
from promptpress.server.servicer import PromptPressServicer
from promptpress.server.workers import FairExecutor
from promptpress.tiktoken_offline import ensure_offline_encodings
from promptpress.tokens import get_encoding
from promptpress.v1 import promptpress_pb2 as pb
from promptpress.v1 import promptpress_pb2_grpc as pb_grpc

log = logging.getLogger("promptpress.server")
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["PromptPressService"].full_name

__all__ = ["App", "ServerConfig", "build_app", "create_server", "serve"]

# How long shutdown waits for worker threads after cancelling their work.
WORKERS_WAIT_S = 5.0


@dataclass
class App:
    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    servicer: PromptPressServicer
    executor: FairExecutor
    config: ServerConfig
    owns_resources: bool = True
    metrics: Metrics | None = None
    metrics_server: MetricsServer | None = None
    keys_watcher: asyncio.Task[None] | None = None
    http: HttpServer | None = None

    @property
    def http_port(self) -> int:
        """The HTTP listener's port (0: no HTTP listener)."""
        return self.http.port if self.http is not None else 0

    draining: asyncio.Event | None = None

    async def start(self) -> None:
        await self.server.start()
        if self.http is not None:
            await self.http.start()
        keys = self.servicer.keyring
        if isinstance(keys, KeyFile) and self.config.api_keys_reload_s > 0:
            self.keys_watcher = asyncio.create_task(keys.watch(self.config.api_keys_reload_s))
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)

    async def reload_api_keys(self) -> bool:
        """Re-read the keys file now (what SIGHUP does); False without a keys file or on error."""
        keys = self.servicer.keyring
        if not isinstance(keys, KeyFile):
            return False
        return await asyncio.to_thread(keys.reload, force=True)

    async def stop(
        self,
        grace: float | None = None,
        *,
        drain: float = 0.0,
        skip_drain: asyncio.Event | None = None,
    ) -> bool:
        """Shut down in order (see the module doc). True when every worker finished,
        so the stores were closed; False when one was still running."""
        if self.keys_watcher is not None:
            self.keys_watcher.cancel()
        await self.health.enter_graceful_shutdown()
        if drain > 0:
            log_event(log, "draining", drain_period_s=drain)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for((skip_drain or asyncio.Event()).wait(), drain)
        grace = self.config.grace_period_s if grace is None else grace
        log_event(
            log, "stopping", grace_period_s=grace, in_flight=self.servicer.admission.in_flight
        )
        if self.http is not None:
            await asyncio.gather(self.server.stop(grace), self.http.stop())
        else:
            await self.server.stop(grace)
        self.servicer.cancel_all("server stopping")
        loop = asyncio.get_running_loop()
        idle = await loop.run_in_executor(None, self.executor.wait_idle, WORKERS_WAIT_S)
        router = self.servicer.completer.router
        if router is not None:
            await router.aclose()
        if self.metrics_server is not None:
            self.metrics_server.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.servicer.rate_limits.close()
        if not idle:
            log_event(
                log,
                "workers still running; stores left open",
                logging.WARNING,
                busy=self.executor.busy,
            )
            return False
        if self.owns_resources:
            self.servicer.pipeline.resources.close()
        return True


def check_config(config: ServerConfig) -> RoutingConfig | None:
    """Validate the config tables that are parsed at start-up; raises InvalidInput naming
    the key (e.g. `tiers.small.upstreams[0].kind`). Cheap: run it before any model loads."""
    check_store_settings(config)
    semantic_cache_options(config.extra.get("semantic_cache", {}))
    parse_tenant_limits(config.extra.get("tenants", {}))
    if config.http_address:
        check_http_address(config.http_address)
        OptionDefaults.from_config(config.extra)  # [http.defaults], [http.tenants.NAME]
    parse_experiments(config.extra)  # [experiments.NAME]
    if "tiers" not in config.extra:
        return None
    try:
        return parse_routing_config(config.extra)
    except ValueError as exc:  # "tiers.small.upstreams[0].kind: must be ..."
        key, _, why = str(exc).partition(": ")
        raise InvalidInput.single(key if why else "tiers", why or str(exc)) from exc


def build_router(routing: RoutingConfig | None, resources: Resources) -> Router | None:
    """The tier router from the parsed [routing] and [tiers.*] tables; None without tiers."""
    if routing is None:
        return None
    return Router.from_config(routing, profiles=resources.profiles, embedder=resources.embedder)


def http_ssl_context(config: ServerConfig) -> ssl.SSLContext | None:
    """TLS for the HTTP listener, from the same files as the gRPC listener (None: plain)."""
    if not tls.check_tls_settings(config):
        return None
    return ssl_context(config.tls_cert_file, config.tls_key_file, config.tls_client_ca_file)


async def build_http_server(
    config: ServerConfig, servicer: PromptPressServicer
) -> HttpServer | None:
    """The OpenAI/Anthropic-compatible listener on `http_address`, sharing the servicer's
    completer (models, stores, caches, router), key ring and limits; None when unset."""
    if not config.http_address:
        return None
    service = HttpService(
        keyring=lambda: servicer.keyring,
        limits=servicer.limits,
        completer=servicer.completer,
        defaults=OptionDefaults.from_config(config.extra),
        admitted=servicer.admitted,
        charge=servicer.charge_completion,
        experiments=servicer.experiments,
    )
    context = http_ssl_context(config)
    if context is None and not tls.is_loopback(config.http_address):
        log_event(
            log,
            "plaintext HTTP endpoints on a non-loopback address: API keys and prompts cross "
            "the network unencrypted; set tls_cert_file and tls_key_file",
            logging.WARNING,
            address=config.http_address,
        )
    return await create_http_server(
        config.http_address,
        service,
        ssl_context=context,
        max_body_bytes=config.max_receive_message_bytes,
        shutdown_timeout=config.grace_period_s,
    )


def limits_from_config(config: ServerConfig) -> convert.RequestLimits:
    return convert.RequestLimits(
        max_messages=config.max_messages,
        max_message_bytes=config.max_message_bytes,
        max_documents=config.max_documents,
        max_document_bytes=config.max_document_bytes,
        max_texts=config.max_texts,
        max_text_bytes=config.max_text_bytes,
        max_document_ids=config.max_document_ids,
    )


def admission_limits(config: ServerConfig) -> AdmissionLimits:
    return AdmissionLimits(
        max_in_flight=config.max_in_flight,
        max_queued=config.max_queued,
        max_in_flight_per_tenant=config.max_in_flight_per_tenant,
        max_queued_per_tenant=config.max_queued_per_tenant,
    )


async def build_app(
    config: ServerConfig, *, resources: Resources | None = None, pipeline: Pipeline | None = None
) -> App:
    """Load resources (unless given), build the servicer, bind. Does not start serving."""
    owns_resources = resources is None and pipeline is None
    tls.check_tls_settings(config)  # before any model loads
    routing = check_config(config)  # before the models load: a bad config fails fast
    ensure_offline_encodings(config.data_path / "tiktoken")
    keyring = KeyFile(config.api_keys) if config.api_keys else KeyRing.open()
    executor = FairExecutor(
        config.worker_threads,
        # Without API keys every call is one tenant: sharing is moot, use every worker.
        max_per_tenant=config.max_workers_per_tenant
        or (config.worker_threads if not config.api_keys else 0),
        thread_name_prefix="promptpress-worker",
    )
    if pipeline is None:
        if resources is None:
            # Models load in a worker thread, before the server accepts a call.
            resources = await asyncio.get_running_loop().run_in_executor(
                executor, load_resources, config
            )
        pipeline = Pipeline(resources, max_compress_tokens=config.max_compress_tokens)
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", config.max_receive_message_bytes),
            ("grpc.max_send_message_length", config.max_receive_message_bytes),
        ],
    )
    metrics = Metrics()
    router = build_router(routing, pipeline.resources)
    completer = Completer(
        pipeline, executor, router=router, cache=pipeline.resources.semantic_cache, metrics=metrics
    )
    servicer = PromptPressServicer(
        keyring=keyring,
        limits=limits_from_config(config),
        pipeline=pipeline,
        executor=executor,
        completer=completer,
        rate_limits=RateLimits.from_config(config.extra.get("tenants", {}), config.store_url),
        admission=Admission(admission_limits(config)),
        max_compress_tokens=config.max_compress_tokens,
        experiments=Experiments(
            parse_experiments(config.extra), pipeline.resources.store, metrics=metrics
        ),
        inline_max_request_bytes=config.inline_max_request_bytes,
    )
    # Undecodable requests -> INVALID_ARGUMENT (server/decode.py), reflection's too.
    guarded = DecodeGuard().registrar(server)
    pb_grpc.add_PromptPressServiceServicer_to_server(servicer, guarded)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, guarded)
    enable_reflection(
        guarded, (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name)
    )
    # Load the tokenizer files now so the first request does not pay for it.
    for name in ("o200k_base", "cl100k_base"):
        get_encoding(name)
    port = tls.bind(server, config)
    if port == 0:
        raise OSError(f"could not bind {config.address}")
    http = await build_http_server(config, servicer)
    metrics_server = (
        start_metrics_http_server(config.metrics_port, metrics.registry)
        if config.metrics_port
        else None
    )
    return App(
        server,
        port,
        health_servicer,
        servicer,
        executor,
        config,
        owns_resources=owns_resources,
        metrics=metrics,
        metrics_server=metrics_server,
        http=http,
    )


async def create_server(
    config: ServerConfig, *, resources: Resources | None = None
) -> tuple[grpc.aio.Server, int]:
    """Build and bind the server (not started). Prefer build_app when you need to stop it gracefully."""
    app = await build_app(config, resources=resources)
    return app.server, app.port


async def serve(config: ServerConfig) -> bool:
    """Serve until SIGTERM/SIGINT, then shut down in order. Returns App.stop's answer:
    False means a worker thread was still running (the caller should exit the
    process without waiting for it)."""
    app = await build_app(config)
    # The loaded models, tokenizers and tables are millions of long-lived objects that
    # every full cyclic collection would walk again; requests make short-lived garbage
    # only. Collect once and move what is alive now out of the collector's sight
    # (refcounting still frees it): the collections requests trigger stay small.
    gc.collect()
    gc.freeze()
    await app.start()
    host = config.address.rsplit(":", 1)[0]
    log_event(
        log,
        "serving",
        address=f"{host}:{app.port}",
        port=app.port,
        tenants_required=bool(config.api_keys),
        gc_frozen_objects=gc.get_freeze_count(),
    )
    if app.http is not None:
        http_host = config.http_address.rpartition(":")[0]
        log_event(log, "serving_http", address=f"{app.http.scheme}://{http_host}:{app.http_port}")
    stop = asyncio.Event()
    again = asyncio.Event()  # a second signal skips the rest of the drain window

    def on_signal() -> None:
        (again if stop.is_set() else stop).set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    reloads: set[asyncio.Task[bool]] = set()  # strong references until each finishes

    def on_sighup() -> None:
        task = asyncio.ensure_future(app.reload_api_keys())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_sighup)
    await stop.wait()
    clean = await app.stop(drain=config.drain_period_s, skip_drain=again)
    log_event(log, "stopped", clean=clean)
    return clean
