"""Per-request overhead of a small Preprocess, in process (issue 16).

Runs the request path the gRPC servicer runs for Preprocess -- parse the request
bytes, proto -> dataclasses, the pipeline, dataclasses -> proto, serialise --
over the fixed corpus of bench/overhead_corpus.py (6 messages,
~500 tokens, no documents), without the network. Prints requests/s, and with
--profile the top cProfile entries by cumulative and by own time.

    PYTHONPATH=$PWD/proto python -m bench.overhead_profile [--profile] [--seconds 5]
"""

from __future__ import annotations

import argparse
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
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
