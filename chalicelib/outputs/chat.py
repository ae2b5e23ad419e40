"""The chat message: Amazon Q Developer in chat applications (formerly AWS Chatbot) custom notification.

An SNS topic mapped to a Slack or Teams channel renders a message whose body is this JSON: ``version``
"1.0" and ``source`` "custom" (both required), ``content`` (``textType`` "client-markdown", ``title``,
``description``, ``nextSteps``, ``keywords``) and ``metadata`` (``threadId`` so that one group's alerts
share a thread, ``summary``, ``eventType``, ``relatedResources``, ``additionalContext``).

Everything an event can shape (session names, rule descriptions, user agents) is shown inside inline
code with backticks and angle brackets replaced, so nobody can ``<!channel>`` a workspace, forge a
link or break the formatting through a session name. Sizes are bounded (:data:`LIMITS`): the most
severe findings are listed first and the rest counted; the e-mail and the log carry them all.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.decision import Decision, FindingDoc
from chalicelib.identity import plain
from chalicelib.notify import ACTION_WORDS, headline_action, restore_command, rule_words
from chalicelib.outputs.eventbus import detail_type, group_arn
from chalicelib.outputs.fit import most_severe_first
from chalicelib.outputs.words import revoke_command

LIMITS = {
    "title": 250,
    "description": 3000,
    "next_steps": 5,
    "next_step": 1000,
    "keywords": 10,
    "keyword": 64,
    "summary": 250,
    "related_resources": 10,
    "context_value": 256,
}
"""sgguard's bounds, within what the chat integration and Slack accept (Slack cuts a text block at
3,000 characters; README "Chat" says how these were chosen)."""

_MARKUP = re.compile(r"[`<>*_~|\[\]\\]")
_UNSAFE_IN_CODE = re.compile(r"[`<>\x00-\x1f\x7f]")
"""What would end an inline code span, or mention someone, inside it."""
_SEVERITY_EMOJI = {"CRITICAL": ":rotating_light:", "HIGH": ":red_circle:", "MEDIUM": ":large_orange_diamond:"}


def code(value: object, limit: int = 256) -> str:
    """An outsider's value as inline code that cannot close itself, mention anyone or link anywhere."""
    text = plain(str(value), limit) or "-"
    return "`" + text.replace("`", "'").replace("<", "\u2039").replace(">", "\u203a") + "`"


def safe(value: object, limit: int) -> str:
    """Plain words for a title or summary: no markup characters at all."""
    return plain(_MARKUP.sub("", str(value)), limit) or ""


def _finding_line(finding: FindingDoc) -> str:
    controls = ", ".join(f"{w.control} ({w.severity})" for w in finding.why)
    return f"• {code(rule_words(finding))} {controls}: *{ACTION_WORDS[finding.action]}*"


def _next_step(decision: Decision, finding: FindingDoc) -> str | None:
    if finding.action in ("revoked", "already-absent"):
        command = restore_command(finding, decision.group_id, decision.region)
        lead = "If it was legitimate: add an exemption to the baseline, then restore it with"
    elif finding.action in ("would-revoke", "reported", "failed"):
        command = revoke_command(finding, decision.group_id, decision.region)
        lead = "Revoke it by hand" if finding.action == "failed" else "Revoke it"
    else:
        return None
    if _UNSAFE_IN_CODE.search(command):
        return f"{lead}: see the e-mail for the command (this rule's text cannot be shown here safely)."
    step = f"{lead} `{command}`"
    return step if len(step) <= LIMITS["next_step"] else f"{lead}: see the e-mail for the command."


def _description(decision: Decision) -> str:
    actor = decision.actor
    who = code(actor.person) if actor.person else "_the record names no person_"
    lines = [
        f"*Who:* {who}"
        + (f" via {code(actor.via)}" if actor.via else "")
        + (f" ({actor.person_source})" if actor.person_source else ""),
        f"*Where:* account {code(decision.account)}, {code(decision.region)}, "
        f"group {code(decision.group_id)}",
        f"*When:* {code(decision.event_time)} ({code(decision.event_name)}, event {code(decision.event_id)})",
        f"*Mode:* {decision.mode}, baseline {code(decision.baseline)}",
        "",
        f"*{len(decision.findings) + decision.findings_omitted} rule(s) break the baseline:*",
    ]
    budget = LIMITS["description"] - 200
    ordered = most_severe_first(decision).findings
    shown = 0
    for finding in ordered:
        line = _finding_line(finding)
        if sum(len(x) + 1 for x in lines) + len(line) > budget:
            break
        lines.append(line)
        shown += 1
    left = len(ordered) - shown + decision.findings_omitted
    if left:
        lines.append(f"…and {left} more; the e-mail and the log have them all.")
    if headline_action(decision) == "failed":
        lines.append("*Some rules could NOT be revoked and are still open.*")
    return "\n".join(lines)[: LIMITS["description"]]


def _title(decision: Decision) -> str:
    emoji = _SEVERITY_EMOJI.get(decision.severity, ":warning:")
    count = len(decision.findings) + decision.findings_omitted
    what = rule_words(decision.findings[0]) if count == 1 and decision.findings else f"{count} rules"
    verb = ACTION_WORDS.get(headline_action(decision), "found")
    actor = decision.actor
    who = safe(actor.person or actor.principal or actor.arn or "someone", 80)
    return f"{emoji} " + safe(f"{who} opened {what} in {decision.group_id}: {verb}", LIMITS["title"] - 30)


def notification(decision: Decision) -> dict[str, Any]:
    """The custom notification for a violating decision."""
    ordered = most_severe_first(decision).findings
    steps = [s for s in (_next_step(decision, f) for f in ordered) if s][: LIMITS["next_steps"]]
    controls = sorted({c for f in decision.findings for c in f.controls})
    keywords = [safe(k, LIMITS["keyword"]) for k in [decision.severity, decision.mode, *controls]]
    resources = [r for r in [group_arn(decision)] if r]
    resources += [safe(f.rule_arn or f.rule_id, 256) for f in ordered if f.rule_arn or f.rule_id]
    context = {
        "account": decision.account,
        "region": decision.region,
        "groupId": decision.group_id,
        "eventId": decision.event_id,
        "baseline": decision.baseline,
        "mode": decision.mode,
        "person": decision.actor.person,
    }
    thread = safe(f"sgguard-{decision.account}-{decision.region}-{decision.group_id}", 128)
    return {
        "version": "1.0",
        "source": "custom",
        "id": safe(decision.event_id or thread, 128),
        "content": {
            "textType": "client-markdown",
            "title": _title(decision),
            "description": _description(decision),
            "nextSteps": steps,
            "keywords": [k for k in keywords if k][: LIMITS["keywords"]],
        },
        "metadata": {
            "threadId": thread,
            "summary": safe(f"sgguard: {detail_type(decision)} in {decision.group_id}", LIMITS["summary"]),
            "eventType": detail_type(decision),
            "relatedResources": resources[: LIMITS["related_resources"]],
            "additionalContext": {
                k: safe(v, LIMITS["context_value"]) for k, v in context.items() if v is not None
            },
        },
    }
