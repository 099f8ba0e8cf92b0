"""Train the distilled scorer's head on the SmolLM2 teacher's labels.

Input: records of {id, text, question, offsets, surprisal} (the teacher's
per-token surprisal, bench/distill_data.py writes them). Target: for every
MiniLM token, the teacher's surprisal of the UNIT (word, number, name... as
compression cuts the text, selection.split_units) the token belongs to, the
mean over the teacher's tokens in it, which is what methods.py ranks. The
scorer's per-token predictions are folded back with the same mean.

Deterministic for a seed on one thread: the encoder is frozen, the head is
initialised and its batches shuffled from `torch.Generator(seed)`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from promptpress.compressor.distilled import Encoder, Head, HeadSpec
from promptpress.compressor.protect import find_regions
from promptpress.compressor.scoring import TokenScores, _next_non_space, fold_to_units
from promptpress.compressor.selection import Unit, split_units


@dataclass(frozen=True, slots=True)
class TrainConfig:
    seed: int = 0
    epochs: int = 8
    batch_size: int = 512
    lr: float = 2e-3
    weight_decay: float = 1e-4
    validation_percent: int = 10
    clip: float = 16.0  # teacher surprisal above this (rare junk tokens) is clipped


@dataclass
class Dataset:
    x: np.ndarray  # (tokens, features) float16
    y: np.ndarray  # (tokens,) float32
    record: np.ndarray  # (tokens,) int: which record
    unit: np.ndarray  # (tokens,) int: unit index inside its record
    validation: np.ndarray  # (records,) bool
    ids: list[str] = field(default_factory=list)


def units_of(text: str, question: str) -> list[Unit]:
    """The units compression would cut text into (as methods.prepare does)."""
    return split_units(text, find_regions(text, question=question))[0]


def token_unit(text: str, units: Sequence[Unit], offsets: np.ndarray) -> np.ndarray:
    """For each token, the unit whose body holds its first non-space character (-1 if none)."""
    if len(offsets) == 0 or not units:
        return np.full(len(offsets), -1, dtype=np.int64)
    starts = np.fromiter((u.body for u in units), dtype=np.int64, count=len(units))
    ends = np.fromiter((u.end for u in units), dtype=np.int64, count=len(units))
    begin = _next_non_space(text)[offsets[:, 0]]
    idx = np.searchsorted(starts, begin, side="right") - 1
    ok = (idx >= 0) & (begin < offsets[:, 1])
    ok &= begin < ends[np.clip(idx, 0, None)]
    return np.where(ok, idx, -1)


def is_validation(record_id: str, percent: int) -> bool:
    return hashlib.sha256(record_id.encode()).digest()[0] * 100 // 256 < percent


def build_dataset(
    records: Iterable[dict[str, Any]], encoder: Encoder, config: TrainConfig, progress=iter
) -> Dataset:  # type: ignore[no-untyped-def]
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    recs: list[np.ndarray] = []
    unit_ids: list[np.ndarray] = []
    val: list[bool] = []
    ids: list[str] = []
    for r in progress(list(records)):
        text, question = r["text"], r["question"]
        units = units_of(text, question)
        teacher = TokenScores(
            np.asarray(r["offsets"], dtype=np.int64).reshape(-1, 2),
            np.asarray(r["surprisal"], dtype=np.float64),
        )
        target = fold_to_units(text, units, teacher, "mean")
        offsets, feats = encoder.features(text, question)
        unit = token_unit(text, units, offsets)
        has = unit >= 0
        has[has] = ~np.isnan(target[unit[has]])
        if not has.any():
            continue
        k = len(ids)
        ids.append(r["id"])
        val.append(is_validation(r["id"], config.validation_percent))
        xs.append(feats[has].astype(np.float16))
        ys.append(np.minimum(target[unit[has]], config.clip).astype(np.float32))
        recs.append(np.full(int(has.sum()), k))
        unit_ids.append(unit[has])
    return Dataset(
        np.concatenate(xs),
        np.concatenate(ys),
        np.concatenate(recs),
        np.concatenate(unit_ids),
        np.asarray(val),
        ids,
    )


def train_head(data: Dataset, spec: HeadSpec, config: TrainConfig, log=print) -> Head:  # type: ignore[no-untyped-def]
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    train = ~data.validation[data.record]
    if not train.any():  # a handful of records, all drawn for validation: train on them all
        train[:] = True
    x = torch.from_numpy(data.x[train].astype(np.float32))
    y = torch.from_numpy(data.y[train])
    head = Head(x.shape[1], spec.hidden)
    mean, std = x.mean(0), x.std(0)
    with torch.no_grad():
        head.shift.copy_(mean)
        head.scale.copy_(1.0 / torch.where(std > 1e-6, std, torch.ones_like(std)))
    opt = torch.optim.AdamW(head.net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * ((len(x) + config.batch_size - 1) // config.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=steps)
    for epoch in range(config.epochs):
        head.train()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for b in range(0, len(x), config.batch_size):
            idx = order[b : b + config.batch_size]
            loss = torch.nn.functional.mse_loss(head(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        head.eval()
        log(f"epoch {epoch + 1}/{config.epochs}: train mse {total / len(x):.3f}")
    return head


def _rank(v: np.ndarray) -> np.ndarray:
    r = np.empty(len(v))
    r[np.argsort(v, kind="stable")] = np.arange(len(v))
    return r


def evaluate(head: Head, data: Dataset) -> dict[str, float]:
    """Validation records: token MSE and the mean per-record Spearman of unit scores."""
    sel = data.validation[data.record]
    if not sel.any():
        return {}
    with torch.inference_mode():
        pred = head(torch.from_numpy(data.x[sel].astype(np.float32))).numpy()
    y, rec, unit = data.y[sel], data.record[sel], data.unit[sel]
    rhos = []
    for k in np.unique(rec):
        m = rec == k
        units, inv = np.unique(unit[m], return_inverse=True)
        if len(units) < 5:
            continue
        p = np.bincount(inv, weights=pred[m]) / np.bincount(inv)
        t = np.bincount(inv, weights=y[m]) / np.bincount(inv)
        rhos.append(np.corrcoef(_rank(p), _rank(t))[0, 1])
    return {
        "validation_records": float(len(np.unique(rec))),
        "validation_mse": float(np.mean((pred - y) ** 2)),
        "validation_variance": float(np.var(y)),
        "validation_spearman": float(np.nanmean(rhos)),
    }
