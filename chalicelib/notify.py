"""Pure rendering of the SNS message: readable text for people, the decision document for machines.

SNS caps a publish (body and attributes) at 256 KiB and a subject at 100 printable ASCII characters,
and refuses text that is not valid Unicode. Everything in an event an outsider can write (the user
agent, descriptions, ids of a forged event) reaches the message, so the message is built to fit
whatever comes in: every text value is clipped and every list cut, with counts of what was left out
(``omitted``; the log line always has everything), trimmed further, level by level, until the whole
publish fits. Unpaired surrogates become U+FFFD; in the e-mail text, control, line-separating and
bidirectional-override characters are shown as escapes (``\n``, ``\u202e``), so that no value can
start a line of its own (a forged "WHAT SGGUARD DID" block) or reorder what people read.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from chalicelib.baseline import SEVERITY_ORDER
from chalicelib.decision import Actor, Decision, FindingDoc, not_judged_words
from chalicelib.identity import plain
from chalicelib.rules import Source, SourceKind

SNS_LIMIT = 262_144
"""Bytes SNS accepts for one publish: the message, the subject and the attributes together."""
MESSAGE_BUDGET = 240_000
"""Bytes for the JSON message: SNS's 262,144 less room for the subject and the attributes."""
SUBJECT_LIMIT = 99
LEVELS = ((50, 1000), (20, 300), (5, 120), (0, 60))
"""(entries kept per list, characters kept per text value), tried in turn until the message fits."""
_LISTS = (
    "not_judged",
    "exempted",
    "exemptions_expired",
    "event_errors",
    "action_needed",
    "group_rules_breaking",
)

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
    return sorted(findings, key=lambda f: -SEVERITY_ORDER.get(f.severity, 0))


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSAFE_IN_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def valid_unicode(text: str) -> str:
    """Text every encoder takes: unpaired surrogates (which UTF-8 cannot encode) become U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if "\ud800" <= char <= "\udfff":
        return "\ufffd"
    return _ESCAPES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def one_line(text: str) -> str:
    """A text shown on one line of the e-mail, as it is, with what could break or reorder the line
    shown as an escape."""
    return _UNSAFE_IN_LINE.sub(_escape, text)


def clip(text: str, limit: int) -> str:
    text = valid_unicode(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def _clip_all(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return clip(value, limit)
    if isinstance(value, list):
        return [_clip_all(v, limit) for v in value]
    if isinstance(value, dict):
        return {k: _clip_all(v, limit) for k, v in value.items()}
    return value


def bounded(decision: Decision, keep: int, lists: int, chars: int) -> Decision:
    """A copy of the decision for the message: the ``keep`` most severe findings, ``lists`` entries of
    every other list (and of each finding's reasons), every text at most ``chars`` characters, and
    the counts of what was left out."""
    ordered = _sorted(decision.findings)
    kept = [
        f.model_copy(
            update={"why": f.why[:lists] if lists else f.why[:1], "controls": f.controls[: max(lists, 1) * 4]}
        )
        for f in ordered[:keep]
    ]
    omitted = dict(decision.omitted)
    update: dict[str, Any] = {
        "findings": kept,
        "findings_omitted": decision.findings_omitted + len(ordered) - len(kept),
    }
    for name in _LISTS:
        items = getattr(decision, name)
        if len(items) > lists:
            update[name] = items[:lists]
            omitted[name] = omitted.get(name, 0) + len(items) - lists
    why_left_out = sum(len(f.why) for f in ordered[:keep]) - sum(len(f.why) for f in kept)
    if why_left_out:
        omitted["why"] = omitted.get("why", 0) + why_left_out
    update["omitted"] = omitted
    document = decision.model_copy(update=update).to_json_dict()
    return Decision.model_validate(_clip_all(document, chars))


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


def _ascii(text: str) -> str:
    return re.sub(r"[^\x20-\x7e]", "?", text)


def subject(decision: Decision) -> str:
    group, account = _ascii(decision.group_id or "-")[:24], _ascii(decision.account or "?")[:12]
    where = f"{group} ({account} {_ascii(decision.region or '?')[:16]})"
    if decision.findings:
        controls = sorted({c for f in decision.findings for c in f.controls})
        count = len(decision.findings) + decision.findings_omitted
        verb = _verb(decision)
        if decision.action_needed and "ACTION NEEDED" not in verb:
            verb = f"ACTION NEEDED, {verb}"
        text = (
            f"sgguard {decision.severity}: {verb} {count} rule{'s' if count != 1 else ''} "
            f"in {where} {','.join(controls)}"
        )
    elif decision.outcome == "invalid" or decision.group_rules_breaking:
        text = f"sgguard ACTION NEEDED: an event could not be read, {where}"
    else:
        text = f"sgguard ACTION NEEDED: could not judge every rule in {where}"
    text = _ascii(text)  # SNS subjects: printable ASCII, no line breaks
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 3] + "..."


def _finding_lines(decision: Decision, f: FindingDoc) -> list[str]:
    lines = [f"- {rule_words(f)}   [{ACTION_WORDS[f.action]}]"]
    if f.in_event:
        lines.append(
            f"  the event said: {f.in_event}; the rule was changed before sgguard acted, this is it as found"
        )
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
    return lines


def _left_out(count: int, what: str) -> list[str]:
    return (
        [f"... and {count} more {what} left out to fit SNS's size limit; the log has them all."]
        if count
        else []
    )


def text(decision: Decision) -> str:
    """The e-mail: what, where, who, when, what was done, how to undo it; and, first, what people must
    do that sgguard could not. Every line is made one line (:func:`one_line`): the only line breaks
    are the ones put here."""
    actor, omitted = decision.actor, decision.omitted
    total = len(decision.findings) + decision.findings_omitted
    if decision.findings:
        opening = f"sgguard {_verb(decision)} {total} security-group rule(s) that break the baseline."
    else:
        opening = (
            "ACTION NEEDED: sgguard could not judge all of a security-group change. Nothing was revoked."
        )
    lines = [
        opening,
        "",
        f"Who:      {person_words(actor)}",
        f"Account:  {decision.account}",
        f"Region:   {decision.region}",
        f"Group:    {decision.group_id}",
        f"Baseline: {decision.baseline}   Mode: {decision.mode}",
    ]
    if decision.action_needed:
        lines += ["", "ACTION NEEDED"]
        lines.extend(f"- {item}" for item in decision.action_needed)
        lines += _left_out(omitted.get("action_needed", 0), "item(s)")
    if decision.findings:
        lines += ["", "WHAT WAS WRONG"]
        for f in decision.findings:
            lines.extend(_finding_lines(decision, f))
        lines += _left_out(decision.findings_omitted, "finding(s)")
    if decision.group_rules_breaking:
        lines += [
            "",
            "THE GROUP'S RULES THAT BREAK THE BASELINE NOW (not revoked: which the event made is unknown)",
        ]
        for f in decision.group_rules_breaking:
            lines.extend(_finding_lines(decision, f))
        lines += _left_out(omitted.get("group_rules_breaking", 0), "rule(s)")
    if decision.not_judged:
        lines += ["", "NOT JUDGED"]
        lines.extend(f"- {not_judged_words(n)}" for n in decision.not_judged)
        lines += _left_out(omitted.get("not_judged", 0), "entries")
    if decision.event_errors:
        lines += ["", "FIELDS OF THE EVENT SGGUARD COULD NOT READ"]
        lines.extend(f"- {e}" for e in decision.event_errors)
        lines += _left_out(omitted.get("event_errors", 0), "field(s)")
    if decision.exempted:
        lines += ["", "EXEMPTED (left in place)"]
        lines.extend(
            f"- rule {x.rule_id or '(no id)'}: {', '.join(x.controls)} lifted by exemption {x.exemption} "
            f"until {x.expires}: {x.reason}"
            for x in decision.exempted
        )
        lines += _left_out(omitted.get("exempted", 0), "exempted rule(s)")
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
    if any(f.action == "failed" for f in decision.findings):
        lines.append(
            "Some rules could NOT be revoked and are still open: revoke them by hand, check sgguard's role."
        )
    revoked = [f for f in decision.findings if f.action in ("revoked", "already-absent")]
    if revoked:
        lines += [
            "",
            "HOW TO PUT IT BACK (if it was legitimate)",
            "Add an exemption to the baseline first, or sgguard will revoke the rule again. Then:",
        ]
        lines.extend(restore_command(f, decision.group_id, decision.region) for f in revoked)
    return "\n".join(one_line(line) for line in lines) + "\n"


def _body(decision: Decision) -> str:
    doc_json = json.dumps(decision.to_json_dict(), separators=(",", ":"))
    return json.dumps(
        {"default": text(decision), "sqs": doc_json, "lambda": doc_json, "https": doc_json},
        ensure_ascii=False,
    )


def _fits(body: str) -> bool:
    return len(body.encode()) <= MESSAGE_BUDGET


def render(decision: Decision) -> Message:
    """The message for a decision, trimmed to SNS's limits: the least severe findings go first, then
    every list and text is cut harder, level by level; the last level always fits."""
    total = len(decision.findings)
    body = ""
    for lists, chars in LEVELS:
        body = _body(bounded(decision, total, lists, chars))
        if _fits(body):
            break
        low, high = 0, total  # the largest count of findings that fits at this level
        while low < high:
            middle = (low + high + 1) // 2
            if _fits(_body(bounded(decision, middle, lists, chars))):
                low = middle
            else:
                high = middle - 1
        body = _body(bounded(decision, low, lists, chars))
        if _fits(body):
            break
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
    return plain(valid_unicode(value) if value else value, ATTRIBUTE_VALUE_LIMIT) or ""


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
