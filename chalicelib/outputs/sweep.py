"""The sweep report for chat and EventBridge, and the Security Hub findings a sweep no longer sees.

Same rules as for an event's decision: the report (``chalicelib.sweep.report.SweepReport``) is rendered,
never re-judged. The chat summary and the event go out with the SNS summary (when something changed,
or on a heartbeat); findings are archived only after a *complete* sweep, since a sweep that stopped
early has not seen every rule.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any

from chalicelib.decision import Actor, Decision, FindingDoc, Mode
from chalicelib.notify import ACTION_WORDS, rule_words
from chalicelib.outputs.chat import LIMITS, code, safe
from chalicelib.outputs.eventbus import ENTRY_BUDGET, SOURCE, entry_size
from chalicelib.outputs.securityhub import SWEEP_EVENT, archived, imports
from chalicelib.sweep.report import SweepReport

SWEEP_DETAIL_TYPE = "Security Group Sweep Summary"
_ID = re.compile(
    r"sgguard/(?P<account>[^/]+)/(?P<region>[^/]+)/(?P<group>[^/]+)/(?P<rule>[^/]+)/(?P<control>.+)"
)


# --- EventBridge -----------------------------------------------------------------------------------


def _keep_groups(report: SweepReport, count: int) -> SweepReport:
    omitted = report.groups_omitted + len(report.groups) - count
    return report.model_copy(update={"groups": report.groups[:count], "groups_omitted": omitted})


def _entry(report: SweepReport) -> dict[str, Any]:
    resources = [
        f"arn:aws:ec2:{report.region}:{report.account}:security-group/{g.group_id}" for g in report.groups
    ]
    return {
        "Source": SOURCE,
        "DetailType": SWEEP_DETAIL_TYPE,
        "Detail": json.dumps(report.to_json_dict(), separators=(",", ":"), ensure_ascii=False),
        "Resources": resources[:10] if report.account and report.region else [],
    }


def sweep_entry(report: SweepReport) -> dict[str, Any]:
    """The PutEvents entry: the report as ``detail``, within 256 KB (the least exposed groups go first,
    counted in ``groups_omitted``; groups are ordered by exposure)."""
    if entry_size(_entry(report)) <= ENTRY_BUDGET:
        return _entry(report)
    low, high = 0, len(report.groups)
    while low < high:
        middle = (low + high + 1) // 2
        if entry_size(_entry(_keep_groups(report, middle))) <= ENTRY_BUDGET:
            low = middle
        else:
            high = middle - 1
    trimmed = _keep_groups(report, low)
    if entry_size(_entry(trimmed)) > ENTRY_BUDGET:  # side lists that grow with the rules
        trimmed = trimmed.model_copy(update={"not_judged": [], "errors": trimmed.errors[:20]})
    return _entry(trimmed)


# --- chat ------------------------------------------------------------------------------------------


def _headline(report: SweepReport) -> str:
    t = report.totals
    if report.errors and not report.complete:
        return f"sweep incomplete, {t.violating} violating rule(s) so far"
    parts = [f"{t.violating} violating rule(s)"]
    if report.previous is not None:
        parts.append(f"{t.new} new, {t.gone} gone")
    if t.revoked:
        parts.append(f"{t.revoked} revoked")
    if t.failed:
        parts.append(f"{t.failed} FAILED to revoke")
    return ", ".join(parts)


def _description(report: SweepReport) -> str:
    t = report.totals
    lines = [
        f"*Where:* account {code(report.account)}, {code(report.region)}",
        f"*Sweep:* {code(report.sweep_id)} ({report.mode}, baseline {code(report.baseline)}), "
        f"{t.groups} groups, {t.rules} rules" + ("" if report.complete else ", *not complete*"),
        f"*Found:* {safe(_headline(report), 200)}; {t.exempted} exempted, {t.not_judged} not judged",
    ]
    lines += [f"*Could not read:* {code(e, 300)}" for e in report.errors[:3]]
    budget = LIMITS["description"] - 200
    shown = 0
    for group in report.groups:
        if not group.findings:
            continue
        name = safe(group.group_name or "", 64)
        head = f"• {code(group.group_id)} {name}: {group.violating} rule(s), {group.severity}"
        first = group.findings[0]
        line = f"{head}; e.g. {code(rule_words(first))} {ACTION_WORDS[first.action]}"
        if sum(len(x) + 1 for x in lines) + len(line) > budget:
            break
        lines.append(line)
        shown += 1
    left = sum(1 for g in report.groups if g.findings) - shown + report.groups_omitted
    if left:
        lines.append(f"…and {left} more group(s); the e-mail and the log have them all.")
    return "\n".join(lines)[: LIMITS["description"]]


def sweep_notification(report: SweepReport) -> dict[str, Any]:
    """The chat custom notification summing up a sweep."""
    steps: list[str] = []
    for finding in report.findings():
        if finding.restore and not re.search(r"[`<>\x00-\x1f\x7f]", finding.restore):
            where = safe(f"{finding.rule_id} in {finding.group_id}", 120)
            step = f"If {where} was legitimate: add an exemption, then `{finding.restore}`"
            if len(step) <= LIMITS["next_step"]:
                steps.append(step)
        if len(steps) == LIMITS["next_steps"] - 1:
            break
    if report.totals.violating:
        steps.append("Review the violating rules: sgguard audit, or the sweep lines in the log")
    controls = [c.control for c in sorted(report.by_control, key=lambda c: -c.rules)]
    keywords = [safe(k, LIMITS["keyword"]) for k in [report.severity, report.mode, *controls]]
    thread = safe(f"sgguard-sweep-{report.account}-{report.region}", 128)
    emoji = ":rotating_light:" if report.totals.failed or report.errors else ":mag:"
    return {
        "version": "1.0",
        "source": "custom",
        "id": safe(report.sweep_id, 128),
        "content": {
            "textType": "client-markdown",
            "title": f"{emoji} "
            + safe(f"Sweep of {report.account} {report.region}: {_headline(report)}", LIMITS["title"] - 20),
            "description": _description(report),
            "nextSteps": steps[: LIMITS["next_steps"]],
            "keywords": [k for k in keywords if k][: LIMITS["keywords"]],
        },
        "metadata": {
            "threadId": thread,
            "summary": safe(f"sgguard sweep: {_headline(report)}", LIMITS["summary"]),
            "eventType": SWEEP_DETAIL_TYPE,
            "relatedResources": [
                f"arn:aws:ec2:{report.region}:{report.account}:security-group/{g.group_id}"
                for g in report.groups[: LIMITS["related_resources"]]
            ],
            "additionalContext": {
                k: safe(v, LIMITS["context_value"])
                for k, v in {
                    "account": report.account,
                    "region": report.region,
                    "sweepId": report.sweep_id,
                    "mode": report.mode,
                    "complete": str(report.complete).lower(),
                }.items()
                if v is not None
            },
        },
    }


# --- Security Hub ----------------------------------------------------------------------------------


def group_decisions(report: SweepReport) -> list[Decision]:
    """Each group's violating rules as a decision document (no actor: a sweep reads rules, not
    CloudTrail), so that a finding a sweep makes is the same finding, with the same Id, as an event's."""
    mode: Mode = "enforce" if report.mode == "enforce" else "dry-run"
    decisions = []
    for group in report.groups:
        if not group.findings:
            continue
        findings = [
            FindingDoc.model_validate(f.model_dump(exclude={"group_id", "new", "restore"}))
            for f in group.findings
        ]
        decisions.append(
            Decision(
                event_id=report.sweep_id,
                event_name=SWEEP_EVENT,
                event_time=report.started_at,
                account=report.account,
                region=report.region,
                group_id=group.group_id,
                actor=Actor(),
                outcome="violation",
                reason=f"found by sweep {report.sweep_id}",
                mode=mode,
                baseline=report.baseline,
                findings=findings,
            )
        )
    return decisions


def to_create(
    active: Iterable[dict[str, Any]], report: SweepReport, product: str, now: datetime
) -> list[dict[str, Any]]:
    """Findings for violating rules the sweep found that have no ACTIVE finding yet (their event was
    missed, or came before sgguard): imported as found, then as passed where the sweep revoked them.
    A rule that already has its finding (from its event, with the person) is left as it is."""
    if report.origin != "live":
        return []
    have = {str(f.get("Id")) for f in active}
    out: list[dict[str, Any]] = []
    resolved: list[dict[str, Any]] = []
    for decision in group_decisions(report):
        made = imports(decision, product, now)
        out += [f for f in made.found if f["Id"] not in have]
        resolved += [f for f in made.resolved if f["Id"] not in have]
    return out + resolved


def rule_of(finding_id: str) -> str | None:
    match = _ID.fullmatch(finding_id)
    return match["rule"] if match else None


def to_archive(
    active: Iterable[dict[str, Any]],
    report: SweepReport,
    still_violating: AbstractSet[str],
    product: str,
    now: datetime,
) -> list[dict[str, Any]]:
    """sgguard's ACTIVE findings for the report's account and region whose rule the (complete) sweep
    no longer sees violating: archived copies (same Id, RecordState ARCHIVED). Nothing for an
    incomplete sweep, or one that could not read everything."""
    if not report.complete or report.errors or report.origin != "live":
        return []
    out = []
    for finding in active:
        match = _ID.fullmatch(str(finding.get("Id", "")))
        if (
            match is None
            or finding.get("ProductArn") != product
            or finding.get("RecordState", "ACTIVE") != "ACTIVE"
            or match["account"] != report.account
            or match["region"] != report.region
            or match["rule"] in still_violating
        ):
            continue
        out.append(archived(finding, now))
    return out
