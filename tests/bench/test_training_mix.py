"""The pair encoder's training mix (bench/train_pair_encoder.py): what the written
pairs, the contrast pairs and the automatic sample contribute, with and without
--hard-auto."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from promptpress.bench import train_pair_encoder as tpe
from promptpress.bench.matcher_data import Pair


def _data() -> dict[str, Any]:
    auto = [Pair(f"q{k}", f"r{k}", k % 2, "rewrite" if k % 2 else "negation") for k in range(9000)]
    auto += [Pair(f"s{k}", f"t{k}", 0, "same-paragraph") for k in range(300)]
    auto += [Pair(f"u{k}", f"v{k}", 0, "adversarial") for k in range(200)]
    auto += [Pair(f"w{k}", f"x{k}", 0, "same-paragraph") for k in range(50)]  # under the floor
    cos = np.array([0.9] * 9500 + [tpe.TRAIN_FLOOR - 0.1] * 50)
    written = [Pair(f"a{k}", f"b{k}", 1, "paraphrase-lexical") for k in range(10)]
    derived = [Pair(f"c{k}", f"d{k}", 0, "direction") for k in range(3)]
    return {"train": (auto, cos), "written_train": (written,), "written_derived": derived}


def test_the_default_mix_samples_the_automatic_pairs() -> None:
    mix = tpe.training_mix(_data(), seed=0)
    assert len(mix) == 10 * tpe.WRITTEN_REPEAT + 3 + tpe.AUTO_SAMPLE
    hard = [p for p in mix if p.category in tpe.HARD_AUTO]
    assert 0 < len(hard) < 500  # a share of them, by the sample
    assert mix == tpe.training_mix(_data(), seed=0)


def test_hard_auto_puts_every_hard_near_miss_above_the_floor_in_the_mix() -> None:
    mix = tpe.training_mix(_data(), seed=0, hard_auto=True)
    assert len(mix) == 10 * tpe.WRITTEN_REPEAT + 3 + 500 + tpe.AUTO_SAMPLE
    counts = Counter(p.category for p in mix)
    assert counts["same-paragraph"] == 300 and counts["adversarial"] == 200
    assert not any(p.a.startswith("w") for p in mix)  # under the cosine floor: never
    assert len({(p.a, p.b) for p in mix if p.category in tpe.HARD_AUTO}) == 500  # each once
