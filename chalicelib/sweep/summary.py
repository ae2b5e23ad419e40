"""The sweep's one summary message (pure): what could not be judged first, then what is new since the
previous sweep, counts by control and severity, the groups by exposure, and the revoked rules with
the commands that restore them, as far as they fit SNS's 256 KiB; the rest is counted (the audit
lines in the log have every rule).

Like the event message it is JSON-structured: people get the text, machine subscribers (sqs,
lambda, https) the :class:`SweepReport` document, trimmed the same way.
"""

from __future__ import annotations

import json
import re

from chalicelib.notify import (
    ACTION_WORDS,
    MESSAGE_BUDGET,
    SUBJECT_LIMIT,
    Message,
    restore_command,
    rule_words,
)
from chalicelib.sweep.engine import exposure_rank, finding_priority
from chalicelib.sweep.report import GroupReport, SweepFinding, SweepReport
from chalicelib.terminal import printable


def trim(report: SweepReport, keep: int) -> SweepReport:
    """A copy listing at most ``keep`` violating rules (the most important, see engine.finding_priority), and
    only the groups that still have something to show; what is left out is counted."""
    findings = sorted((f for g in report.groups for f in g.findings), key=finding_priority)
    kept = {id(f) for f in findings[:keep]}
    groups: list[GroupReport] = []
    for group in report.groups:
        shown = [f for f in group.findings if id(f) in kept]
        if shown or (not group.findings and (group.not_judged or group.exemptions_expired)):
            groups.append(group.model_copy(update={"findings": shown}))
    omitted = len(findings) - min(keep, len(findings))
    return report.model_copy(
        update={
            "groups": sorted(groups, key=exposure_rank),
            "groups_omitted": report.groups_omitted + len(report.groups) - len(groups),
            "findings_omitted": report.findings_omitted + omitted,
        }
    )


def changed(report: SweepReport) -> bool:
    """Worth a message without a heartbeat: something new or gone, something revoked or failed, a
    read that failed, or rules that could not be judged and were not so at the previous sweep."""
    t = report.totals
    if report.errors:
        return True
    if not report.complete:
        return False  # a part of a split sweep: the message comes with the last part
    if t.new or t.gone or t.revoked or t.failed:
        return True
    previous_not_judged = report.previous.not_judged if report.previous else 0
    return bool(t.not_judged and t.not_judged != previous_not_judged)


def subject(report: SweepReport) -> str:
    t = report.totals
    state = "" if report.complete else " INCOMPLETE"
    text = (
        f"sgguard sweep{state} {report.severity if t.violating else 'OK'}: {t.violating} violating "
        f"({t.new} new), {t.revoked} revoked in {report.account} {report.region}"
    )
    if t.failed:
        text = f"ACTION NEEDED {text}, {t.failed} failed"
    if report.errors or t.not_judged:
        text += ", not all judged"
    text = re.sub(r"[^\x20-\x7e]", "?", text)
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 3] + "..."


def _finding_line(f: SweepFinding) -> list[str]:
    mark = " NEW" if f.new else ""
    lines = [f"  - {rule_words(f)}   [{ACTION_WORDS[f.action]}]{mark}  {f.rule_id or '(no id)'}"]
    lines.extend(f"    {w.control} ({w.severity}) {w.title}: {w.reason}" for w in f.why)
    if f.note:
        lines.append(f"    note: {f.note}")
    if f.error:
        lines.append(f"    error: {f.error}")
    return [printable(line) for line in lines]  # names and reasons carry what outsiders wrote


def text(report: SweepReport) -> str:
    t = report.totals
    lines = [
        f"sgguard swept {t.rules} rules in {t.groups} security groups: {t.violating} break the baseline "
        f"({t.new} new since the previous sweep, {t.gone} gone).",
        "",
        f"Account:  {report.account}",
        f"Region:   {report.region}",
        f"Baseline: {report.baseline}   Sweep mode: {report.mode}",
        f"Sweep:    {report.sweep_id}, {report.started_at} to {report.finished_at}"
        + (f" in {report.parts} runs" if report.parts > 1 else ""),
    ]
    if report.previous is not None:
        p = report.previous
        lines.append(f"Previous: {p.sweep_id}, finished {p.finished_at}, {p.violating} violating")
    else:
        lines.append("Previous: none (a first sweep: every violating rule counts as new)")
    if report.errors or t.not_judged or not report.complete:
        lines += ["", "COULD NOT JUDGE (not a pass: look at these)"]
        if not report.complete:
            lines.append(f"- the sweep is incomplete: {report.stopped or 'stopped early'}")
        lines.extend(printable(f"- {e}") for e in report.errors)
        reasons: dict[str, int] = {}
        for group in report.groups:
            for nj in group.not_judged:
                reasons[nj.reason] = reasons.get(nj.reason, 0) + 1
        for nj in report.not_judged:
            reasons[nj.reason] = reasons.get(nj.reason, 0) + 1
        for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:10]:
            lines.append(printable(f"- {n} rule(s): {reason}"))
    lines += [
        "",
        "WHAT SGGUARD DID",
        f"{t.revoked} revoked, {t.would_revoke} would be revoked in enforce mode, "
        f"{t.reported} reported only, "
        f"{t.failed} FAILED, {t.already_absent} already gone; {t.exempted} exempted.",
    ]
    if t.failed:
        lines.append(
            "Some rules could NOT be revoked and are still open: revoke them by hand, check sgguard's role."
        )
    if report.by_control:
        lines += ["", "BY CONTROL"]
        lines.extend(
            f"- {c.control} ({c.severity}) {c.title}: {c.rules} rule(s) in {c.groups} group(s), {c.new} new"
            + (" [sweep reports only]" if c.sweep == "report" else "")
            for c in report.by_control
        )
        lines.append("By severity: " + ", ".join(f"{s} {n}" for s, n in report.by_severity.items()))
    new = [(g, f) for g in report.groups for f in g.findings if f.new]
    if new and report.previous is not None:
        lines += ["", "NEW SINCE THE PREVIOUS SWEEP"]
        for group, finding in new:
            lines.append(printable(f"- {group.group_id} ({group.group_name})"))
            lines.extend(_finding_line(finding))
    shown = [g for g in report.groups if g.findings]
    if shown:
        lines += ["", "GROUPS, MOST EXPOSED FIRST"]
        for group in shown:
            default = " [a VPC's default group]" if group.is_default else ""
            lines.append(printable(f"- {group.headline()}{default}"))
            for finding in group.findings:
                lines.extend(_finding_line(finding))
    if report.findings_omitted:
        lines.append(
            f"... and {report.findings_omitted} more violating rule(s) left out to fit SNS's size limit; "
            "the log has them all (sgguard: sweep-finding lines)."
        )
    expired = [e for e in report.exemptions if e.expired and e.rules_expired]
    if expired:
        lines += ["", "EXPIRED EXEMPTIONS (their rules are violations again)"]
        lines.extend(
            f"- {e.id} expired on {e.expires} ({e.rules_expired} rule(s)): {e.reason}" for e in expired
        )
    revoked = [(g, f) for g in report.groups for f in g.findings if f.action in ("revoked", "already-absent")]
    if revoked:
        lines += [
            "",
            "HOW TO PUT IT BACK (if it was legitimate)",
            "Add an exemption to the baseline first, or sgguard will revoke the rule again. Then:",
        ]
        lines.extend(f.restore or restore_command(f, g.group_id, report.region) for g, f in revoked)
    return "\n".join(lines) + "\n"


def _body(report: SweepReport) -> str:
    doc_json = json.dumps(report.to_json_dict(), separators=(",", ":"), ensure_ascii=False)
    return json.dumps(
        {"default": text(report), "sqs": doc_json, "lambda": doc_json, "https": doc_json}, ensure_ascii=False
    )


def fit(report: SweepReport, budget: int = MESSAGE_BUDGET) -> tuple[SweepReport, str]:
    """The report trimmed to the largest number of findings whose message fits ``budget`` bytes."""
    total = len(report.findings())
    high = min(total, budget // 200)  # a finding takes well over 200 bytes (text and document)
    if high == total:
        body = _body(report)
        if len(body.encode()) <= budget:
            return report, body
    bare = trim(report, 0)
    if len(_body(bare).encode()) > budget:  # even without findings (thousands of unjudged groups)
        bare = bare.model_copy(
            update={
                "groups": [],
                "groups_omitted": bare.groups_omitted + len(bare.groups),
                "not_judged": bare.not_judged[:20],
            }
        )
        return bare, _body(bare)
    low = 0
    while low < high:
        middle = (low + high + 1) // 2
        if len(_body(trim(report, middle)).encode()) <= budget:
            low = middle
        else:
            high = middle - 1
    trimmed = trim(report, low)
    return trimmed, _body(trimmed)


def render(report: SweepReport) -> Message:
    _, body = fit(report)
    t = report.totals
    outcome = "violation" if t.violating else "not-judged" if (report.errors or t.not_judged) else "compliant"
    attributes = {
        "severity": report.severity if t.violating else "INFORMATIONAL",
        "account": report.account or "",
        "outcome": outcome,
        "kind": "sweep",
    }
    return Message(subject=subject(report), body=body, attributes=attributes)
