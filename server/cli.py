"""The `promptpress` command: serve, call, count, compress, prepare."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from google.protobuf import json_format

RPCS = {
    "Preprocess": ("PreprocessRequest", "preprocess"),
    "Compress": ("CompressRequest", "compress"),
    "CountTokens": ("CountTokensRequest", "count_tokens"),
    "IndexDocuments": ("IndexDocumentsRequest", "index_documents"),
    "DeleteDocuments": ("DeleteDocumentsRequest", "delete_documents"),
    "Complete": ("CompleteRequest", "complete"),
    "StreamComplete": ("StreamCompleteRequest", "stream_complete"),
}


def _client_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", default=os.environ.get("PROMPTPRESS_ADDRESS", "127.0.0.1:50051"))
    p.add_argument("--api-key", default=os.environ.get("PROMPTPRESS_API_KEY"))
    p.add_argument("--timeout", type=float, default=120.0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="promptpress", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gRPC server")
    serve.add_argument(
        "--address", help="HOST:PORT (default 127.0.0.1:50051; env PROMPTPRESS_ADDRESS)"
    )
    serve.add_argument(
        "--http-address",
        dest="http_address",
        help="HOST:PORT of the OpenAI/Anthropic-compatible HTTP endpoints "
        "(default: off; env PROMPTPRESS_HTTP_ADDRESS)",
    )
    serve.add_argument("--config", help="TOML config file (env PROMPTPRESS_CONFIG)")
    serve.add_argument(
        "--api-keys", dest="api_keys", help="file of `KEY TENANT` lines (env PROMPTPRESS_API_KEYS)"
    )
    serve.add_argument(
        "--data-dir", dest="data_dir", help="data directory (env PROMPTPRESS_DATA_DIR)"
    )
    serve.add_argument("--log-level", dest="log_level")
    serve.add_argument("--metrics-port", dest="metrics_port", type=int)

    prepare = sub.add_parser(
        "prepare", help="prepare the embedded default models in the data directory"
    )
    prepare.add_argument("--config")
    prepare.add_argument("--data-dir", dest="data_dir")

    train = sub.add_parser(
        "train-difficulty",
        help="train the routing difficulty model from a JSONL file of {text, label: easy|hard}",
    )
    train.add_argument("data", help="labelled JSONL file")
    train.add_argument("--out", required=True, help="where to write the model JSON")
    train.add_argument("--no-embedding", action="store_true", help="heuristic features only")
    train.add_argument("--embedding-model", default="", help="sentence-transformers name or path")

    call = sub.add_parser("call", help="call an RPC with a proto3 JSON request (stdin by default)")
    call.add_argument("rpc", choices=sorted(RPCS))
    call.add_argument("file", nargs="?", help="request JSON file (default: stdin)")
    _client_args(call)

    count = sub.add_parser("count", help="count tokens of texts")
    count.add_argument("texts", nargs="*", help="texts (default: stdin as one text)")
    count.add_argument("--model", default="")
    _client_args(count)

    compress = sub.add_parser("compress", help="compress a text (stdin)")
    compress.add_argument("--rate", type=float, default=0.5)
    compress.add_argument("--target-tokens", type=int, default=0)
    compress.add_argument("--question", default="")
    compress.add_argument(
        "--method", default="", choices=["", "llmlingua", "longllmlingua", "llmlingua2"]
    )
    compress.add_argument("--model", default="")
    _client_args(compress)
    return parser


def _invoke(args: argparse.Namespace, method: str, request: Any) -> Any:
    """Call one client method; on an RPC error print the status and fields to stderr
    and return None."""
    from promptpress.client import Client, PromptPressRpcError

    with Client(args.address, api_key=args.api_key, timeout=args.timeout) as client:
        try:
            result = getattr(client, method)(request)
            # A server stream is drained inside the try: its errors arrive mid-iteration.
            return list(result) if method == "stream_complete" else result
        except PromptPressRpcError as err:
            print(f"error: {err.code.name}: {err.details}", file=sys.stderr)
            for v in err.violations:
                print(f"  {v.field}: {v.description}", file=sys.stderr)
            return None


def _call(args: argparse.Namespace) -> int:
    from promptpress.v1 import promptpress_pb2 as pb

    type_name, method = RPCS[args.rpc]
    text = Path(args.file).read_text() if args.file else sys.stdin.read()
    request = getattr(pb, type_name)()
    try:
        json_format.Parse(text or "{}", request)
    except json_format.ParseError as exc:
        print(f"error: request is not valid {type_name} JSON: {exc}", file=sys.stderr)
        return 2
    result = _invoke(args, method, request)
    if result is None:
        return 1
    for item in result if isinstance(result, list) else [result]:
        print(json_format.MessageToJson(item, indent=2))
    return 0


def _count(args: argparse.Namespace) -> int:
    from promptpress.v1 import promptpress_pb2 as pb

    texts = args.texts or [sys.stdin.read()]
    resp = _invoke(args, "count_tokens", pb.CountTokensRequest(texts=texts, model=args.model))
    if resp is None:
        return 1
    for text, n in zip(texts, resp.counts, strict=True):
        print(f"{n}\t{text[:60]!r}")
    print(f"total {resp.total} ({resp.encoding}{', approximate' if resp.approximate else ''})")
    return 0


def _compress(args: argparse.Namespace) -> int:
    from promptpress.v1 import promptpress_pb2 as pb

    method = f"COMPRESSION_METHOD_{args.method.upper() or 'UNSPECIFIED'}"
    request = pb.CompressRequest(
        text=sys.stdin.read(),
        rate=args.rate,
        target_tokens=args.target_tokens,
        question=args.question,
        method=method,
        target=pb.Target(model=args.model),
    )
    resp = _invoke(args, "compress", request)
    if resp is None:
        return 1
    print(resp.text)
    print(
        f"# {resp.original_tokens} -> {resp.compressed_tokens} tokens (ratio {resp.ratio:.2f})",
        file=sys.stderr,
    )
    return 0


def _server_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from promptpress.server.config import load_config

    flags = {k: v for k, v in vars(args).items() if k not in ("command",)}
    return load_config(flags)


def _serve(args: argparse.Namespace) -> int:
    from promptpress.server.app import serve
    from promptpress.server.logs import configure_logging

    config = _server_config(args)
    configure_logging(config.log_level)
    asyncio.run(serve(config))
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from promptpress.server.logs import configure_logging
    from promptpress.server.resources import prepare_assets

    config = _server_config(args)
    configure_logging(config.log_level)
    for name, path in prepare_assets(config).items():
        print(json.dumps({"asset": name, "path": str(path)}))
    return 0


def _train_difficulty(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from promptpress.server.routing.difficulty_train import train_from_file
    from promptpress.tokens import counter_for

    embedder = None
    if not args.no_embedding:
        from promptpress.retrieval import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder(args.embedding_model or None)
    report = train_from_file(
        args.data,
        args.out,
        embedder,
        embedding_model=embedder.model_id if embedder else "",
        count_tokens=counter_for("gpt-4o").count,
    )
    print(json.dumps(asdict(report), default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    # OpenMP threads spin-wait between parallel regions by default; on a small
    # shared host that makes a one-query embedding ~30x slower. Set before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    handlers = {
        "serve": _serve,
        "call": _call,
        "count": _count,
        "compress": _compress,
        "prepare": _prepare,
        "train-difficulty": _train_difficulty,
    }
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
