"""Cache keys: tenant isolation and stability (property tests), and what each key covers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from promptpress.cachekeys import ContextChunk, build_layout, compute_keys, normalize_query
from promptpress.cachekeys.layout import PromptLayout
from promptpress.types import Document, Sampling, Span

from .conftest import asst, system, user

tenants = st.text(min_size=0, max_size=12)
texts = st.text(max_size=40)


def keys_of(tenant: str, layout: PromptLayout, **kw):  # type: ignore[no-untyped-def]
    return compute_keys(
        tenant, layout, provider=kw.pop("provider", "openai"), model=kw.pop("model", "gpt-4o"), **kw
    )


def all_keys(k) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        k.exact_key,
        k.prompt_cache_key,
        k.context_fingerprint,
        k.semantic_key,
        k.embedding_id,
        *k.prefix_hashes,
    ]


@st.composite
def layouts(draw):  # type: ignore[no-untyped-def]
    history = [
        user(t) if i % 2 == 0 else asst(t) for i, t in enumerate(draw(st.lists(texts, max_size=4)))
    ]
    return build_layout(
        system=draw(st.lists(texts, max_size=2)),
        history=history,
        chunks=[
            ContextChunk("d", str(i), t) for i, t in enumerate(draw(st.lists(texts, max_size=2)))
        ],
        last_user=user(draw(texts)),
    )


@settings(max_examples=150, deadline=None)
@given(tenants, tenants, layouts(), layouts())
def test_no_key_collides_across_tenants(t1, t2, a, b) -> None:
    assume(t1 != t2)
    ka, kb = all_keys(keys_of(t1, a)), all_keys(keys_of(t2, b))
    assert not set(ka) & set(kb)


@settings(max_examples=100, deadline=None)
@given(tenants, layouts())
def test_keys_are_stable(tenant, layout) -> None:
    rebuilt = build_layout(
        system=[
            m for m, s in zip(layout.messages, layout.sections, strict=True) if s.value == "system"
        ],
        history=[
            m for m, s in zip(layout.messages, layout.sections, strict=True) if s.value == "history"
        ],
        last_user=layout.messages[layout.query_index],
    )
    # Same input, built twice (and via another route when no chunks): same keys.
    assert keys_of(tenant, layout) == keys_of(tenant, layout)
    if not any(s.value == "context" for s in layout.sections):
        assert keys_of(tenant, layout) == keys_of(tenant, rebuilt)


@settings(max_examples=60, deadline=None)
@given(tenants, st.lists(texts, min_size=1, max_size=5), texts, texts)
def test_a_conversation_keeps_its_prompt_cache_key_and_prefix_hashes(
    tenant, turns, reply, next_q
) -> None:
    history = [user(t) if i % 2 == 0 else asst(t) for i, t in enumerate(turns)]
    if history[-1].role.value == "user":
        history.append(asst(reply))
    turn1 = build_layout(system=["sys"], history=history[:-2], last_user=history[-2])
    turn2 = build_layout(system=["sys"], history=history, last_user=user(next_q))
    k1, k2 = keys_of(tenant, turn1), keys_of(tenant, turn2)
    assert k1.prompt_cache_key == k2.prompt_cache_key
    # Turn 2 starts with turn 1's whole prompt: its prefix hashes extend turn 1's.
    assert k2.prefix_hashes[: len(k1.prefix_hashes)] == k1.prefix_hashes


def test_prompt_cache_key_survives_volatile_spans_in_the_first_question() -> None:
    text = "ticket 4711: printer broken"
    q = user(text, volatile_spans=(Span(7, 11),))
    turn1 = build_layout(system=["sys"], last_user=q)
    turn2 = build_layout(
        system=["sys"], history=[q, asst("try this")], last_user=user("still broken")
    )
    assert keys_of("t", turn1).prompt_cache_key == keys_of("t", turn2).prompt_cache_key


def test_different_conversations_get_different_prompt_cache_keys() -> None:
    a = build_layout(system=["sys"], last_user=user("how do I cook rice"))
    b = build_layout(system=["sys"], last_user=user("how do I fix my bike"))
    assert keys_of("t", a).prompt_cache_key != keys_of("t", b).prompt_cache_key


def test_context_fingerprint_ignores_the_query_but_nothing_else() -> None:
    def fp(**kw):  # type: ignore[no-untyped-def]
        base = {"system": ["s"], "history": [user("a"), asst("b")], "last_user": user("q1")}
        return keys_of("t", build_layout(**{**base, **kw})).context_fingerprint

    ref = fp()
    assert fp(last_user=user("a different question")) == ref
    assert fp(system=["s2"]) != ref
    assert fp(history=[user("a"), asst("c")]) != ref
    assert fp(chunks=[ContextChunk("d", "1", "x")]) != ref
    assert fp(static_docs=[Document("m", "manual", static=True)]) != ref


def test_semantic_key_separates_contexts_and_queries() -> None:
    q = user("What is the refund policy?")
    k_a = keys_of("t", build_layout(system=["shop A"], last_user=q), embedder_model_id="m")
    k_b = keys_of("t", build_layout(system=["shop B"], last_user=q), embedder_model_id="m")
    k_c = keys_of(
        "t",
        build_layout(system=["shop A"], last_user=user("what is  the REFUND policy?")),
        embedder_model_id="m",
    )
    assert k_a.semantic_key != k_b.semantic_key
    assert k_a.embedding_id == k_b.embedding_id  # same normalised query, same model
    assert k_a.semantic_key == k_c.semantic_key  # normalisation: case and spacing
    other_model = keys_of("t", build_layout(system=["shop A"], last_user=q), embedder_model_id="m2")
    assert other_model.embedding_id != k_a.embedding_id


@pytest.mark.parametrize(
    "change",
    [
        {"model": "gpt-4o-mini"},
        {"provider": "anthropic"},
        {"sampling": Sampling(temperature=0.2)},
        {"sampling": Sampling(top_p=0.5)},
        {"sampling": Sampling(max_output_tokens=10)},
        {"sampling": Sampling(seed=1)},
        {"sampling": Sampling(stop=("END",))},
    ],
)
def test_exact_key_covers_model_and_answer_changing_sampling(change) -> None:
    layout = build_layout(system=["s"], last_user=user("q"))
    assert keys_of("t", layout, **change).exact_key != keys_of("t", layout).exact_key
    assert (
        keys_of("t", layout, **change).context_fingerprint
        == keys_of("t", layout).context_fingerprint
    )


def test_exact_key_is_stable_across_float32_round_trips() -> None:
    layout = build_layout(last_user=user("q"))
    a = keys_of("t", layout, sampling=Sampling(temperature=0.7))
    b = keys_of("t", layout, sampling=Sampling(temperature=float(np.float32(0.7))))
    assert a.exact_key == b.exact_key


def test_volatile_values_count_in_the_context_unless_excluded() -> None:
    def layout_for(date: str) -> PromptLayout:
        text = f"Today is {date}."
        return build_layout(
            system=[system(text, volatile_spans=(Span(9, 19),))], last_user=user("what day is it?")
        )

    a, b = layout_for("2026-11-28"), layout_for("2026-11-29")
    assert keys_of("t", a).context_fingerprint != keys_of("t", b).context_fingerprint
    kw = {"include_volatile": False}
    assert keys_of("t", a, **kw).context_fingerprint == keys_of("t", b, **kw).context_fingerprint


def test_normalize_query() -> None:
    assert normalize_query("  Ｗhat\tIS  this?\n") == "what is this?"
