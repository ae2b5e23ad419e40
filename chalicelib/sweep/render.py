"""``sgguard audit``'s text, json and jsonl output: renderings of :class:`SweepReport`, nothing re-judged.

``json`` is one JSON array of reports (one per account and region audited, so its shape never depends
on how many regions were asked for); ``jsonl`` (written as it goes by the command, see
:class:`chalicelib.sweep.cli.Sink`) is one line per violating rule, then one per report; ``text`` is
for people: what is open, where it is exposed, and how to put back what was revoked.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from chalicelib.baseline import SEVERITY_ORDER
from chalicelib.notify import ACTION_WORDS, restore_command, rule_words
from chalicelib.sweep.report import GroupReport, SweepFinding, SweepReport
from chalicelib.terminal import printable

FORMATS = ("text", "json", "jsonl", "html")
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL")
SWEEP_ACTION_WORDS = {**ACTION_WORDS, "would-revoke": "would revoke"}


def as_json(reports: Sequence[SweepReport]) -> str:
    return json.dumps([r.to_json_dict() for r in reports], indent=2, ensure_ascii=False) + "\n"


def where(report: SweepReport) -> str:
    """ "account 111122223333, eu-west-1" (what the report covers, as far as it is known)."""
    account = f"account {report.account}" if report.account else "account unknown"
    return f"{account}, {report.region or 'region unknown'}"


def restore_of(finding: SweepFinding, region: str | None) -> str:
    """The command that puts a rule back: the report's own for revoked rules, else the one --fix's
    revocation would need (the same function builds both)."""
    return finding.restore or restore_command(finding, finding.group_id, region)


def counts_line(report: SweepReport) -> str:
    t = report.totals
    groups = f" in {t.groups:,} groups" if t.groups else ""
    parts = [f"{t.rules:,} rules{groups} judged", f"{t.violating:,} violating"]
    if report.by_severity:
        parts[-1] += " (" + ", ".join(f"{n:,} {s}" for s, n in report.by_severity.items()) + ")"
    if t.revoked:
        parts.append(f"{t.revoked:,} revoked")
    if t.failed:
        parts.append(f"{t.failed:,} FAILED to revoke")
    if t.exempted:
        parts.append(f"{t.exempted:,} exempted")
    if t.expired_exemption:
        parts.append(f"{t.expired_exemption:,} allowed only by an expired exemption")
    if t.not_judged:
        parts.append(f"{t.not_judged:,} could not be judged")
    return ", ".join(parts)


def as_text(reports: Sequence[SweepReport]) -> str:
    """For a terminal: every line made printable (a group name or description is written by whoever
    made the rule; ``ESC[2J`` or a newline in it must not clear the screen or forge a line)."""
    return "\n".join(_report_text(r) for r in reports)


def _report_text(report: SweepReport) -> str:
    origin = "saved describe output" if report.origin == "dump" else f"{report.mode} mode"
    lines = [
        f"sgguard audit: {where(report)} ({origin}), baseline {report.baseline}, {report.finished_at}",
        counts_line(report),
    ]
    lines.extend(f"ERROR: {e}" for e in report.errors)
    if not report.complete:
        lines.append("INCOMPLETE: the counts cover only what was read")
    if report.by_control:
        lines += ["", f"{'CONTROL':<14}  {'SEVERITY':<13}  {'RULES':>7}  {'GROUPS':>6}  TITLE"]
        lines.extend(
            f"{c.control:<14}  {c.severity:<13}  {c.rules:>7,}  {c.groups:>6,}  {c.title}"
            for c in report.by_control
        )
    for group in report.groups:
        lines += ["", *_group_text(group, report.region)]
    lines += _exemptions_text(report)
    lines.extend(f"not judged: {n.reason} ({', '.join(n.controls)})" for n in report.not_judged)
    return "\n".join(printable(line) for line in lines) + "\n"


def _group_text(group: GroupReport, region: str | None) -> list[str]:
    if group.findings:
        head = group.headline()
    else:
        name = f" ({group.group_name})" if group.group_name else ""
        head = f"{group.group_id}{name}: no violating rule"
    lines = [head + (", the VPC's default group" if group.is_default else "")]
    for f in sorted(group.findings, key=lambda f: -SEVERITY_ORDER[f.severity]):
        lines.append(
            f"    {f.rule_id or '(no id)'}  {rule_words(f)}  {', '.join(f.controls)}  {f.severity}  "
            f"[{SWEEP_ACTION_WORDS[f.action]}]" + (f"  {f.error}" if f.error else "")
        )
        if f.note:
            lines.append(f"        note: {f.note}")
        if f.action in ("revoked", "already-absent"):
            lines.append(f"        restore: {restore_of(f, region)}")
    lines.extend(
        f"    {e.rule_id or '(no id)'}  exempted from {', '.join(e.controls)} by {e.exemption} "
        f"until {e.expires}"
        for e in group.exempted
    )
    lines.extend(
        f"    {x.rule_id or '(no id)'}  exemption {x.exemption} expired on {x.expired_on}: now violating"
        for x in group.exemptions_expired
    )
    reasons = Counter(n.reason for n in group.not_judged)
    lines.extend(
        f"    not judged{f' ({n:,} rules)' if n > 1 else ''}: {reason}" for reason, n in reasons.items()
    )
    return lines


def _exemptions_text(report: SweepReport) -> list[str]:
    if not report.exemptions:
        return []
    lines = ["", "EXEMPTIONS"]
    for e in report.exemptions:
        state = f"EXPIRED on {e.expires}" if e.expired else f"in force until {e.expires}"
        counts = f"lifts {e.rules_lifted:,} rule(s)"
        if e.rules_expired:
            counts = f"{e.rules_expired:,} rule(s) it allowed now violate"
        lines.append(f"    {e.id} ({', '.join(e.controls)}) {state}: {counts}; {e.reason}")
    return lines
