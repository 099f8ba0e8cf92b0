"""Suite `service_batching`: Preprocess with documents, micro-batching off vs on, same run.

A suite of its own beside `service` (which measures against the echo ceiling),
since it starts two more servers and runs slow, model-bound requests.

Two promptpress servers as child processes, identical but for
`micro_batching` (PROMPTPRESS_MICRO_BATCHING=false / true), take turns on the
same load (alternating rounds, so noise from neighbours lands on both):

- **cold retrieval**: a question and two inline SQuAD documents (~2 paragraphs
  each); every request's documents carry a unique tag, so nothing is in the
  embedding cache and each request embeds its chunks;
- **retrieval + compression**: the same, with `budget.compression_rate` 0.5,
  so the retrieved chunks are also compressed question-aware (the distilled
  method, the default).

At 1, 8 and 64 concurrent clients: requests/s and p50/p99 latency of each, and
batched / unbatched.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import psutil

from promptpress.bench import servers
from promptpress.bench.datasets import SquadArticle
from promptpress.bench.frame import SuiteContext, SuiteResult, markdown_table, ratio
from promptpress.bench.loadgen import CellResult, LoadSpec, run_load
from promptpress.v1 import promptpress_pb2 as pb

NAME = "service_batching"
SERVICE = "/promptpress.v1.PromptPressService/Preprocess"
MODES = ("unbatched", "batched")
WORKLOADS = ("cold retrieval", "retrieval + compression")


def _env(batched: bool, store: Path) -> dict[str, str]:
    """The server's environment: defaults, batching on or off, an empty store of its own.

    A store of its own per server and run keeps retrieval cold: the embedding
    cache persists in the data directory's store, so a second run (or the other
    server, sharing it) would find the untagged chunks already embedded.
    """
    env = servers.default_env()
    env["PROMPTPRESS_MICRO_BATCHING"] = "true" if batched else "false"
    env["PROMPTPRESS_STORE_URL"] = f"lmdb://{store}"
    return env


class Requests:
    """Preprocess requests with unique documents (cold), built on demand from SQuAD.

    Each request's documents carry a unique tag (its first chunk is new). The
    other chunks are new as long as the item was not sent before: past the
    first round through the items (or from round `start`, which lets a second
    workload on the same server start at round 100), every sentence is tagged
    with its round, so the chunks and sub-chunks are new again.
    """

    def __init__(
        self, articles: Sequence[SquadArticle], *, compression: bool, tag: str, start: int = 0
    ) -> None:
        self.items = []
        for a in articles:
            paras = [p for p in a.paragraphs if any(not q.is_impossible for q in p.questions)]
            for k in range(0, len(paras) - 3, 4):
                q = next(q for q in paras[k].questions if not q.is_impossible)
                docs = (
                    "\n\n".join(p.context for p in paras[k : k + 2]),
                    "\n\n".join(p.context for p in paras[k + 2 : k + 4]),
                )
                self.items.append((q.question, docs))
        self.compression = compression
        self.tag = tag
        self.counter = itertools.count(start * len(self.items))

    def next(self) -> bytes:
        n = next(self.counter)
        question, texts = self.items[n % len(self.items)]
        repeat = n // len(self.items)
        docs = [t.replace(". ", f". [{repeat}] ") if repeat else t for t in texts]
        budget = pb.Budget(max_context_tokens=256)
        if self.compression:
            budget.compression_rate = 0.5
        req = pb.PreprocessRequest(
            messages=[
                pb.Message(role=pb.ROLE_SYSTEM, content="Answer from the context."),
                pb.Message(role=pb.ROLE_USER, content=question),
            ],
            documents=[
                pb.Document(id=f"d{j}", text=f"[{self.tag}-{n}] {text}")
                for j, text in enumerate(docs)
            ],
            target=pb.Target(provider="openai", model="gpt-4o-mini"),
            budget=budget,
        )
        return req.SerializeToString()


async def _cell(channel: grpc.aio.Channel, requests: Requests, spec: LoadSpec) -> CellResult:
    call = channel.unary_unary(SERVICE)
    return await run_load(lambda i, seq: call(requests.next(), timeout=300), spec)


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a server process has used so far."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def _measure(
    ctx: SuiteContext,
    addresses: dict[str, str],
    pids: dict[str, int],
    articles: Sequence[SquadArticle],
    concurrency: Sequence[int],
    duration_s: float,
    rounds: int,
) -> list[dict[str, Any]]:
    channels = {m: grpc.aio.insecure_channel(a) for m, a in addresses.items()}
    rows = []
    try:
        for workload in WORKLOADS:
            start = WORKLOADS.index(workload) * 100  # rounds the first workload never reaches
            pools = {
                m: Requests(
                    articles,
                    compression=workload != WORKLOADS[0],
                    tag=f"{m}-{workload}",
                    start=start,
                )
                for m in MODES
            }
            for m in MODES:  # warm-up: models loaded, first-call costs paid
                await _cell(channels[m], pools[m], LoadSpec(1, 600.0, 2, 60.0))
            for conc in ctx.progress(concurrency, desc=f"batching: {workload}"):
                spec = LoadSpec(conc, duration_s / rounds, None, 30.0)
                parts: dict[str, list[CellResult]] = {m: [] for m in MODES}
                cpu = dict.fromkeys(MODES, 0.0)
                for _ in range(rounds):
                    for m in MODES:
                        before = _cpu_s(pids[m])
                        parts[m].append(await _cell(channels[m], pools[m], spec))
                        cpu[m] += _cpu_s(pids[m]) - before
                row: dict[str, Any] = {"workload": workload, "concurrency": conc}
                for m in MODES:
                    row[m] = CellResult.combine(parts[m]).summary()
                    # Server CPU per completed request: what a request costs, less
                    # sensitive than req/s to other load on a shared machine.
                    done = row[m]["completed"]
                    row[m]["server_cpu_ms_per_request"] = 1000 * cpu[m] / done if done else None
                row["throughput_batched_vs_unbatched"] = ratio(
                    row["batched"]["rps"], row["unbatched"]["rps"]
                )
                row["cpu_per_request_unbatched_vs_batched"] = ratio(
                    row["unbatched"]["server_cpu_ms_per_request"],
                    row["batched"]["server_cpu_ms_per_request"],
                )
                row["p50_batched_vs_unbatched"] = ratio(
                    row["batched"]["p50_ms"], row["unbatched"]["p50_ms"]
                )
                rows.append(row)
    finally:
        for channel in channels.values():
            await channel.close()
    return rows


def measure(ctx: SuiteContext, articles: Sequence[SquadArticle]) -> tuple[dict[str, Any], str]:
    concurrency = ctx.by_profile(tiny=(1, 4), quick=(1, 8, 64), full=(1, 8, 64))
    duration_s = ctx.by_profile(tiny=1.0, quick=16.0, full=40.0)
    rounds = ctx.by_profile(tiny=1, quick=2, full=4)
    with (
        tempfile.TemporaryDirectory(prefix="pp-batching-") as stores,
        servers.running(
            "pp-unbatched",
            servers.promptpress_argv(),
            env=_env(False, Path(stores) / "unbatched"),
        ) as a,
        servers.running(
            "pp-batched", servers.promptpress_argv(), env=_env(True, Path(stores) / "batched")
        ) as b,
    ):
        addresses = {"unbatched": a.address, "batched": b.address}
        pids = {"unbatched": a.pid, "batched": b.pid}
        rows = asyncio.run(
            _measure(ctx, addresses, pids, articles, concurrency, duration_s, rounds)
        )
    figures = {
        "settings": {"concurrency": list(concurrency), "duration_s": duration_s, "rounds": rounds},
        "cells": rows,
    }
    table = markdown_table(
        [
            "Preprocess with documents",
            "clients",
            "unbatched req/s",
            "batched req/s",
            "batched / unbatched",
            "p50 ms unbatched",
            "p50 ms batched",
            "server CPU ms / request unbatched",
            "server CPU ms / request batched",
            "errors / unfinished",
        ],
        [
            [
                r["workload"],
                r["concurrency"],
                r["unbatched"]["rps"],
                r["batched"]["rps"],
                r["throughput_batched_vs_unbatched"],
                r["unbatched"]["p50_ms"],
                r["batched"]["p50_ms"],
                r["unbatched"]["server_cpu_ms_per_request"],
                r["batched"]["server_cpu_ms_per_request"],
                f"{r['unbatched']['errors'] + r['batched']['errors']}/"
                f"{r['unbatched']['unfinished'] + r['batched']['unfinished']}",
            ]
            for r in rows
        ],
    )
    return figures, "Micro-batching, off vs on (two servers, same load, alternating):\n\n" + table


def run(ctx: SuiteContext) -> SuiteResult:
    from promptpress.bench import datasets

    articles, squad_info = datasets.squad_v2_dev()
    figures, md = measure(ctx, articles)
    return SuiteResult(
        suite=NAME,
        datasets=[squad_info],
        figures=figures,
        table_md=md,
        notes=(
            "Two promptpress servers with the default configuration but micro_batching "
            "false / true, alternating on the same load; each request's documents are unique "
            "(cold retrieval). Client and servers share the machine's 2 cores."
        ),
    )
