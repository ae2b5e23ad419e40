"""Hostile values in every field an outsider can set, through every output: random unicode (control,
bidi, zero-width, surrogate-free astral characters, markdown and Slack syntax) in the caller's session
name, source identity, user name, source IP, user agent, event id, the rule's description and the
group id; each output must stay within its schema and limits, keep SNS attributes plain, and keep
every chat code span closed."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.notify import message_attributes, render
from chalicelib.outputs import chat, eventbus, securityhub
from tests.conftest import load_sample
from tests.test_output_renderers import NOW, PRODUCT, check_asff, check_chat, decision_of

CASES = 300
SAMPLE = "authorize-ingress-all-traffic-world.json"
NASTY = st.sampled_from(
    [
        "\u202e",
        "\u200b",
        "\n",
        "\r",
        "\x00",
        "\x1b[31m",
        "`",
        "<!channel>",
        "<@U1>",
        "*",
        "_",
        "~",
        "|",
        "\\",
        "\u2028",
    ]
)
TEXT = st.lists(st.one_of(st.text(max_size=40), NASTY), max_size=12).map("".join)


def hostile(
    session: str, source: str, agent: str, ip: str, event_id: str, description: str
) -> dict[str, Any]:
    event = copy.deepcopy(load_sample(SAMPLE))
    detail = event["detail"]
    identity = detail["userIdentity"]
    identity["arn"] = f"arn:aws:sts::111122223333:assumed-role/DeveloperAccess/{session}"
    identity["sessionContext"]["sourceIdentity"] = source or None
    detail["userAgent"] = agent
    detail["sourceIPAddress"] = ip
    detail["eventID"] = event_id or "e"
    for item in detail["responseElements"]["securityGroupRuleSet"]["items"]:
        item["description"] = description
    return event


@settings(max_examples=CASES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, st.sampled_from(["revoked", "would-revoke", "failed", "reported"]))
def test_every_output_stays_within_its_limits(
    session: str, source: str, agent: str, ip: str, event_id: str, description: str, action: str
) -> None:
    decision = decision_of(SAMPLE, action, event=hostile(session, source, agent, ip, event_id, description))
    imports = securityhub.imports(decision, PRODUCT, NOW)
    for finding in imports.found + imports.resolved:
        check_asff(finding)
    message = chat.notification(decision)
    parsed = check_chat(message)
    for line in [*parsed.content.description.splitlines(), *(parsed.content.next_steps or [])]:
        assert line.count("`") % 2 == 0, line
    text = json.dumps(message, ensure_ascii=False)
    assert "<!channel>" not in text
    assert "<@U1>" not in text
    entry = eventbus.entry(decision)
    assert eventbus.entry_size(entry) <= eventbus.ENTRY_LIMIT
    assert json.loads(entry["Detail"])["event_id"] == decision.event_id
    strings, arrays = message_attributes(decision)
    for value in [*strings.values(), *arrays["controls"]]:
        assert len(value) <= 256
        assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in value)
        assert "\u202e" not in value
    assert len(strings) + len(arrays) <= 10
    assert len(render(decision).subject) <= 99
