"""The semantic_cache suite's runtime comparison: the served ONNX graph against torch's
per-matrix int8 and float32, on real written pairs with the real pair encoder."""

from __future__ import annotations

from promptpress.bench import written_pairs
from promptpress.bench.suites.semantic_cache import _runtime_table, encoder_runtime


def test_the_served_graph_stays_closer_to_float32_than_per_matrix_int8(shared_pair_encoder) -> None:  # type: ignore[no-untyped-def]
    pairs = [(p.a, p.b) for p in written_pairs.split()["calibration"][:12]]
    out = encoder_runtime(shared_pair_encoder, pairs)
    assert out["pairs"] == 12
    assert set(out["ms_per_pass"]) == {
        "onnx_int8",
        "torch_int8",
        "float32",
        "onnx_int8_two_threads",
    }
    assert all(ms > 0 for ms in out["ms_per_pass"].values())
    assert out["onnx_int8_ratio_vs_torch_int8"] > 0
    served = out["onnx_int8_logit_shift_vs_float32"]
    before = out["torch_int8_logit_shift_vs_float32"]
    # Why the runtime changed: one scale per output channel keeps the logits near the
    # float32 model the adapters were trained as.
    assert served["mean"] < before["mean"] and served["max"] < 1.5
    assert "ONNX Runtime int8, per channel (served)" in _runtime_table(out)
