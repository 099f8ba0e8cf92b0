"""Bodies laid out by cachekeys, per protocol of a plan, sent through the forwarder."""

from __future__ import annotations

from promptpress.server.routing.tiers import UpstreamKind
from promptpress.types import Message, Role
from tests.routing.conftest import request_for, tier, upstream
from tests.routing.fake_upstream import JSONReply, anthropic_message, error_reply

SYSTEM = "You are a meticulous assistant. " * 300  # long enough for explicit cache breakpoints
MESSAGES = [Message(Role.SYSTEM, SYSTEM), Message(Role.USER, "Summarise the rules.")]


async def test_failover_from_openai_to_anthropic_sends_each_its_own_layout(make_fake, forwarder):
    oa, an = make_fake(), make_fake()
    oa.default = error_reply(500, "down")
    an.script(JSONReply(anthropic_message("Done.")))
    plan = [
        tier("small", upstream("gpt", oa)),
        tier("frontier", upstream("claude", an, tier="frontier", kind=UpstreamKind.ANTHROPIC)),
    ]
    request = request_for(MESSAGES, plan)

    result = await forwarder.complete(plan, request)

    assert result.upstream == "frontier/claude"
    openai_body = oa.requests[0].json()
    assert openai_body["model"] == "model-gpt" and openai_body["messages"][0]["role"] == "system"
    anthropic_body = an.requests[0].json()
    assert anthropic_body["model"] == "model-claude"
    assert any("cache_control" in block for block in anthropic_body["system"])


def test_protocols_the_plan_does_not_use_get_no_body():
    request = request_for(MESSAGES, [tier("small", upstream("gpt", _Fake()))])
    assert request.openai is not None and request.anthropic is None


class _Fake:
    openai_base_url = "http://127.0.0.1:9/v1"
    url = "http://127.0.0.1:9"
