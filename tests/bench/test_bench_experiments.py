"""The experiments suite's parts: the scripted upstream answers only from its
prompt (over real HTTP) and reports the prompt's size; checkpoints settle."""

from __future__ import annotations

import json
import urllib.request

from promptpress.bench.suites.experiments import NOT_FOUND, ScriptedUpstream, _settled, correct


async def test_scripted_upstream_answers_from_the_prompt_only() -> None:
    import asyncio

    upstream = ScriptedUpstream({"Who built it?": ("Ada Lovelace",)})
    await upstream.start()
    url = f"http://127.0.0.1:{upstream.port}/v1/chat/completions"

    def ask(context: str) -> dict:
        body = {"model": "m", "messages": [{"role": "user", "content": context},
                                           {"role": "user", "content": "Who built it?"}]}  # fmt: skip
        req = urllib.request.Request(
            url, json.dumps(body).encode(), {"content-type": "application/json"}
        )
        return json.loads(urllib.request.urlopen(req, timeout=10).read())

    try:
        with_answer = await asyncio.to_thread(ask, "The engine was built by Ada Lovelace in 1843.")
        without = await asyncio.to_thread(ask, "The engine was built in 1843.")
    finally:
        await upstream.stop()
    assert with_answer["choices"][0]["message"]["content"] == "Ada Lovelace"
    assert without["choices"][0]["message"]["content"] == NOT_FOUND
    assert with_answer["usage"]["prompt_tokens"] > without["usage"]["prompt_tokens"] > 0
    assert correct("It was Ada Lovelace.", ("Ada Lovelace",)) and not correct(NOT_FOUND, ("Ada",))


def test_settled_is_the_first_checkpoint_after_which_the_ci_excludes_zero() -> None:
    points = [
        {"conversations": 10, "outcome_difference_ci": [-0.3, 0.1]},
        {"conversations": 20, "outcome_difference_ci": [-0.3, -0.01]},
        {"conversations": 30, "outcome_difference_ci": [-0.2, 0.01]},
        {"conversations": 40, "outcome_difference_ci": [-0.2, -0.05]},
        {"conversations": 50, "outcome_difference_ci": [-0.2, -0.08]},
    ]
    assert _settled(points) == 40
    assert _settled(points[:3]) is None
