"""Pure rendering of the SNS message: readable text for people, the decision document for machines.

SNS caps a message at 256 KB and a subject at 100 ASCII characters. An event may carry a thousand
rules; the message then keeps the most severe findings and says how many it leaves out (the log line
always has them all).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from chalicelib.baseline import SEVERITY_ORDER
from chalicelib.decision import Actor, Decision, FindingDoc
from chalicelib.identity import plain
from chalicelib.rules import Source, SourceKind

MESSAGE_BUDGET = 240_000
"""Bytes for the JSON message: SNS's 262,144 less room for the subject and the attributes."""
SUBJECT_LIMIT = 99

ACTION_WORDS = {
    "revoked": "revoked",
    "would-revoke": "would revoke (dry-run)",
    "already-absent": "already gone",
    "already-fixed": "already fixed since the event, left in place",
    "failed": "FAILED to revoke",
    "reported": "reported only",
}


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    body: str
    """The JSON document SNS expects with MessageStructure=json."""
    attributes: dict[str, str]
    array_attributes: dict[str, list[str]] = field(default_factory=dict)
    """Sent as String.Array (filter policies match any element)."""


def rule_words(f: FindingDoc) -> str:
    """A rule as a person says it (``tcp 22 from 0.0.0.0/0``): the message and replay's table use it."""
    preposition = "from" if f.direction == "ingress" else "to"
    if f.protocol == "-1":
        traffic = "all traffic"
    elif f.protocol in ("tcp", "udp"):
        low, high = f.from_port, f.to_port
        if low is None or high is None or (low <= 0 and high >= 65535):
            traffic = f"{f.protocol} all ports"
        else:
            traffic = f"{f.protocol} {low}" if low == high else f"{f.protocol} {low}-{high}"
    else:
        traffic = f"{f.protocol}" if f.protocol in ("icmp", "icmpv6") else f"protocol {f.protocol}"
    return f"{traffic} {preposition} {f.source}"


_PERMISSION_FIELDS: dict[SourceKind, tuple[str, str]] = {
    "cidr_ipv4": ("IpRanges", "CidrIp"),
    "cidr_ipv6": ("Ipv6Ranges", "CidrIpv6"),
    "prefix_list": ("PrefixListIds", "PrefixListId"),
    "security_group": ("UserIdGroupPairs", "GroupId"),
}
"""Where each kind of source goes in an IpPermission, and under which key."""


def restore_command(f: FindingDoc, group_id: str | None, region: str | None) -> str:
    """The AWS CLI command that re-creates the rule exactly (JSON form: no shorthand quoting traps)."""
    permission: dict[str, Any] = {"IpProtocol": f.protocol}
    if f.protocol in ("tcp", "udp"):
        permission["FromPort"] = 0 if f.from_port is None or f.from_port < 0 else f.from_port
        permission["ToPort"] = 65535 if f.to_port is None or f.to_port < 0 else f.to_port
    elif f.protocol != "-1":
        permission["FromPort"] = -1 if f.from_port is None else f.from_port
        permission["ToPort"] = -1 if f.to_port is None else f.to_port
    described: dict[str, str] = {"Description": f.description} if f.description else {}
    field, key = _PERMISSION_FIELDS[Source.from_text(f.source).kind]
    permission[field] = [{key: f.source, **described}]
    verb = (
        "authorize-security-group-ingress" if f.direction == "ingress" else "authorize-security-group-egress"
    )
    parts = ["aws", "ec2", verb]
    if region:
        parts += ["--region", region]
    parts += ["--group-id", group_id or "GROUP_ID", "--ip-permissions", json.dumps([permission])]
    return shlex.join(parts)


def person_words(actor: Actor) -> str:
    """The person first, then what they acted through: every output leads with this."""
    person = actor.person or actor.principal or actor.arn or "an unknown caller"
    return f"{person} (via {actor.via})" if actor.via and actor.person else person


def _sorted(findings: list[FindingDoc]) -> list[FindingDoc]:
    return sorted(findings, key=lambda f: -SEVERITY_ORDER[f.severity])


def _verb(decision: Decision) -> str:
    actions = {f.action for f in decision.findings}
    if "failed" in actions:
        return "ACTION NEEDED, failed to revoke"
    if "revoked" in actions:
        return "revoked"
    if "would-revoke" in actions:
        return "would revoke"
    if actions == {"reported"}:
        return "found"
    if actions == {"already-fixed"}:
        return "found (already fixed)"
    return "found (already gone)"


def subject(decision: Decision) -> str:
    controls = sorted({c for f in decision.findings for c in f.controls})
    count = len(decision.findings)
    text = (
        f"sgguard {decision.severity}: {_verb(decision)} {count} rule{'s' if count != 1 else ''} "
        f"in {decision.group_id} ({decision.account} {decision.region}) {','.join(controls)}"
    )
    text = re.sub(r"[^\x20-\x7e]", "?", text)  # SNS subjects: printable ASCII, no line breaks
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 3] + "..."


def text(decision: Decision, findings: list[FindingDoc], omitted: int) -> str:
    """The e-mail: what, where, who, when, what was done, how to undo it."""
    actor = decision.actor
    lines = [
        f"sgguard {_verb(decision)} {len(decision.findings)} security-group rule(s) that break the baseline.",
        "",
        f"Who:      {person_words(actor)}",
        f"Account:  {decision.account}",
        f"Region:   {decision.region}",
        f"Group:    {decision.group_id}",
        f"Baseline: {decision.baseline}   Mode: {decision.mode}",
        "",
        "WHAT WAS WRONG",
    ]
    for f in findings:
        lines.append(f"- {rule_words(f)}   [{ACTION_WORDS[f.action]}]")
        lines.append(f"  rule id: {f.rule_id or '(none in the event)'}")
        if f.rule_arn:
            lines.append(f"  rule ARN: {f.rule_arn}")
        if f.description:
            lines.append(f"  description: {f.description}")
        lines.extend(f"  {w.control} ({w.severity}) {w.title}: {w.reason}" for w in f.why)
        lines.extend(
            f"  exemption {x.exemption} expired on {x.expired_on} (it lifted {', '.join(x.controls)}); "
            "renew it in the baseline if this rule is still needed"
            for x in decision.exemptions_expired
            if x.rule_id == f.rule_id
        )
        if f.error:
            lines.append(f"  error: {f.error}")
        if f.note:
            lines.append(f"  note: {f.note}")
    if omitted:
        lines.append(
            f"... and {omitted} more finding(s) left out to fit SNS's size limit; the log has them all."
        )
    if decision.exempted:
        lines += ["", "EXEMPTED (left in place)"]
        lines.extend(
            f"- rule {x.rule_id or '(no id)'}: {', '.join(x.controls)} lifted by exemption {x.exemption} "
            f"until {x.expires}: {x.reason}"
            for x in decision.exempted
        )
    lines += [
        "",
        "WHO DID IT",
        f"Person:        {actor.person or '(the record names no person)'}"
        + (f"   [{actor.person_source}]" if actor.person_source else ""),
        f"Via:           {actor.via}",
        f"Identity type: {actor.type}",
        f"ARN:           {actor.arn}",
        f"Principal:     {actor.principal}",
    ]
    if actor.session:
        lines.append(f"Session:       {actor.session}")
    if actor.invoked_by:
        lines.append(f"Invoked by:    {actor.invoked_by}")
    lines += [
        f"Source IP:     {actor.source_ip}",
        f"User agent:    {actor.user_agent}",
        "",
        "WHEN",
        f"Event time: {decision.event_time}",
        f"Event id:   {decision.event_id} ({decision.event_name})",
        "",
        "WHAT SGGUARD DID",
        decision.reason,
    ]
    if any(f.action == "failed" for f in findings):
        lines.append(
            "Some rules could NOT be revoked and are still open: revoke them by hand, check sgguard's role."
        )
    revoked = [f for f in findings if f.action in ("revoked", "already-absent")]
    if revoked:
        lines += [
            "",
            "HOW TO PUT IT BACK (if it was legitimate)",
            "Add an exemption to the baseline first, or sgguard will revoke the rule again. Then:",
        ]
        lines.extend(restore_command(f, decision.group_id, decision.region) for f in revoked)
    return "\n".join(lines) + "\n"


def _body(decision: Decision, keep: int) -> str:
    ordered = _sorted(decision.findings)
    kept, omitted = ordered[:keep], len(ordered) - keep
    document = decision.model_copy(update={"findings": kept, "findings_omitted": omitted})
    doc_json = json.dumps(document.to_json_dict(), separators=(",", ":"))
    return json.dumps(
        {"default": text(decision, kept, omitted), "sqs": doc_json, "lambda": doc_json, "https": doc_json},
        ensure_ascii=False,
    )


def render(decision: Decision) -> Message:
    """The message for a violating decision, trimmed to SNS's size by dropping the least severe findings."""
    total = len(decision.findings)
    body = _body(decision, total)
    if len(body.encode()) > MESSAGE_BUDGET:
        low, high = 0, total  # largest count that fits: binary search, the body grows with each finding
        while low < high:
            middle = (low + high + 1) // 2
            if len(_body(decision, middle).encode()) <= MESSAGE_BUDGET:
                low = middle
            else:
                high = middle - 1
        body = _body(decision, low)
    strings, arrays = message_attributes(decision)
    return Message(subject=subject(decision), body=body, attributes=strings, array_attributes=arrays)


ATTRIBUTE_LIMIT = 10
"""SNS takes at most 10 message attributes."""
ATTRIBUTE_VALUE_LIMIT = 256
"""Characters kept of a string attribute: values come from the event, which an outsider may shape."""
CONTROLS_LIMIT = 50
_CONTROL_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_ACTION_PRECEDENCE = ("failed", "revoked", "would-revoke", "reported", "already-fixed", "already-absent")


def headline_action(decision: Decision) -> str:
    """The one action that matters most in a decision (a failure before a revocation, and so on)."""
    actions = {f.action for f in decision.findings}
    return next((a for a in _ACTION_PRECEDENCE if a in actions), "none")


def _attribute(value: str | None) -> str:
    return plain(value, ATTRIBUTE_VALUE_LIMIT) or ""


def message_attributes(decision: Decision) -> tuple[dict[str, str], dict[str, list[str]]]:
    """What a subscription can filter on: strings, and the controls as a String.Array. Bounded and
    made plain (no control or bidi characters), since the person comes from the event."""
    controls = sorted({c for f in decision.findings for c in f.controls})
    safe_controls = [c for c in controls if _CONTROL_ID.fullmatch(c)][:CONTROLS_LIMIT]
    strings = {
        "severity": decision.severity,
        "outcome": decision.outcome,
        "action": headline_action(decision),
        "mode": decision.mode,
        "account": _attribute(decision.account),
        "region": _attribute(decision.region),
        "person": _attribute(decision.actor.person),
        "person_source": _attribute(decision.actor.person_source),
    }
    arrays = {"controls": safe_controls}
    assert len(strings) + len(arrays) <= ATTRIBUTE_LIMIT
    return strings, arrays
