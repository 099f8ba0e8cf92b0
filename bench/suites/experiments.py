"""Suite `experiments`: an A/B test of two preprocessing strategies, run the way a user
runs one, and checked against a trade-off we know is there.

Workload: SQuAD v2.0 dev answerable questions, each a one-turn conversation about
its article, which is indexed once (IndexDocuments) and named by document id.
Two arms of `[experiments.context-budget]` split the conversations 50/50:
`moderate` (control) retrieves up to 512 tokens of context, `aggressive` up to 96.
The upstream is a scripted OpenAI-compatible server on loopback that answers from
what the prompt contains: the gold answer when the prompt holds it, else "I cannot
tell", and reports the prompt's real token count as usage (so the cost is what
the preprocessing left). The answer check (SQuAD normalisation, gold answer in the
reply) stands in for "task completed" and is sent back with RecordOutcome.

Known beforehand (retrieval suite): 96 tokens of context keep the answer less often
than 512, and cost several times less. The suite reads GetExperimentReport at
checkpoints and reports when the verdict settles, the final per-arm figures, and
whether the report found the known direction of both effects.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from promptpress import AsyncClient
from promptpress.bench.datasets import SquadQuestion, sample, squad_normalise, squad_v2_dev
from promptpress.bench.frame import SuiteContext, SuiteResult, markdown_table
from promptpress.tokens import counter_for
from promptpress.v1 import promptpress_pb2 as pb

NAME = "experiments"
EXPERIMENT = "context-budget"
ARMS = {"moderate": 512, "aggressive": 96}  # max_context_tokens; moderate is control
SYSTEM = "Answer the question from the context in a few words."
NOT_FOUND = "I cannot tell from the context."


@dataclass(frozen=True)
class Item:
    document_id: str
    question: SquadQuestion


def workload(ctx: SuiteContext) -> tuple[list[Item], dict[str, str], Any]:
    """Answerable questions sampled across articles, and the articles' texts."""
    loaded = squad_v2_dev()
    docs = {f"squad-{i}": "\n\n".join(p.context for p in a.paragraphs)
            for i, a in enumerate(loaded.items)}  # fmt: skip
    items = [
        Item(f"squad-{i}", q)
        for i, a in enumerate(loaded.items)
        for p in a.paragraphs
        for q in p.questions
        if not q.is_impossible
    ]
    n = ctx.sample_size(tiny=40, quick=600, full=2_000)
    return sample(items, n, seed=ctx.seed), docs, loaded.info


class ScriptedUpstream:
    """OpenAI-compatible: answers from the prompt, counts its tokens as usage."""

    def __init__(self, answers: dict[str, Sequence[str]]) -> None:
        self.answers = answers
        self.counter = counter_for("gpt-4o-mini")
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.complete)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def complete(self, request: web.Request) -> web.Response:
        body = await request.json()
        texts = [m["content"] if isinstance(m["content"], str) else
                 " ".join(part.get("text", "") for part in m["content"])
                 for m in body["messages"]]  # fmt: skip
        question = texts[-1]
        prompt = squad_normalise(" ".join(texts[:-1]))
        gold = [a for a in self.answers.get(question, ()) if squad_normalise(a) in prompt]
        reply = gold[0] if gold else NOT_FOUND
        usage = {
            "prompt_tokens": self.counter.count(" ".join(texts)),
            "completion_tokens": self.counter.count(reply),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return web.json_response(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "model": body.get("model", "gpt-4o-mini"),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": reply}}],
                "usage": usage,
            }
        )  # fmt: skip


def server_extra(upstream_port: int) -> dict[str, Any]:
    return {
        "routing": {"tier_order": ["small"], "max_attempts": 2},
        "tiers": {"small": {"upstreams": [{
            "name": "scripted", "kind": "openai", "model": "gpt-4o-mini",
            "base_url": f"http://127.0.0.1:{upstream_port}/v1",
        }]}},
        "experiments": {EXPERIMENT: {
            "control": "moderate",
            "arms": {arm: {"weight": 1, "budget": {"max_context_tokens": budget}}
                     for arm, budget in ARMS.items()},
        }},
    }  # fmt: skip


def correct(reply: str, answers: Sequence[str]) -> bool:
    got = squad_normalise(reply)
    return any(squad_normalise(a) and squad_normalise(a) in got for a in answers)


def report_figures(r: pb.GetExperimentReportResponse) -> dict[str, Any]:
    arms = {
        a.arm: {
            "requests": a.requests,
            "mean_input_tokens_after": a.mean_input_tokens_after,
            "mean_cost_usd": a.mean_cost_usd,
            "outcomes": a.outcomes,
            "outcome_rate": a.outcome_rate,
            "outcome_ci": [a.outcome_rate_interval.low, a.outcome_rate_interval.high],
        }
        for a in r.arms
    }
    (cmp,) = r.comparisons
    return {
        "arms": arms,
        "outcome_difference": cmp.outcome_rate_difference,
        "outcome_difference_ci": [
            cmp.outcome_rate_difference_interval.low,
            cmp.outcome_rate_difference_interval.high,
        ],
        "cost_difference_usd": cmp.cost_difference_usd,
        "cost_difference_ci": [cmp.cost_difference_interval.low, cmp.cost_difference_interval.high],
        "statement": cmp.statement,
        "verdict": r.verdict,
        "recommended_arm": r.recommended_arm,
    }


async def replay(ctx: SuiteContext, items: list[Item], docs: dict[str, str]) -> dict[str, Any]:
    from promptpress.server.app import build_app
    from promptpress.server.config import ServerConfig, default_data_dir

    upstream = ScriptedUpstream({it.question.question: it.question.answers for it in items})
    await upstream.start()
    checkpoints = sorted({max(10, len(items) * k // 10) for k in range(1, 11)})
    trajectory: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="pp-bench-experiments-") as tmp:
        # Models from the usual data directory (prepared once); a fresh store per run.
        config = ServerConfig(
            address="127.0.0.1:0",
            data_dir=os.environ.get("PROMPTPRESS_DATA_DIR") or default_data_dir(),
            store_url=f"lmdb://{tmp}/store",
            extra=server_extra(upstream.port),
        )
        app = await build_app(config)
        await app.start()
        try:
            async with AsyncClient(f"127.0.0.1:{app.port}", timeout=300) as client:
                used = sorted({it.document_id for it in items})
                for doc_id in ctx.progress(used, desc="index articles"):
                    await client.index_documents(pb.IndexDocumentsRequest(
                        documents=[pb.Document(id=doc_id, text=docs[doc_id])]))  # fmt: skip
                for i, it in enumerate(ctx.progress(items, desc="conversations"), 1):
                    resp = await client.complete(pb.CompleteRequest(
                        request=pb.PreprocessRequest(
                            messages=[pb.Message(role=pb.ROLE_SYSTEM, content=SYSTEM),
                                      pb.Message(role=pb.ROLE_USER, content=it.question.question)],
                            document_ids=[it.document_id],
                            target=pb.Target(provider="openai", model="gpt-4o-mini"),
                        ),
                        skip_cache=True,
                    ))  # fmt: skip
                    ok = correct(resp.message.content, it.question.answers)
                    await client.record_outcome(
                        pb.RecordOutcomeRequest(request_id=resp.request_id, success=ok)
                    )
                    if i in checkpoints:
                        report = await client.get_experiment_report(
                            pb.GetExperimentReportRequest(name=EXPERIMENT)
                        )
                        trajectory.append({"conversations": i, **report_figures(report)})
        finally:
            await app.stop(grace=1.0)
            await upstream.stop()
    return {"trajectory": trajectory, "final": trajectory[-1]}


def _table(final: dict[str, Any]) -> str:
    rows = []
    for arm, f in final["arms"].items():
        lo, hi = f["outcome_ci"]
        rows.append([arm, ARMS[arm], f["requests"], f["mean_input_tokens_after"],
                     f["mean_cost_usd"] * 1e6, f["outcome_rate"], f"{lo:.3f}-{hi:.3f}"])  # fmt: skip
    table = markdown_table(
        ["arm", "max_context_tokens", "conversations", "input tokens / request",
         "cost / request (µUSD)", "answered (task completed)", "95% CI"],
        rows,
    )  # fmt: skip
    lo, hi = final["outcome_difference_ci"]
    clo, chi = final["cost_difference_ci"]
    return (
        f"{table}\n\naggressive - moderate: answered {final['outcome_difference']:+.3f} "
        f"(95% CI {lo:+.3f} to {hi:+.3f}); cost {final['cost_difference_usd'] * 1e6:+.2f} µUSD "
        f"per request (95% CI {clo * 1e6:+.2f} to {chi * 1e6:+.2f}).\n\n"
        f"Report verdict: {final['verdict']}"
    )


def _settled(trajectory: list[dict[str, Any]]) -> int | None:
    """Conversations after which the outcome difference's CI excluded 0 for good."""
    settled = None
    for point in trajectory:
        lo, hi = point["outcome_difference_ci"]
        excludes_zero = lo > 0 or hi < 0
        settled = (settled or point["conversations"]) if excludes_zero else None
    return settled


def _plot(trajectory: list[dict[str, Any]], out_dir: Path) -> Path:
    from promptpress.bench.plots import pyplot

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    xs = [p["conversations"] for p in trajectory]
    for arm, colour in (("moderate", "tab:blue"), ("aggressive", "tab:orange")):
        rate = [p["arms"][arm]["outcome_rate"] for p in trajectory]
        lo = [p["arms"][arm]["outcome_ci"][0] for p in trajectory]
        hi = [p["arms"][arm]["outcome_ci"][1] for p in trajectory]
        label = f"{arm} ({ARMS[arm]} tokens)"
        left.plot(xs, rate, color=colour, label=label)
        left.fill_between(xs, lo, hi, color=colour, alpha=0.2)
        cost = [p["arms"][arm]["mean_cost_usd"] * 1e6 for p in trajectory]
        right.plot(xs, cost, color=colour, marker="o", label=label)
    left.set(xlabel="conversations so far", ylabel="answered (95% CI)", ylim=(0, 1),
             title="Outcome rate as the report saw it")  # fmt: skip
    right.set(xlabel="conversations so far", ylabel="µUSD per request", ylim=(0, None),
              title="Cost per request")  # fmt: skip
    left.legend(loc="lower right")
    fig.tight_layout()
    path = out_dir / "experiments_report.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run(ctx: SuiteContext) -> SuiteResult:
    items, docs, info = workload(ctx)
    figures = asyncio.run(replay(ctx, items, docs))
    final = figures["final"]
    moderate, aggressive = final["arms"]["moderate"], final["arms"]["aggressive"]
    figures["found_known_tradeoff"] = bool(
        final["outcome_difference_ci"][1] < 0 and final["cost_difference_ci"][1] < 0
    )
    figures["settled_after_conversations"] = _settled(figures["trajectory"])
    figures["cost_ratio_aggressive_vs_moderate"] = (
        aggressive["mean_cost_usd"] / moderate["mean_cost_usd"]
        if moderate["mean_cost_usd"]
        else None
    )
    figures["arms_max_context_tokens"] = ARMS
    return SuiteResult(
        suite=NAME,
        datasets=[info],
        figures=json.loads(json.dumps(figures)),
        table_md=_table(final),
        plots=[_plot(figures["trajectory"], ctx.out_dir)],
        notes=(
            f"{len(items)} SQuAD v2 dev questions (one-turn conversations, seed {ctx.seed}), "
            "assigned by the experiment's hash of the conversation; the scripted upstream "
            "answers only from the prompt, so 'answered' measures what preprocessing kept. "
            f"Report read at {len(figures['trajectory'])} checkpoints; the outcome difference's "
            f"95% CI excluded 0 from {figures['settled_after_conversations']} conversations on."
        ),
    )
