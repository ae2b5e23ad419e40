"""The sweep's summary message (pure): it fits SNS, keeps what matters first, survives hostile names,
and is sent only when something changed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from chalicelib.baseline import load_baseline
from chalicelib.decision import ActionResult
from chalicelib.notify import MESSAGE_BUDGET
from chalicelib.sweep import summary
from chalicelib.sweep.describe import group_from_describe, rule_from_describe
from chalicelib.sweep.engine import ReportBuilder, judge_rules, merge_parts, sweep_facts
from chalicelib.sweep.report import Previous, SweepReport

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOSTILE = ("web\u202e\x00\x1b[31m\n" + "é" * 3000 + '"}]\\')[:255]
"""Outsiders name groups and describe rules; AWS caps both at 255 characters."""


def _rule(n: int, group: str, port: int, description: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "SecurityGroupRuleId": f"sgr-{n:017x}",
        "GroupId": group,
        "IsEgress": False,
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "CidrIpv4": "0.0.0.0/0",
    }
    if description is not None:
        item["Description"] = description
    return item


def _report(
    rules: int, groups: int = 10, revoked: bool = True, previous_ids: frozenset[str] | None = None
) -> SweepReport:
    group_items = [
        {"GroupId": f"sg-{g:017x}", "GroupName": HOSTILE, "VpcId": "vpc-0000000000000000a"}
        for g in range(groups)
    ]
    facts_groups = {g["GroupId"]: group_from_describe(g) for g in group_items}
    items = [_rule(n, f"sg-{n % groups:017x}", 1000 + n % 60000, description=HOSTILE) for n in range(rules)]
    baseline = load_baseline()
    builder = ReportBuilder(
        baseline, "s1", "enforce", NOW, "111122223333", "eu-west-1", previous_ids=previous_ids
    )
    builder.count_groups(groups)
    results = {
        i["SecurityGroupRuleId"]: ActionResult(
            "revoked" if revoked else "failed", None if revoked else "AccessDenied"
        )
        for i in items
    }
    findings = judge_rules(
        map(rule_from_describe, items),
        baseline,
        sweep_facts(facts_groups, account="111122223333", region="eu-west-1", now=NOW),
    )
    builder.add(findings, facts_groups, results)
    return builder.build(NOW)


def test_a_big_sweep_fits_sns_and_counts_what_it_leaves_out() -> None:
    report = _report(5000)
    message = summary.render(report)
    assert len(message.body.encode()) <= MESSAGE_BUDGET
    body = json.loads(message.body)
    document = SweepReport.model_validate_json(body["sqs"])
    shown = len(document.findings())
    assert 0 < shown < 5000
    assert document.findings_omitted == 5000 - shown
    assert document.totals.violating == 5000  # the counts are whole
    assert f"and {5000 - shown} more violating rule(s) left out" in body["default"]
    assert (
        body["default"].count("aws ec2 authorize-security-group-ingress") == shown
    )  # each kept one restorable


def test_new_and_failed_findings_are_kept_first() -> None:
    old = frozenset(f"sgr-{n:017x}" for n in range(4990))
    report = _report(5000, previous_ids=old)
    trimmed, _ = summary.fit(report)
    kept = {f.rule_id for f in trimmed.findings()}
    new = {f"sgr-{n:017x}" for n in range(4990, 5000)}
    assert new <= kept


def test_hostile_names_cannot_break_the_subject_or_the_document() -> None:
    report = _report(3, groups=1)
    message = summary.render(report)
    assert len(message.subject) <= 99
    assert all(0x20 <= ord(c) <= 0x7E for c in message.subject)
    body = json.loads(message.body)
    assert SweepReport.model_validate_json(body["sqs"]).groups[0].group_name == HOSTILE
    text = body["default"]
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert "\x00" not in text
    assert "web\\u202e\\x00\\x1b[31m\\x0a" in text  # shown, escaped: no forged line, no colour


def test_what_counts_as_a_change() -> None:
    quiet = _report(0)
    previous = Previous(sweep_id="s0", finished_at="2026-06-01T11:00:00Z", violating=0)
    same = quiet.model_copy(update={"previous": previous})
    assert not summary.changed(same)
    assert summary.changed(_report(2))  # new violations (a first sweep: all new)
    assert summary.changed(same.model_copy(update={"errors": ["could not read"]}))
    assert summary.changed(same.model_copy(update={"totals": same.totals.model_copy(update={"gone": 1})}))
    unjudged = same.model_copy(update={"totals": same.totals.model_copy(update={"not_judged": 3})})
    assert summary.changed(unjudged)
    assert not summary.changed(
        unjudged.model_copy(update={"previous": previous.model_copy(update={"not_judged": 3})})
    )
    split = _report(2).model_copy(update={"complete": False, "cursor": "sg-1"})
    assert not summary.changed(split)  # the message comes with the last part


def test_failures_make_the_subject_ask_for_action() -> None:
    message = summary.render(_report(2, revoked=False))
    assert message.subject.startswith("ACTION NEEDED")
    assert "could NOT be revoked" in json.loads(message.body)["default"]


def test_merged_parts_add_up() -> None:
    first = _report(20, groups=4)
    second = _report(10, groups=2).model_copy(update={"sweep_id": "s2"})
    merged = merge_parts(first.model_copy(update={"complete": False, "cursor": "x"}), second)
    assert merged.sweep_id == first.sweep_id
    assert merged.parts == 2
    assert merged.complete
    assert merged.totals.violating == 30
    counts = {c.control: c.rules for c in merged.by_control}
    assert counts["EC2.18"] == 30
    assert sum(merged.by_severity.values()) == 30
