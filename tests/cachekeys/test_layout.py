"""Layout: stable-first order, canonical serialisation, volatile spans moved out."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptpress.cachekeys import (
    ContextChunk,
    Section,
    build_layout,
    check_messages,
    split_messages,
)
from promptpress.cachekeys.keys import prefix_hashes
from promptpress.cachekeys.layout import VOLATILE_HEADER
from promptpress.errors import InvalidInput
from promptpress.types import Document, Message, Role, Span, Tool, ToolCall

from .conftest import asst, system, user


def span_of(text: str, part: str) -> Span:
    start = text.encode().index(part.encode())
    return Span(start, start + len(part.encode()))


def test_sections_come_stable_first() -> None:
    layout = build_layout(
        system=["be brief"],
        static_docs=[Document("manual", "how to", static=True)],
        history=[user("hi"), asst("hello")],
        chunks=[ContextChunk("d1", "c1", "fact")],
        last_user=user("q?"),
        tail=[
            asst("", tool_calls=(ToolCall("t1", "f", "{}"),)),
            Message(Role.TOOL, "r", tool_call_id="t1"),
        ],
    )
    assert [s for s in layout.sections] == [
        Section.SYSTEM, Section.STATIC, Section.HISTORY, Section.HISTORY,
        Section.CONTEXT, Section.QUERY, Section.TAIL, Section.TAIL,
    ]  # fmt: skip
    assert layout.static_end == 1 and layout.query_index == 5
    assert layout.conversation_end == 3  # with retrieved context: the end of the history
    assert layout.messages[1].content == '<document id="manual">\nhow to\n</document>'
    assert 'document_id="d1" chunk_id="c1"' in layout.messages[4].content


def test_without_context_the_conversation_ends_with_the_prompt() -> None:
    layout = build_layout(system=["s"], history=[user("a"), asst("b")], last_user=user("c"))
    assert layout.conversation_end == 3


def test_tools_are_sorted_and_their_schemas_canonical() -> None:
    tools = [
        Tool("zeta", "z", '{ "type": "object",\n "properties": {"b": {}, "a": {}} }'),
        Tool("alpha", "a", ""),
    ]
    layout = build_layout(last_user=user("x"), tools=tools)
    assert [t.name for t in layout.tools] == ["alpha", "zeta"]
    assert layout.tools[1].parameters_json == '{"properties":{"a":{},"b":{}},"type":"object"}'


@settings(max_examples=40, deadline=None)
@given(st.permutations(["get_weather", "search", "book_flight", "calc"]), st.booleans())
def test_tool_order_and_json_whitespace_do_not_change_the_prefix(order, spaced) -> None:
    sep = (", ", ": ") if spaced else (",", ":")
    schema = {"type": "object", "properties": {"x": {"type": "string"}}}
    tools = [Tool(name, f"does {name}", json.dumps(schema, separators=sep)) for name in order]
    layout = build_layout(system=["s"], last_user=user("q"), tools=tools)
    reference = build_layout(
        system=["s"],
        last_user=user("q"),
        tools=[Tool(n, f"does {n}", json.dumps(schema)) for n in sorted(order)],
    )
    assert prefix_hashes("t", layout) == prefix_hashes("t", reference)


def test_bad_tool_schema_and_duplicate_names_are_invalid_input() -> None:
    with pytest.raises(InvalidInput) as err:
        build_layout(last_user=user("q"), tools=[Tool("a", "", "{not json"), Tool("b"), Tool("b")])
    fields = [v.field for v in err.value.violations]
    assert fields == ["tools[0].parameters_json", "tools[2].name"]


def test_volatile_spans_move_after_the_cached_prefix() -> None:
    text = "You are a bot. Today is 2026-11-28. Request id: req-81f3."
    sys_msg = system(text, volatile_spans=(span_of(text, "2026-11-28"), span_of(text, "req-81f3")))
    layout = build_layout(
        system=[sys_msg], history=[user("hi"), asst("yo")], last_user=user("now?")
    )
    assert layout.messages[0].content == "You are a bot. Today is [[v1]]. Request id: [[v2]]."
    assert layout.messages[0].volatile_spans == ()
    vol = layout.indices(Section.VOLATILE)
    assert vol == [3] and layout.query_index == 4
    assert (
        layout.messages[3].content == f"{VOLATILE_HEADER}\n[[v1]] = 2026-11-28\n[[v2]] = req-81f3"
    )


def test_changing_a_volatile_value_keeps_the_prefix_identical() -> None:
    def layout_for(date: str):  # type: ignore[no-untyped-def]
        text = f"Today is {date}. Be helpful. " + "rules " * 50
        msg = system(text, volatile_spans=(span_of(text, date),))
        return build_layout(system=[msg], history=[user("a"), asst("b")], last_user=user("c"))

    a, b = layout_for("2026-11-28"), layout_for("2026-11-29")
    ha, hb = prefix_hashes("t", a), prefix_hashes("t", b)
    vol = a.indices(Section.VOLATILE)[0]
    assert ha[:vol] == hb[:vol] and ha[vol] != hb[vol]


def test_volatile_spans_in_the_last_user_message_stay_in_place() -> None:
    text = "order 123: where is it?"
    q = user(text, volatile_spans=(span_of(text, "123"),))
    layout = build_layout(last_user=q)
    assert layout.messages[-1] is q and not layout.volatile


def test_protected_spans_shift_with_the_cut() -> None:
    text = "date: 2026-11-28; keep THIS exact"
    msg = system(
        text,
        volatile_spans=(span_of(text, "2026-11-28"),),
        protected_spans=(span_of(text, "THIS"),),
    )
    out = build_layout(system=[msg], last_user=user("q")).messages[0]
    s = out.protected_spans[0]
    assert out.content.encode()[s.start : s.end] == b"THIS"


def test_multibyte_volatile_spans_are_cut_on_byte_offsets() -> None:
    text = "Zeit: 12:00 Uhr — Grüße, Zoë"
    msg = system(text, volatile_spans=(span_of(text, "Zoë"),))
    layout = build_layout(system=[msg], last_user=user("q"))
    assert layout.messages[0].content == "Zeit: 12:00 Uhr — Grüße, [[v1]]"
    assert layout.volatile[0].text == "Zoë"


@pytest.mark.parametrize(
    ("spans", "field"),
    [
        ((Span(0, 99),), "history[0].volatile_spans[0]"),
        ((Span(2, 1),), "history[0].volatile_spans[0]"),
        ((Span(2, 4),), "history[0].volatile_spans[0]"),  # starts inside the 2-byte "é"
        ((Span(7, 10), Span(9, 12)), "history[0].volatile_spans"),
    ],
)
def test_bad_volatile_spans_are_invalid_input(spans, field) -> None:
    msg = user("héllo world", volatile_spans=spans)
    assert [v.field for v in check_messages([msg], "history")] == [field]
    with pytest.raises(InvalidInput) as err:
        build_layout(history=[msg], last_user=user("q"))
    assert err.value.violations[0].field == field


def test_bad_tool_call_arguments_are_reported() -> None:
    msg = asst("", tool_calls=(ToolCall("1", "f", "{oops"),))
    assert [v.field for v in check_messages([msg])] == ["messages[0].tool_calls[0].arguments_json"]


def test_split_messages() -> None:
    msgs = [system("s"), user("a"), asst("b"), system("mid"), user("c"), asst("", tool_calls=())]
    sys_part, history, last, tail = split_messages(msgs)
    assert sys_part == (msgs[0],) and history == tuple(msgs[1:4]) and last is msgs[4]
    assert tail == (msgs[5],)
    assert split_messages([system("s"), asst("x")])[2] is None


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=30), min_size=1, max_size=6), st.integers(0, 10**6))
def test_layout_is_deterministic(texts, seed) -> None:
    history = [user(t) if i % 2 == 0 else asst(t) for i, t in enumerate(texts)]
    tools = [Tool(f"t{i}", "d", '{"a": 1}') for i in range(3)]
    shuffled = tools[:]
    random.Random(seed).shuffle(shuffled)
    a = build_layout(system=["s"], history=history, last_user=user("q"), tools=tools)
    b = build_layout(system=["s"], history=history, last_user=user("q"), tools=shuffled)
    assert a == b
