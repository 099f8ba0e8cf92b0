"""A fixed corpus of small Preprocess requests (issue 16, per-request overhead).

6 messages, ~500 tokens, no documents; openai / anthropic / gemini targets, with
and without tools, budgets, volatile spans and sampling. Deterministic: the
byte-identity guard (tests/server/test_response_stability.py) replays it against
a recorded fixture, and bench/overhead_profile.py profiles and times it.
"""

from __future__ import annotations

from promptpress.v1 import promptpress_pb2 as pb

_WORDS = [
    "the",
    "cache",
    "keeps",
    "a",
    "stable",
    "prefix",
    "so",
    "providers",
    "can",
    "reuse",
    "it",
    "while",
    "the",
    "history",
    "grows",
    "turn",
    "by",
    "turn",
    "and",
    "the",
    "budget",
    "decides",
    "what",
    "stays",
    "in",
    "the",
    "prompt",
    "when",
    "retrieval",
    "adds",
    "context",
    "tokens",
    "cost",
    "money",
    "latency",
    "matters",
]


def _text(seed: int, words: int) -> str:
    return " ".join(_WORDS[(seed * 7 + i * 3) % len(_WORDS)] for i in range(words))


def _messages(seed: int, volatile: bool) -> list[pb.Message]:
    """System, then user/assistant pairs ending on a user turn: 6 messages, ~500 tokens."""
    msgs = [
        pb.Message(role=pb.ROLE_SYSTEM, content="You are a careful assistant. " + _text(seed, 20))
    ]
    for turn in range(2):
        msgs.append(pb.Message(role=pb.ROLE_USER, content=f"Q{turn}: " + _text(seed + turn, 80)))
        msgs.append(
            pb.Message(role=pb.ROLE_ASSISTANT, content=f"A{turn}: " + _text(seed + 9 + turn, 110))
        )
    last = f"Today is 2026-12-0{seed % 9 + 1}, request r-{seed:04d}. What next? " + _text(seed, 30)
    user = pb.Message(role=pb.ROLE_USER, content=last)
    if volatile:
        start = last.index("2026")
        user.volatile_spans.append(pb.ByteSpan(start=start, end=start + 10))
        rid = last.encode().index(b"r-")
        user.volatile_spans.append(pb.ByteSpan(start=rid, end=rid + 6))
    msgs.append(user)
    return msgs


_TOOLS = [
    pb.Tool(
        name="get_weather",
        description="Weather for a city.",
        parameters_json='{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}',
    ),
    pb.Tool(
        name="search",
        description="Web search.",
        parameters_json='{"type":"object","properties":{"q":{"type":"string"}}}',
    ),
]

_TARGETS = [
    pb.Target(provider="openai", model="gpt-4o"),
    pb.Target(provider="anthropic", model="claude-sonnet-4-5"),
    pb.Target(provider="gemini", model="gemini-2.5-flash"),
]


def corpus() -> list[tuple[str, pb.PreprocessRequest]]:
    out: list[tuple[str, pb.PreprocessRequest]] = []
    for t, target in enumerate(_TARGETS):
        for variant in ("plain", "tools", "budget", "volatile", "prompt_budget", "all", "sampling"):
            if target.provider == "gemini" and variant in ("prompt_budget", "sampling"):
                continue
            seed = t * 10 + len(out)
            req = pb.PreprocessRequest(
                messages=_messages(seed, volatile=variant in ("volatile", "all")), target=target
            )
            if variant in ("tools", "all"):
                req.tools.extend(_TOOLS)
                req.tool_choice.mode = pb.TOOL_CHOICE_MODE_AUTO
            if variant in ("budget", "all"):
                req.budget.max_history_tokens = 300
            if variant == "prompt_budget":
                req.budget.max_prompt_tokens = 400
            if variant == "sampling":
                req.sampling.temperature = 0.2
                req.sampling.max_output_tokens = 256
                req.sampling.stop.append("END")
            out.append((f"{target.provider}-{variant}", req))
    return out
