"""Per-request overhead of a small Preprocess, in process (issue 16).

Runs the request path the gRPC servicer runs for Preprocess -- parse the request
bytes, proto -> dataclasses, the pipeline, dataclasses -> proto, serialise --
over the fixed corpus of bench/overhead_corpus.py (6 messages,
~500 tokens, no documents), without the network. Prints requests/s, and with
--profile the top cProfile entries by cumulative and by own time.

With --handler it measures the edge's own share instead: the servicer's async
Preprocess handler (request id, authentication, admission, CancelToken, the rpc
log line, the inline decision) awaited with a minimal stand-in for gRPC's
context, against the same servicer's `_preprocess` work alone, in alternating
1 s rounds on one event loop; the difference is what the call's scope costs.

    PYTHONPATH=$PWD/proto python -m bench.overhead_profile [--profile] [--seconds 5]
    PYTHONPATH=$PWD/proto python -m bench.overhead_profile --handler
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time

from promptpress.bench.overhead_corpus import corpus
from promptpress.server import convert
from promptpress.server.app import limits_from_config
from promptpress.server.config import ServerConfig
from promptpress.server.pipeline import Pipeline
from promptpress.server.resources import load_resources
from promptpress.server.servicer import preprocess_output_to_proto
from promptpress.v1 import promptpress_pb2 as pb


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--handler", action="store_true", help="the edge's share (see above)")
    args = parser.parse_args()
    if args.handler:
        asyncio.run(handler_overhead([req for _, req in corpus()]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        config = ServerConfig(address="127.0.0.1:0", data_dir=tmp, load_models=False)
        resources = load_resources(config)
        from promptpress.retrieval import SentenceTransformerEmbedder

        resources.embedder = SentenceTransformerEmbedder()  # its model id is in the keys
        pipeline = Pipeline(resources)
        limits = limits_from_config(config)
        wire = [req.SerializeToString() for _, req in corpus()]

        def one(data: bytes) -> bytes:
            req = pb.PreprocessRequest.FromString(data)
            inp = convert.preprocess_from_proto(req, "bench", limits)
            return preprocess_output_to_proto(pipeline.preprocess(inp)).SerializeToString()

        for data in wire:  # warm caches (encodings, profiles)
            one(data)
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(20):
                for data in wire:
                    one(data)
            prof.disable()
            stats = pstats.Stats(prof)
            stats.sort_stats("cumulative").print_stats(45)
            stats.sort_stats("tottime").print_stats(25)
            return
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            for data in wire:
                one(data)
            n += len(wire)
        elapsed = time.perf_counter() - start
        print(f"{n} requests in {elapsed:.2f} s: {n / elapsed:.1f} requests/s (1 thread)")
        resources.close()


class _Context:
    """The part of grpc.aio.ServicerContext a unary handler uses on success."""

    def set_trailing_metadata(self, metadata: object) -> None:
        pass

    def invocation_metadata(self) -> tuple[()]:
        return ()

    def time_remaining(self) -> None:
        return None

    async def send_initial_metadata(self, metadata: object) -> None:
        pass  # streams (and servers before the id moved to the trailers) send a header


async def handler_overhead(requests: list[pb.PreprocessRequest], rounds: int = 3) -> None:
    from promptpress.server.app import build_app
    from promptpress.server.logs import configure_logging, stop_logging

    configure_logging("INFO")  # the rpc line as the server writes it (to stderr)
    with tempfile.TemporaryDirectory() as tmp:
        app = await build_app(ServerConfig(address="127.0.0.1:0", data_dir=tmp, load_models=False))
        servicer, context = app.servicer, _Context()

        async def handler(req: pb.PreprocessRequest) -> object:
            return await servicer.Preprocess(req, context)  # type: ignore[arg-type]

        async def work(req: pb.PreprocessRequest) -> object:
            return servicer._preprocess("default", req)

        best: dict[str, float] = {}
        for _ in range(rounds):
            for name, fn in (("handler", handler), ("work", work)):
                n, start = 0, time.perf_counter()
                while time.perf_counter() - start < 1.0:
                    for req in requests:
                        await fn(req)
                    n += len(requests)
                us = (time.perf_counter() - start) / n * 1e6
                best[name] = min(best.get(name, us), us)
        await app.stop(grace=0.1)
    stop_logging()
    h, w = best["handler"], best["work"]
    print(f"handler {h:.1f} us, work alone {w:.1f} us: the call's scope {h - w:.1f} us")


if __name__ == "__main__":
    main()
