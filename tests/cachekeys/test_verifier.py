"""The verifier: pair features, the error-bound threshold, tenant calibration, and the
cache's verified lookups and bad-hit reports (real MiniLM, real LMDB)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptpress.cachekeys import SemanticCache, query_vector
from promptpress.cachekeys.semantic_cache import verifier as verifier_module
from promptpress.cachekeys.semantic_cache.argument_roles import RoleReader
from promptpress.cachekeys.semantic_cache.pair_features import (
    FEATURES,
    numbers_conflict,
    pair_features,
    tokenize,
)
from promptpress.cachekeys.semantic_cache.verifier import (
    TenantCalibration,
    Verifier,
    calibrated_threshold,
    exact_differences,
    same_words,
    speaks_as_another,
    threshold_for_bound,
    threshold_for_rate,
    wilson_upper,
)
from promptpress.cachekeys.semantic_cache.wordnet import WordNet


def feature(a: str, b: str, name: str) -> float:
    return float(pair_features(a, b, 0.9, None)[FEATURES.index(name)])


@pytest.mark.parametrize(
    ("a", "b", "name", "expected"),
    [
        ("Set an alarm for 6 am", "Set an alarm for 6 pm", "numbers_differ", 1.0),
        ("Set an alarm for 6 am", "set an alarm for 6 a.m.", "numbers_differ", 0.0),
        ("Give me 3 ideas", "Give me three ideas", "numbers_differ", 0.0),
        ("Is it safe?", "Isn't it safe?", "negation_differs", 1.0),
        ("Is it not safe?", "Isn't it safe?", "negation_differs", 0.0),
        ("why wont my airpods pair", "Why won't my AirPods pair?", "negation_differs", 0.0),
        (
            "how do i kill greenfly w/o sprays",
            "How do I kill greenfly with sprays?",
            "negation_differs",
            1.0,
        ),
        (
            "Is it safe in the 3rd trimester?",
            "Is it safe in the third trimester?",
            "numbers_differ",
            0.0,
        ),
        (
            "the eighth UN Secretary-General",
            "the fifth UN Secretary-General",
            "numbers_differ",
            1.0,
        ),
        (
            "Move money from savings to checking",
            "Move money from checking to savings",
            "roles_swapped",
            1.0,
        ),
        ("Convert Celsius to Fahrenheit", "Convert Fahrenheit to Celsius", "roles_swapped", 1.0),
        ("Who wrote Hamlet?", "Hamlet was written by whom?", "roles_swapped", 0.0),
        ("How do I turn on Bluetooth?", "How do I turn off Bluetooth?", "particle_swapped", 1.0),
        ("How do I opt in to emails?", "How do I opt out of emails?", "particle_swapped", 1.0),
        (
            "What is the capital of France?",
            "What's the capital of France",
            "unaligned_content",
            0.0,
        ),
        ("Who founded Apple?", "Who founded Microsoft?", "entity_changed", 1.0),
        ("Who founded Apple?", "When was Apple founded?", "question_word_differs", 1.0),
        ("how do i reset my router", "how do i reset my ruoter", "typos", float(np.log1p(1))),
    ],
)
def test_pair_features_see_what_differs(a: str, b: str, name: str, expected: float) -> None:
    assert feature(a, b, name) == pytest.approx(expected)
    assert feature(b, a, name) == pytest.approx(expected)  # symmetric


def test_tokenize_expands_contractions_and_splits_times() -> None:
    assert [t.low for t in tokenize("Who's there at 9pm? I can't")] == [
        "who", "is", "there", "at", "9", "pm", "i", "can", "not"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("a", "b", "conflict"),
    [
        ("Set an alarm for 6 am", "Set an alarm for 6 pm", True),
        ("Who was the fifth UN Secretary-General?", "Who was the eighth UN Secretary-General?", True),
        ("How many calories are in 2 eggs?", "How many calories are in 3 eggs?", True),
        # one question only adds or drops a number: the encoder judges it
        ("How do I become a train driver?", "how 2 become train driver", False),
        ("Who invented the first practical typewriter?",
         "Who is credited with creating the earliest workable typewriter?", False),
        ("What size tent do I need for a family of four?", "wat size tent 4 a family of 4", False),
        ("How do I cook rice?", "How do I cook 2 cups of rice?", False),
        # a month or day abbreviated, a digit texted for a word: written another way
        ("Is chicken from Sunday OK to eat on Thursday?", "is chicken from sunday ok 2 eat on thurs", False),
        ("Packing list for a week in February?", "packin list 4 a week in feb", False),
        ("Is chicken from Sunday OK to eat on Thursday?", "is chicken from sunday ok 2 eat on friday", True),
        # the word "two" is a number, not texting
        ("How much energy does a half-hour walk to the station use?",
         "How much energy does a two-hour walk in the hills use?", True),
        ("What to pack for Monday?", "wat 2 pack 4 tuesday", True),
    ],
)  # fmt: skip
def test_numbers_conflict_only_when_a_value_changed(a: str, b: str, conflict: bool) -> None:
    assert numbers_conflict(a, b) is conflict and numbers_conflict(b, a) is conflict
    x = np.stack([pair_features(a, b, 0.9, None)])
    assert bool(exact_differences(x, [(a, b)])[0]) is conflict  # no negation in these


@given(
    st.lists(st.floats(0, 1, allow_nan=False), max_size=400),
    st.integers(0, 2000),
    st.floats(0.005, 0.2),
)
def test_threshold_keeps_the_upper_bound_within_the_error_bound(scores, below, bound) -> None:  # type: ignore[no-untyped-def]
    # `below`: near-misses the prefilter kept out (never scored, never served); with
    # none, the count defaults to the scores given.
    count = len(scores) + below
    t = threshold_for_bound(np.array(scores), bound, count if below else None)
    served = sum(s >= t for s in scores)
    if count == 0 or wilson_upper(0, count) > bound:  # too few to promise the bound
        assert served == 0 and (t > 1.0 or not scores)
    else:
        assert wilson_upper(served, count) <= bound + 1e-12
        lower = [x for x in scores if x < t]
        if lower:  # the next lower threshold would break the bound: t is the lowest that holds
            assert wilson_upper(sum(x >= max(lower) for x in scores), count) > bound


@given(
    st.lists(st.floats(0, 1, allow_nan=False), max_size=300),
    st.integers(0, 100),
    st.floats(0.005, 0.2),
)
def test_rate_threshold_serves_at_most_the_bound_of_the_near_misses(scores, below, bound) -> None:  # type: ignore[no-untyped-def]
    count = len(scores) + below  # `below`: near-misses the prefilter kept out
    t = threshold_for_rate(np.array(scores), count, bound)
    served = sum(s >= t for s in scores)
    if count:
        assert served / count <= bound + 1e-12
    lower = [x for x in scores if x < t]
    if lower:  # the next lower threshold would serve too many: t is the lowest that holds
        assert sum(x >= max(lower) for x in scores) / count > bound


def test_calibrated_threshold_is_the_stricter_of_the_automatic_and_written_rules() -> None:
    auto = {"calibration_negatives": np.linspace(0, 0.5, 2000).tolist()}
    at = calibrated_threshold(auto, 0.01)
    assert at == threshold_for_bound(np.linspace(0, 0.5, 2000), 0.01)
    # 300 written near-misses, 5 scoring high: at 1% at most 3 may be served.
    written = {"negatives": [0.1, 0.2, 0.9, 0.91, 0.92, 0.93, 0.94], "near_misses": 300}
    both = calibrated_threshold(auto | {"written_calibration": written}, 0.01)
    assert both > at and both > 0.91 and both <= 0.92
    # Written near-misses all below the automatic threshold: the automatic rule decides.
    low = {"negatives": [0.1, 0.2], "near_misses": 300}
    assert calibrated_threshold(auto | {"written_calibration": low}, 0.01) == at


def test_weights_bound_on_the_written_near_misses_ignore_the_automatic_ones() -> None:
    auto = {"calibration_negatives": [0.99] * 50 + np.linspace(0, 0.5, 2000).tolist()}
    # 900 written near-misses, 12 scored (the rest under the prefilter): the 95% Wilson
    # bound at 1% allows 4 of them served, not 9 (the plain rate).
    negatives = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
    written = {"negatives": negatives, "near_misses": 900}
    info = auto | {"written_calibration": written, "bound_on": "written"}
    t = calibrated_threshold(info, 0.01)
    assert t == threshold_for_bound(np.array(negatives), 0.01, 900)
    assert sum(x >= t for x in negatives) == 4 and wilson_upper(4, 900) <= 0.01
    assert calibrated_threshold({**info, "bound_on": None}, 0.01) > 0.99  # the old rule


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("How do I reset my password?", "how do i reset my  password", True),
        ("Who is John's father?", "who is John father", True),
        ("Is it safe?", "Isn't it safe?", False),
        ("Set an alarm for 6 am", "Set an alarm for 6 pm", False),
        ("Move money from savings to checking", "Move money from checking to savings", False),
        ("How do I get a API key?", "How do I get an API key?", True),  # the article's form
        ("Is a apple a day enough?", "Is an apple an day enough", True),
        ("Is an apple a day enough?", "Is the apple a day enough?", False),
        # hyphens inside a word, and number words, are spelling
        ("How long does homemade stock keep?", "how long does home-made stock keep", True),
        ("How do I explain fractions to an eight-year-old?",
         "how do i explain fractions to an 8-year-old", True),
        ("We rented for six years; can they keep the deposit?",
         "We rented for 6 years. Can they keep the deposit?", True),
        ("We rented for six years; can they keep the deposit?",
         "We rented for 7 years; can they keep the deposit?", False),
        ("Which one should I buy?", "Which 1 should I buy?", False),  # "one" is not read
        # a compound written open, closed or hyphenated
        ("Is it safe to give my 4-year-old beagle pumpkin?",
         "Is it safe to give my 4 year old beagle pumpkin?", True),
        ("What's a good warm up routine?", "what's a good warmup routine", True),
        ("Is a 4-year-old beagle too old?", "Is a 5 year old beagle too old?", False),
    ],
)  # fmt: skip
def test_same_words_is_a_near_repeat_only(a: str, b: str, same: bool) -> None:
    assert same_words(a, b) is same and same_words(b, a) is same


@pytest.mark.parametrize(
    ("stored", "query", "other_side"),
    [
        ("What must I do as a landlord before a tenant moves in?",
         "What should I check as a tenant before I move into a rental?", True),
        ("I'm a manager; how should I give tough feedback to a direct report?",
         "I'm a direct report; how should I give tough feedback to my manager?", True),
        # one thing in other words, or only one asker said to be anything
        ("What must I do as a landlord before a tenant moves in?",
         "As a landlord, what must I do before a tenant moves in?", False),
        ("As a parent, how do I talk to my teen about vaping?",
         "How do I talk to my teenager about vaping?", False),
    ],
)  # fmt: skip
def test_askers_that_say_they_are_different_things_speak_from_another_side(
    stored: str, query: str, other_side: bool, wordnet: WordNet
) -> None:
    roles = RoleReader()
    assert speaks_as_another(stored, query, roles, wordnet) is other_side
    assert speaks_as_another(query, stored, roles, wordnet) is other_side


def test_a_near_repeat_is_served_without_the_encoder(verifier) -> None:  # type: ignore[no-untyped-def]
    before = verifier.encoded
    score = verifier.score_many(["How do I reset my password?"], "how do i reset my password",
                                [0.99], cut=verifier.threshold)  # fmt: skip
    assert score[0] >= verifier.threshold and verifier.encoded == before


def test_a_candidate_that_cannot_outscore_a_near_repeat_is_not_encoded(verifier) -> None:  # type: ignore[no-untyped-def]
    before = verifier.encoded
    stored = ["How do I reset my password?", "How do I change my password?"]
    scores = verifier.score_many(stored, "how do i reset my password", [0.99, 0.93],
                                 cut=verifier.threshold)  # fmt: skip
    assert int(np.argmax(scores)) == 0 and scores[0] >= verifier.threshold
    assert verifier.encoded == before


@pytest.mark.parametrize(
    ("stored", "query"),
    [
        (["How do I fix a leaking faucet?", "How do I fix a leaking pipe?"],
         "How can I repair a dripping tap?"),
        (["What is the population of Canada?", "What is the area of Canada?"],
         "How many people live in Canada?"),
        (["Who wrote Pride and Prejudice?", "Who wrote Sense and Sensibility?",
          "Who is the author of Pride and Prejudice?"], "Who's the author of Pride and Prejudice?"),
        (["How do I turn off dark mode?", "How do I turn on dark mode?"],
         "How can I enable dark mode?"),
    ],
)  # fmt: skip
def test_skipping_dominated_candidates_serves_what_scoring_each_would(
    verifier, stored: list[str], query: str
) -> None:  # type: ignore[no-untyped-def]
    cut = verifier.threshold
    cosines = [0.9] * len(stored)
    together = verifier.score_many(stored, query, cosines, cut=cut)
    alone = np.array([verifier.score_many([s], query, [0.9], cut=cut)[0] for s in stored])
    # The served candidate and its score: the same as with every candidate scored alone,
    # and as with every score exact (no cut: each candidate parsed and encoded).
    exact = verifier.score_many(stored, query, cosines)
    assert together.max() == pytest.approx(alone.max())
    assert (together.max() >= cut) == (exact.max() >= cut)
    if alone.max() >= cut:
        assert int(np.argmax(together)) == int(np.argmax(alone)) == int(np.argmax(exact))
        assert together.max() == pytest.approx(exact.max())


def test_a_candidate_that_cannot_outscore_a_near_repeat_is_not_parsed(verifier) -> None:  # type: ignore[no-untyped-def]
    parses = verifier.roles.parses
    stored = [
        "How do I descale a kettle with citric acid?",
        "How do I descale a kettle with vinegar?",
    ]
    scores = verifier.score_many(stored, "how do I descale a kettle with citric acid",
                                 [0.99, 0.95], cut=verifier.threshold)  # fmt: skip
    assert int(np.argmax(scores)) == 0 and scores[0] >= verifier.threshold
    assert verifier.roles.parses == parses  # neither question parsed


def test_stored_questions_are_parsed_when_stored_so_a_lookup_parses_its_own_only(verifier) -> None:  # type: ignore[no-untyped-def]
    stored = "How long should I let bread dough rise in a cold kitchen?"
    verifier.warm([stored])
    parses = verifier.roles.parses
    verifier.score_many([stored], "How long does bread dough need to rise in a chilly kitchen?",
                        [0.9], cut=verifier.threshold)  # fmt: skip
    assert verifier.roles.parses == parses + 1  # the query


def test_tenant_threshold_rises_after_reports_and_recovers_with_good_hits() -> None:
    c = TenantCalibration()
    assert c.threshold(0.5, 0.01) == 0.5
    c.served[c.bin_of(0.8)] += 10
    c.reported[c.bin_of(0.8)] += 1
    raised = c.threshold(0.5, 0.01)
    assert raised > 0.8
    c.served[c.bin_of(0.9)] += 400  # many good hits later, the report is diluted
    assert c.threshold(0.5, 0.01) < raised
    assert TenantCalibration.from_json(c.to_json()) == c


@pytest.fixture(scope="module")
def verifier(shared_embedder, shared_pair_encoder) -> Verifier:  # type: ignore[no-untyped-def]
    """The default matcher: pair encoder + feature MLP."""
    return Verifier(shared_embedder, max_false_hit_rate=0.01, encoder=shared_pair_encoder)


@pytest.mark.parametrize(
    ("stored", "query", "same"),
    [
        ("What is the capital of France?", "what's the capital of france", True),
        ("How do I reset my password?", "How do I reset my password", True),
        ("Who wrote Pride and Prejudice?", "Who is the author of Pride and Prejudice?", True),
        ("How do I transfer money from savings to checking?",
         "How do I transfer money from checking to savings?", False),
        ("Set a reminder for 6 am", "Set a reminder for 6 pm", False),
        ("How do I turn on dark mode?", "How do I turn off dark mode?", False),
        ("Is the museum open on Sunday?", "Is the museum open on Monday?", False),
        ("Which fruits can dogs eat?", "Which fruits can't dogs eat?", False),
        # Reworded in several words at once: the pair encoder reads it as the same question.
        ("What is the population of Canada?", "How many people live in Canada?", True),
        ("Give me three ideas for dinner", "Give me ten ideas for dinner", False),
        ("How do I convert Celsius to Fahrenheit?", "How do I convert Fahrenheit to Celsius?", False),
        # One word swapped for a WordNet synonym (wordnet.py), and for a word that is not.
        ("What should I check before I purchase a used car?",
         "What should I check before I buy a used car?", True),
        ("Which trousers go with a navy blazer?", "Which pants go with a navy blazer?", True),
        ("Can a father get custody of a child?", "Can a mother get custody of a child?", False),
    ],
)  # fmt: skip
def test_verified_lookup(tmp_path: Path, shared_embedder, verifier, stored, query, same) -> None:  # type: ignore[no-untyped-def]
    with SemanticCache(tmp_path, dim=shared_embedder.dim, verifier=verifier, durable=False) as c:
        c.store("t", context_fingerprint="ctx", query_text=stored,
                query_vec=query_vector(shared_embedder, stored), response="A")  # fmt: skip
        hit = c.lookup("t", "ctx", query, query_vector(shared_embedder, query))
        assert (hit is not None) == same
        if hit is not None:
            assert hit.score is not None and hit.score >= verifier.threshold


def test_report_removes_the_entry_is_tenant_scoped_and_persists(
    tmp_path: Path, shared_embedder, verifier
) -> None:  # type: ignore[no-untyped-def]
    q, para = "What is the capital of France?", "what's the capital of france"
    vq, vp = query_vector(shared_embedder, q), query_vector(shared_embedder, para)
    with SemanticCache(tmp_path, dim=shared_embedder.dim, verifier=verifier) as c:
        for tenant in ("a", "b"):
            c.store(tenant, context_fingerprint="ctx", query_text=q, query_vec=vq,
                    response="Paris", semantic_key="sem-1", exact_key=f"ex-{tenant}")  # fmt: skip
        hit = c.lookup("a", "ctx", para, vp)
        assert hit is not None and hit.kind == "semantic" and hit.key == "sem-1"
        assert c.report_bad_hit("b", "no-such-key").removed == 0
        report = c.report_bad_hit("a", hit.key)
        assert report.removed == 1 and report.kind == "semantic" and report.score == hit.score
        assert c.lookup("a", "ctx", para, vp) is None  # gone at once
        assert c.lookup("b", "ctx", para, vp) is not None  # the other tenant keeps its entry
        raised = c.tenant_threshold("a")
        assert raised is not None and raised > verifier.threshold
        assert c.tenant_threshold("b") == verifier.threshold
    with SemanticCache(tmp_path, dim=shared_embedder.dim, verifier=verifier) as c:
        assert c.tenant_threshold("a") == raised  # the calibration survived a restart
        assert c.count("a") == 0 and c.count("b") == 1


def test_the_encoder_cannot_raise_a_pair_whose_numbers_or_negation_differ(
    shared_embedder, verifier
) -> None:  # type: ignore[no-untyped-def]
    features_only = Verifier(shared_embedder, max_false_hit_rate=0.01)
    for a, b in [("Give me three ideas for dinner", "Give me ten ideas for dinner"),
                 ("Is the app free?", "Is the app not free?")]:  # fmt: skip
        cos = float(query_vector(shared_embedder, a) @ query_vector(shared_embedder, b))
        x = pair_features(a, b, cos, None)
        mlp = float(features_only.model.score(x)[0])
        assert verifier.score(a, b, cos) <= mlp + 1e-9


def test_features_matcher_is_the_mlp_alone_with_its_own_calibration(
    shared_embedder, verifier
) -> None:  # type: ignore[no-untyped-def]
    features_only = Verifier(shared_embedder, max_false_hit_rate=0.01)
    assert features_only.encoder is None and verifier.encoder is not None
    assert features_only.threshold != verifier.threshold
    assert features_only.max_candidates > verifier.max_candidates


@pytest.mark.parametrize(
    ("stored", "query"),
    [
        ("Which airline owns KLM?", "Which airline does KLM own?"),
        ("How many grams are in 3 ounces?", "How many ounces are in 3 grams?"),
    ],
)
def test_arguments_that_trade_roles_are_refused_without_the_encoder(
    verifier, stored: str, query: str
) -> None:  # type: ignore[no-untyped-def]
    assert verifier.roles is not None  # the committed calibration assumes the role veto
    before = verifier.encoded
    assert verifier.score_many([stored], query, [0.99], cut=verifier.threshold)[0] == 0.0
    assert verifier.encoded == before  # refused before any forward pass
    assert verifier.score(stored, stored, 1.0) >= verifier.threshold  # the question itself


@pytest.mark.parametrize(
    ("stored", "query"),
    [
        ("What are the main exports of Chile?", "What are the main exports of Peru?"),  # nouns
        ("Which closing costs does the buyer pay?", "Which closing costs does the seller pay?"),
    ],
)
def test_another_noun_or_an_opposite_is_refused_without_the_encoder(
    verifier, stored: str, query: str
) -> None:  # type: ignore[no-untyped-def]
    # the committed calibration assumes both refusals
    assert verifier.nouns is not None and verifier.opposites is not None
    before = verifier.encoded
    assert verifier.score_many([stored], query, [0.99], cut=verifier.threshold)[0] == 0.0
    assert verifier.encoded == before


def test_the_encoder_reads_only_the_candidates_the_features_leave_open(verifier) -> None:  # type: ignore[no-untyped-def]
    cut, before = verifier.threshold, verifier.encoded
    assert verifier.score_many(["Which fruits can dogs eat?"], "Which fruits can't dogs eat?",
                               [0.95], cut=cut)[0] < cut  # fmt: skip
    assert verifier.encoded == before  # a negation: the encoder could not lift it
    reworded = verifier.score_many(["What is the population of Canada?"],
                                   "How many people live in Canada?", [0.86], cut=cut)  # fmt: skip
    assert verifier.encoded == before + 1 and reworded[0] >= cut  # undecided: read, then served


def test_an_encoder_calibrated_with_synonyms_needs_wordnet(
    shared_embedder, shared_pair_encoder, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    assert shared_pair_encoder.meta.info.get("synonyms")
    monkeypatch.setattr(verifier_module, "default_wordnet", lambda: None)
    with pytest.raises(RuntimeError, match=r"WordNet 3\.0 was not found"):
        Verifier(shared_embedder, encoder=shared_pair_encoder)
