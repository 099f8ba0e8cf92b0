"""Request workloads for the `service` suite: small, medium and large requests
built from real text (ShareGPT turns for history, SQuAD articles for documents).

Each size has a few variants so a server-side cache cannot turn the whole run into
one repeated answer; requests are serialised once, and the load generator sends
the bytes, so client-side encoding is the same for every target.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from promptpress.bench.datasets import Conversation, SquadArticle
from promptpress.tokens import TokenCounter
from promptpress.v1 import promptpress_pb2 as pb

COUNT_MODEL = "gpt-4o"
TARGET = pb.Target(provider="openai", model="gpt-4o-mini")
SYSTEM_PROMPT = "You are a helpful assistant. Answer accurately and concisely."
_ROLES = {"user": pb.ROLE_USER, "assistant": pb.ROLE_ASSISTANT}


@dataclass(frozen=True)
class SizeSpec:
    name: str
    history_tokens: int  # the whole message list, system prompt included
    messages: int  # even: system, then user/assistant pairs, ending on a user turn
    documents: int = 0
    document_tokens: int = 0  # per document


SIZES: dict[str, SizeSpec] = {
    "small": SizeSpec("small", history_tokens=500, messages=6),
    "medium": SizeSpec("medium", history_tokens=8000, messages=40),
    "large": SizeSpec("large", history_tokens=8000, messages=40, documents=6, document_tokens=4000),
}


@dataclass(frozen=True)
class Variant:
    count_tokens: bytes  # serialised CountTokensRequest
    preprocess: bytes  # serialised PreprocessRequest
    tokens: int  # history + documents, in COUNT_MODEL's tokenizer


@dataclass(frozen=True)
class Workload:
    size: SizeSpec
    variants: tuple[Variant, ...]

    @property
    def mean_tokens(self) -> float:
        return sum(v.tokens for v in self.variants) / len(self.variants)

    def mean_bytes(self, rpc: str) -> float:
        return sum(
            len(v.count_tokens if rpc == "CountTokens" else v.preprocess) for v in self.variants
        ) / len(self.variants)


class _TurnPool:
    """ShareGPT turns by role, shuffled once, handed out without reuse."""

    def __init__(self, conversations: tuple[Conversation, ...], rng: random.Random) -> None:
        self._by_role: dict[str, list[str]] = {"user": [], "assistant": []}
        for conv in conversations:
            for turn in conv.turns:
                if turn.role in self._by_role:
                    self._by_role[turn.role].append(turn.content)
        for turns in self._by_role.values():
            rng.shuffle(turns)

    def take(self, role: str, tokens: int, counter: TokenCounter) -> str:
        """The next turn of `role` with at least `tokens` tokens, cut to exactly that."""
        pool = self._by_role[role]
        while pool:
            ids = counter.encode(pool.pop())
            if len(ids) >= tokens:
                return counter.decode(ids[:tokens])
        raise ValueError(f"ran out of {role} turns of {tokens}+ tokens; load more conversations")


def _history(spec: SizeSpec, pool: _TurnPool, counter: TokenCounter) -> list[pb.Message]:
    if spec.messages < 2 or spec.messages % 2:
        raise ValueError(f"{spec.name}: messages must be even and >= 2")
    messages = [pb.Message(role=pb.ROLE_SYSTEM, content=SYSTEM_PROMPT)]
    per_turn = max(8, (spec.history_tokens - counter.count(SYSTEM_PROMPT)) // (spec.messages - 1))
    for i in range(spec.messages - 1):
        role = "user" if i % 2 == 0 else "assistant"
        messages.append(pb.Message(role=_ROLES[role], content=pool.take(role, per_turn, counter)))
    return messages


def _document_pieces(
    articles: tuple[SquadArticle, ...], tokens: int, counter: TokenCounter
) -> list[pb.Document]:
    """Every article cut into consecutive, non-overlapping documents of `tokens` tokens."""
    pieces = []
    for article in articles:
        ids = counter.encode("\n\n".join(p.context for p in article.paragraphs))
        for k in range(len(ids) // tokens):
            text = counter.decode(ids[k * tokens : (k + 1) * tokens])
            pieces.append(pb.Document(id=f"squad-{article.title}-{k}", text=text))
    return pieces


def _variant(
    spec: SizeSpec,
    pool: _TurnPool,
    documents: list[pb.Document],
    counter: TokenCounter,
) -> Variant:
    messages = _history(spec, pool, counter)
    documents = [documents.pop() for _ in range(spec.documents)]
    # Half the request must go: trimming (and selection, once documents are in
    # play) does real work instead of passing everything through.
    history = sum(counter.count(m.content) for m in messages)
    doc_tokens = sum(counter.count(d.text) for d in documents)
    budget = pb.Budget(max_prompt_tokens=(history + doc_tokens) // 2)
    preprocess = pb.PreprocessRequest(
        messages=messages, documents=documents, target=TARGET, budget=budget
    )
    count = pb.CountTokensRequest(
        messages=messages, texts=[d.text for d in documents], model=COUNT_MODEL
    )
    return Variant(count.SerializeToString(), preprocess.SerializeToString(), history + doc_tokens)


def build_workloads(
    sizes: list[str],
    *,
    variants: int,
    conversations: tuple[Conversation, ...],
    articles: tuple[SquadArticle, ...],
    counter: TokenCounter,
    rng: random.Random,
) -> dict[str, Workload]:
    """`variants` distinct requests per size, reproducible for a given rng seed."""
    pool = _TurnPool(conversations, rng)
    workloads = {}
    for name in sizes:
        spec = SIZES[name]
        pieces = _document_pieces(articles, spec.document_tokens, counter) if spec.documents else []
        rng.shuffle(pieces)
        if spec.documents * variants > len(pieces):
            raise ValueError(
                f"{name}: needs {spec.documents * variants} documents, has {len(pieces)}"
            )
        variants_ = tuple(_variant(spec, pool, pieces, counter) for _ in range(variants))
        workloads[name] = Workload(spec, variants_)
    return workloads
